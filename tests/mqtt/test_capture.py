"""MQTT capture against a real Mosquitto: decoding, retained flag, sessions, restarts, stop conditions."""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl
import pytest

import evkit
from evkit.evcc.state import encode_state
from evkit.sim.goe import GoeSimulator
from evkit.sources.mqtt import MqttSettings, TopicRules
from tests.mqtt.helpers import CaptureThread, PrivateBroker, clear_retained, publish

pytestmark = pytest.mark.broker


def settings_for(port: int, prefix: str, out: Path, **extra: object) -> MqttSettings:
    options: dict[str, object] = {
        "flush_interval": 0.2,
        "min_backoff": 0.2,
        "max_backoff": 1.0,
        "session_expiry": 600,  # tidy: the shared broker forgets our test sessions soon
        "rules": TopicRules(evcc_roots=(f"{prefix}/evcc",), goe_prefixes=(f"{prefix}/go-eCharger",)),
    }
    options.update(extra)
    return MqttSettings(host="127.0.0.1", port=port, topics=[f"{prefix}/#"], out=out, **options)  # type: ignore[arg-type]


def evcc_traffic(prefix: str, cycles: int) -> list[tuple[str, str, bool]]:
    """What evcc publishes for one loadpoint over ``cycles`` control cycles (retained plain text)."""
    root = f"{prefix}/evcc"
    messages: list[tuple[str, str, bool]] = []
    for cycle in range(cycles):
        charging = 2 <= cycle < cycles - 2
        messages += [
            (f"{root}/loadpoints/1/connected", encode_state(True), True),
            (f"{root}/loadpoints/1/charging", encode_state(charging), True),
            (f"{root}/loadpoints/1/chargePower", encode_state(11000.0 if charging else 0.0), True),
            (f"{root}/loadpoints/1/sessionEnergy", encode_state(cycle * 91.667), True),
            (f"{root}/loadpoints/1/chargeTotalImport", encode_state(1500 + cycle * 0.091667), True),
            (f"{root}/updated", encode_state(1_795_300_000 + 30 * cycle), True),
        ]
    messages.append((f"{root}/loadpoints/1/vehicleSoc", "", True))  # evcc deleting a value
    return messages


def test_evcc_and_goe_traffic_recorded_and_decoded(
    mqtt_broker: tuple[str, int], unique_name: str, dataset_dir: Path
) -> None:
    _, port = mqtt_broker
    capture = CaptureThread(settings_for(port, unique_name, dataset_dir))
    capture.wait_subscribed()
    traffic = evcc_traffic(unique_name, 10)
    simulator = GoeSimulator(
        "004711", mqtt_port=port, prefix=f"{unique_name}/go-eCharger", http_port=None, speed=60, tick_s=0.1
    )
    with simulator:
        publish(port, traffic)
        time.sleep(1.0)  # a few simulator ticks
    capture.wait_messages(len(traffic) + 20)
    time.sleep(0.5)
    summary = capture.stop()
    clear_retained(port, {t for t, _, _ in traffic})

    frame = evkit.scan(dataset_dir).collect()
    assert summary["messages"] == frame.select(pl.struct("topic", "received_at", "raw").n_unique()).item()
    evcc_rows = frame.filter(pl.col("source") == "evcc")
    assert evcc_rows.height == len(traffic)  # one row per evcc message, none lost
    energy = evcc_rows.filter(pl.col("key") == "sessionEnergy").sort("received_at")
    assert energy["unit"].unique().to_list() == ["Wh"]
    assert energy["value"].to_list() == [float(encode_state(c * 91.667)) for c in range(10)]
    assert energy["device_id"].unique().to_list() == [f"{unique_name}/evcc/loadpoints/1"]
    meter = evcc_rows.filter(pl.col("key") == "chargeTotalImport")
    assert meter["unit"].unique().to_list() == ["kWh"]
    deleted = evcc_rows.filter(pl.col("key") == "vehicleSoc").row(0, named=True)
    assert (deleted["value"], deleted["value_text"], deleted["raw"]) == (None, "", b"")
    updated = evcc_rows.filter(pl.col("key") == "updated")
    assert updated["observed_at"].null_count() == 0

    goe_rows = frame.filter(pl.col("source") == "go-e")
    assert goe_rows["device_id"].unique().to_list() == ["004711"]
    nrg = goe_rows.filter(pl.col("key").str.starts_with("nrg."))
    assert nrg.height > 0 and nrg.height % 16 == 0
    assert set(nrg.filter(pl.col("key") == "nrg.voltage_l1")["unit"]) == {"V"}
    car = goe_rows.filter((pl.col("key") == "car") & (pl.col("value_text") != ""))  # "": simulator cleanup
    assert car["label"].drop_nulls().len() == car.height > 0
    assert frame["error"].null_count() == frame.height
    assert frame["kind"].unique().to_list() == ["mqtt"]


def test_retained_replay_flagged(mqtt_broker: tuple[str, int], unique_name: str, dataset_dir: Path) -> None:
    _, port = mqtt_broker
    retained_topics = [f"{unique_name}/evcc/loadpoints/1/mode", f"{unique_name}/evcc/site/pvPower"]
    publish(port, [(retained_topics[0], "pv", True), (retained_topics[1], "4200", True)])
    try:
        capture = CaptureThread(settings_for(port, unique_name, dataset_dir))
        capture.wait_subscribed()
        capture.wait_messages(2)
        publish(port, [(retained_topics[1], "4300", True)])  # live: delivered with retain=0
        capture.wait_messages(3)
        capture.stop()
    finally:
        clear_retained(port, retained_topics)
    frame = evkit.scan(dataset_dir).collect().sort("received_at")
    assert frame.select("value_text", "retained").rows() == [
        ("pv", True),
        ("4200", True),
        ("4300", False),
    ] or (
        sorted(frame.select("value_text", "retained").rows()[:2]) == [("4200", True), ("pv", True)]
        and frame.select("value_text", "retained").row(2) == ("4300", False)
    )


def test_persistent_session_keeps_messages_published_while_away(
    mqtt_broker: tuple[str, int], unique_name: str, dataset_dir: Path
) -> None:
    _, port = mqtt_broker
    client_id = unique_name[-20:]
    topic = f"{unique_name}/meter/power"
    first = CaptureThread(settings_for(port, unique_name, dataset_dir, client_id=client_id))
    first.wait_subscribed()
    publish(port, [(topic, str(i), False) for i in range(50)])
    first.wait_messages(50)
    first.stop()
    publish(port, [(topic, str(i), False) for i in range(50, 250)])  # nobody is listening
    second = CaptureThread(settings_for(port, unique_name, dataset_dir, client_id=client_id, idle_exit=1.5))
    summary = second.join()
    assert summary["messages"] == 200
    values = evkit.scan(dataset_dir).collect()["value"].to_list()
    assert sorted(values) == [float(i) for i in range(250)]  # each message exactly once


def test_max_messages_leaves_the_rest_with_the_broker(
    mqtt_broker: tuple[str, int], unique_name: str, dataset_dir: Path
) -> None:
    _, port = mqtt_broker
    client_id = unique_name[-20:]
    topic = f"{unique_name}/x"
    # create the session, then queue 300 messages for it
    CaptureThread(settings_for(port, unique_name, dataset_dir, client_id=client_id, duration=0.5)).join()
    publish(port, [(topic, str(i), False) for i in range(300)])
    first = CaptureThread(settings_for(port, unique_name, dataset_dir, client_id=client_id, max_messages=100))
    assert first.join()["messages"] == 100
    second = CaptureThread(settings_for(port, unique_name, dataset_dir, client_id=client_id, idle_exit=1.5))
    second.join()
    values = evkit.scan(dataset_dir).collect()["value"].to_list()
    assert sorted(values) == [float(i) for i in range(300)]


def test_broker_restart_during_capture(
    private_broker: PrivateBroker, unique_name: str, dataset_dir: Path
) -> None:
    port = private_broker.port
    topic = f"{unique_name}/go-eCharger/000001/wh"
    capture = CaptureThread(settings_for(port, unique_name, dataset_dir))
    capture.wait_subscribed()
    publish(port, [(topic, str(i), False) for i in range(200)])
    capture.wait_messages(200)
    private_broker.restart()
    # published while the recorder is still away (reconnect backoff): kept by its persistent session
    publish(port, [(topic, str(i), False) for i in range(200, 400)])
    capture.wait_messages(400)
    deadline = time.monotonic() + 20
    while capture.capture.stats.messages < 400 and time.monotonic() < deadline:
        time.sleep(0.1)
    summary = capture.stop()
    assert summary["reconnects"] >= 1
    frame = evkit.scan(dataset_dir).collect()
    assert sorted(set(frame["value"].to_list())) == [float(i) for i in range(400)]
    assert frame["conn_epoch"].n_unique() >= 2
    # a message delivered again after the restart is flagged as such (MQTT DUP), never lost
    duplicates = frame.height - frame["value"].n_unique()
    assert frame.filter(pl.col("redelivered")).height >= duplicates


def test_evcc_simulator_session_recorded_and_analysed(
    mqtt_broker: tuple[str, int], unique_name: str, dataset_dir: Path
) -> None:
    from evkit.analysis import sessions
    from evkit.analysis.home import evcc_liveness
    from evkit.sim.evcc import EvccSimulator

    _, port = mqtt_broker
    root = f"{unique_name}/evcc"
    capture = CaptureThread(settings_for(port, unique_name, dataset_dir))
    capture.wait_subscribed()
    simulator = EvccSimulator(host="127.0.0.1", port=port, prefix=root, interval_s=0.1, speed=60, seed=7)
    with simulator:
        publish(port, [(f"{root}/loadpoints/1/mode/set", "now", False)])
        time.sleep(0.5)
        simulator.plug(1)
        time.sleep(2.0)
        simulator.unplug(1)
        time.sleep(0.5)
    time.sleep(0.5)  # the simulator's cleanup (empty retained payloads) arrives
    capture.stop()

    lf = evkit.scan(dataset_dir)
    frame = lf.collect()
    evcc_rows = frame.filter(pl.col("source") == "evcc")
    assert evcc_rows.height > 50
    assert frame["error"].null_count() == frame.height
    energy = evcc_rows.filter((pl.col("key") == "sessionEnergy") & (pl.col("value_text") != ""))
    assert set(energy["unit"]) == {"Wh"} and energy["value"].max() > 0
    deleted = evcc_rows.filter(pl.col("raw") == b"")
    # an empty payload is "no value" (evcc's cleanup), except on omitempty numbers, where it is evcc's 0
    # (core/site_vehicles.go:23-30, core/types/types.go:19,60-61)
    omitempty = (
        deleted["device_id"].str.contains("/vehicles/")
        & deleted["key"].is_in(
            ["capacity", "phases", "minSoc", "limitSoc", "minCurrent", "maxCurrent", "priority"]
        )
    ) | deleted["key"].is_in(["battery/capacity", "battery/energy", "grid/excessDCPower"])
    assert deleted.filter(~omitempty).height > 0
    assert deleted.filter(~omitempty)["value"].null_count() == deleted.filter(~omitempty).height
    assert set(deleted.filter(omitempty)["value"]) == {0.0}
    found = sessions(lf).collect().filter(pl.col("source") == "evcc")
    assert found.height >= 1
    session = found.sort("started_at").row(-1, named=True)
    assert session["charger_id"] == f"{root}/loadpoints/1"
    assert session["energy_kwh"] > 0 and session["ended_at"] is not None
    assert evcc_liveness(lf).collect().height > 5


def test_record_mqtt_runs_in_the_background_and_stop_flushes(
    mqtt_broker: tuple[str, int], unique_name: str, dataset_dir: Path
) -> None:
    from evkit.sources.mqtt import record_mqtt

    _, port = mqtt_broker
    rules = TopicRules(goe_prefixes=(f"{unique_name}/go-eCharger",))
    handle = record_mqtt(
        "127.0.0.1", f"{unique_name}/#", dataset_dir, port=port, flush_interval=30.0, rules=rules
    )
    deadline = time.monotonic() + 15
    while not handle._capture.subscribed.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)
    publish(port, [(f"{unique_name}/go-eCharger/000001/amp", str(6 + i % 10), False) for i in range(30)])
    while handle.stats["messages"] < 30 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert handle.running
    assert "30 msgs" in repr(handle)
    summary = handle.stop()
    assert summary is not None and summary["messages"] == 30 and summary["rows_written"] == 30
    frame = evkit.scan(dataset_dir).collect()
    assert frame.height == 30 and set(frame["source"]) == {"go-e"} and set(frame["unit"]) == {"A"}


def test_mqtt_311_keeps_flowing_with_the_brokers_small_inflight_window(
    mqtt_broker: tuple[str, int], unique_name: str, dataset_dir: Path
) -> None:
    # The shared Mosquitto runs its default config: 20 unacknowledged QoS 1 messages in flight for a
    # 3.1.1 client. A capture that waited for flush_interval (60 s here) before acknowledging would
    # stall after 20 messages; it must write and acknowledge as soon as deliveries pause.
    _, port = mqtt_broker
    capture = CaptureThread(settings_for(port, unique_name, dataset_dir, protocol=311, flush_interval=60.0))
    capture.wait_subscribed()
    publish(port, [(f"{unique_name}/evcc/site/homePower", str(i), False) for i in range(300)])
    capture.wait_messages(300, timeout=30)
    assert capture.capture.stats.messages == 300
    capture.stop()
    assert sorted(evkit.scan(dataset_dir).collect()["value"].to_list()) == [float(i) for i in range(300)]


def test_each_run_starts_with_the_retained_snapshot_reconnects_do_not_repeat_it(
    private_broker: PrivateBroker, unique_name: str, dataset_dir: Path
) -> None:
    port = private_broker.port
    state = [
        (f"{unique_name}/evcc/loadpoints/1/mode", "pv", True),
        (f"{unique_name}/evcc/site/pvPower", "4200", True),
    ]
    publish(port, state)
    first = CaptureThread(settings_for(port, unique_name, dataset_dir, client_id="snapshot-test"))
    first.wait_messages(2)
    deadline = time.monotonic() + 10
    while first.capture.stats.acked < 2 and time.monotonic() < deadline:  # written and acknowledged
        time.sleep(0.05)
    time.sleep(0.2)  # the acks reach the broker
    private_broker.restart()  # reconnect within the run: the session resumes, no second snapshot
    deadline = time.monotonic() + 20
    while first.capture.stats.reconnects < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    publish(port, [(f"{unique_name}/evcc/site/pvPower", "4300", True)])
    first.wait_messages(3)
    time.sleep(0.5)
    assert first.stop()["reconnects"] >= 1
    second = CaptureThread(
        settings_for(port, unique_name, dataset_dir, client_id="snapshot-test", idle_exit=1.5)
    )
    second.join()  # a new run (same session): starts with the retained state again
    rows = (
        evkit.scan(dataset_dir).collect().sort("received_at").select("capture_id", "value_text", "retained")
    )
    runs = rows.partition_by("capture_id", maintain_order=True, include_key=False)
    assert sorted(runs[0].rows()) == [("4200", True), ("4300", False), ("pv", True)]
    assert sorted(runs[1].rows()) == [("4300", True), ("pv", True)]
