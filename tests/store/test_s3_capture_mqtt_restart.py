"""``evkit capture mqtt --out s3://...`` killed with -9 and started again (same client id, so the
broker kept the session and queued for it): nothing lost, nothing duplicated in the scan. A private
Mosquitto (persistence on, a queue sized for the outage); the real S3 server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

import evkit
from tests.conftest import REPO_ROOT
from tests.helpers import wait_until
from tests.mqtt.helpers import PrivateBroker, publish

pytestmark = pytest.mark.broker


def _values(url: str) -> list[float]:
    try:
        return sorted(evkit.scan(url).collect()["value"].drop_nulls().to_list())
    except evkit.DatasetError:
        return []


def _capture(port: int, topic: str, out: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "evkit", "capture", "mqtt", "--host", "127.0.0.1", "--port", str(port),
         "--topic", f"{topic}/#", "--out", out, "--client-id", f"{topic}-capture", "--session-expiry", "600",
         "--flush-interval", "0.2", "--quiet", *extra],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ),
    )  # fmt: skip


def test_kill_9_then_restart_to_s3_loses_nothing(
    roomy_broker: PrivateBroker, unique_name: str, s3_dataset: str
) -> None:
    port = roomy_broker.port
    topic = f"{unique_name}/evcc/loadpoints/1/chargePower"
    first = _capture(port, unique_name, s3_dataset)
    try:
        # Subscribed once a warm-up message (value -1) is stored: what is published from then on is
        # the broker's to queue for the session.
        assert wait_until(lambda: warm_up(port, topic, s3_dataset), 60), "the capture did not subscribe"
        publish(port, [(topic, str(i), False) for i in range(300)])
        assert wait_until(lambda: len(_values(s3_dataset)) >= 100, 60)
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
    publish(port, [(topic, str(i), False) for i in range(300, 600)])  # queued by the broker meanwhile
    second = _capture(port, unique_name, s3_dataset, "--idle-exit", "3")
    _out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    stored = [v for v in _values(s3_dataset) if v >= 0]
    assert stored == [float(i) for i in range(600)]  # each message exactly once


def warm_up(port: int, topic: str, url: str) -> bool:
    publish(port, [(topic, "-1", False)])
    return bool(_values(url))
