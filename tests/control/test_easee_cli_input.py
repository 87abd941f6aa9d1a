"""``evkit set easee`` input handling that needs no broker: --list, --dry-run, refusals (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evkit.cli import main


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["set", "easee", "--list"]) == 0
    out = capsys.readouterr().out
    assert "48 SetDynamicChargerCurrent CURRENT_AMP TTL_MINUTES" in out
    assert "flash" in out and "read-back 111,112,113" in out


def test_dry_run_prints_exact_key_and_body(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    details = tmp_path / "streams.json"
    details.write_text(json.dumps({"server": "h", "port": 5671, "useSsl": True, "virtualHost": "/",
                                   "queueName": "Operator_7.Q", "exchangeName": "Operator_7.C.X",
                                   "username": "u", "password": "secret-pw"}))  # fmt: skip
    code = main(["set", "easee", "--details", str(details), "--dry-run", "--json", "eh123456",
                 "SetDynamicChargerCurrent", "13", "5"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0
    row = json.loads(captured.out)
    assert row["outcome"] == "dry_run" and row["charger"] == "EH123456"
    assert row["exchange_and_key"].startswith("Operator_7.C.X EH123456.C.48.")
    assert json.loads(row["body"])["Arguments"] == [{"Id": 1, "Value": "13"}, {"Id": 2, "Value": "5"}]
    assert "secret-pw" not in captured.out + captured.err


@pytest.mark.parametrize(
    ("words", "fragment"),
    [
        (["EH123456", "current", "5", "--ttl", "5"], "0 (pause) or 6-32"),
        (["EH123456", "SetDynamicChargerCurrent", "13"], "takes 2 argument(s)"),
        (["EH123456", "Poll"], "unknown Easee command"),
        (["QP000001", "pause"], "Equalizer"),
        (["EH1", "pause"], "not an Easee charger serial"),
        (["EH123456"], "COMMAND is missing"),
        (["EH123456", "EH654321", "disable"], "add --yes"),
    ],
)
def test_refusals_exit_2(words: list[str], fragment: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["set", "easee", "--url-env", "EVKIT_NOT_SET_ANYWHERE", *words])
    assert code == 2
    assert fragment in capsys.readouterr().err


def test_charger_file_errors_name_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    listing = tmp_path / "fleet.txt"
    listing.write_text("EH000001\n# comment\nEH00002X7\n")
    assert main(["set", "easee", "--url-env", "X", str(listing), "disable", "--yes"]) == 2
    assert f"{listing}:3" in capsys.readouterr().err


def test_ttl_option_range_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["set", "easee", "--url-env", "X", "EH123456", "pause", "--ttl", "0"])
    assert exit_info.value.code == 2
    assert "between 1 and 1440" in capsys.readouterr().err
