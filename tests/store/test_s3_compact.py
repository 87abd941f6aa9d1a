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
import pyarrow.parquet as pq
import pytest
from obstore.store import S3Store
from polars.testing import assert_frame_equal

import evkit
from evkit.errors import DatasetError
from evkit.store import PartWriter, scan
from evkit.store import compact as compact_module
from evkit.store.compact import SORT_KEY, SORTED_BY_KEY, compact
from evkit.store.narrow import Narrowing, admitted_groups, footer_of
from evkit.store.objstore import S3Location, open_store, polars_options
from evkit.store.s3compact import LOCK_NAME
from evkit.store.s3write import S3PartWriter
from tests.conftest import REPO_ROOT
from tests.s3fixtures import upload_dataset
from tests.store.test_narrow import DAY0
from tests.store.test_narrow import _rows as narrow_rows
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


def _days(url: str) -> list[str]:
    listed = [str(m["path"]) for chunk in obstore.list(_store(url)) for m in chunk]
    return sorted({p.split("/", 1)[0].removeprefix("date=") for p in listed if p.startswith("date=")})


def _sorted(url: str) -> pl.DataFrame:
    return evkit.scan(url, dedupe=False).collect().sort("routing_key", "received_at")


def _day(offset: int) -> str:
    """The day of ``narrow_rows(offset, ...)`` (finished: before today)."""
    return (DAY0 + timedelta(days=offset)).date().isoformat()


def _marked(url: str) -> bool:
    """Whether the part ``url`` says in its footer that compaction sorted it."""
    pairs = footer_of(url).metadata().metadata or {}
    return pairs.get(SORTED_BY_KEY.encode()) == ",".join(SORT_KEY).encode()


def _etags(url: str) -> dict[str, str]:
    """Key -> ETag of every object of the store's day prefixes (parts and journals)."""
    listed = (m for chunk in obstore.list(_store(url)) for m in chunk)
    return {str(m["path"]): str(m["e_tag"]) for m in listed if str(m["path"]).startswith("date=")}


def _one_capture_part(url: str, offset: int, rows: int) -> tuple[str, pl.DataFrame]:
    """A finished day of one capture part (arrival order: chargers scattered): its URL and rows."""
    with S3PartWriter(url, capture_id="a") as writer:
        (part,) = writer.write(narrow_rows(offset, rows, 3))
    return part, pl.read_parquet(part, **polars_options())


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
    assert {d.day for d in done.days} == {"2026-11-03", "2026-11-04", datetime.now(UTC).date().isoformat()}
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
    merged.write_parquet(buffer, metadata={SORTED_BY_KEY: ",".join(SORT_KEY)})  # as compaction marks it
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
    # a lock of an earlier version (no time to live in it, never renewed): held for LEGACY_LOCK_TTL
    monkeypatch.setattr("evkit.store.s3compact.LEGACY_LOCK_TTL", timedelta(seconds=-5))  # now stale
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
def test_a_large_day_sorted_a_range_of_chargers_at_a_time_is_the_same_part(
    s3_dataset: str, sort_rows: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Above ``SORT_ROWS`` a day on S3 is sorted a range of chargers at a time through local scratch
    files (memory follows a range): the merged part holds the same rows in the same order as sorting
    the day at once by ``SORT_KEY`` (as locally; ties in their parts' order), and no scratch file is
    left."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    a, b = S3PartWriter(s3_dataset, capture_id="a"), S3PartWriter(s3_dataset, capture_id="b")
    first, second = narrow_rows(-4, 30, 1), narrow_rows(-4, 30, 2)  # scattered chargers, some null
    # a third of the second part's rows are copies of the first's (the same key: kept in part order)
    second = pl.concat([second.head(20), first.head(10).with_columns(pl.lit(b"copy").alias("raw"))])
    a.write(first)
    b.write(second)
    a.close()
    b.close()
    day = _days(s3_dataset)[0]
    parts = [f"{s3_dataset}/date={day}/{name}" for name in _parts(s3_dataset, day)]
    want = (
        pl.scan_parquet(parts, **polars_options())
        .collect()
        .sort(list(SORT_KEY), maintain_order=True, nulls_last=True)
    )
    monkeypatch.setattr(compact_module, "SORT_ROWS", sort_rows)
    assert [d.rows for d in compact(s3_dataset).days] == [60]
    (merged,) = _parts(s3_dataset, day)
    got = pl.scan_parquet(f"{s3_dataset}/date={day}/{merged}", **polars_options()).collect()
    assert got.select(want.columns).equals(want)
    assert list(tmp_path.iterdir()) == []


def test_a_merged_day_is_sorted_by_charger_and_observed_time_in_row_groups_as_locally(
    s3_dataset: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11: a finished day is written sorted by (charger_id, observed_at) in ``row_group_rows``
    groups with statistics -- on S3 exactly as locally -- so a narrow read of one charger fetches a
    few of the day's row groups, and returns the rows a full read filtered gives."""
    monkeypatch.setattr(compact_module, "ROW_GROUP_ROWS", 64)
    local = tmp_path / "local"
    for seed in range(3):  # three captures' parts, chargers scattered through each
        PartWriter(local).write(narrow_rows(0, 300, seed))
    upload_dataset(local, s3_dataset)
    assert [d.rows for d in compact(local).days] == [d.rows for d in compact(s3_dataset).days] == [900]
    (here,) = local.rglob("*.parquet")
    day = here.parent.name.removeprefix("date=")
    (merged,) = _parts(s3_dataset, day)
    url = f"{s3_dataset}/date={day}/{merged}"
    got = pl.read_parquet(url, **polars_options())
    assert got.equals(got.sort(list(SORT_KEY), maintain_order=True, nulls_last=True))
    assert got.equals(pl.read_parquet(here))  # the same rows in the same order as locally
    footer = footer_of(url)
    groups = footer.metadata().num_row_groups
    assert groups == pq.read_metadata(here).num_row_groups == -(-900 // 64)
    one = Narrowing.of(["EH05"], None, None)
    assert 0 < len(admitted_groups(footer, one)) <= 2  # a charger of 12: one group or two, not 15
    narrow = scan(s3_dataset, dedupe=False, chargers=["EH05"]).collect()
    assert_frame_equal(narrow, scan(local, dedupe=False, chargers=["EH05"]).collect())
    assert narrow.height == got.filter(pl.col("charger_id") == "EH05").height > 0


@pytest.mark.parametrize("skip_damaged", [False, True])
def test_parts_of_an_older_schema_are_merged_with_the_union_of_their_columns(
    s3_dataset: str, skip_damaged: bool
) -> None:
    """A part written before a column existed (no ``value_reversed``) and a newer one with it: merged
    (as locally), the older rows null in the new column; with ``skip_damaged`` too (nothing is
    damaged)."""
    rows = _rows(4, day=3).with_columns(pl.col("received_at") - timedelta(hours=1))  # all on 11-03
    older = rows.head(2).drop("value_reversed")
    newer = rows.tail(2).with_columns(pl.lit("dcba").alias("value_reversed"))
    store = _store(s3_dataset)
    for name, frame in (("part-a-older.parquet", older), ("part-b-newer.parquet", newer)):
        buffer = io.BytesIO()
        frame.write_parquet(buffer)
        obstore.put(store, f"date=2026-11-03/{name}", buffer.getvalue())
    done = compact(s3_dataset, skip_damaged=skip_damaged)
    assert [(d.day, d.parts_before, d.rows) for d in done.days] == [("2026-11-03", 2, 4)]
    assert done.unmerged == []
    assert done.damaged == []
    (merged,) = _parts(s3_dataset, "2026-11-03")
    got = pl.read_parquet(f"{s3_dataset}/date=2026-11-03/{merged}", **polars_options())
    want = rows.with_columns(pl.Series("value_reversed", [None, None, "dcba", "dcba"], pl.String))
    assert got.select(want.columns).sort("received_at").equals(want)


def test_a_day_of_one_unsorted_part_is_rewritten_sorted_with_the_marker_and_the_same_rows(
    s3_dataset: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As locally: a finished day of a single capture part (arrival order) is rewritten as a compacted
    part -- sorted by ``SORT_KEY`` in ``row_group_rows`` groups, its footer marked ``SORTED_BY_KEY`` --
    with the same rows (as a multiset), and the capture part is gone."""
    monkeypatch.setattr(compact_module, "ROW_GROUP_ROWS", 64)
    part, before = _one_capture_part(s3_dataset, -4, 600)
    order = list(SORT_KEY)
    assert not before.equals(before.sort(order, maintain_order=True, nulls_last=True))
    assert not _marked(part)
    done = compact(s3_dataset)
    assert [(d.day, d.parts_before, d.rows) for d in done.days] == [(_day(-4), 1, 600)]
    (merged,) = _parts(s3_dataset, _day(-4))
    assert merged.startswith("part-compacted-")
    url = f"{s3_dataset}/date={_day(-4)}/{merged}"
    got = pl.read_parquet(url, **polars_options()).select(before.columns)
    assert got.equals(got.sort(order, maintain_order=True, nulls_last=True))
    assert_frame_equal(got.sort(got.columns), before.sort(before.columns))
    assert _marked(url)
    assert footer_of(url).metadata().num_row_groups == -(-600 // 64)


@pytest.mark.parametrize("dedupe", [False, True])
def test_a_narrow_read_of_a_compacted_one_part_day_reads_few_groups_and_the_same_rows(
    s3_dataset: str, monkeypatch: pytest.MonkeyPatch, dedupe: bool
) -> None:
    """Once its day is compacted, a capture's single part is read narrowly: one charger's rows sit in
    one or two of the day's row groups, and a narrow read returns what a full read filtered gives."""
    monkeypatch.setattr(compact_module, "ROW_GROUP_ROWS", 64)
    _one_capture_part(s3_dataset, -4, 600)
    compact(s3_dataset)
    (merged,) = _parts(s3_dataset, _day(-4))
    footer = footer_of(f"{s3_dataset}/date={_day(-4)}/{merged}")
    assert 0 < len(admitted_groups(footer, Narrowing.of(["EH05"], None, None))) <= 2
    assert footer.metadata().num_row_groups > 2
    start = DAY0 + timedelta(days=-4, hours=5)
    window = Narrowing.of(["EH03", "EH07"], start, start + timedelta(hours=12))
    narrow = scan(s3_dataset, dedupe=dedupe, chargers=["EH03", "EH07"], start=window.start, end=window.end)
    expected = scan(s3_dataset, dedupe=dedupe).collect().filter(window.predicate())
    assert_frame_equal(narrow.collect(), expected)
    assert expected.height > 0


def test_a_rerun_changes_nothing_and_a_part_already_marked_is_left_alone(
    s3_dataset: str, tmp_path: Path
) -> None:
    """Every part compaction writes on S3 is marked (a merged day as a single part sorted), so the next
    run rewrites nothing (the same keys, the same ETags); a part compacted elsewhere (marked) is never
    rewritten."""
    local = tmp_path / "local"
    for seed in (1, 2):
        PartWriter(local).write(narrow_rows(-5, 50, seed))
    compact(local)
    (here,) = local.rglob("*.parquet")
    obstore.put(_store(s3_dataset), f"date={_day(-5)}/{here.name}", here.read_bytes())
    with S3PartWriter(s3_dataset, capture_id="a") as a, S3PartWriter(s3_dataset, capture_id="b") as b:
        a.write(narrow_rows(-4, 40, 1))
        b.write(narrow_rows(-4, 40, 2))
        a.write(narrow_rows(-3, 40, 3))
    kept = {k: v for k, v in _etags(s3_dataset).items() if k.startswith(f"date={_day(-5)}/")}
    done = compact(s3_dataset)
    assert [(d.day, d.parts_before, d.rows) for d in done.days] == [(_day(-4), 2, 80), (_day(-3), 1, 40)]
    after = _etags(s3_dataset)
    assert [key.rsplit("/", 1)[0] for key in sorted(after)] == [f"date={_day(n)}" for n in (-5, -4, -3)]
    assert all(_marked(f"{s3_dataset}/{key}") for key in after)
    assert {k: v for k, v in after.items() if k.startswith(f"date={_day(-5)}/")} == kept
    assert compact(s3_dataset).days == []
    assert _etags(s3_dataset) == after
