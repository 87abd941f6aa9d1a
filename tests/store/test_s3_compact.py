"""``evkit compact s3://...`` on the real S3 server: one part per finished day, every row kept,
interrupted compactions repaired, one compaction at a time (conditional-PUT lock)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import obstore
import polars as pl
import pytest
from obstore.store import S3Store

import evkit
from evkit.errors import DatasetError
from evkit.store import compact as compact_module
from evkit.store.compact import compact
from evkit.store.objstore import S3Location, open_store, polars_options
from evkit.store.s3compact import LOCK_NAME
from evkit.store.s3write import S3PartWriter
from tests.conftest import REPO_ROOT
from tests.store.test_store import _rows


def _store(url: str) -> S3Store:
    return open_store(S3Location.parse(url))


def _parts(url: str, day: str) -> list[str]:
    listed = [str(m["path"]) for chunk in obstore.list(_store(url), prefix=f"date={day}") for m in chunk]
    return sorted(p.rsplit("/", 1)[1] for p in listed if p.endswith(".parquet"))


def _fill(url: str) -> pl.DataFrame:
    """Three small parts on 2026-11-03 from two captures, one on 2026-11-04, and two for today."""
    a, b = S3PartWriter(url, capture_id="a"), S3PartWriter(url, capture_id="b")
    a.write(_rows(1, day=3, key_prefix="EH1"))
    b.write(_rows(1, day=3, key_prefix="EH2"))
    a.write(_rows(1, day=3, key_prefix="EH3"))
    b.write(_rows(1, day=4, key_prefix="EH4"))
    now = datetime.now(UTC)
    for key in ("EH5", "EH6"):
        a.write(_rows(1, day=1, key_prefix=key).with_columns(pl.lit(now).alias("received_at")))
    return _sorted(url)


def _sorted(url: str) -> pl.DataFrame:
    return evkit.scan(url, dedupe=False).collect().sort("routing_key", "received_at")


def test_finished_days_become_one_part_each_with_every_row(s3_dataset: str) -> None:
    before = _fill(s3_dataset)
    done = compact(s3_dataset)
    assert [(d.day, d.parts_before, d.rows) for d in done.days] == [("2026-11-03", 3, 3)]
    assert [p.startswith("part-compacted-") for p in _parts(s3_dataset, "2026-11-03")] == [True]
    assert len(_parts(s3_dataset, datetime.now(UTC).date().isoformat())) == 2  # today: left alone
    assert _sorted(s3_dataset).equals(before)
    assert compact(s3_dataset).days == []  # nothing more to do


def test_include_today_compacts_today_too(s3_dataset: str) -> None:
    before = _fill(s3_dataset)
    done = compact(s3_dataset, include_today=True)
    assert {d.day for d in done.days} == {"2026-11-03", datetime.now(UTC).date().isoformat()}
    assert _sorted(s3_dataset).equals(before)


def test_an_interrupted_compaction_is_rolled_forward_or_back(s3_dataset: str) -> None:
    before = _fill(s3_dataset)
    store = _store(s3_dataset)
    inputs = _parts(s3_dataset, "2026-11-03")
    # Crash after the commit: merged object and journal present, inputs not yet deleted.
    merged = pl.concat([pl.read_parquet(p, storage_options={"aws_allow_http": "true"}) for p in [
        f"{s3_dataset}/date=2026-11-03/{name}" for name in inputs
    ]])  # fmt: skip
    buffer = io.BytesIO()
    merged.write_parquet(buffer)
    journal = {"output": "part-compacted-crash.parquet", "inputs": inputs}
    obstore.put(store, "date=2026-11-03/.compact-crash.json", json.dumps(journal).encode())
    obstore.put(store, "date=2026-11-03/part-compacted-crash.parquet", buffer.getvalue())
    # Crash before the commit on the other day: a journal without its output.
    lost = {"output": "part-compacted-never.parquet", "inputs": _parts(s3_dataset, "2026-11-04")}
    obstore.put(store, "date=2026-11-04/.compact-never.json", json.dumps(lost).encode())
    assert _sorted(s3_dataset).equals(before)  # readers: never a row twice, never one missing
    compact(s3_dataset)
    assert _parts(s3_dataset, "2026-11-03") == ["part-compacted-crash.parquet"]
    assert len(_parts(s3_dataset, "2026-11-04")) == 1
    keys = [str(m["path"]) for chunk in obstore.list(store) for m in chunk]
    assert not [k for k in keys if ".compact-" in k or k == LOCK_NAME]
    assert _sorted(s3_dataset).equals(before)


def test_one_compaction_at_a_time_and_a_stale_lock_is_taken_over(
    s3_dataset: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(s3_dataset)
    obstore.put(_store(s3_dataset), LOCK_NAME, b'{"owner": "someone else"}')
    assert compact(s3_dataset).already_running
    assert len(_parts(s3_dataset, "2026-11-03")) == 3
    monkeypatch.setattr("evkit.store.s3compact.LOCK_TTL", timedelta(seconds=-1))  # now stale
    assert [d.day for d in compact(s3_dataset).days] == ["2026-11-03"]


def test_damaged_parts_stop_the_run_before_anything_is_written(s3_dataset: str) -> None:
    _fill(s3_dataset)
    obstore.put(_store(s3_dataset), "date=2026-11-03/part-bad.parquet", b"not parquet")
    with pytest.raises(DatasetError, match=r"part-bad\.parquet \(not a Parquet file"):
        compact(s3_dataset)
    assert len(_parts(s3_dataset, "2026-11-03")) == 4
    done = compact(s3_dataset, skip_damaged=True)
    assert [d.parts_before for d in done.days] == [3]
    assert "part-bad.parquet" in _parts(s3_dataset, "2026-11-03")


def test_cli_compacts_s3(s3_dataset: str) -> None:
    _fill(s3_dataset)
    result = subprocess.run(
        [sys.executable, "-m", "evkit", "compact", s3_dataset],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "compacted 1 day(s): 3 parts -> 1, 3 rows kept" in result.stdout
    assert compact_module.compact(s3_dataset).days == []


@pytest.mark.parametrize("sort_rows", [7, 20, 10**9])
def test_a_large_day_sorted_a_range_of_arrival_times_at_a_time_is_the_same_part(
    s3_dataset: str, sort_rows: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Above ``SORT_ROWS`` a day on S3 is sorted a range of arrival times at a time through local
    scratch files (memory follows a range): the merged part holds the same rows in the same order as
    sorting the day at once (rows received at one instant in their parts' order), and no scratch file
    is left."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    a, b = S3PartWriter(s3_dataset, capture_id="a"), S3PartWriter(s3_dataset, capture_id="b")
    noon = datetime(2026, 11, 3, 12, tzinfo=UTC)

    def spread(frame: pl.DataFrame, offset: int) -> pl.DataFrame:  # every row on 2026-11-03
        return frame.with_columns(
            (pl.lit(noon) + pl.duration(seconds=pl.int_range(pl.len()) * 3 + offset)).alias("received_at")
        )

    first = spread(_rows(30, day=3, key_prefix="EH1"), 0)
    # a third of the second part's rows received at one instant with a row of the first part
    second = spread(_rows(30, day=3, key_prefix="EH2"), 1).with_columns(
        pl.when(pl.int_range(pl.len()) % 3 == 0)
        .then(pl.lit(noon + timedelta(seconds=15)))
        .otherwise(pl.col("received_at"))
        .alias("received_at")
    )
    a.write(first)
    b.write(second)
    a.close()
    b.close()
    parts = [f"{s3_dataset}/date=2026-11-03/{name}" for name in _parts(s3_dataset, "2026-11-03")]
    want = pl.scan_parquet(parts, **polars_options()).collect().sort("received_at", maintain_order=True)
    monkeypatch.setattr(compact_module, "SORT_ROWS", sort_rows)
    assert [d.rows for d in compact(s3_dataset).days] == [60]
    (merged,) = _parts(s3_dataset, "2026-11-03")
    got = pl.scan_parquet(f"{s3_dataset}/date=2026-11-03/{merged}", **polars_options()).collect()
    assert got.select(want.columns).equals(want)
    assert list(tmp_path.iterdir()) == []
