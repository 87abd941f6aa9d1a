"""A broker that drops messages (its per-client queue overflowed) is never silent: evkit reads
Mosquitto's own count (``$SYS/broker/publish/messages/dropped``) and reports what it dropped while the
capture ran, in the log, the summary and the manifest. Private Mosquittos only (never the shared one)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from hypothesis import given
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

from evkit.sources.mqtt import MqttSettings
from evkit.sources.mqtt_drops import DropCounter
from evkit.store import read_manifest
from tests.mqtt.helpers import CaptureThread, PrivateBroker, publish


def test_drop_counter_reports_increases_after_the_baseline() -> None:
    counter = DropCounter()
    assert counter.update(40) == 0  # drops from before the capture are not ours
    assert counter.update(40) == 0
    assert counter.update(55) == 15
    counter.restarted()  # the broker restarted: it counts from 0 again
    assert counter.update(7) == 7
    assert counter.dropped == 22


def test_no_reading_at_start_means_zero_so_far() -> None:
    counter = DropCounter()
    counter.baseline_zero()  # Mosquitto publishes the counter only once it is above 0
    assert counter.update(12) == 12


@given(st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=50))
def test_a_monotonic_counter_adds_up_to_its_growth(steps: list[int]) -> None:
    counter = DropCounter()
    values = [sum(steps[: i + 1]) for i in range(len(steps))]
    for value in values:
        counter.update(value)
    assert counter.dropped == values[-1] - values[0]


@pytest.fixture
def small_queue_broker(private_mosquitto: Callable[..., PrivateBroker]) -> PrivateBroker:
    return private_mosquitto("small", settings="max_queued_messages 10\nsys_interval 1\n")


def _offline_session(port: int, topic: str, client_id: str) -> None:
    """A QoS 1 subscriber that goes away with its session kept: the broker queues for it (10 at most)."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    client.connect("127.0.0.1", port)
    client.loop_start()
    info = client.subscribe(topic, qos=1)
    deadline = time.monotonic() + 5
    while not client.is_connected() or info[0] != 0:
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    time.sleep(0.3)
    client.loop_stop()
    client.disconnect()


@pytest.mark.broker
def test_messages_the_broker_dropped_during_the_capture_are_reported(
    small_queue_broker: PrivateBroker, unique_name: str, dataset_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = small_queue_broker.port
    topic = f"{unique_name}/x"
    _offline_session(port, f"{unique_name}/#", f"{unique_name}-away")
    capture = CaptureThread(
        MqttSettings(host="127.0.0.1", port=port, topics=[topic], out=dataset_dir, flush_interval=0.3)
    )
    capture.wait_subscribed()
    time.sleep(3.5)  # the watcher has its baseline (no drops yet: Mosquitto publishes nothing)
    publish(port, ((topic, str(i), False) for i in range(200)))
    deadline = time.monotonic() + 20  # sys_interval 1: the counter shows within a few seconds
    while capture.capture.broker_dropped == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    capture.capture.request_stop()
    summary = capture.join()
    assert summary["broker_dropped"] >= 150  # the away session's queue holds 10 of the 200
    record = next(
        c for c in read_manifest(dataset_dir)["captures"] if c["capture_id"] == summary["capture_id"]
    )
    assert record["broker_dropped"] == summary["broker_dropped"]
    assert any(
        "dropped" in r.getMessage() and "max_queued_messages" in r.getMessage() for r in caplog.records
    )


@pytest.mark.broker
def test_a_broker_that_drops_nothing_gives_no_warning(
    small_queue_broker: PrivateBroker, unique_name: str, dataset_dir: Path
) -> None:
    port = small_queue_broker.port
    topic = f"{unique_name}/x"
    capture = CaptureThread(
        MqttSettings(host="127.0.0.1", port=port, topics=[topic], out=dataset_dir, flush_interval=0.3)
    )
    capture.wait_subscribed()
    publish(port, ((topic, str(i), False) for i in range(50)))
    capture.wait_messages(50)
    time.sleep(2.5)  # a sys_interval or two: a drop would show by now
    capture.capture.request_stop()
    summary = capture.join()
    assert summary["messages"] == 50 and summary["broker_dropped"] == 0
