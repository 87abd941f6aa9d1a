"""Easee AMQP capture against the real RabbitMQ: every published message is one row, nothing lost.

Each test declares its own uniquely named topic exchange and queue (the "operator's queue") and
deletes them afterwards. Helpers here are reused by ``test_amqp_cli.py``.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pika
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import evkit
from evkit.easee.encode import arrival_time_header, encode_observation
from evkit.errors import ConfigError, SourceError
from evkit.sources.amqp import AmqpCapture, record_amqp
from evkit.sources.easee_details import parse_url
from evkit.store import read_manifest

pytestmark = pytest.mark.broker

Message = tuple[str, bytes, dict[str, Any] | None]


@dataclass
class Broker:
    """A test's own exchange (topic, bound with ``#``) and queue on the real RabbitMQ."""

    url: str
    exchange: str
    queue: str

    def channel(self) -> tuple[Any, Any]:
        conn = pika.BlockingConnection(pika.URLParameters(self.url))
        return conn, conn.channel()

    def publish(self, messages: list[Message]) -> None:
        conn, channel = self.channel()
        for key, body, headers in messages:
            channel.basic_publish(
                self.exchange, key, body, pika.BasicProperties(headers=headers, delivery_mode=2)
            )
        # A synchronous round trip on the same channel: the broker has taken every publish before it.
        channel.queue_declare(self.queue, passive=True)
        conn.close()

    def depth(self) -> int:
        """Messages ready in the queue (not delivered to any consumer)."""
        conn, channel = self.channel()
        count = int(channel.queue_declare(self.queue, passive=True).method.message_count)
        conn.close()
        return count

    def consumers(self) -> int:
        conn, channel = self.channel()
        count = int(channel.queue_declare(self.queue, passive=True).method.consumer_count)
        conn.close()
        return count

    def drain_bodies(self) -> list[bytes]:
        """Take (and ack) everything left in the queue."""
        conn, channel = self.channel()
        bodies = []
        while True:
            method, _props, body = channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                break
            bodies.append(body)
        conn.close()
        return bodies


@pytest.fixture
def broker(amqp_url: str, unique_name: str) -> Iterator[Broker]:
    b = Broker(amqp_url, f"{unique_name}-x", unique_name)
    conn, channel = b.channel()
    channel.exchange_declare(b.exchange, "topic", durable=False, auto_delete=False)
    channel.queue_declare(b.queue, durable=True)
    channel.queue_bind(b.queue, b.exchange, "#")
    conn.close()
    yield b
    conn, channel = b.channel()
    channel.queue_delete(b.queue)
    channel.exchange_delete(b.exchange)
    conn.close()


def numbered_messages(n: int, serial: str = "EH000001", start: int = 0) -> list[Message]:
    """``n`` distinct power observations (value = sequence number) with an ArrivalTime header."""
    base = datetime(2026, 11, 21, 8, tzinfo=UTC)
    out: list[Message] = []
    for i in range(start, start + n):
        at = base + timedelta(seconds=i)
        key, body = encode_observation(serial, 120, float(i), at)
        out.append((key, body, {"ArrivalTime": arrival_time_header(at + timedelta(milliseconds=250))}))
    return out


def capture(broker: Broker, out: Path, **options: Any) -> dict[str, Any]:
    options.setdefault("idle_exit", 1.5)
    options.setdefault("writer", "thread")
    return AmqpCapture(parse_url(broker.url), out, queue=broker.queue, **options).run()


def rows(out: Path, dedupe: bool = True) -> pl.DataFrame:
    return evkit.scan(out, dedupe=dedupe).collect()


# -- values ------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["masterloop", "signalr", "flat"])
def test_every_published_message_is_one_row_with_the_right_values(
    broker: Broker, dataset_dir: Path, form: Any
) -> None:
    base = datetime(2026, 11, 21, 8, 30, 15, 123456, tzinfo=UTC)
    sent: list[Message] = []
    expected = []
    for i in range(300):
        serial = f"EH{100 + i % 3:06d}"
        obs_id, value = [(120, 7.25 + i), (109, 3), (31, i % 2 == 0), (128, f"TAG{i:04d}")][i % 4]
        observed = base + timedelta(seconds=i)
        key, body = encode_observation(serial, obs_id, value, observed, form)
        sent.append((key, body, {"ArrivalTime": arrival_time_header(observed + timedelta(seconds=1))}))
        expected.append((serial, obs_id, value, observed))
    broker.publish(sent)

    summary = capture(broker, dataset_dir, max_messages=len(sent))

    assert summary["messages"] == summary["rows_written"] == len(sent)
    got = rows(dataset_dir).sort("observed_at")
    assert got.height == len(sent)
    assert got["error"].null_count() == got.height
    assert got["raw"].to_list() == [body for _, body, _ in sent]
    for row, (serial, obs_id, value, observed) in zip(got.iter_rows(named=True), expected, strict=True):
        assert row["charger_id"] == serial
        assert row["observation_id"] == obs_id
        assert row["observed_at"] == observed
        assert row["arrival_time"] == observed + timedelta(seconds=1)
        assert row["kind"] == "observation"
        if isinstance(value, bool):
            assert row["value"] == float(value)
        elif isinstance(value, str):
            assert row["value"] is None and row["value_text"] == value
        else:
            assert row["value"] == pytest.approx(float(value))
    assert broker.depth() == 0  # everything acknowledged


def test_malformed_messages_are_kept_as_rows_with_an_error(broker: Broker, dataset_dir: Path) -> None:
    sent: list[Message] = [
        ("EH000001.O.120", b"{not json", None),
        ("EH000001.O.120", b"\xff\xfe binary", {"ArrivalTime": b"garbage"}),
        ("weird-key", b"", None),
        ("EH000001.CR.11.638000000000000000", b'{"WasAccepted": true}', None),
        ("EH000001.P", b'{"Timestamp": "2026-11-21T08:00:00Z"}', None),
    ]
    broker.publish(sent)
    capture(broker, dataset_dir, max_messages=len(sent))
    got = rows(dataset_dir, dedupe=False)
    assert sorted(got["raw"].to_list()) == sorted(body for _, body, _ in sent)
    by_raw = {r["raw"]: r for r in got.iter_rows(named=True)}
    assert by_raw[b"{not json"]["error"]
    assert by_raw[b"\xff\xfe binary"]["error"]
    assert by_raw[b'{"WasAccepted": true}']["kind"] == "command_response"
    assert by_raw[b'{"Timestamp": "2026-11-21T08:00:00Z"}']["kind"] == "pulse"
    assert all(r["received_at"] is not None for r in by_raw.values())


_header_values = st.one_of(
    st.text(max_size=40),
    st.binary(max_size=40),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1)).map(
        lambda d: d.replace(microsecond=0)
    ),
)
_json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_bodies = st.one_of(
    st.binary(max_size=200),
    st.fixed_dictionaries(
        {}, optional={"Timestamp": st.text(max_size=30), "Value": _json_values, "id": _json_values}
    ).map(lambda d: json.dumps(d).encode()),
)
_keys = st.one_of(
    st.from_regex(r"\A(E[HC]\d{6})\.(O|CR|P|OP)\.\d{1,4}\Z"),
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40),
)
_messages = st.lists(
    st.tuples(
        _keys, _bodies, st.none() | st.dictionaries(st.sampled_from(["ArrivalTime", "x"]), _header_values)
    ),
    min_size=1,
    max_size=15,
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages=_messages)
def test_arbitrary_bodies_and_headers_through_the_broker_are_all_kept(
    broker: Broker, tmp_path_factory: pytest.TempPathFactory, messages: list[Message]
) -> None:
    out = tmp_path_factory.mktemp("hyp")
    broker.publish(messages)
    summary = capture(broker, out, max_messages=len(messages), idle_exit=5)
    got = rows(out, dedupe=False)
    assert summary["rows_written"] == len(messages)
    assert sorted(got["raw"].to_list()) == sorted(body for _, body, _ in messages)
    assert sorted(got["routing_key"].to_list()) == sorted(key for key, _, _ in messages)
    assert got["received_at"].null_count() == 0
    assert broker.depth() == 0


# -- stop conditions ---------------------------------------------------------------------------


def test_max_messages_takes_exactly_n_and_leaves_the_rest_in_the_queue(
    broker: Broker, dataset_dir: Path
) -> None:
    broker.publish(numbered_messages(100))
    summary = capture(broker, dataset_dir, max_messages=40, prefetch=500)
    assert summary["stop_reason"] == "max messages reached"
    assert rows(dataset_dir).height == 40
    assert broker.depth() == 60


def test_idle_exit_stops_after_the_last_message(broker: Broker, dataset_dir: Path) -> None:
    broker.publish(numbered_messages(25))
    started = time.monotonic()
    summary = capture(broker, dataset_dir, idle_exit=1.0)
    assert summary["stop_reason"] == "idle"
    assert summary["messages"] == 25
    assert time.monotonic() - started < 30
    assert rows(dataset_dir).height == 25


def test_duration_stops_a_quiet_capture(broker: Broker, dataset_dir: Path) -> None:
    summary = capture(broker, dataset_dir, duration=0.5, idle_exit=None)
    assert summary["stop_reason"] == "duration reached"
    assert summary["status"] == "finished" and summary["messages"] == 0
    assert read_manifest(dataset_dir)["captures"][0]["status"] == "finished"


def test_flush_interval_writes_and_acks_a_trickle(broker: Broker, dataset_dir: Path) -> None:
    handle = record_amqp(broker.url, queue=broker.queue, out=dataset_dir, flush_interval=0.3)
    try:
        broker.publish(numbered_messages(3))
        deadline = time.monotonic() + 30
        while handle.stats["rows_written"] < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert handle.stats["rows_written"] == 3  # written long before any row-count threshold
        assert broker.depth() == 0
    finally:
        summary = handle.stop()
    assert summary is not None and summary["status"] == "finished"
    assert rows(dataset_dir).height == 3


# -- the operator's queue -----------------------------------------------------------------------


def test_missing_queue_is_a_clear_error_and_is_never_created(
    amqp_url: str, unique_name: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        AmqpCapture(parse_url(amqp_url), tmp_path, queue=unique_name, writer="thread").run()
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = conn.channel()
    with pytest.raises(pika.exceptions.ChannelClosedByBroker):
        channel.queue_declare(unique_name, passive=True)
    conn.close()


def test_unreachable_broker_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"cannot connect to amqp://guest:\*\*\*@127\.0\.0\.1:1/"):
        AmqpCapture(
            parse_url("amqp://guest:guest@127.0.0.1:1/%2F"), tmp_path, queue="q", writer="thread"
        ).run()


# -- connection loss ----------------------------------------------------------------------------


def _close_connection_named(name: str) -> int:
    """Force-close (like ``rabbitmqctl close_all_connections``) only the connections named ``name``."""
    listing = subprocess.run(
        ["rabbitmqctl", "-q", "list_connections", "pid", "client_properties"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    closed = 0
    for line in listing.splitlines():
        if f'{{"connection_name","{name}"}}' in line:
            pid = line.split("\t", 1)[0]
            subprocess.run(["rabbitmqctl", "-q", "close_connection", pid, "test"], check=True, timeout=60)
            closed += 1
    return closed


@pytest.mark.parametrize("writer", ["thread", "process"])
def test_force_closed_connection_reconnects_and_loses_nothing(
    broker: Broker, dataset_dir: Path, writer: str
) -> None:
    capture_ = AmqpCapture(
        parse_url(broker.url),
        dataset_dir,
        queue=broker.queue,
        prefetch=200,
        flush_interval=0.5,
        backoff_initial=0.2,
        writer=writer,
    )
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(capture_.run()))
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while broker.consumers() < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        broker.publish(numbered_messages(3000, start=0))
        assert _close_connection_named(f"evkit capture {capture_.capture_id}") >= 1
        broker.publish(numbered_messages(3000, start=3000))
        while capture_.stats.reconnects < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        while broker.consumers() < 1 and time.monotonic() < deadline + 30:
            time.sleep(0.1)
        assert _close_connection_named(f"evkit capture {capture_.capture_id}") >= 1
        broker.publish(numbered_messages(2000, start=6000))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if broker.depth() == 0 and evkit_rows(dataset_dir) >= 8000:
                break
            time.sleep(0.3)
    finally:
        capture_.request_stop()
        thread.join(60)
    assert result["reconnects"] >= 2
    got = rows(dataset_dir)
    assert got.height == 8000
    assert sorted(got["value"].to_list()) == [float(i) for i in range(8000)]
    assert got["conn_epoch"].n_unique() >= 3
    assert broker.depth() == 0
    manifest = read_manifest(dataset_dir)["captures"][0]
    assert manifest["reconnects"] == result["reconnects"]


def evkit_rows(out: Path) -> int:
    try:
        return int(evkit.scan(out).select(pl.len()).collect().item())
    except evkit.DatasetError:
        return 0


# -- notebook handle -----------------------------------------------------------------------------


def test_record_amqp_runs_in_the_background_and_stop_flushes(broker: Broker, dataset_dir: Path) -> None:
    handle = record_amqp(broker.url, queue=broker.queue, out=dataset_dir, flush_interval=60)
    try:
        deadline = time.monotonic() + 30
        while broker.consumers() < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        broker.publish(numbered_messages(50))
        while handle.stats["messages"] < 50 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert handle.running
        assert handle.stats["rows_written"] == 0  # buffered: flush interval and window not reached
        assert "50 msgs" in repr(handle)
    finally:
        summary = handle.stop()
    assert summary is not None and summary["rows_written"] == 50
    assert not handle.running
    assert rows(dataset_dir).height == 50
    assert broker.depth() == 0
    widget = handle.widget()
    assert "finished" in widget.children[0].value
