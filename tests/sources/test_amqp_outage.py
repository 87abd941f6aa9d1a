"""Issue 15 (AMQP): a network outage is neither idleness nor a string of reconnects.

The capture talks to the real RabbitMQ through a TCP forwarder (:class:`TcpProxy`) that the test
cuts for a while: the shared broker itself is never stopped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from evkit.sources.amqp import AmqpCapture
from evkit.sources.easee_details import parse_url
from evkit.store import read_manifest
from tests.sources.tcp_proxy import TcpProxy
from tests.sources.test_amqp_capture import Broker, broker, numbered_messages, rows

pytestmark = pytest.mark.broker
__all__ = ["broker"]  # the fixture, imported for this module's tests


@pytest.fixture
def proxy(amqp_url: str) -> Iterator[TcpProxy]:
    parts = urlsplit(amqp_url)
    forwarder = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5672)
    try:
        yield forwarder
    finally:
        forwarder.close()


def through(url: str, proxy: TcpProxy) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{parts.username}:{parts.password}@127.0.0.1:{proxy.port}"))


def test_outage_does_not_count_as_idle_and_one_reconnect_is_one(
    broker: Broker, proxy: TcpProxy, dataset_dir: Path
) -> None:
    capture = AmqpCapture(
        parse_url(through(broker.url, proxy)),
        dataset_dir,
        queue=broker.queue,
        flush_interval=0.2,
        backoff_initial=0.2,
        backoff_max=0.5,
        idle_exit=3.0,
        writer="thread",
    )
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(capture.run()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while broker.consumers() < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    broker.publish(numbered_messages(100))
    while capture.stats.rows_written < 100 and time.monotonic() < deadline:
        time.sleep(0.05)
    proxy.cut()
    broker.publish(numbered_messages(100, start=100))  # queued by RabbitMQ while we are cut off
    time.sleep(6.0)  # twice --idle-exit away (several reconnect attempts fail meanwhile)
    assert thread.is_alive(), f"the capture ended during the outage: {result.get('stop_reason')}"
    proxy.restore()
    thread.join(60)
    assert not thread.is_alive()
    assert result["stop_reason"] == "idle"
    assert sorted(rows(dataset_dir)["value"].to_list()) == [float(i) for i in range(200)]
    assert broker.depth() == 0
    assert result["reconnects"] == 1  # the successful reconnection, not the failed attempts
    assert read_manifest(dataset_dir)["captures"][0]["reconnects"] == 1
