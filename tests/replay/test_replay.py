"""Replay: message selection (pure) and record -> replay -> record round trips on real brokers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pika
import polars as pl
import pytest

import evkit
from evkit.easee.encode import arrival_time_header, encode_observation
from evkit.errors import ConfigError, DatasetError
from evkit.evcc.state import encode_state
from evkit.replay import (
    MqttTarget,
    Outgoing,
    Rewrite,
    load_messages,
    outgoing,
    replay_dataset,
    rewrite_name,
)
from evkit.sim.goe import GoeSimulator
from evkit.sources.amqp import AmqpCapture, resolve_details
from evkit.sources.mqtt import Message, MqttSettings, RowBuilder, TopicRules
from evkit.store import PartWriter
from evkit.store.schema import REPLAY_MARK
from tests.mqtt.helpers import CaptureThread, publish

OBSERVATION_COLUMNS = [
    "source",
    "device_id",
    "key",
    "value",
    "value_text",
    "label",
    "unit",
    "raw",
    "error",
    "qos",
]


def write_mqtt_dataset(out: Path, messages: list[tuple[float, str, bytes, bool]]) -> None:
    """A dataset as the MQTT capture writes it: (seconds, topic, payload, retained)."""
    base = 1_795_300_000_000_000
    items = [Message(base + round(s * 1e6), t, p, r, 1, False, 1) for s, t, p, r in messages]
    PartWriter(out).write(RowBuilder().frame(items))


class ListTarget:
    """Collects what a replay publishes, in memory (for the pure scheduling tests)."""

    protocol = "mqtt"

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []
        self.opened = self.closed = False

    def open(self) -> None:
        self.opened = True

    def publish(self, message: Outgoing) -> None:
        self.sent.append(message)

    def close(self) -> None:
        self.closed = True


# -- pure ------------------------------------------------------------------------------------------


def test_nrg_rows_collapse_to_one_message_in_arrival_order(tmp_path: Path) -> None:
    nrg = json.dumps([230] * 16).encode()
    write_mqtt_dataset(
        tmp_path,
        [
            (2.0, "go-eCharger/1/nrg", nrg, False),
            (0.0, "evcc/site/pvPower", b"10", True),
            (1.0, "x/y", b"", False),
        ],
    )
    frame = load_messages(tmp_path, "mqtt")
    assert frame["topic"].to_list() == ["evcc/site/pvPower", "x/y", "go-eCharger/1/nrg"]
    assert frame["raw"].to_list() == [b"10", b"", nrg]
    sent = list(outgoing(frame, "mqtt"))
    assert [m.offset_s for m in sent] == [0.0, 1.0, 2.0]
    assert [m.retained for m in sent] == [True, False, False]
    assert [m.retained for m in outgoing(frame, "mqtt", retain="none")] == [False] * 3


def test_time_window_rewrite_and_max_messages(tmp_path: Path) -> None:
    write_mqtt_dataset(
        tmp_path, [(float(i), f"evcc/loadpoints/1/n{i}", str(i).encode(), False) for i in range(10)]
    )
    start = datetime.fromtimestamp(1_795_300_003, UTC)
    frame = load_messages(tmp_path, "mqtt", start=start, end=start + timedelta(seconds=4))
    assert frame["raw"].to_list() == [b"3", b"4", b"5", b"6"]
    assert load_messages(tmp_path, "mqtt", max_messages=2).height == 2
    names = [m.name for m in outgoing(frame, "mqtt", [Rewrite.parse("evcc/=lab/evcc/")])]
    assert names[0] == "lab/evcc/loadpoints/1/n3"
    assert rewrite_name("other/x", [Rewrite("evcc/", "lab/")]) == "other/x"
    with pytest.raises(ConfigError):
        Rewrite.parse("no-equals-sign")


def test_max_messages_below_one_is_a_sentence(tmp_path: Path) -> None:
    """Said before anything is read or the broker is asked (the replay's count of the days it reads
    has no day to end on)."""
    write_mqtt_dataset(tmp_path, [(0.0, "a", b"1", False), (90_000.0, "a", b"2", False)])
    for wanted in (0, -1):
        with pytest.raises(ConfigError, match="--max-messages must be at least 1"):
            replay_dataset(tmp_path, MqttTarget("127.0.0.1"), speed=0, max_messages=wanted)


def test_spacing_scaled_by_speed(tmp_path: Path) -> None:
    write_mqtt_dataset(
        tmp_path, [(0.0, "a", b"1", False), (10.0, "a", b"2", False), (30.0, "a", b"3", False)]
    )
    waits: list[float] = []
    target = ListTarget()
    summary = replay_dataset(tmp_path, target, speed=10, sleep=waits.append)  # type: ignore[arg-type]
    assert [m.body for m in target.sent] == [b"1", b"2", b"3"]
    assert summary.published == 3 and summary.recorded_span_s == 30.0
    # the fake sleep returns at once, so each wait is the message's whole scheduled offset
    assert len(waits) == 2
    assert waits[0] == pytest.approx(1.0, abs=0.05) and waits[1] == pytest.approx(3.0, abs=0.05)
    assert target.opened and target.closed


def test_mqtt_replay_of_an_amqp_only_dataset_says_so(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {"received_at": [datetime(2026, 11, 21, tzinfo=UTC)], "routing_key": ["EH1.O.120"], "raw": [b"{}"]},
        schema_overrides={"received_at": pl.Datetime("us", "UTC")},
    )
    full = frame.with_columns(
        pl.lit(None, pl.Datetime("us", "UTC")).alias("arrival_time"),
        pl.lit(None, pl.Datetime("us", "UTC")).alias("observed_at"),
        pl.lit("EH1").alias("charger_id"),
        pl.lit(120, pl.Int32).alias("observation_id"),
        pl.lit(None, pl.String).alias("observation"),
        pl.lit(None, pl.Float64).alias("value"),
        pl.lit(None, pl.String).alias("value_text"),
        pl.lit("observation").alias("kind"),
        pl.lit(False).alias("redelivered"),
        pl.lit(None, pl.String).alias("error"),
    )
    PartWriter(tmp_path).write(full)
    with pytest.raises(DatasetError, match="AMQP"):
        load_messages(tmp_path, "mqtt")
    result = subprocess.run(
        [sys.executable, "-m", "evkit", "replay", str(tmp_path), "--mqtt-host", "127.0.0.1", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2 and "AMQP" in result.stderr


def test_cli_needs_exactly_one_target(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "evkit", "replay", str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2 and "--mqtt-host" in result.stderr


# -- real brokers ------------------------------------------------------------------------------------


def capture_settings(port: int, prefix: str, out: Path, **extra: object) -> MqttSettings:
    rules = TopicRules(evcc_roots=(f"{prefix}/evcc",), goe_prefixes=(f"{prefix}/go-eCharger",))
    return MqttSettings(
        host="127.0.0.1",
        port=port,
        topics=[f"{prefix}/#"],
        out=out,
        flush_interval=0.2,
        rules=rules,
        session_expiry=600,  # tidy: the shared broker forgets our test sessions soon
        **extra,  # type: ignore[arg-type]
    )


def record(port: int, prefix: str, out: Path, action: object, expected: int) -> pl.DataFrame:
    capture = CaptureThread(capture_settings(port, prefix, out))
    capture.wait_subscribed()
    action()  # type: ignore[operator]
    capture.wait_messages(expected)
    time.sleep(0.3)
    capture.stop()
    return evkit.scan(out).collect().sort("received_at", maintain_order=True)


@pytest.mark.broker
def test_mqtt_record_replay_record_gives_the_same_observations(
    mqtt_broker: tuple[str, int], unique_name: str, tmp_path: Path
) -> None:
    _, port = mqtt_broker
    original, again = f"{unique_name}-a", f"{unique_name}-b"
    evcc = [
        (f"{original}/evcc/loadpoints/1/sessionEnergy", encode_state(i * 150.5), False) for i in range(30)
    ] + [
        (f"{original}/evcc/loadpoints/1/vehicleSoc", "", False),
        (f"{original}/zigbee/blob", b"\xff\x01", False),
    ]

    def produce() -> None:
        with GoeSimulator(
            "000777",
            mqtt_port=port,
            prefix=f"{original}/go-eCharger",
            http_port=None,
            speed=60,
            tick_s=0.1,
            cleanup=False,
        ):
            publish(port, evcc)
            time.sleep(0.8)

    first = record(port, original, tmp_path / "first", produce, len(evcc) + 30)
    messages = load_messages(tmp_path / "first", "mqtt").height

    def replay() -> None:
        summary = replay_dataset(
            tmp_path / "first",
            MqttTarget("127.0.0.1", port),
            speed=20,
            rewrites=[Rewrite(f"{original}/", f"{again}/")],
        )
        assert summary.published == messages

    second = record(port, again, tmp_path / "second", replay, messages)
    # the simulator left retained values behind (cleanup=False): clear them
    publish(
        port,
        [
            (t, b"", True)
            for t in set(first.filter(pl.col("retained") | (pl.col("source") == "go-e"))["topic"])
        ],
    )

    def comparable(frame: pl.DataFrame, prefix: str) -> list[tuple[object, ...]]:
        # MQTT keeps order per topic and QoS, not across them: compare those sequences
        return (
            frame.with_columns(pl.col("device_id", "key", "topic").str.replace(f"^{prefix}/", "PREFIX/"))
            .sort("topic", "qos", maintain_order=True)
            .select(OBSERVATION_COLUMNS)
            .rows()
        )

    assert comparable(second, again) == comparable(first, original)
    assert second["topic"].str.starts_with(f"{again}/").all()


@pytest.mark.broker
def test_amqp_record_replay_record_gives_the_same_observations(
    amqp_url: str, unique_name: str, tmp_path: Path
) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    source_exchange, replay_exchange = f"{unique_name}-src", f"{unique_name}-replay"
    source_queue, replay_queue = f"{unique_name}-q1", f"{unique_name}-q2"
    for exchange, queue in ((source_exchange, source_queue), (replay_exchange, replay_queue)):
        channel.exchange_declare(exchange, "topic", auto_delete=False)
        channel.queue_declare(queue)
        channel.queue_bind(queue, exchange, "#")
    try:
        start = datetime(2026, 11, 21, 18, 0, tzinfo=UTC)
        forms = ("masterloop", "signalr", "flat")
        sent = 0
        for i in range(60):
            moment = start + timedelta(seconds=i)
            routing_key, body = encode_observation(
                "EHTEST01", (120, 109, 121)[i % 3], (7.4, 3, 1.5)[i % 3], moment, forms[i % 3]
            )  # type: ignore[arg-type]
            headers = {"ArrivalTime": arrival_time_header(moment + timedelta(seconds=1))} if i % 4 else None
            channel.basic_publish(source_exchange, routing_key, body, pika.BasicProperties(headers=headers))
            sent += 1
        channel.basic_publish(source_exchange, "EHTEST01.O.120", b"{not json", pika.BasicProperties())
        sent += 1
        details, _ = resolve_details(amqp_url)
        AmqpCapture(details, tmp_path / "first", queue=source_queue, max_messages=sent, writer="thread").run()
        first = evkit.scan(tmp_path / "first").collect()
        from evkit.replay import AmqpTarget

        summary = replay_dataset(tmp_path / "first", AmqpTarget(amqp_url, replay_exchange), speed=0)
        assert summary.published == sent
        AmqpCapture(
            details, tmp_path / "second", queue=replay_queue, max_messages=sent, writer="thread"
        ).run()
        second = evkit.scan(tmp_path / "second").collect()
    finally:
        for exchange, queue in ((source_exchange, source_queue), (replay_exchange, replay_queue)):
            channel.queue_delete(queue)
            channel.exchange_delete(exchange)
        connection.close()
    columns = [
        "routing_key",
        "raw",
        "charger_id",
        "observation_id",
        "observation",
        "value",
        "value_text",
        "kind",
        "observed_at",
        "arrival_time",
        "error",
    ]
    assert second.select(columns).rows() == first.select(columns).rows()
    assert first["arrival_time"].null_count() == 16  # every fourth message had no ArrivalTime (+ the bad one)


@pytest.mark.broker
def test_replay_cli_republishes_a_recording(
    mqtt_broker: tuple[str, int], unique_name: str, tmp_path: Path
) -> None:
    _, port = mqtt_broker
    source, target = f"{unique_name}-src", f"{unique_name}-dst"
    write_mqtt_dataset(
        tmp_path / "recorded",
        [
            (i * 0.01, f"{source}/go-eCharger/000001/nrg", json.dumps([230 + i] * 16).encode(), False)
            for i in range(20)
        ]
        + [(0.5, f"{source}/evcc/site/pvPower", b"", False)],
    )
    capture = CaptureThread(capture_settings(port, target, tmp_path / "again"))
    capture.wait_subscribed()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "evkit",
            "replay",
            str(tmp_path / "recorded"),
            "--mqtt-host",
            "127.0.0.1",
            "--mqtt-port",
            str(port),
            "--speed",
            "0",
            "--rewrite-prefix",
            f"{source}/={target}/",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "replayed 21 messages" in result.stderr
    capture.wait_messages(21)
    capture.stop()
    again = evkit.scan(tmp_path / "again").collect()
    assert again.height == 20 * 16 + 1  # nrg expands again: 16 rows per message
    assert again.filter(pl.col("key") == "nrg.voltage_l1").sort("received_at")["value"].to_list() == [
        float(230 + i) for i in range(20)
    ]


def test_replay_crosses_utc_days_in_order_with_continuous_spacing(tmp_path: Path) -> None:
    # 22:26:40 UTC + 0 h, 1 h, 2 h, 3 h: the last two fall on the next day's partition
    write_mqtt_dataset(tmp_path, [(h * 3600.0, "a/b", str(h).encode(), False) for h in (3, 0, 2, 1)])
    assert len(list(tmp_path.glob("date=*"))) == 2
    waits: list[float] = []
    target = ListTarget()
    summary = replay_dataset(tmp_path, target, speed=3600, sleep=waits.append)  # type: ignore[arg-type]
    assert [m.body for m in target.sent] == [b"0", b"1", b"2", b"3"]
    assert [m.offset_s for m in target.sent] == [0.0, 3600.0, 7200.0, 10800.0]
    assert summary.recorded_span_s == 10800.0
    assert summary.last_received_at == summary.first_received_at + timedelta(hours=3)  # type: ignore[operator]
    target = ListTarget()
    assert replay_dataset(tmp_path, target, speed=0, max_messages=3).published == 3
    assert [m.body for m in target.sent] == [b"0", b"1", b"2"]


@pytest.mark.broker
def test_replay_cli_to_amqp_with_url_from_environment(
    amqp_url: str, unique_name: str, tmp_path: Path
) -> None:
    moment = datetime(2026, 11, 21, 18, 0, tzinfo=UTC)
    rows = pl.DataFrame(
        {
            "received_at": [moment, moment + timedelta(seconds=1)],
            "routing_key": ["EH000001.O.120", "EH000001.O.109"],
            "raw": [b'{"Timestamp":"2026-11-21T18:00:00Z","Value":7.4}', b'{"Timestamp":"x","Value":3}'],
            "headers": ['{"ArrivalTime":"2026-11-21T18:00:01.0000000Z"}', None],
            "arrival_time_raw": [None, "2026-11-21T18:00:02Z"],
        },
        schema_overrides={"received_at": pl.Datetime("us", "UTC")},
    )
    PartWriter(tmp_path / "recorded").write(rows)
    exchange, queue = f"{unique_name}-x", f"{unique_name}-q"
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    try:
        result = subprocess.run(
            [
                sys.executable, "-m", "evkit", "replay", str(tmp_path / "recorded"),
                "--url-env", "EVKIT_TEST_AMQP_URL", "--exchange", exchange, "--declare-exchange", "fanout",
                "--speed", "0", "--max-messages", "0",
            ],
            capture_output=True, text=True, check=False, env={**os.environ, "EVKIT_TEST_AMQP_URL": amqp_url},
        )  # fmt: skip
        assert result.returncode == 2 and "--max-messages" in result.stderr  # 0 is refused before sending
        channel.exchange_declare(exchange, "fanout", durable=True)
        channel.queue_declare(queue)
        channel.queue_bind(queue, exchange)
        result = subprocess.run(
            [
                sys.executable, "-m", "evkit", "replay", str(tmp_path / "recorded"),
                "--url-env", "EVKIT_TEST_AMQP_URL", "--exchange", exchange, "--declare-exchange", "fanout",
                "--speed", "0", "--quiet",
            ],
            capture_output=True, text=True, check=False, env={**os.environ, "EVKIT_TEST_AMQP_URL": amqp_url},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "guest" not in result.stderr + result.stdout  # the URL (with its password) is never printed
        marked = _drain(channel, queue, 2)
        # --no-mark: exactly the recorded headers
        result = subprocess.run(
            [
                sys.executable, "-m", "evkit", "replay", str(tmp_path / "recorded"),
                "--url-env", "EVKIT_TEST_AMQP_URL", "--exchange", exchange, "--declare-exchange", "fanout",
                "--speed", "0", "--quiet", "--no-mark",
            ],
            capture_output=True, text=True, check=False, env={**os.environ, "EVKIT_TEST_AMQP_URL": amqp_url},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        plain = _drain(channel, queue, 2)
    finally:
        channel.queue_delete(queue)
        channel.exchange_delete(exchange)
        connection.close()
    recorded = [
        ("EH000001.O.120", rows["raw"][0], {"ArrivalTime": "2026-11-21T18:00:01.0000000Z"}),
        ("EH000001.O.109", rows["raw"][1], {"ArrivalTime": "2026-11-21T18:00:02Z"}),
    ]
    assert plain == recorded
    # Marked (the default): the recorded headers plus evkit-replay = when the replay started (UTC).
    marks = {headers.pop(REPLAY_MARK) for _, _, headers in marked}
    assert marked == recorded
    (mark,) = marks
    assert abs(datetime.fromisoformat(mark) - datetime.now(UTC)) < timedelta(minutes=5)


def _drain(channel: Any, queue: str, count: int) -> list[tuple[str, bytes, dict[str, Any]]]:
    received = []
    for _ in range(count):
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        assert method is not None
        received.append((method.routing_key, body, dict(properties.headers or {})))
    return received
