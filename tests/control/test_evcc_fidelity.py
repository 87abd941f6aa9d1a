"""Regressions of evcc fidelity (issue 9) and bad CLI input (issue 15), through the real Mosquitto, the
corrected evcc simulator and the CLI. What evcc publishes is in tests/conformance/evcc_echo.py."""

from __future__ import annotations

import time

import pytest

from evkit.cli import main
from evkit.control.base import Outcome
from evkit.control.evcc import EvccClient
from evkit.sim.evcc import EvccSimulator
from tests.helpers import MqttRecorder, RecordMqtt, StartEvccSim, wait_until

pytestmark = pytest.mark.broker

PLAN = "80@2099-01-01T06:00:00Z"


@pytest.fixture
def prefix(unique_name: str) -> str:
    return f"{unique_name}/evcc"


@pytest.fixture
def spy(record_mqtt: RecordMqtt, prefix: str) -> MqttRecorder:
    return record_mqtt(prefix)


def cli(host: str, port: int, prefix: str, *args: str) -> int:
    return main(["set", "evcc", "--host", host, "--port", str(port), "--prefix", prefix, "--no-audit", *args])


# ---------------------------------------------------------------- echoes as evcc publishes them (M1-M3, M5)


def test_deleting_a_vehicle_plan_is_confirmed_and_the_stale_plan_dropped(
    mqtt_broker: tuple[str, int], prefix: str, start_evcc_sim: StartEvccSim, spy: MqttRecorder
) -> None:
    host, port = mqtt_broker
    start_evcc_sim(prefix, vehicles=("tesla",), interval_s=30)
    with EvccClient(host=host, port=port, prefix=prefix, timeout=3) as client:
        assert client.set("vehicles/tesla/planSoc", PLAN).outcome is Outcome.CONFIRMED
        assert client.value("vehicles/tesla/plan/soc") == "80"
        deleted = client.set("vehicles/tesla/planSoc", None)
        assert deleted.outcome is Outcome.CONFIRMED and deleted.exit_code == 0
        # evcc publishes only vehicles/<n>/plan = "": the client drops the stale plan/* itself
        assert client.value("vehicles/tesla/plan/soc") is None
        assert client.value("vehicles/tesla/plan/time") is None
    assert wait_until(lambda: spy.values("vehicles/tesla/plan")[-1:] == [""])
    assert spy.latest("vehicles/tesla/plan/soc") == "80"  # still retained on the broker, as with evcc
    assert cli(host, port, prefix, "vehicles/tesla/planSoc", "0") == 0  # delete again: evcc re-publishes


def test_releasing_the_battery_mode_is_confirmed_by_unknown(
    mqtt_broker: tuple[str, int], prefix: str, start_evcc_sim: StartEvccSim, spy: MqttRecorder
) -> None:
    host, port = mqtt_broker
    start_evcc_sim(prefix, interval_s=30)
    assert cli(host, port, prefix, "site/batteryMode", "hold") == 0
    assert cli(host, port, prefix, "site/batteryMode", "null") == 0
    assert wait_until(lambda: spy.latest("site/batteryModeExternal") == "unknown")
    assert cli(host, port, prefix, "site/batteryMode", "charge") == 0
    assert cli(host, port, prefix, "site/batteryMode", "unknown") == 0  # evcc's own word releases too
    assert wait_until(lambda: spy.values("site/batteryModeExternal")[-2:] == ["charge", "unknown"])


@pytest.mark.parametrize("field", ["limitSoc", "minSoc"])
def test_vehicle_soc_zero_is_confirmed_though_evcc_publishes_it_empty(
    mqtt_broker: tuple[str, int], prefix: str, start_evcc_sim: StartEvccSim, spy: MqttRecorder, field: str
) -> None:
    host, port = mqtt_broker
    start_evcc_sim(prefix, vehicles=("tesla",), interval_s=30)
    with EvccClient(host=host, port=port, prefix=prefix, timeout=3) as client:
        assert client.set(f"vehicles/tesla/{field}", 30).outcome is Outcome.CONFIRMED
        zero = client.set(f"vehicles/tesla/{field}", 0)
        assert zero.outcome is Outcome.CONFIRMED and zero.exit_code == 0
        assert client.value(f"vehicles/tesla/{field}") is None  # omitempty: an empty payload
    assert wait_until(lambda: spy.values(f"vehicles/tesla/{field}")[-1:] == [""])


def test_plan_energy_zero_deletes_the_plan(
    mqtt_broker: tuple[str, int], prefix: str, start_evcc_sim: StartEvccSim, spy: MqttRecorder
) -> None:
    host, port = mqtt_broker
    start_evcc_sim(prefix, interval_s=30)
    assert cli(host, port, prefix, "loadpoints/1/planEnergy", "20@2099-01-01T06:00:00Z") == 0
    assert cli(host, port, prefix, "loadpoints/1/planEnergy", "0@2099-01-01T06:00:00Z") == 0
    assert wait_until(lambda: spy.values("loadpoints/1/planTime")[-1:] == [""])  # evcc zeroes the time
    assert spy.sets()[-1][1] == b'{"value":0,"time":"0001-01-01T00:00:00Z"}'


# ---------------------------------------------------------------- setters by evcc release (M4)


@pytest.mark.parametrize(
    ("version", "path", "value", "message"),
    [
        ("0.311.0", "site/solarAdjusted", "true",
         "site/solarAdjusted needs evcc 0.312.0 or newer; this evcc is 0.311.0"),
        ("0.311.1", "loadpoints/1/minSoc", "20",
         "loadpoints/1/minSoc needs evcc 0.312.0 or newer; this evcc is 0.311.1"),
        ("0.312.1", "site/batteryGridDischarge", "true", "needs evcc 0.313.0 or newer; this evcc is 0.312.1"),
        ("0.313.2", "site/gridExportLimit", "0", "exists only in evcc nightly builds after 0.313.2"),
        ("0.300.1", "loadpoints/1/batteryBoostLimit", "80", "needs evcc 0.301.0 or newer"),
        ("0.301.1", "loadpoints/1/phasesConfigured", "1", "needs evcc 0.301.2 or newer"),
    ],
)  # fmt: skip
def test_a_setter_the_running_evcc_lacks_is_refused_before_sending(
    mqtt_broker: tuple[str, int],
    prefix: str,
    start_evcc_sim: StartEvccSim,
    *,
    spy: MqttRecorder,
    capsys: pytest.CaptureFixture[str],
    version: str,
    path: str,
    value: str,
    message: str,
) -> None:
    host, port = mqtt_broker
    start_evcc_sim(prefix, interval_s=30, version=version)
    assert cli(host, port, prefix, path, value) == 2
    assert message in capsys.readouterr().err
    assert cli(host, port, prefix, "--dry-run", path, value) == 2
    time.sleep(0.3)
    assert spy.sets() == []


def test_a_nightly_may_have_the_next_releases_setters(
    mqtt_broker: tuple[str, int],
    prefix: str,
    start_evcc_sim: StartEvccSim,
    capsys: pytest.CaptureFixture[str],
) -> None:
    host, port = mqtt_broker
    start_evcc_sim(prefix, interval_s=30, version="0.313.0 (b29b49e30)")
    assert cli(host, port, prefix, "site/gridExportLimit", "4000") == 0
    out = capsys.readouterr().out
    assert "confirmed" in out and "may not have it" in out


def test_simulated_old_release_drops_an_unsubscribed_topic_silently(
    mqtt_broker: tuple[str, int], prefix: str, start_evcc_sim: StartEvccSim, spy: MqttRecorder
) -> None:
    sim: EvccSimulator = start_evcc_sim(prefix, interval_s=30, version="0.311.0")
    spy.publish(f"{prefix}/site/solarAdjusted/set", "true")
    spy.publish(f"{prefix}/site/residualPower/set", "50")  # a marker: handled after the first
    assert wait_until(lambda: sim.applied and spy.latest("site/residualPower") == "50")
    assert sim.errors == [] and [t for t, _ in sim.applied] == [f"{prefix}/site/residualPower/set"]
    assert spy.values("site/solarAdjusted/set") == ["true"]  # no wipe: nobody subscribed it
    assert spy.latest("site/version") == "0.311.0"


def test_list_shows_the_version_and_hides_what_it_lacks(
    mqtt_broker: tuple[str, int],
    prefix: str,
    start_evcc_sim: StartEvccSim,
    capsys: pytest.CaptureFixture[str],
) -> None:
    host, port = mqtt_broker
    start_evcc_sim(prefix, interval_s=30, version="0.311.0")
    assert cli(host, port, prefix, "--list") == 0
    out = capsys.readouterr().out
    assert "evcc 0.311.0" in out and "site/residualPower" in out
    assert "site/solarAdjusted" not in out and "loadpoints/1/minSoc " not in out


# ---------------------------------------------------------------- bad CLI input (issue 15)


@pytest.mark.parametrize("path", ["loadpoints/+/mode", "vehicles/+/limitSoc", "#", "site/#", "vehicles/#"])
def test_wildcards_in_the_path_exit_2_and_send_nothing(
    mqtt_broker: tuple[str, int],
    prefix: str,
    start_evcc_sim: StartEvccSim,
    *,
    spy: MqttRecorder,
    capsys: pytest.CaptureFixture[str],
    path: str,
) -> None:
    host, port = mqtt_broker
    start_evcc_sim(prefix, vehicles=("tesla",), interval_s=30)
    assert cli(host, port, prefix, path, "80") == 2
    assert "MQTT wildcards" in capsys.readouterr().err
    time.sleep(0.3)
    assert spy.sets() == []


@pytest.mark.parametrize(
    "options",
    [
        ["--prefix", "#"],
        ["--prefix", ""],
        ["--prefix", "evcc/+"],
        ["--timeout", "nan"],
        ["--timeout", "inf"],
        ["--timeout", "-1"],
        ["--timeout", "0"],
        ["--port", "0"],
        ["--port", "70000"],
    ],
)
def test_bad_options_exit_2_before_connecting(
    options: list[str], capsys: pytest.CaptureFixture[str], spy: MqttRecorder
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["set", "evcc", "--no-audit", *options, "loadpoints/1/mode", "pv"])
    assert exit_info.value.code == 2
    assert options[0] in capsys.readouterr().err
    time.sleep(0.2)
    assert spy.sets() == []
