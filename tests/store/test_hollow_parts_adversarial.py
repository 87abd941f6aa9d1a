"""Hostile tests of columns holding no value (``parts.settle``, ``footers.Footer.holds_no_value``,
``reader.scan_parts``): a pandas part of no rows, a store of pandas parts alone, a part written without
statistics, and many such parts interleaved with others (one scan per kind of part, not per run), with
mixed flagged and unflagged parts, locally and on object storage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

from evkit.cli import main
from evkit.errors import DatasetError
from evkit.store import PartWriter, scan
from evkit.store.reader import check_dataset
from tests.analysis.conftest import build_fleet
from tests.s3fixtures import upload_dataset
from tests.store.test_narrow import DAY0, _rows

DAY = f"date={DAY0.date().isoformat()}"
HOLLOW = ("error", "observation", "label")
ORDER = ["received_at", "raw"]


def _pandas(frame: pl.DataFrame, path: Path, columns: tuple[str, ...] = HOLLOW, **options: object) -> Path:
    """``frame`` written as pandas writes it, ``columns`` all missing (``double`` of NaN)."""
    pdf = frame.to_pandas()
    for column in columns:
        pdf[column] = np.nan
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(pdf, preserve_index=False), path, **options)  # type: ignore[arg-type]
    return path


def test_a_pandas_part_of_no_rows_is_no_damage(tmp_path: Path) -> None:
    """A filter that kept nothing, exported by pandas: one row group of no rows, without statistics
    (pyarrow writes none for it). It holds no value in any column."""
    PartWriter(tmp_path).write(_rows(0, 50, 1))
    part = _pandas(_rows(0, 0, 2), tmp_path / DAY / "part-empty.parquet")
    metadata = pq.read_metadata(part)
    assert metadata.num_row_groups == 1 and metadata.row_group(0).column(0).statistics is None
    found = check_dataset(tmp_path)
    assert found.damaged == [] and found.empty[str(part)] == frozenset(HOLLOW)
    assert scan(tmp_path).collect().height == 50


def test_a_store_of_pandas_parts_alone_reads_its_empty_columns_in_the_contract_type(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing outvotes the ``double`` of pandas parts alone; their missing text and flags read as the
    contract's nulls all the same (beside a captured part they did already): the duplicate view does
    not fail on a ``double`` flag, and the analyses take the store."""
    fleet = build_fleet().frame()
    _pandas(fleet, tmp_path / "part-a.parquet", ("redelivered", "error", "label"))
    found = check_dataset(tmp_path)
    assert found.damaged == []
    assert (found.schema["redelivered"], found.schema["error"]) == (pl.Boolean, pl.String)
    rows = scan(tmp_path, dedupe=False).collect()
    assert rows.height == fleet.height and rows["redelivered"].null_count() == fleet.height
    # no flag to go by: one row per (routing_key, raw), as for a store without the column
    unique = (
        fleet.filter(pl.col("routing_key").is_null()).height
        + fleet.drop_nulls("routing_key").select("routing_key", "raw").n_unique()
    )
    assert scan(tmp_path).collect().height == unique
    assert main(["sessions", str(tmp_path), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)


def test_a_column_with_values_in_a_pandas_store_stays_as_it_is(tmp_path: Path) -> None:
    """Text columns of pandas parts alone holding a number: not asked away, read as they are."""
    for name, error in (("part-a.parquet", np.nan), ("part-b.parquet", 1.5)):
        pdf = _rows(0, 20, 1).to_pandas()
        pdf["error"] = error
        pdf.to_parquet(tmp_path / name)
    found = check_dataset(tmp_path)
    assert found.damaged == [] and found.schema["error"] == pl.Float64
    assert found.empty == {str(tmp_path / "part-a.parquet"): frozenset({"error"})}
    assert scan(tmp_path, dedupe=False).collect()["error"].to_list() == [None] * 20 + [1.5] * 20


def test_a_part_without_statistics_says_why_its_empty_column_is_odd(tmp_path: Path) -> None:
    """A footer without null counts cannot prove a column holds nothing: still damaged, and the
    sentence says why (not the same sentence as for a column with values)."""
    PartWriter(tmp_path).write(_rows(0, 50, 1))
    _pandas(_rows(0, 20, 2), tmp_path / DAY / "part-p.parquet", write_statistics=False)
    with pytest.raises(DatasetError) as raised:
        check_dataset(tmp_path)
    assert "column 'error' is Float64, expected String (no null count in its footer" in str(raised.value)


def _interleaved(root: Path, parts: int) -> None:
    """A day-by-day pandas export: ``error`` is text on the even parts and all-missing on the odd ones;
    every third part comes from before the ``redelivered`` flag. An odd part holds the messages of
    the part before it again, some flagged ``redelivered``."""
    for n in range(parts):
        frame = _rows(0, 20, n // 2).with_columns(
            error=pl.lit("bad" if n % 2 == 0 else None, pl.String),
            redelivered=pl.int_range(pl.len()) % 7 == 0,
        )
        if n % 3 == 0:
            frame = frame.drop("redelivered")
        path = root / DAY / f"part-{n:04d}.parquet"
        if n % 2:
            _pandas(frame, path, ("error",))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            frame.write_parquet(path)


def test_interleaved_kinds_of_parts_are_one_scan_per_kind(tmp_path: Path) -> None:
    """Runs of parts in list order made a scan per run (Polars' streaming engine spends ~10 ms on each:
    1,000 such parts took 8 s instead of 0.7 s); now a scan per kind of part, with the same rows."""
    _interleaved(tmp_path, 60)
    found = check_dataset(tmp_path)
    assert found.damaged == [] and len(found.empty) == 30 and len(found.unflagged) == 20
    plan = scan(tmp_path, dedupe=False).explain()
    assert plan.count("Parquet SCAN") == 2
    every = scan(tmp_path, dedupe=False).collect()
    alone = pl.concat(
        [scan(part, dedupe=False, require=False).collect() for part in found.good], how="diagonal_relaxed"
    ).select(pl.col(name).cast(dtype) for name, dtype in every.schema.items())
    by = [*ORDER, "error", "redelivered"]
    assert_frame_equal(every.sort(by, nulls_last=True), alone.sort(by, nulls_last=True))
    # one order whether or not copies are looked for, and a narrow read keeps it
    kept = scan(tmp_path).collect()
    assert kept.height < every.height
    assert_frame_equal(kept, every.join(kept, on=every.columns, how="semi", nulls_equal=True))
    charger = every["charger_id"].drop_nulls()[0]
    narrow = scan(tmp_path, dedupe=False, chargers=[charger], start=DAY0).collect()
    wanted = every.filter((pl.col("charger_id") == charger) & (pl.col("observed_at") >= DAY0))
    assert narrow.height > 0
    assert_frame_equal(narrow, wanted)
    assert_frame_equal(
        scan(tmp_path, chargers=[charger]).collect(), kept.filter(pl.col("charger_id") == charger)
    )


def test_interleaved_kinds_on_object_storage(tmp_path: Path, s3_dataset: str) -> None:
    _interleaved(tmp_path, 24)
    upload_dataset(tmp_path, s3_dataset)
    local = scan(tmp_path).collect()
    assert_frame_equal(scan(s3_dataset).collect(), local)
    charger = local["charger_id"].drop_nulls()[0]
    narrow = scan(s3_dataset, chargers=[charger]).collect()
    assert_frame_equal(narrow, scan(s3_dataset).collect().filter(pl.col("charger_id") == charger))
