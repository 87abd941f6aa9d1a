"""``evkit sessions --tariff/--currency/--tz``: cost in every format; bad tariffs exit 2, nothing written."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import polars as pl
import pytest

from evkit.cli import main
from evkit.store.writer import PartWriter
from tests.analysis import scenario as sc

CID = "EHCLI001"
# 11 kW from 06:32 to 08:32 UTC, unplugged 08:40 (T0 = 2026-03-02 06:00 UTC)
PLAN = [(0, 1, 0.0), (30, 2, 0.0), (32, 3, 11.0), (152, 4, 0.0), (160, 1, 0.0)]
TARIFF = (
    "from,price,co2\n2026-03-02T00:00Z,0.10,100\n2026-03-02T07:00Z,0.20,200\n2026-03-02T08:00Z,0.40,300\n"
)
COST = 28 * 11 / 60 * 0.10 + 11 * 0.20 + 32 * 11 / 60 * 0.40
CO2 = 28 * 11 / 60 * 100 + 11 * 200 + 32 * 11 / 60 * 300


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tariffcli")
    PartWriter(root / "data").write(sc.frame(sc.Charger(CID, PLAN, 240, token="04AABBCC").run().rows))
    (root / "tariff.csv").write_text(TARIFF, encoding="utf-8")
    return root


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_rows_carry_cost_price_and_co2(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(
        capsys,
        "sessions",
        str(dataset / "data"),
        "--tariff",
        str(dataset / "tariff.csv"),
        "--currency",
        "EUR",
        "--format",
        "json",
    )
    assert code == 0
    (row,) = json.loads(out)
    assert row["cost"] == pytest.approx(COST, abs=1e-3)
    assert row["price_per_kwh"] == pytest.approx(COST / 22.0, abs=1e-4)
    assert row["co2_g"] == pytest.approx(CO2, abs=0.5)
    assert row["currency"] == "EUR"
    assert row["started_at"] == "2026-03-02T06:30:00Z"  # data stays UTC


def test_parquet_and_csv_carry_the_cost_columns(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = dataset / "s.parquet"
    assert (
        _run(
            capsys,
            "sessions",
            str(dataset / "data"),
            "--tariff",
            "0.3",
            "--format",
            "parquet",
            "--out",
            str(out),
        )[0]
        == 0
    )
    frame = pl.read_parquet(out)
    assert frame["cost"].to_list() == pytest.approx([22.0 * 0.3], abs=1e-3)
    assert {"price_per_kwh", "co2_g", "cost_error_bound", "cost_note"} <= set(frame.columns)
    code, text, _ = _run(capsys, "sessions", str(dataset / "data"), "--tariff", "0.3", "--format", "csv")
    assert code == 0
    (row,) = list(csv.DictReader(io.StringIO(text)))
    assert float(row["cost"]) == pytest.approx(6.6, abs=1e-3)


def test_evcc_csv_fills_price_and_co2_in_local_time(
    dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text, _ = _run(
        capsys,
        "sessions",
        str(dataset / "data"),
        "--tariff",
        str(dataset / "tariff.csv"),
        "--format",
        "csv",
        "--columns",
        "evcc",
        "--tz",
        "Europe/Oslo",
    )
    assert code == 0
    (row,) = list(csv.DictReader(io.StringIO(text)))
    assert row["Created"] == "2026-03-02 07:30:00"  # 06:30 UTC is 07:30 in Oslo (CET, UTC+1)
    assert float(row["Price"]) == pytest.approx(COST, abs=1e-3)
    assert float(row["Price/kWh"]) == pytest.approx(COST / 22.0, abs=1e-4)
    assert float(row["CO2/kWh (gCO2eq)"]) == pytest.approx(CO2 / 22.0, abs=0.01)


def test_table_shows_cost_and_labels_the_zone(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(
        capsys,
        "sessions",
        str(dataset / "data"),
        "--tariff",
        "0.25",
        "--currency",
        "NOK",
        "--tz",
        "Europe/Oslo",
    )
    assert code == 0
    assert "started_at (Europe/Oslo)" in out
    assert "2026-03-02 07:30" in out
    assert "cost 5.50 NOK" in out


def test_from_is_local_midnight_with_tz(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 07:30 local is after 07:00 local but 06:30 UTC is before 07:00 UTC
    _, out, _ = _run(
        capsys,
        "sessions",
        str(dataset / "data"),
        "--format",
        "json",
        "--from",
        "2026-03-02T07:00",
        "--tz",
        "Europe/Oslo",
    )
    assert len(json.loads(out)) == 1
    _, out, _ = _run(
        capsys, "sessions", str(dataset / "data"), "--format", "json", "--from", "2026-03-02T07:00"
    )
    assert json.loads(out) == []


@pytest.mark.parametrize(
    ("tariff_text", "message"),
    [
        ("from,price\n2026-03-02T00:00Z,0,25\n", "comma decimal"),
        ("from,price\n2026-03-02T01:00Z,0.2\n2026-03-02T00:00Z,0.1\n", "time order"),
        (
            "from,price\n2026-03-02T00:00Z,1\n2026-03-02T01:00Z,1\n2026-03-02T03:00Z,1\n2026-03-02T04:00Z,1\n",
            "gap after line 3",
        ),
    ],
)
def test_a_bad_tariff_exits_2_and_writes_nothing(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], tariff_text: str, message: str
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(tariff_text, encoding="utf-8")
    out = tmp_path / "out.csv"
    code, _, err = _run(
        capsys, "sessions", str(dataset / "data"), "--tariff", str(bad), "--format", "csv", "--out", str(out)
    )
    assert code == 2
    assert message in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--tariff", "0,30"], "dot decimal (0.30)"),
        (["--currency", "EUR"], "--currency labels a tariff"),
        (["--tariff", "cheap"], "neither a price per kWh"),
    ],
)
def test_bad_options_exit_2(
    dataset: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = _run(capsys, "sessions", str(dataset / "data"), *argv)
    assert code == 2
    assert message in err


@pytest.mark.parametrize("argv", [["--tz", "Mars/Olympus"], ["--currency", "euro"]])
def test_bad_zone_or_currency_is_refused_by_the_parser(dataset: Path, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["sessions", str(dataset / "data"), "--tariff", "0.3", *argv])
    assert exit_info.value.code == 2


def test_currency_codes_are_read_in_any_case(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "sessions", str(dataset / "data"), "--tariff", "0.25", "--currency", "nok")
    assert code == 0
    assert "cost 5.50 NOK" in out
