"""``evkit set goe``: exit codes, messages, dry run and audit, against the simulator (real HTTP/MQTT)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import evkit
from evkit.cli import main
from evkit.control.goe import GoeController
from evkit.sim.goe import GoeSimulator
from tests.helpers import StartGoeSim, wait_until

SERIAL = "300001"


@pytest.fixture
def sim(start_goe_sim: StartGoeSim, unique_name: str) -> GoeSimulator:
    return start_goe_sim(SERIAL, unique_name, http_port=0, tick_s=0.05, speed=20)


def http_args(sim: GoeSimulator, store: Path, *rest: str) -> list[str]:
    return ["set", "goe", "--http", sim.http_url, "--audit-dir", str(store), *rest]


def mqtt_args(sim: GoeSimulator, store: Path, *rest: str) -> list[str]:
    host, port = sim.mqtt_host or "", sim.mqtt_port
    return ["set", "goe", "--host", host, "--port", str(port), "--serial", SERIAL, "--prefix", sim.prefix,
            "--audit-dir", str(store), *rest]  # fmt: skip


def test_http_set_confirmed_exits_0(
    sim: GoeSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(http_args(sim, tmp_path, "amp", "10")) == 0
    out = capsys.readouterr().out
    assert out.startswith("confirmed:")
    assert "/api/set?amp=10" in out
    assert sim.state["amp"] == 10


def test_mqtt_set_confirmed_exits_0(
    sim: GoeSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(mqtt_args(sim, tmp_path, "frc", "off")) == 0
    assert capsys.readouterr().out.startswith("confirmed:")
    assert sim.state["frc"] == 1


def test_mqtt_same_value_is_unchanged_and_exits_0(
    sim: GoeSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(mqtt_args(sim, tmp_path, "amp", "16")) == 0
    assert capsys.readouterr().out.startswith("unchanged:")


@pytest.mark.parametrize(
    "case",
    [
        ("amp", "4", "from 6 to 32"),
        ("frc", "sometimes", "0 (Neutral), 1 (Off), 2 (On)"),
        ("alw", "true", "write 'frc' instead"),
        ("eto", "0", "read-only"),
        ("newkey", "1", "--raw-key"),
        ("dwo", "-5", "or null"),
    ],
)
def test_invalid_input_exits_2_and_sends_nothing(
    sim: GoeSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: tuple[str, str, str]
) -> None:
    key, value, message = case
    before = sim.sets_applied
    assert main(http_args(sim, tmp_path, key, value)) == 2
    assert main(mqtt_args(sim, tmp_path, key, value)) == 2
    err = capsys.readouterr().err
    assert message in err
    assert sim.sets_applied == before


def test_amp_above_ama_exits_2_over_mqtt(
    sim: GoeSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(http_args(sim, tmp_path, "ama", "16")) == 0
    host, port = sim.mqtt_host or "", sim.mqtt_port
    with GoeController.over_mqtt(host, port, serial=SERIAL, prefix=sim.prefix) as watcher:
        assert wait_until(lambda: watcher.state.get("ama") == 16)  # the broker retains the new ama
    assert main(mqtt_args(sim, tmp_path, "amp", "20")) == 2
    assert "current ama (16)" in capsys.readouterr().err


def test_raw_key_exits_0_when_the_charger_knows_it(sim: GoeSimulator, tmp_path: Path) -> None:
    assert main(http_args(sim, tmp_path, "--raw-key", "xfw", "true")) == 0
    assert main(mqtt_args(sim, tmp_path, "--raw-key", "xfw", "false")) == 0
    assert sim.state["xfw"] is False


def test_rejected_by_the_charger_exits_1(
    sim: GoeSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(http_args(sim, tmp_path, "--raw-key", "zzz", "1")) == 1
    assert main(mqtt_args(sim, tmp_path, "--raw-key", "zzz", "1")) == 1
    err = capsys.readouterr().err
    assert err.count("rejected:") == 2
    assert "api key not found" in err


def test_read_only_charger_exits_1_with_the_reason(
    mqtt_broker: tuple[str, int], unique_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host, port = mqtt_broker
    with GoeSimulator(
        SERIAL, mqtt_host=host, mqtt_port=port, prefix=unique_name, http_port=0, read_only=True
    ) as sim:
        assert main([*mqtt_args(sim, tmp_path, "amp", "8"), "--timeout", "0.5"]) == 1
        assert main(http_args(sim, tmp_path, "amp", "8")) == 1
    err = capsys.readouterr().err
    assert "no answer:" in err and "mcr" in err
    assert "writes are disabled" in err


def test_connection_failures_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["set", "goe", "--http", "http://127.0.0.1:9", "--timeout", "1", "--audit-dir", str(tmp_path),
                 "amp", "16"]) == 1  # fmt: skip
    assert main(["set", "goe", "--host", "127.0.0.1", "--port", "9", "--serial", SERIAL, "--timeout", "1",
                 "--audit-dir", str(tmp_path), "amp", "16"]) == 1  # fmt: skip
    err = capsys.readouterr().err
    assert "Connection refused" in err or "cannot connect" in err
    rows = evkit.scan(tmp_path / "audit").sort("received_at").collect()
    assert rows["outcome"].to_list() == ["no_answer", "no_answer"]  # audited, though nothing left
    assert rows["transport"].to_list() == ["http", "mqtt"]
    assert all(detail.startswith("not sent") for detail in rows["detail"].to_list())


def test_dry_run_checks_against_the_chargers_state_when_it_can(
    sim: GoeSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(http_args(sim, tmp_path, "ama", "16")) == 0
    before = sim.sets_applied
    assert main([*http_args(sim, tmp_path, "amp", "20"), "--dry-run"]) == 2
    assert "current ama (16)" in capsys.readouterr().err
    assert sim.sets_applied == before


def test_json_output(sim: GoeSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*http_args(sim, tmp_path, "amp", "11"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["outcome"] == "confirmed"
    assert result["payload"] == "11"
    assert result["target"].endswith("/api/set?amp=11")
    assert main([*mqtt_args(sim, tmp_path, "fna", "X"), "--json", "--dry-run"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry == {"outcome": "dry_run", "transport": "mqtt", "target": f"{sim.prefix}/{SERIAL}/fna/set",
                   "payload": '"X"'}  # fmt: skip


def test_list_shows_keys_and_what_they_allow(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["set", "goe", "--list"]) == 0
    out = capsys.readouterr().out
    assert "amp" in out and "from 6 to 32" in out
    assert "alw" in out and "[frc]" in out
    assert "--raw-key" in out


def test_key_and_value_are_required(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["set", "goe", "--http", "http://127.0.0.1:9", "amp"]) == 2
    assert "KEY and VALUE" in capsys.readouterr().err
    assert main(["set", "goe", "amp", "16"]) == 2
    assert "--http" in capsys.readouterr().err


def test_dry_run_prints_the_exact_command_and_sends_nothing(
    sim: GoeSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sim.sets_applied
    assert main([*http_args(sim, tmp_path, "fna", "My Box"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"GET {sim.http_url}/api/set?fna=%22My%20Box%22" in out
    assert 'payload: "My Box"' in out
    # MQTT dry run needs no broker at all: port 9 has none
    dry = ["set", "goe", "--host", "127.0.0.1", "--port", "9", "--serial", SERIAL, "frc", "on", "--dry-run"]
    assert main(dry) == 0
    out = capsys.readouterr().out
    assert f"publish go-eCharger/{SERIAL}/frc/set 2 (QoS 1, not retained)" in out
    assert sim.sets_applied == before


def test_dry_run_still_validates(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["set", "goe", "--http", "http://127.0.0.1:9", "amp", "99", "--dry-run"]) == 2
    assert "from 6 to 32" in capsys.readouterr().err


def test_mqtt_without_serial_is_a_config_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["set", "goe", "--host", "127.0.0.1", "amp", "16"]) == 2
    assert "--serial" in capsys.readouterr().err


def test_missing_password_variable_is_a_config_error(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["set", "goe", "--host", "127.0.0.1", "--serial", SERIAL, "--username", "u", "--password-env",
            "EVKIT_TEST_NO_SUCH_VARIABLE", "amp", "16"]  # fmt: skip
    assert main(args) == 2
    assert "EVKIT_TEST_NO_SUCH_VARIABLE" in capsys.readouterr().err


def test_audit_rows_land_in_the_given_store(sim: GoeSimulator, tmp_path: Path) -> None:
    main(http_args(sim, tmp_path, "amp", "12"))
    main(mqtt_args(sim, tmp_path / "audit", "amp", "13"))  # DIR/audit given directly is understood
    main(http_args(sim, tmp_path, "--raw-key", "zzz", "1"))
    rows = evkit.scan(tmp_path / "audit").sort("received_at").collect()
    assert rows["setting"].to_list() == ["amp", "amp", "zzz"]
    assert rows["transport"].to_list() == ["http", "mqtt", "http"]
    assert rows["outcome"].to_list() == ["confirmed", "confirmed", "rejected"]


def test_audit_store_defaults_to_the_environment(
    sim: GoeSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVKIT_AUDIT_DIR", str(tmp_path / "env-store"))
    assert main(["set", "goe", "--http", sim.http_url, "lbr", "80"]) == 0
    assert evkit.scan(tmp_path / "env-store" / "audit").collect().height == 1
