"""A recording of a replay knows it is one from its data: replay marks each message (AMQP header /
MQTT 5 user property ``evkit-replay``), the capture keeps the mark, the explorer's latency caveat says
"replayed". Real RabbitMQ and Mosquitto."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pika
import polars as pl
import pytest

import evkit
from evkit.analysis.caveats import replayed_caveat_of
from evkit.easee.encode import arrival_time_header, encode_observation
from evkit.evcc.state import encode_state
from evkit.explore.controller import ExploreController
from evkit.replay import AmqpTarget, MqttTarget, Rewrite, outgoing, replay_dataset
from evkit.report import build_report
from evkit.sources.amqp import AmqpCapture, resolve_details
from evkit.store import PartWriter
from evkit.store.schema import REPLAY_MARK, REPLAYED_COLUMN, replayed_rows
from tests.mqtt.helpers import CaptureThread, publish
from tests.replay.test_replay import capture_settings, write_mqtt_dataset

pytestmark = pytest.mark.broker


def _replayed(store: Path) -> pl.Series:
    lf = evkit.scan(store)
    mark = replayed_rows(lf.collect_schema().names())
    assert mark is not None
    return lf.select(mark.alias("replayed")).collect()["replayed"]


def test_outgoing_carries_the_mark_only_when_asked() -> None:
    frame = pl.DataFrame(
        {
            "received_at": [datetime(2026, 11, 21, 18, tzinfo=UTC)],
            "routing_key": ["EH000001.O.120"],
            "raw": [b"{}"],
            "headers": ['{"ArrivalTime":"2026-11-21T18:00:01Z"}'],
        }
    )
    (marked,) = outgoing(frame, "amqp", mark="2026-12-05T11:00:00+00:00")
    assert marked.headers == {"ArrivalTime": "2026-11-21T18:00:01Z", REPLAY_MARK: "2026-12-05T11:00:00+00:00"}
    (plain,) = outgoing(frame, "amqp")
    assert plain.headers == {"ArrivalTime": "2026-11-21T18:00:01Z"} and plain.mark is None


def test_mqtt_replay_is_recorded_as_replayed(
    mqtt_broker: tuple[str, int], unique_name: str, tmp_path: Path
) -> None:
    _, port = mqtt_broker
    original, again = f"{unique_name}-a", f"{unique_name}-b"
    topic = f"{original}/evcc/loadpoints/1/chargePower"
    write_mqtt_dataset(
        tmp_path / "recorded",
        [(i * 0.05, topic, encode_state(1000.0 + i).encode(), False) for i in range(20)],
    )

    # A live (not replayed) message recorded alongside: not marked.
    capture = CaptureThread(capture_settings(port, again, tmp_path / "capture"))
    capture.wait_subscribed()
    publish(port, [(f"{again}/evcc/loadpoints/1/chargePower", encode_state(5.0), False)])
    capture.wait_messages(1)
    summary = replay_dataset(
        tmp_path / "recorded",
        MqttTarget("127.0.0.1", port),
        speed=0,
        rewrites=[Rewrite(f"{original}/", f"{again}/")],
    )
    assert summary.published == 20
    capture.wait_messages(21)
    time.sleep(0.3)
    capture.stop()

    rows = evkit.scan(tmp_path / "capture").collect().sort("received_at")
    assert rows.height == 21
    assert rows[REPLAYED_COLUMN].to_list() == [False] + [True] * 20
    assert _replayed(tmp_path / "capture").sum() == 20
    caveat = ExploreController(tmp_path / "capture", zone="UTC").latency_caveat()
    assert caveat is not None and "20 of 21 rows were replayed" in caveat
    assert replayed_caveat_of(evkit.scan(tmp_path / "capture")) == caveat
    # ... and what the report says, computed bucket by bucket from the same mark
    page = build_report(tmp_path / "capture", tmp_path / "report.html", progress=False, tz="UTC")
    assert "20 of 21 rows were replayed" in page.read_text(encoding="utf-8")


def test_mqtt_replay_without_mark_is_not_flagged(
    mqtt_broker: tuple[str, int], unique_name: str, tmp_path: Path
) -> None:
    _, port = mqtt_broker
    original, again = f"{unique_name}-a", f"{unique_name}-b"
    topic = f"{original}/evcc/loadpoints/1/chargePower"
    write_mqtt_dataset(
        tmp_path / "recorded", [(i * 0.05, topic, encode_state(float(i)).encode(), False) for i in range(5)]
    )
    capture = CaptureThread(capture_settings(port, again, tmp_path / "capture"))
    capture.wait_subscribed()
    replay_dataset(
        tmp_path / "recorded",
        MqttTarget("127.0.0.1", port),
        speed=0,
        rewrites=[Rewrite(f"{original}/", f"{again}/")],
        mark=False,
    )
    capture.wait_messages(5)
    time.sleep(0.3)
    capture.stop()
    assert not _replayed(tmp_path / "capture").any()
    assert ExploreController(tmp_path / "capture", zone="UTC").latency_caveat() is None
    assert replayed_caveat_of(evkit.scan(tmp_path / "capture")) is None
    page = build_report(tmp_path / "capture", tmp_path / "report.html", progress=False, tz="UTC")
    assert "were replayed" not in page.read_text(encoding="utf-8")


def test_amqp_replay_is_recorded_as_replayed(amqp_url: str, unique_name: str, tmp_path: Path) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    keys, bodies, headers = [], [], []
    for i in range(12):
        moment = start + timedelta(seconds=10 * i)
        key, body = encode_observation("EHMARK01", (120, 109)[i % 2], (7.4, 3)[i % 2], moment, "flat")  # type: ignore[arg-type]
        keys.append(key)
        bodies.append(body)
        headers.append(f'{{"ArrivalTime":"{arrival_time_header(moment + timedelta(seconds=1))}"}}')
    recorded = pl.DataFrame(
        {
            "received_at": [start + timedelta(seconds=10 * i + 2) for i in range(12)],
            "routing_key": keys,
            "raw": bodies,
            "headers": headers,
        },
        schema_overrides={"received_at": pl.Datetime("us", "UTC")},
    )
    PartWriter(tmp_path / "recorded").write(recorded)
    exchange, queue = f"{unique_name}-x", f"{unique_name}-q"
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    channel.exchange_declare(exchange, "topic", auto_delete=False)
    channel.queue_declare(queue)
    channel.queue_bind(queue, exchange, "#")
    try:
        summary = replay_dataset(tmp_path / "recorded", AmqpTarget(amqp_url, exchange), speed=0)
        assert summary.published == 12
        details, _ = resolve_details(amqp_url)
        AmqpCapture(details, tmp_path / "capture", queue=queue, max_messages=12, writer="thread").run()
    finally:
        channel.queue_delete(queue)
        channel.exchange_delete(exchange)
        connection.close()
    rows = evkit.scan(tmp_path / "capture").collect()
    assert rows.height == 12
    assert rows["headers"].str.contains(REPLAY_MARK, literal=True).all()
    assert _replayed(tmp_path / "capture").all()
    caveat = ExploreController(tmp_path / "capture", zone="UTC").latency_caveat()
    assert caveat is not None and "all 12 rows were replayed" in caveat
    assert replayed_caveat_of(evkit.scan(tmp_path / "capture")) == caveat
    # The latency figure carries it too.
    controller = ExploreController(tmp_path / "capture", zone="UTC")
    fig = controller.latency_figure(controller.select())
    assert "replayed" in fig.layout.title.subtitle.text


def test_parts_without_the_replayed_column_read_as_null_and_compaction_keeps_the_mark(tmp_path: Path) -> None:
    from evkit.sources.mqtt import Message, RowBuilder
    from evkit.store.compact import compact

    builder = RowBuilder()
    topic = "evcc/loadpoints/1/chargePower"
    base = 1_795_300_000_000_000
    marked = builder.frame([Message(base, topic, b"5", False, 1, False, 1, True)])
    older = builder.frame([Message(base + 1_000_000, topic, b"6", False, 1, False, 1)]).drop(REPLAYED_COLUMN)
    PartWriter(tmp_path).write(older)  # written before the column existed
    PartWriter(tmp_path).write(marked)
    expected = [
        (datetime.fromtimestamp(base / 1e6, UTC), True),
        (datetime.fromtimestamp(base / 1e6 + 1, UTC), None),
    ]

    def read() -> list[tuple[object, ...]]:
        return (
            evkit.scan(tmp_path).select("received_at", REPLAYED_COLUMN).collect().sort("received_at").rows()
        )

    assert read() == expected
    assert compact(tmp_path, include_today=True).days[0].parts_before == 2
    assert read() == expected
    assert _replayed(tmp_path).sum() == 1  # null (not known to be replayed) counts as not replayed
