"""Issue 15: a broker restart loses nothing, and a lost session is never silent.

Every test runs its own Mosquitto (:class:`PrivateBroker`, a free port) and restarts it; the shared
Mosquitto on 1883 is never touched.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from evkit.sources.mqtt import MqttSettings
from evkit.sources.mqtt_recorder import record_mqtt
from evkit.sources.progress import describe
from evkit.store import read_manifest
from tests.mqtt.helpers import CaptureThread, PacedPublisher, PrivateBroker, publish

pytestmark = pytest.mark.broker


@pytest.fixture
def forgetful_broker(private_mosquitto: Callable[..., PrivateBroker]) -> PrivateBroker:
    """A Mosquitto without persistence: a restart forgets every session (session present: False)."""
    return private_mosquitto("forgetful", persistence=False)


def stored_ids(out: Path) -> set[int]:
    if not out.exists() or not any(out.rglob("*.parquet")):
        return set()
    values = pl.scan_parquet(f"{out}/**/*.parquet").select("value").collect()["value"]
    return {int(v) for v in values.drop_nulls().to_list()}


def wait_until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.2)


def test_broker_restart_mid_stream_loses_nothing_the_publisher_was_promised(
    roomy_broker: PrivateBroker, unique_name: str, dataset_dir: Path
) -> None:
    port = roomy_broker.port
    # The capture's real defaults (QoS 1, MQTT 5, reconnect timing); only the flush is quicker.
    capture = CaptureThread(
        MqttSettings(
            host="127.0.0.1", port=port, topics=[f"{unique_name}/#"], out=dataset_dir, flush_interval=0.5
        )
    )
    capture.wait_subscribed()
    publisher = PacedPublisher(port, f"{unique_name}/counter", rate=100, client_id=f"{unique_name}-pub")
    publisher.start(1000)  # about 10 s
    wait_until(lambda: len(publisher.sent) >= 300, 30)
    roomy_broker.restart(outage=4.0)  # SIGTERM (persistence saved), 4 s down, same port and config
    acknowledged = set(publisher.finish(timeout=120))
    assert len(acknowledged) == 1000  # the publisher itself lost nothing: every PUBACK came
    wait_until(lambda: acknowledged <= stored_ids(dataset_dir), 60)
    summary = capture.stop()
    missing = sorted(acknowledged - stored_ids(dataset_dir))
    assert missing == [], f"{len(missing)} acknowledged messages not stored, e.g. {missing[:10]}"
    assert summary["reconnects"] == 1  # one successful reconnection, however many attempts failed
    assert summary["session_lost"] == 0
    assert read_manifest(dataset_dir)["captures"][0]["session_lost"] == 0


def test_outage_is_not_idleness_and_queued_messages_are_recorded(
    private_broker: PrivateBroker, unique_name: str, dataset_dir: Path
) -> None:
    port = private_broker.port
    topic = f"{unique_name}/meter"
    capture = CaptureThread(
        MqttSettings(
            host="127.0.0.1",
            port=port,
            topics=[f"{unique_name}/#"],
            out=dataset_dir,
            flush_interval=0.2,
            idle_exit=3.0,
        )
    )
    capture.wait_subscribed()
    publish(port, [(topic, str(i), False) for i in range(50)])
    capture.wait_messages(50)
    private_broker.stop()
    time.sleep(6.0)  # twice --idle-exit without a connection: not idle, we were away
    private_broker.start()
    publish(port, [(topic, str(i), False) for i in range(50, 100)])  # queued in our session
    summary = capture.join(timeout=60)
    assert summary["stop_reason"] == "idle_exit"
    assert stored_ids(dataset_dir) == set(range(100))
    assert summary["reconnects"] == 1


def test_stop_requested_while_the_broker_is_away_ends_the_capture(
    private_broker: PrivateBroker, unique_name: str, dataset_dir: Path
) -> None:
    port = private_broker.port
    capture = CaptureThread(
        MqttSettings(
            host="127.0.0.1", port=port, topics=[f"{unique_name}/#"], out=dataset_dir, flush_interval=60
        )
    )
    capture.wait_subscribed()
    publish(port, [(f"{unique_name}/x", str(i), False) for i in range(20)])
    capture.wait_messages(20)
    private_broker.stop()
    summary = capture.stop(timeout=60)  # used to spin in the reconnect loop forever
    assert summary["stop_reason"] == "stopped"
    assert stored_ids(dataset_dir) == set(range(20))  # the buffer is written (unacknowledged: redelivered)


@pytest.mark.parametrize("protocol", [5, 311])
def test_a_lost_session_is_reported_in_log_manifest_summary_and_panel(
    forgetful_broker: PrivateBroker,
    unique_name: str,
    dataset_dir: Path,
    caplog: pytest.LogCaptureFixture,
    protocol: int,
) -> None:
    port = forgetful_broker.port
    recorder = record_mqtt(
        "127.0.0.1", f"{unique_name}/#", dataset_dir, port=port, flush_interval=0.2, protocol=protocol
    )
    wait_until(recorder._capture.subscribed.is_set, 15)  # type: ignore[attr-defined]
    publish(port, [(f"{unique_name}/x", "1", False)])
    wait_until(lambda: recorder.stats["rows_written"] >= 1, 15)
    forgetful_broker.restart(outage=0.5)  # no persistence: our session is gone
    wait_until(lambda: recorder.stats["session_lost"] >= 1, 30)
    assert "WARNING: broker lost the session 1x" in describe(recorder.stats)  # the notebook panel
    # known before the end (the manifest is rewritten just after the counter moves: wait for it)
    wait_until(lambda: read_manifest(dataset_dir)["captures"][0].get("session_lost") == 1, 15)
    running = read_manifest(dataset_dir)["captures"][0]
    assert running["status"] == "running" and running["session_lost"] == 1
    summary = recorder.stop()
    assert summary is not None
    assert summary["session_lost"] == 1 and len(summary["session_lost_at"]) == 1
    record = read_manifest(dataset_dir)["captures"][0]
    assert record["session_lost"] == 1 and record["session_lost_at"] == summary["session_lost_at"]
    assert any("session present: False" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")

    # A new run with the same client id finds no session either (the broker restarted meanwhile):
    # what was published between the runs is lost, and that is reported too.
    forgetful_broker.restart()
    second = CaptureThread(
        MqttSettings(
            host="127.0.0.1",
            port=port,
            topics=[f"{unique_name}/#"],
            out=dataset_dir,
            idle_exit=1.0,
            protocol=protocol,
        )
    )
    assert second.join()["session_lost"] == 1


def test_cli_exit_summary_warns_about_a_lost_session(
    forgetful_broker: PrivateBroker, unique_name: str, dataset_dir: Path
) -> None:
    port = forgetful_broker.port
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "evkit",
            "capture",
            "mqtt",
            "--host=127.0.0.1",
            f"--port={port}",
            f"--topic={unique_name}/#",
            f"--out={dataset_dir}",
            "--idle-exit=3",
            "--flush-interval=0.2",
            "--quiet",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ,
    )
    try:
        log = forgetful_broker.directory / "mosquitto.log"
        wait_until(lambda: log.exists() and " as evkit-" in log.read_text(), 30)  # connected
        time.sleep(0.5)  # and subscribed (idle exit is 3 s connected)
        forgetful_broker.restart(outage=0.5)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert "WARNING: the broker had lost this capture's session 1 time(s)" in stderr
    assert "Broker settings under which nothing is lost" in stderr
    assert read_manifest(dataset_dir)["captures"][0]["session_lost"] == 1
