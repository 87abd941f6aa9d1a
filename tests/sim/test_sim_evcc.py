"""The evcc simulator on the real Mosquitto: evcc's retained encoding, dynamics, /set rules, cleanup."""

from __future__ import annotations

import itertools
import time

import pytest

from evkit.cli import main
from evkit.control.base import MemoryBroker
from evkit.sim.evcc import EvccSimulator
from tests.helpers import MqttRecorder, RecordMqtt, StartEvccSim, wait_until

pytestmark = pytest.mark.broker


@pytest.fixture
def prefix(unique_name: str) -> str:
    return f"{unique_name}/evcc"


@pytest.fixture
def sim(start_evcc_sim: StartEvccSim, prefix: str) -> EvccSimulator:
    return start_evcc_sim(prefix, loadpoints=2, vehicles=("tesla", "db:3"), interval_s=0.2, speed=600)


@pytest.fixture
def recorder(sim: EvccSimulator, prefix: str, record_mqtt: RecordMqtt) -> MqttRecorder:
    # a fresh subscriber: retained state first, then live messages, which are not flagged retained
    watcher = record_mqtt(prefix, retain_as_published=False)
    # the whole retained state has arrived (in whatever order the broker sends it)
    assert wait_until(
        lambda: sim.retained_paths <= {m.topic.removeprefix(prefix + "/") for m in watcher.snapshot()}
    )
    return watcher


def test_retained_state_in_evccs_encoding(recorder: MqttRecorder) -> None:
    def retained_now() -> dict[str, str]:
        return {
            m.topic.removeprefix(recorder.prefix + "/"): m.text for m in recorder.snapshot() if m.retained
        }

    wanted = {
        "status",
        "loadpoints",
        "vehicles",
        "updated",
        "loadpoints/1/maxCurrent",
        "vehicles/db:3/limitSoc",
    }
    assert wait_until(lambda: wanted <= set(retained_now()))  # retained messages arrive in the broker's order
    retained = retained_now()
    assert retained["status"] == "online"
    assert retained["loadpoints"] == "2" and retained["vehicles"] == "2"
    assert retained["loadpoints/1/maxCurrent"] == "16"  # a float setting: %.3f, zeros stripped
    assert retained["loadpoints/1/limitSoc"] == "100"  # int
    assert retained["loadpoints/1/connected"] == "true"  # bool
    assert retained["loadpoints/1/mode"] == "pv"  # plain text, never JSON-quoted
    assert retained["updated"].isdigit()  # Unix seconds
    assert retained["vehicles/db:3/limitSoc"] == "80"  # UI-made vehicles are named db:<id>
    assert "loadpoints/1/smartCostLimit" not in retained  # nil: no retained value at all


def test_charging_dynamics(recorder: MqttRecorder, sim: EvccSimulator) -> None:
    sim.plug(1, "tesla", soc=20)
    recorder.publish(f"{recorder.prefix}/loadpoints/1/mode/set", "now")
    assert wait_until(lambda: recorder.latest("loadpoints/1/charging") == "true")
    start_total = float(recorder.latest("loadpoints/1/chargeTotalImport") or 0)
    assert wait_until(lambda: float(recorder.latest("loadpoints/1/sessionEnergy") or 0) > 1000)  # Wh
    assert float(recorder.latest("loadpoints/1/chargePower") or 0) == pytest.approx(16 * 230 * 3)
    assert float(recorder.latest("loadpoints/1/chargeTotalImport") or 0) > start_total  # kWh
    assert float(recorder.latest("loadpoints/1/vehicleSoc") or 0) > 20
    assert recorder.latest("loadpoints/1/chargeCurrents/l1") == "16"
    assert wait_until(lambda: len(set(recorder.values("updated"))) >= 2)  # heartbeat moves on
    sim.unplug(1)
    assert wait_until(lambda: recorder.latest("loadpoints/1/connected") == "false")
    # published after ``connected`` in the same cycle: it may reach the recorder a moment later
    assert wait_until(lambda: recorder.latest("loadpoints/1/chargePower") == "0")


def test_valid_set_echoes_and_the_set_topic_is_wiped(recorder: MqttRecorder, sim: EvccSimulator) -> None:
    recorder.publish(f"{recorder.prefix}/loadpoints/2/limitSoc/set", "70")
    assert wait_until(lambda: recorder.latest("loadpoints/2/limitSoc") == "70")
    assert wait_until(lambda: recorder.values("loadpoints/2/limitSoc/set")[-1:] == [""])  # evcc clears /set
    assert sim.errors == []


@pytest.mark.parametrize(
    ("path", "payload", "error"),
    [
        ("loadpoints/1/limitSoc", "80.0", 'strconv.Atoi: parsing "80.0"'),
        ("loadpoints/1/mode", "fast", "invalid value: fast"),
        ("loadpoints/1/phasesConfigured", "2", "invalid number of phases"),
        ("loadpoints/1/minCurrent", "20", "must be <= maxCurrent"),
        ("loadpoints/1/planEnergy", '{"value":10,"time":"2020-01-01T00:00:00Z"}', "timestamp is in the past"),
        ("site/residualPower", "null", "strconv.ParseFloat"),
        ("loadpoints/1/enableDelay", "60s", "strconv.Atoi"),
    ],
)
def test_invalid_set_is_logged_not_echoed(
    recorder: MqttRecorder, sim: EvccSimulator, path: str, payload: str, error: str
) -> None:
    before = recorder.latest(path)
    recorder.publish(f"{recorder.prefix}/{path}/set", payload)
    assert wait_until(lambda: sim.errors)
    assert error in sim.errors[0].error
    assert recorder.latest(path) == before


def test_mode_change_resets_battery_boost(recorder: MqttRecorder, sim: EvccSimulator) -> None:
    recorder.publish(f"{recorder.prefix}/loadpoints/1/batteryBoost/set", "true")
    assert wait_until(lambda: recorder.latest("loadpoints/1/batteryBoost") == "true")
    recorder.publish(f"{recorder.prefix}/loadpoints/1/mode/set", "minpv")
    assert wait_until(lambda: recorder.latest("loadpoints/1/batteryBoost") == "false")
    recorder.publish(f"{recorder.prefix}/loadpoints/1/mode/set", "now")
    recorder.publish(f"{recorder.prefix}/loadpoints/1/batteryBoost/set", "true")
    assert wait_until(lambda: sim.errors)
    assert "pv and minpv" in sim.errors[0].error


def test_stop_says_offline_and_cleans_up(mqtt_broker: tuple[str, int], prefix: str) -> None:
    host, port = mqtt_broker
    EvccSimulator(host=host, port=port, prefix=prefix, interval_s=0.2).start().stop()
    after = MqttRecorder(host, port, prefix)
    try:
        assert wait_until(lambda: after.latest("status") == "offline")
        time.sleep(0.3)
        assert [m.topic for m in after.snapshot()] == [f"{prefix}/status"]
    finally:
        after.publish(f"{prefix}/status", b"", retain=True)
        after.close()


def test_cli_sim_runs_for_a_while(
    mqtt_broker: tuple[str, int], prefix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    host, port = mqtt_broker
    code = main(
        ["sim", "evcc", "--host", host, "--port", str(port), "--prefix", prefix, "--loadpoints", "2",
         "--vehicles", "a,b", "--interval", "0.2", "--duration", "0.6"]
    )  # fmt: skip
    assert code == 0
    assert f"under {prefix}/: 2 loadpoint(s), vehicles a, b" in capsys.readouterr().out
    probe = MqttRecorder(host, port, prefix)
    try:
        assert wait_until(lambda: probe.latest("status") == "offline")
    finally:
        probe.publish(f"{prefix}/status", b"", retain=True)
        probe.close()


def test_sessions_come_and_go_on_their_own() -> None:
    broker = MemoryBroker()
    with EvccSimulator(
        broker.transport(), vehicles=("a", "b"), interval_s=3600, sessions=True, seed=1
    ) as sim:
        sim.loadpoints[1]["mode"] = "now"
        seen: list[tuple[bool, float]] = []
        for _ in range(400):  # 400 cycles of 2 simulated minutes
            sim.tick(120)
            lp = sim.loadpoints[1]
            seen.append((lp["connected"], lp["sessionEnergy"]))
        connected = [c for c, _ in seen]
        unplugs = sum(1 for before, after in itertools.pairwise(connected) if before and not after)
        plugs = sum(1 for before, after in itertools.pairwise(connected) if not before and after)
        assert unplugs >= 2 and plugs >= 2
        assert max(energy for _, energy in seen) > 10_000  # Wh in one session
        assert broker.retained["evcc/loadpoints/1/chargeTotalImport"].text != "1334.5"  # meter moved on


def test_external_battery_mode_is_released_after_a_minute() -> None:
    broker = MemoryBroker()
    with EvccSimulator(broker.transport(), interval_s=3600) as sim:
        broker.publish("evcc/site/batteryMode/set", "hold")
        assert wait_until(lambda: "evcc/site/batteryModeExternal" in broker.retained)
        assert broker.retained["evcc/site/batteryModeExternal"].text == "hold"
        sim.tick(30)
        assert "evcc/site/batteryModeExternal" in broker.retained
        sim.tick(31)
        # evcc's watchdog publishes api.BatteryUnknown's String(), "unknown" (core/site_api.go:579-589),
        # never an empty payload (this test used to assert the topic was deleted, which evcc never does)
        assert broker.retained["evcc/site/batteryModeExternal"].text == "unknown"


def test_charge_power_is_published_once_per_cycle(
    start_evcc_sim: StartEvccSim, record_mqtt: RecordMqtt, unique_name: str
) -> None:
    """evcc publishes each loadpoint's chargePower once per cycle (core/loadpoint.go publishes it in
    its update loop); the simulator used to publish a changed value twice, once as a change and once
    as the every-cycle repeat."""
    prefix = f"{unique_name}/evcc"
    spy = record_mqtt(prefix)
    sim = start_evcc_sim(prefix, interval_s=0.2)
    assert wait_until(lambda: len(spy.on("updated")) >= 8, timeout=10)
    sim.stop()
    cycles = len(spy.on("updated"))  # "updated" is published exactly once per cycle
    power = len(spy.on("loadpoints/1/chargePower"))
    assert power <= cycles + 1, (power, cycles)  # +1: the retained value seen on subscribe
