"""The go-e simulator: what it publishes, how it charges, how it answers sets (MQTT and HTTP), and
``evkit sim goe`` as a process. Real Mosquitto, real HTTP on 127.0.0.1.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from evkit.goe.status import parse_payload
from evkit.sim.goe import READ_ONLY_TEXT, GoeSimulator
from evkit.sources.mqtt_transport import PahoTransport
from tests.helpers import MqttRecorder, RecordMqtt, StartGoeSim, wait_until

SERIAL = "400001"


@pytest.fixture
def prefix(unique_name: str) -> str:
    return unique_name


@pytest.fixture
def sim(start_goe_sim: StartGoeSim, prefix: str) -> GoeSimulator:
    return start_goe_sim(SERIAL, prefix, http_port=0, tick_s=0.05, speed=60)


@pytest.fixture
def results(record_mqtt: RecordMqtt, prefix: str) -> MqttRecorder:
    return record_mqtt(prefix, f"{SERIAL}/+/result")


def publish_set(mqtt_broker: tuple[str, int], prefix: str, key: str, payload: str) -> None:
    with PahoTransport(*mqtt_broker) as transport:
        transport.publish(f"{prefix}/{SERIAL}/{key}/set", payload, qos=1, retain=False)


# ------------------------------------------------------------------------------- what it publishes


def test_state_is_retained_json_per_key(sim: GoeSimulator, mqtt_broker: tuple[str, int], prefix: str) -> None:
    # subscribes after start: retained only (flagged retained only if it came from the broker's store)
    late = MqttRecorder(*mqtt_broker, prefix, f"{SERIAL}/+", retain_as_published=False)
    try:
        # every key, not a count: the broker hands retained messages over in its own order
        everything = {f"{prefix}/{SERIAL}/{key}" for key in sim.state}
        assert len(everything) >= 60
        assert wait_until(lambda: everything <= late.last_by_topic().keys())
        latest = late.last_by_topic()
        for topic, message in latest.items():
            parse_payload(message.payload)  # every payload is JSON
            assert topic.startswith(f"{prefix}/{SERIAL}/")
        retained = [m for m in latest.values() if m.retained]
        assert len(retained) >= 60
        values = {t.rsplit("/", 1)[1]: parse_payload(m.payload) for t, m in latest.items()}
        assert values["amp"] == 16
        assert values["fna"] == "evkit simulator"
        assert values["mcc"] is True
        assert values["sse"] == SERIAL
        assert len(values["nrg"]) == 16
        assert values["car"] in (2, 3)
        for key in ("eto", "wh", "frc", "psm", "lmo", "dwo", "modelStatus", "err", "tma", "fwv"):
            assert key in values, key
    finally:
        late.close()


def test_stop_with_cleanup_removes_the_retained_state(mqtt_broker: tuple[str, int], prefix: str) -> None:
    with GoeSimulator(
        SERIAL, mqtt_host=mqtt_broker[0], mqtt_port=mqtt_broker[1], prefix=prefix, http_port=None
    ):
        pass
    late = MqttRecorder(*mqtt_broker, prefix, f"{SERIAL}/#")
    try:
        time.sleep(0.3)
        assert late.last_by_topic() == {}
    finally:
        late.close()


def test_stop_without_cleanup_leaves_mcc_false(mqtt_broker: tuple[str, int], prefix: str) -> None:
    host, port = mqtt_broker
    sim = GoeSimulator(SERIAL, mqtt_host=host, mqtt_port=port, prefix=prefix, http_port=None, cleanup=False)
    sim.start()
    sim.stop()
    late = MqttRecorder(*mqtt_broker, prefix, f"{SERIAL}/#")
    try:
        assert wait_until(lambda: f"{prefix}/{SERIAL}/mcc" in late.last_by_topic())
        assert late.last_by_topic()[f"{prefix}/{SERIAL}/mcc"].payload == b"false"
    finally:
        late.close()
        with PahoTransport(*mqtt_broker) as transport:  # tidy the retained topics of this test
            for topic in late.last_by_topic():
                transport.publish(topic, b"", retain=True)


# ------------------------------------------------------------------------------- charging dynamics


def test_connected_car_charges_and_counts_energy(sim: GoeSimulator) -> None:
    assert wait_until(lambda: sim.state["car"] == 2)
    start = sim.state
    assert wait_until(lambda: sim.state["wh"] > start["wh"] + 10)
    state = sim.state
    assert state["eto"] >= start["eto"]
    assert state["nrg"][11] == pytest.approx(sum(state["nrg"][7:10]), abs=1.0)
    assert 15.5 < state["nrg"][4] < 16.5  # amp 16 on L1
    assert state["alw"] is True


def test_force_off_stops_charging(sim: GoeSimulator) -> None:
    assert sim.apply_set("frc", "1") is None
    state = sim.state
    assert state["car"] == 3
    assert state["nrg"][11] == 0
    assert state["modelStatus"] == 4
    frozen = state["wh"]
    time.sleep(0.2)
    assert sim.state["wh"] == frozen


def test_energy_limit_completes_the_session(sim: GoeSimulator) -> None:
    assert sim.apply_set("dwo", "20") is None
    assert wait_until(lambda: sim.state["car"] == 4)
    assert sim.state["modelStatus"] == 6
    assert sim.state["wh"] >= 20


def test_single_phase_and_temporary_limit_shape_the_current(sim: GoeSimulator) -> None:
    assert sim.apply_set("psm", "1") is None
    assert sim.apply_set("tcl", "8") is None
    nrg = sim.state["nrg"]
    assert 7.5 < nrg[4] < 8.5
    assert nrg[5] == 0 and nrg[6] == 0
    assert sim.state["pnp"] == 1


def test_unplugging_resets_session_energy(sim: GoeSimulator) -> None:
    assert wait_until(lambda: sim.state["wh"] > 0)
    sim.plug(False)
    assert sim.state["car"] == 1
    assert sim.state["wh"] == 0


# ------------------------------------------------------------------------------- answering sets


def test_mqtt_set_is_applied_and_answered_success(
    sim: GoeSimulator, results: MqttRecorder, mqtt_broker: tuple[str, int], prefix: str
) -> None:
    publish_set(mqtt_broker, prefix, "amp", "10")
    assert wait_until(lambda: len(results.on(f"{SERIAL}/amp/result")) == 1)
    answer = results.on(f"{SERIAL}/amp/result")[0]
    assert answer.payload == b"success"
    assert answer.retained is False
    assert sim.state["amp"] == 10


@pytest.mark.parametrize(
    "case",
    [
        ("amp", "40", "from 6 to 32"),
        ("amp", '"16"', "whole number"),
        ("fna", "Garage", "invalid json"),
        ("alw", "true", "alw: tried to set api key without setter (true)"),
        ("nokey", "1", "nokey: api key not found"),
    ],
)
def test_mqtt_set_breaking_the_rules_is_answered_with_the_error(
    sim: GoeSimulator,
    results: MqttRecorder,
    mqtt_broker: tuple[str, int],
    prefix: str,
    case: tuple[str, str, str],
) -> None:
    key, payload, error = case
    before = sim.state
    publish_set(mqtt_broker, prefix, key, payload)
    topic = f"{SERIAL}/{key}/result"
    assert wait_until(lambda: len(results.on(topic)) == 1)
    assert error in results.on(topic)[0].text
    assert sim.state["amp"] == before["amp"]
    assert sim.state["fna"] == before["fna"]


def test_read_only_charger_sends_no_result(
    mqtt_broker: tuple[str, int], prefix: str, results: MqttRecorder
) -> None:
    host, port = mqtt_broker
    with GoeSimulator(
        SERIAL, mqtt_host=host, mqtt_port=port, prefix=prefix, http_port=None, read_only=True
    ) as sim:
        publish_set(mqtt_broker, prefix, "amp", "10")
        publish_set(mqtt_broker, prefix, "lbr", "10")
        time.sleep(0.3)
        assert results.snapshot() == []
        assert sim.state["amp"] == 16
        assert sim.state["mcr"] is True


def test_http_status_and_filter(sim: GoeSimulator) -> None:
    everything = httpx.get(f"{sim.http_url}/api/status").json()
    assert everything["sse"] == SERIAL and len(everything) >= 60
    some = httpx.get(f"{sim.http_url}/api/status?filter=amp,car,nrg").json()
    assert set(some) == {"amp", "car", "nrg"}


def test_http_set_answers_per_key(sim: GoeSimulator) -> None:
    ok = httpx.get(f"{sim.http_url}/api/set", params={"amp": "12", "fna": '"Box"'})
    assert ok.status_code == 200
    assert ok.json() == {"amp": True, "fna": True}
    mixed = httpx.get(f"{sim.http_url}/api/set", params={"frc": "2", "alw": "true"})
    assert mixed.status_code == 500
    body: dict[str, Any] = mixed.json()
    assert body["frc"] is True
    assert "without setter" in body["alw"]
    assert sim.state["amp"] == 12 and sim.state["frc"] == 2


def test_http_read_only_answers_500_with_the_reason() -> None:
    with GoeSimulator(SERIAL, mqtt_host=None, http_port=0, read_only=True) as sim:
        response = httpx.get(f"{sim.http_url}/api/set?amp=10")
        assert response.status_code == 500
        assert response.json() == {"amp": READ_ONLY_TEXT}
        assert httpx.get(f"{sim.http_url}/api/status?filter=amp").json() == {"amp": 16}


def test_http_unknown_endpoint_is_404(sim: GoeSimulator) -> None:
    assert httpx.get(f"{sim.http_url}/api/nothing").status_code == 404
    assert httpx.get(f"{sim.http_url}/api/set").status_code == 400


def test_http_mcr_switches_mqtt_writes_off(
    sim: GoeSimulator, results: MqttRecorder, mqtt_broker: tuple[str, int], prefix: str
) -> None:
    assert httpx.get(f"{sim.http_url}/api/set?mcr=true").json() == {"mcr": True}
    publish_set(mqtt_broker, prefix, "amp", "10")
    time.sleep(0.3)
    assert results.snapshot() == []
    assert sim.state["amp"] == 16


# ------------------------------------------------------------------------------- evkit sim goe


def _spawn_sim(mqtt_broker: tuple[str, int], prefix: str, *extra: str) -> tuple[subprocess.Popen[str], str]:
    host, port = mqtt_broker
    command = f"-m evkit sim goe --serial {SERIAL} --prefix {prefix} --mqtt-host {host} --mqtt-port {port}"
    process = subprocess.Popen(
        [sys.executable, *command.split(), "--http-port", "0", "--speed", "30", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"HTTP (http://127\.0\.0\.1:\d+)/api/status", line)
    assert match, f"unexpected first line {line!r}; stderr: {process.stderr.read() if process.poll() else ''}"
    return process, match.group(1)


def test_sim_command_serves_mqtt_and_http_and_stops_cleanly(
    mqtt_broker: tuple[str, int], prefix: str
) -> None:
    process, url = _spawn_sim(mqtt_broker, prefix)
    try:
        assert httpx.get(f"{url}/api/set?amp=9", timeout=5).json() == {"amp": True}
        listener = MqttRecorder(*mqtt_broker, prefix, f"{SERIAL}/amp")
        try:
            assert wait_until(lambda: [m.payload for m in listener.on(f"{SERIAL}/amp")][-1:] == [b"9"])
        finally:
            listener.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    late = MqttRecorder(*mqtt_broker, prefix, f"{SERIAL}/#")
    try:
        time.sleep(0.3)
        assert late.last_by_topic() == {}  # the retained state was tidied on SIGTERM
    finally:
        late.close()


def test_sim_command_impersonates_an_old_11_kw_charger(mqtt_broker: tuple[str, int], prefix: str) -> None:
    process, url = _spawn_sim(mqtt_broker, prefix, "--firmware", "051.4", "--variant", "11")
    try:
        status = httpx.get(f"{url}/api/status?filter=fwv,var,ama", timeout=5).json()
        assert status == {"fwv": "051.4", "var": 11, "ama": 16}
        assert httpx.get(f"{url}/api/set?amp=20", timeout=5).json()["amp"] is not True
        results = MqttRecorder(*mqtt_broker, prefix, f"{SERIAL}/+/result")
        state = MqttRecorder(*mqtt_broker, prefix, f"{SERIAL}/amp")
        try:
            with PahoTransport(*mqtt_broker) as transport:
                transport.publish(f"{prefix}/{SERIAL}/amp/set", "12", qos=1, retain=False)
            assert wait_until(lambda: [m.payload for m in state.on(f"{SERIAL}/amp")][-1:] == [b"12"])
            time.sleep(0.3)
            assert results.last_by_topic() == {}  # 051.4: no /result (mqtt-de.md:79)
        finally:
            results.close()
            state.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize(
    "option", [["--firmware", "latest"], ["--variant", "16"], ["--serial", "#"], ["--speed", "nan"]]
)
def test_sim_command_refuses_bad_options(option: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "evkit", "sim", "goe", "--no-mqtt", *option],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and option[0] in done.stderr


def test_killed_sim_leaves_the_lwt_mcc_false(mqtt_broker: tuple[str, int], prefix: str) -> None:
    process, _ = _spawn_sim(mqtt_broker, prefix)
    process.kill()  # no goodbye: the broker publishes the will
    process.wait()
    listener = MqttRecorder(*mqtt_broker, prefix, f"{SERIAL}/#")
    try:
        topic = f"{prefix}/{SERIAL}/mcc"
        assert wait_until(
            lambda: topic in listener.last_by_topic() and listener.last_by_topic()[topic].payload == b"false"
        )
    finally:
        retained = list(listener.last_by_topic())
        listener.close()
        with PahoTransport(*mqtt_broker) as transport:
            for topic in retained:
                transport.publish(topic, b"", retain=True)
