"""A part whose footer proves a column holds no value fits any type: pandas writes an optional string
column that is all missing as ``double`` (NaN); the part is sound and the column reads as nulls of the
expected type, in whole and narrow reads, in the duplicate view, and through compaction, locally and on
object storage. A column with values of another type still makes its part damaged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from evkit.errors import DatasetError
from evkit.store import PartWriter, scan
from evkit.store.compact import compact
from evkit.store.reader import check_dataset
from tests.s3fixtures import upload_dataset
from tests.store.test_narrow import DAY0, _rows

DAY = f"date={DAY0.date().isoformat()}"
HOLLOW = ("error", "observation", "label")  # optional string columns of the contract, all missing
ORDER = ["received_at", "raw"]


def _pandas_part(root: Path, frame: pl.DataFrame, **values: object) -> Path:
    """``frame`` written by pandas, its ``HOLLOW`` columns all NaN (``double``) unless ``values`` says."""
    pdf = frame.to_pandas()
    for column in HOLLOW:
        pdf[column] = values.get(column, np.nan)
    path = root / DAY / "part-pandas.parquet"
    pdf.to_parquet(path)
    return path


def _store(root: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A capture's part and a pandas part (the hand-made rows) in one day: (captured, hand-made)."""
    captured, hand = _rows(0, 300, 1), _rows(0, 100, 2)
    PartWriter(root).write(captured)
    _pandas_part(root, hand)
    return captured, hand


def test_a_pandas_part_with_all_missing_string_columns_reads_as_nulls(tmp_path: Path) -> None:
    captured, hand = _store(tmp_path)
    assert pl.read_parquet_schema(tmp_path / DAY / "part-pandas.parquet")["error"] == pl.Float64
    found = check_dataset(tmp_path)
    assert found.damaged == [] and len(found.good) == 2
    assert all(found.schema[c] == pl.String for c in HOLLOW)
    every = scan(tmp_path, dedupe=False).collect()
    assert every.schema == scan(tmp_path, dedupe=False).collect_schema()
    assert all(every.schema[c] == pl.String for c in HOLLOW)
    assert_frame_equal(every.drop("capture_id").sort(ORDER), pl.concat([captured, hand]).sort(ORDER))
    # the duplicate view and a narrow read (by charger and time) see the same rows
    assert_frame_equal(scan(tmp_path).collect().sort(ORDER), every.sort(ORDER))
    charger = hand["charger_id"].drop_nulls()[0]
    narrow = scan(tmp_path, dedupe=False, chargers=[charger], start=DAY0).collect()
    wanted = every.filter((pl.col("charger_id") == charger) & (pl.col("observed_at") >= DAY0))
    assert narrow.height > 0
    assert_frame_equal(narrow.sort(ORDER), wanted.sort(ORDER))


def test_a_column_with_values_of_another_type_stays_damaged(tmp_path: Path) -> None:
    PartWriter(tmp_path).write(_rows(0, 300, 1))
    values = [np.nan] * 99 + [1.5]
    part = _pandas_part(tmp_path, _rows(0, 100, 2), error=values)
    why = r"part-pandas\.parquet \(column 'error' is Float64, expected String\)"
    with pytest.raises(DatasetError, match=why):
        scan(tmp_path).collect()
    found = check_dataset(tmp_path, skip_damaged=True)
    assert [d.path for d in found.damaged] == [part]


def test_columns_holding_no_value_do_not_vote(tmp_path: Path) -> None:
    """A column outside the contract: two hand-made parts hold nothing in it (``double``), one holds
    text; the text part is not outvoted, and the others read as null text."""
    day = tmp_path / DAY
    day.mkdir(parents=True)
    rows = _rows(0, 30, 1)
    rows.with_columns(note=pl.lit("checked")).write_parquet(day / "part-a.parquet")
    for name in ("part-b.parquet", "part-c.parquet"):
        pdf = rows.to_pandas()
        pdf["note"] = np.nan
        pdf.to_parquet(day / name)
    found = check_dataset(tmp_path)
    assert found.damaged == [] and found.schema["note"] == pl.String
    notes = scan(tmp_path, dedupe=False).collect()["note"]
    assert notes.dtype == pl.String and notes.to_list() == ["checked"] * 30 + [None] * 60


def test_compaction_keeps_the_rows_of_such_a_part_with_nulls(tmp_path: Path) -> None:
    _, hand = _store(tmp_path)
    before = scan(tmp_path, dedupe=False).collect()
    done = compact(tmp_path)
    assert [d.rows for d in done.days] == [400] and not done.damaged
    (merged,) = (tmp_path / DAY).glob("*.parquet")
    assert all(pl.read_parquet_schema(merged)[c] == pl.String for c in HOLLOW)
    after = scan(tmp_path, dedupe=False).collect()
    assert_frame_equal(after.sort(ORDER), before.sort(ORDER))
    assert after.filter(pl.col("raw").is_in(hand["raw"].implode()))["error"].null_count() == hand.height


def test_on_object_storage_too(tmp_path: Path, s3_dataset: str) -> None:
    _, hand = _store(tmp_path)
    upload_dataset(tmp_path, s3_dataset)
    local = scan(tmp_path, dedupe=False).collect().sort(ORDER)
    assert_frame_equal(scan(s3_dataset, dedupe=False).collect().sort(ORDER), local)
    assert_frame_equal(scan(s3_dataset).collect().sort(ORDER), local)
    charger = hand["charger_id"].drop_nulls()[0]
    narrow = scan(s3_dataset, dedupe=False, chargers=[charger]).collect()
    assert_frame_equal(narrow.sort(ORDER), local.filter(pl.col("charger_id") == charger))
    done = compact(s3_dataset)
    assert [d.rows for d in done.days] == [400] and not done.damaged
    found = check_dataset(s3_dataset)
    assert len(found.good) == 1 and found.empty == {}
    assert_frame_equal(scan(s3_dataset, dedupe=False).collect().sort(ORDER), local)
