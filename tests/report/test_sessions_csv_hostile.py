"""``evkit sessions --format csv`` of a hostile dataset: formula-like tokens and ids are read as text."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
import pytest

from evkit.cli import main
from evkit.display import CSV_FORMULA_START
from evkit.store.writer import PartWriter
from tests.figures.hostile import CHARGER_IDS, LONG, TOKENS, hostile


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile-csv") / "dataset"
    PartWriter(root).write(hostile())
    return root


def _read(path: Path) -> list[dict[str, str]]:
    csv.field_size_limit(1_000_000)  # the 100 kB id is kept whole in the export
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _export(dataset: Path, out: Path, *extra: str) -> list[dict[str, str]]:
    code = main(["sessions", str(dataset), "--format", "csv", "--out", str(out), *extra])
    assert code == 0
    return _read(out)


def test_evkit_columns_neutralise_formula_cells_and_keep_numbers(dataset: Path, tmp_path: Path) -> None:
    rows = _export(dataset, tmp_path / "sessions.csv")
    assert sorted(r["rfid_token"] for r in rows) == sorted("'" + t for t in TOKENS)
    for row in rows:
        for value in row.values():
            assert not value.startswith(CSV_FORMULA_START)
        float(row["energy_kwh"])  # numbers stay numbers, never quoted
        float(row["peak_power_kw"])
    assert {r["charger_id"] for r in rows} == set(CHARGER_IDS)  # full values, untouched (no formula start)
    assert LONG in {r["charger_id"] for r in rows}


def test_evcc_columns_neutralise_the_identifier(dataset: Path, tmp_path: Path) -> None:
    rows = _export(dataset, tmp_path / "evcc.csv", "--columns", "evcc")
    assert sorted(r["Identifier"] for r in rows) == sorted("'" + t for t in TOKENS)
    assert {r["Loadpoint"] for r in rows} == set(CHARGER_IDS)
    for row in rows:
        assert not any(v.startswith(CSV_FORMULA_START) for v in row.values())
        assert float(row["Charged Energy (kWh)"]) > 0


def test_a_charger_id_starting_like_a_formula_is_neutralised_too(tmp_path: Path) -> None:
    frame = hostile().with_columns(pl.col("charger_id").str.replace(r"^<b>", "=1+2<b>"))
    PartWriter(tmp_path / "formula").write(frame)
    rows = _export(tmp_path / "formula", tmp_path / "f.csv", "--columns", "evcc")
    assert "'=1+2<b>x</b>" in {r["Loadpoint"] for r in rows}
