"""go-e control over MQTT: real Mosquitto, the simulator as the charger.

A separate observer connection watches ``<prefix>/<serial>/+/set`` to check exactly what went on the
wire (payload, QoS, retain flag) and that nothing was sent when validation failed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import evkit
from evkit.control.base import Outcome
from evkit.control.goe import GoeController
from evkit.errors import SourceError, ValidationError
from evkit.sim.goe import GoeSimulator
from tests.helpers import MqttRecorder, RecordMqtt, StartGoeSim, wait_until

SERIAL = "200001"


@pytest.fixture
def prefix(unique_name: str) -> str:
    return f"{unique_name}/go-eCharger"


@pytest.fixture
def sim(start_goe_sim: StartGoeSim, prefix: str) -> GoeSimulator:
    return start_goe_sim(SERIAL, prefix, http_port=None, tick_s=0.05, speed=20)


@pytest.fixture
def observer(record_mqtt: RecordMqtt, prefix: str) -> MqttRecorder:
    """Every command on the wire, with its payload, QoS and retain flag as published."""
    return record_mqtt(prefix, f"{SERIAL}/+/set")


@pytest.fixture
def goe(
    mqtt_broker: tuple[str, int], prefix: str, sim: GoeSimulator, tmp_path: Path
) -> Iterator[GoeController]:
    host, port = mqtt_broker
    controller = GoeController.over_mqtt(host, port, serial=SERIAL, prefix=prefix, audit=tmp_path, timeout=3)
    assert controller.wait_for_keys(["ama", "sse", "nrg", "mcc"], timeout=5), "retained state never arrived"
    yield controller
    controller.close()


def test_set_publishes_json_qos1_not_retained_and_is_confirmed(
    goe: GoeController, sim: GoeSimulator, observer: MqttRecorder, prefix: str
) -> None:
    result = goe.set("amp", "10")
    assert result.outcome is Outcome.CONFIRMED
    assert result.topic_or_url == f"{prefix}/{SERIAL}/amp/set"
    assert result.latency_s is not None
    assert sim.state["amp"] == 10
    assert wait_until(lambda: len(observer.snapshot()) == 1)
    sent = observer.snapshot()[0]
    assert sent.payload == b"10"
    assert sent.retained is False
    assert sent.qos == 1


def test_no_retained_set_is_left_on_the_broker(
    goe: GoeController, mqtt_broker: tuple[str, int], prefix: str
) -> None:
    goe.set("frc", "off")
    host, port = mqtt_broker
    late = MqttRecorder(host, port, prefix, f"{SERIAL}/+/set")  # a late subscriber sees retained only
    try:
        time.sleep(0.3)
        assert late.snapshot() == []
    finally:
        late.close()


def test_state_cache_follows_the_charger(goe: GoeController) -> None:
    state = goe.state
    assert state["sse"] == SERIAL
    assert len(state["nrg"]) == 16
    assert state["car"] in (2, 3)


def test_strings_and_null_go_out_as_json(
    goe: GoeController, sim: GoeSimulator, observer: MqttRecorder
) -> None:
    assert goe.set("fna", "Carport").outcome is Outcome.CONFIRMED
    assert goe.set("dwo", 4000).outcome is Outcome.CONFIRMED
    assert goe.set("dwo", "null").outcome is Outcome.CONFIRMED
    assert sim.state["fna"] == "Carport"
    assert sim.state["dwo"] is None
    assert wait_until(lambda: len(observer.snapshot()) == 3)
    assert [m.payload for m in observer.snapshot()] == [b'"Carport"', b"4000", b"null"]


def test_same_value_is_sent_and_reported_unchanged(goe: GoeController, observer: MqttRecorder) -> None:
    result = goe.set("psm", 0)
    assert result.outcome is Outcome.UNCHANGED
    assert wait_until(lambda: len(observer.snapshot()) == 1)


def test_invalid_values_publish_nothing(goe: GoeController, observer: MqttRecorder) -> None:
    for key, value in [("amp", "5"), ("frc", "3"), ("alw", "true"), ("nrg", "[]"), ("unknown", "1")]:
        with pytest.raises(ValidationError):
            goe.set(key, value)
    goe.set("lbr", 100)  # a valid one afterwards marks the end of the stream
    assert wait_until(lambda: len(observer.snapshot()) >= 1)
    time.sleep(0.1)
    assert [m.topic.rsplit("/", 2)[-2] for m in observer.snapshot()] == ["lbr"]


def test_charger_error_text_comes_back_as_rejected(goe: GoeController) -> None:
    result = goe.set("zzz", "1", raw_key=True)
    assert result.outcome is Outcome.REJECTED
    assert "zzz: api key not found" in result.detail


def test_raw_key_is_sent_as_given(goe: GoeController, sim: GoeSimulator, observer: MqttRecorder) -> None:
    result = goe.set("xfw", "true", raw_key=True)
    assert result.outcome is Outcome.CONFIRMED
    assert sim.state["xfw"] is True
    assert wait_until(lambda: [m.payload for m in observer.snapshot()] == [b"true"])


def test_read_only_charger_times_out_with_the_mcr_hint(
    mqtt_broker: tuple[str, int], prefix: str, observer: MqttRecorder
) -> None:
    host, port = mqtt_broker
    with (
        GoeSimulator(SERIAL, mqtt_host=host, mqtt_port=port, prefix=prefix, http_port=None, read_only=True),
        GoeController.over_mqtt(host, port, serial=SERIAL, prefix=prefix, timeout=0.5) as goe,
    ):
        assert wait_until(lambda: "mcr" in goe.state)
        result = goe.set("amp", 8)
    assert result.outcome is Outcome.NO_ANSWER
    assert result.exit_code == 1
    assert "mcr" in result.detail and "051.5" in result.detail
    assert wait_until(lambda: len(observer.snapshot()) == 1)  # it was sent, just not answered


def test_wrong_serial_says_nothing_was_seen(mqtt_broker: tuple[str, int], prefix: str) -> None:
    host, port = mqtt_broker
    with GoeController.over_mqtt(host, port, serial="999999", prefix=prefix, timeout=0.3) as goe:
        result = goe.set("amp", 8)
    assert result.outcome is Outcome.NO_ANSWER
    assert "check the serial" in result.detail


def test_disabling_mqtt_writes_via_mcr_is_honoured(goe: GoeController, sim: GoeSimulator) -> None:
    assert goe.set("mcr", True).outcome in (Outcome.CONFIRMED, Outcome.ACCEPTED)
    result = goe.set("amp", 9, timeout=0.5)
    assert result.outcome is Outcome.NO_ANSWER
    assert sim.state["amp"] == 16


def test_commands_are_audited(goe: GoeController, tmp_path: Path) -> None:
    goe.set("amp", 11)
    goe.set("zzz", "1", raw_key=True)
    rows = evkit.scan(tmp_path / "audit").sort("received_at").collect()
    assert rows["outcome"].to_list() == ["confirmed", "rejected"]
    assert rows["transport"].to_list() == ["mqtt", "mqtt"]
    assert rows["topic"][0].endswith(f"/{SERIAL}/amp/set")
    assert rows["kind"].unique().to_list() == ["command"]


def test_unreachable_broker_is_a_source_error() -> None:
    with pytest.raises(SourceError):
        GoeController.over_mqtt("127.0.0.1", 9, serial=SERIAL, timeout=1)


def test_concurrent_commands_each_get_their_own_answer(goe: GoeController, sim: GoeSimulator) -> None:
    outcomes: dict[str, Outcome] = {}

    def send(key: str, value: str, raw: bool) -> None:
        outcomes[f"{key}={value}"] = goe.set(key, value, raw_key=raw).outcome

    threads = [
        threading.Thread(target=send, args=("amp", "10", False)),
        threading.Thread(target=send, args=("fna", "Box", False)),
        threading.Thread(target=send, args=("zzz", "1", True)),
        threading.Thread(target=send, args=("amp", "11", False)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert outcomes == {
        "amp=10": Outcome.CONFIRMED,
        "fna=Box": Outcome.CONFIRMED,
        "zzz=1": Outcome.REJECTED,
        "amp=11": Outcome.CONFIRMED,
    }
    assert sim.state["amp"] in (10, 11)
    assert sim.state["fna"] == "Box"
