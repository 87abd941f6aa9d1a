"""evcc control over the real Mosquitto: PahoTransport, client + simulator, retain flags, CLI exit codes."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import evkit
from evkit.cli import main
from evkit.control.base import MqttMessage, Outcome
from evkit.control.evcc import EvccClient
from evkit.errors import SourceError, ValidationError
from evkit.sim.evcc import EvccSimulator
from evkit.sources.mqtt_transport import PahoTransport
from tests.helpers import MqttRecorder, RecordMqtt, StartEvccSim, wait_until

pytestmark = pytest.mark.broker


@pytest.fixture
def prefix(unique_name: str) -> str:
    return f"{unique_name}/evcc"


@pytest.fixture
def sim(start_evcc_sim: StartEvccSim, prefix: str) -> EvccSimulator:
    return start_evcc_sim(prefix, loadpoints=2, vehicles=("tesla",), interval_s=0.5)


@pytest.fixture
def spy(record_mqtt: RecordMqtt, prefix: str) -> MqttRecorder:
    """Sees every message below the prefix with its retain flag AS PUBLISHED."""
    return record_mqtt(prefix)


# ---------------------------------------------------------------- the transport


def test_paho_transport_publishes_subscribes_and_retains(
    mqtt_broker: tuple[str, int], unique_name: str
) -> None:
    host, port = mqtt_broker
    topic = f"{unique_name}/a"
    with PahoTransport(host, port) as writer:
        writer.publish(topic, "1", retain=True)
        got: list[MqttMessage] = []
        with PahoTransport(host, port) as reader:
            reader.subscribe(f"{unique_name}/#", got.append)
            assert wait_until(lambda: got)
            assert (got[0].topic, got[0].payload, got[0].retained) == (topic, b"1", True)
            writer.publish(topic, "2")
            assert wait_until(lambda: len(got) == 2)
            assert got[1].retained is False
        writer.publish(topic, b"", retain=True)  # clean up


def test_paho_transport_refused_connection_is_a_source_error() -> None:
    with pytest.raises(SourceError, match="cannot connect"):
        PahoTransport("127.0.0.1", 1, timeout=2)


def test_paho_transport_never_leaks_the_password(mqtt_broker: tuple[str, int]) -> None:
    host, port = mqtt_broker
    with PahoTransport(host, port, username="u", password="s3cret-pw") as transport:
        assert "s3cret-pw" not in repr(transport)


# ---------------------------------------------------------------- client + simulator on Mosquitto


def test_set_is_confirmed_and_published_not_retained(
    mqtt_broker: tuple[str, int], prefix: str, sim: EvccSimulator, spy: MqttRecorder, tmp_path: Path
) -> None:
    host, port = mqtt_broker
    with EvccClient(host=host, port=port, prefix=prefix, audit=tmp_path) as client:
        assert client.loadpoints == [1, 2] and client.vehicles == ["tesla"]
        result = client.set("loadpoints/2/maxCurrent", 10.0)
        assert result.outcome is Outcome.CONFIRMED
        assert client.value("loadpoints/2/maxCurrent") == "10"
        unchanged = client.set("loadpoints/2/maxCurrent", 10)
        assert unchanged.outcome is Outcome.UNCHANGED
    assert wait_until(lambda: len(spy.sets()) == 2)
    assert spy.sets() == [(f"{prefix}/loadpoints/2/maxCurrent/set", b"10", False)] * 2
    assert wait_until(lambda: len(sim.applied) == 2)  # the unchanged value was sent too: evcc decides
    assert sim.applied == [(f"{prefix}/loadpoints/2/maxCurrent/set", "10")] * 2
    audit = evkit.scan(tmp_path / "audit").collect()
    assert sorted(audit["outcome"]) == ["confirmed", "unchanged"]


def test_bad_values_send_nothing(
    mqtt_broker: tuple[str, int], prefix: str, sim: EvccSimulator, spy: MqttRecorder
) -> None:
    host, port = mqtt_broker
    with EvccClient(host=host, port=port, prefix=prefix) as client:
        for path, value in [
            ("loadpoints/1/limitSoc", 80.5),
            ("loadpoints/1/mode", "fast"),
            ("loadpoints/1/phasesConfigured", 2),
            ("loadpoints/1/minCurrent", 32),
            ("loadpoints/1/planEnergy", {"value": 10, "time": "2020-01-01T00:00:00Z"}),
            ("loadpoints/1/chargePower", 1000),
            ("site/bufferSoc", 10),
        ]:
            with pytest.raises(ValidationError):
                client.set(path, value)
        client.set("site/residualPower", 100)  # a marker that the spy is listening
    assert wait_until(spy.sets)
    assert [topic for topic, _, _ in spy.sets()] == [f"{prefix}/site/residualPower/set"]
    assert sim.errors == []


def test_no_echo_when_the_simulator_is_stopped(
    mqtt_broker: tuple[str, int], prefix: str, sim: EvccSimulator
) -> None:
    host, port = mqtt_broker
    with EvccClient(host=host, port=port, prefix=prefix, timeout=0.5) as client:
        sim.stop()
        result = client.set("loadpoints/1/mode", "off")
    assert result.outcome is Outcome.NO_ANSWER
    assert "no echo within 0.5 s" in result.detail and "offline" in result.detail


def test_a_loadpoint_published_after_the_settling_is_still_found(
    mqtt_broker: tuple[str, int], prefix: str
) -> None:
    """evcc's retained burst can pause longer than the settling (a busy machine): a loadpoint that
    arrives a little later is waited for, not refused; one that never comes is refused."""
    host, port = mqtt_broker
    with PahoTransport(host, port) as evcc:
        evcc.publish(f"{prefix}/loadpoints/2/mode", "pv", retain=True)
        with EvccClient(host=host, port=port, prefix=prefix, timeout=2.0) as client:
            assert client.loadpoints == [2]
            later = threading.Timer(
                0.3, evcc.publish, (f"{prefix}/loadpoints/1/mode", "off"), {"retain": True}
            )
            later.start()
            try:
                assert client.resolve("loadpoints/1/mode").device_id == "loadpoints/1"
            finally:
                later.join()
            with pytest.raises(ValidationError, match="no loadpoint 7; its loadpoints are 1, 2"):
                client.resolve("loadpoints/7/mode")
        for lp in (1, 2):
            evcc.publish(f"{prefix}/loadpoints/{lp}/mode", b"", retain=True)


# ---------------------------------------------------------------- CLI


def cli(*args: str) -> int:
    return main(["set", "evcc", *args])


def test_cli_exit_codes(
    mqtt_broker: tuple[str, int],
    prefix: str,
    sim: EvccSimulator,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    host, port = mqtt_broker
    common = ["--host", host, "--port", str(port), "--prefix", prefix, "--audit-dir", str(tmp_path)]
    assert cli(*common, "loadpoints/1/mode", "now") == 0
    assert "confirmed" in capsys.readouterr().out
    assert cli(*common, "loadpoints/1/mode", "now") == 0
    assert "unchanged" in capsys.readouterr().out
    assert cli(*common, "loadpoints/1/limitSoc", "80.5") == 2
    assert "whole number from 0 to 100" in capsys.readouterr().err
    assert cli(*common, "loadpoints/9/mode", "pv") == 2
    assert "its loadpoints are 1, 2" in capsys.readouterr().err
    assert cli(*common, "--timeout", "0.3", "--prefix", f"{prefix}-nobody", "loadpoints/1/mode", "pv") == 1
    assert "no answer" in capsys.readouterr().out
    assert evkit.scan(tmp_path / "audit").collect().height == 3


def test_cli_dry_run_prints_topic_and_payload_and_sends_nothing(
    mqtt_broker: tuple[str, int],
    prefix: str,
    sim: EvccSimulator,
    spy: MqttRecorder,
    capsys: pytest.CaptureFixture[str],
) -> None:
    host, port = mqtt_broker
    code = cli(
        "--host",
        host,
        "--port",
        str(port),
        "--prefix",
        prefix,
        "--dry-run",
        "--no-audit",
        "vehicles/tesla/limitSoc",
        "90.0",
    )
    out = capsys.readouterr().out
    assert code == 0
    assert f"topic:   {prefix}/vehicles/tesla/limitSoc/set" in out and "payload: 90" in out
    time.sleep(0.3)
    assert spy.sets() == []


def test_cli_connection_failure_exits_1_but_bad_input_still_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli("--port", "1", "--no-audit", "loadpoints/1/mode", "pv") == 1
    assert "cannot connect" in capsys.readouterr().err
    assert cli("--port", "1", "--no-audit", "loadpoints/1/mode", "warp") == 2


def test_cli_password_comes_from_the_environment_only(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("EVKIT_TEST_NO_SUCH_VAR", raising=False)
    assert cli("--username", "u", "--password-env", "EVKIT_TEST_NO_SUCH_VAR", "loadpoints/1/mode", "pv") == 2
    assert "EVKIT_TEST_NO_SUCH_VAR" in capsys.readouterr().err


def test_cli_list_shows_this_evccs_writable_topics(
    mqtt_broker: tuple[str, int], prefix: str, sim: EvccSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    host, port = mqtt_broker
    assert cli("--host", host, "--port", str(port), "--prefix", prefix, "--list") == 0
    out = capsys.readouterr().out
    assert (
        "loadpoints/2/planEnergy" in out and "vehicles/tesla/planSoc" in out and "site/residualPower" in out
    )
    assert "whole number from 0 to 100 %" in out


def test_paho_transport_unreachable_host_is_a_source_error() -> None:
    with pytest.raises(SourceError, match=r"10\.255\.255\.1:1883"):
        PahoTransport("10.255.255.1", 1883, timeout=1.0)  # non-routable: no answer at all


@pytest.mark.parametrize(("code", "error"), [(134, "AuthError"), (135, "AuthError"), (136, "SourceError")])
def test_connack_failures_map_to_clear_errors(code: int, error: str) -> None:
    # the local Mosquitto accepts anyone, so feed the CONNACK handler the broker's refusal directly
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.reasoncodes import ReasonCode

    transport = PahoTransport.__new__(PahoTransport)
    transport.host, transport.port = "broker.example", 8883
    transport._connected = threading.Event()
    transport._connect_error = None
    transport._on_connect(None, None, None, ReasonCode(PacketTypes.CONNACK, identifier=code), None)
    assert transport._connected.is_set()
    assert type(transport._connect_error).__name__ == error
    assert "broker.example:8883" in str(transport._connect_error)
