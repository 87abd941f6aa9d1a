"""A store written elsewhere with NaN in ``value`` (NumPy's and pandas' "no value"; Polars and
pyarrow keep it in a Parquet float) reads NaN as null: whole, narrow, deduplicated, compacted, on S3,
so every command answers as on the same store holding nulls. No charger sends NaN (the decoders keep
it out), so NaN is a missing value. Before, ``evkit sessions`` on such a store failed with Polars'
``conversion from f64 to i32 failed`` (an op mode of NaN), and a NaN session counter made a charger's
daily energy NaN."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from evkit.analysis import energy_per_day, sessions
from evkit.store import scan
from evkit.store.compact import compact
from tests.conftest import REPO_ROOT
from tests.helpers import evkit_on_each
from tests.s3fixtures import upload_dataset

SAMPLE = REPO_ROOT / "data" / "sample-session"
#: Op mode, session counter, lifetime meter: the readings a NaN broke.
IDS = (109, 121, 124)


def _pair(root: Path) -> tuple[Path, Path]:
    """The sample store twice, part for part: ``nan`` with NaN for every missing value and for every
    tenth op mode, session counter and lifetime reading, ``null`` with null in the same places."""
    stores = root / "nan", root / "null"
    for part in sorted(SAMPLE.rglob("*.parquet")):
        rows = pl.read_parquet(part).with_row_index("__i")
        hit = pl.col("observation_id").is_in(IDS) & (pl.col("__i") % 10 == 3)
        for store, missing in zip(stores, (float("nan"), None), strict=True):
            made = rows.with_columns(
                pl.when(hit | pl.col("value").is_null())
                .then(missing)
                .otherwise(pl.col("value"))
                .alias("value")
            ).drop("__i")
            target = store / part.relative_to(SAMPLE)
            target.parent.mkdir(parents=True, exist_ok=True)
            made.write_parquet(target)
    held = pl.concat(pl.read_parquet(part, columns=["value"]) for part in stores[0].rglob("*.parquet"))
    assert held["value"].is_nan().sum() > 50  # the files keep NaN
    return stores


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _pair(tmp_path_factory.mktemp("nan"))


def _read(root: Path | str, **how: object) -> pl.DataFrame:
    return (
        scan(root, **how).collect().sort("received_at", "charger_id", "observation_id", maintain_order=True)
    )  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "how",
    [{}, {"dedupe": False}, {"chargers": ["EH290BP4"]}, {"chargers": ["EHKUC9GK"], "dedupe": False}],
    ids=["deduplicated", "as stored", "narrow", "narrow as stored"],
)
def test_nan_reads_as_null(pair: tuple[Path, Path], how: dict[str, object]) -> None:
    nan, null = pair
    got = _read(nan, **how)
    assert got.height > 0 and got["value"].is_nan().sum() == 0
    assert_frame_equal(got, _read(null, **how))


def test_the_analyses_of_a_scan_answer_as_on_nulls(pair: tuple[Path, Path]) -> None:
    nan, null = pair
    want = sessions(scan(null)).collect()
    assert want.height > 0 and want["energy_kwh"].is_nan().sum() == 0
    assert_frame_equal(sessions(scan(nan)).collect(), want)
    days = energy_per_day(scan(nan)).collect()
    assert days["energy_kwh"].is_nan().sum() == 0
    assert_frame_equal(days, energy_per_day(scan(null)).collect())


def test_a_compacted_store_keeps_what_it_holds_and_reads_nan_as_null(
    pair: tuple[Path, Path], tmp_path: Path
) -> None:
    """A compaction rewrites what a day holds (NaN too: it converts nothing); reading it makes null."""
    nan, null = pair
    copy = tmp_path / "nan"
    shutil.copytree(nan, copy)
    assert len(compact(copy, include_today=True).days) == 3
    held = pl.concat(pl.read_parquet(p, columns=["value"]) for p in copy.rglob("*.parquet"))
    assert held["value"].is_nan().sum() > 0
    assert_frame_equal(_read(copy, dedupe=False), _read(null, dedupe=False))


def test_nan_on_s3_reads_as_null(pair: tuple[Path, Path], s3_dataset: str) -> None:
    nan, null = pair
    upload_dataset(nan, s3_dataset)
    assert_frame_equal(_read(s3_dataset), _read(null))
    assert_frame_equal(_read(s3_dataset, chargers=["EH290BP4"]), _read(null, chargers=["EH290BP4"]))


@pytest.mark.parametrize(
    "command", [["sessions", "--format", "csv"], ["statement", "--tariff", "0.3", "--format", "json"]]
)
def test_the_commands_answer_as_on_nulls(pair: tuple[Path, Path], command: list[str]) -> None:
    runs = evkit_on_each(command, pair)
    assert [run.returncode for run in runs] == [0, 0], runs[0].stderr
    assert runs[0].stdout == runs[1].stdout and runs[0].stdout.count("\n") > 5
