from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from evkit.cli import main
from evkit.errors import StoreError
from evkit.store import EASEE_SCHEMA, PartWriter, scan
from evkit.store.compact import MAX_ROW_GROUPS, ROW_GROUP_ROWS, compact, compactable_days, row_group_rows
from tests.conftest import REPO_ROOT


def _batch(start: datetime, n: int, tag: str) -> pl.DataFrame:
    rows = {
        "received_at": [start + timedelta(seconds=i) for i in range(n)],
        "routing_key": [f"EH{tag}.O.120"] * n,
        "raw": [f"{tag}-{i}".encode() for i in range(n)],
        "value": [float(i) for i in range(n)],
    }
    return pl.DataFrame({name: rows.get(name, [None] * n) for name in EASEE_SCHEMA}, schema=EASEE_SCHEMA)


def _fill(root: Path, days_ago: int, parts: int) -> None:
    start = datetime.now(UTC).replace(hour=1, minute=0, second=0, microsecond=0) - timedelta(days=days_ago)
    for writer_index in range(2):
        writer = PartWriter(root)
        for part in range(parts):
            at = start + timedelta(minutes=part * 10 + writer_index)
            writer.write(_batch(at, 5, f"{writer_index}{part}"))


def test_compaction_keeps_every_row_and_byte_and_leaves_one_part_per_finished_day(tmp_path: Path) -> None:
    _fill(tmp_path, days_ago=2, parts=4)
    _fill(tmp_path, days_ago=1, parts=3)
    _fill(tmp_path, days_ago=0, parts=2)
    before = scan(tmp_path, dedupe=False).collect().sort("raw")
    done = compact(tmp_path).days
    assert [d.parts_before for d in done] == [8, 6]
    assert sum(d.rows for d in done) == 70
    after = scan(tmp_path, dedupe=False).collect().sort("raw")
    assert_frame_equal(after, before)
    counts = {d.name: len(list(d.glob("*.parquet"))) for d in tmp_path.glob("date=*")}
    assert sorted(counts.values()) == [1, 1, 4]  # today's partition is left to the running captures
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".date=")]
    assert compactable_days(tmp_path) == []


def test_compacted_part_is_sorted_by_charger_and_device_time_in_small_row_groups(tmp_path: Path) -> None:
    _fill(tmp_path, days_ago=3, parts=3)
    day = next(tmp_path.glob("date=*"))
    writer = PartWriter(tmp_path)
    start = datetime.fromisoformat(day.name.removeprefix("date=")).replace(hour=5, tzinfo=UTC)
    shuffled = _batch(start, 20_000, "Z").with_columns(
        charger_id=pl.Series([f"EH{i % 7}" for i in range(20_000)]),
        observed_at=pl.Series([start - timedelta(seconds=(i * 7919) % 20_000) for i in range(20_000)]),
    )
    writer.write(shuffled)
    writer.close()
    compact(tmp_path)
    (part,) = list(day.glob("*.parquet"))
    frame = pl.read_parquet(part)
    assert frame.height == 20_000 + 3 * 2 * 5
    key = frame.select(pl.col("charger_id").fill_null("~"), "observed_at", "received_at")
    assert key.sort(key.columns, nulls_last=True).equals(key)
    meta = pq.ParquetFile(part).metadata
    assert meta.num_row_groups >= 3 and meta.row_group(0).num_rows <= ROW_GROUP_ROWS
    column = meta.schema.names.index("charger_id")
    assert meta.row_group(0).column(column).statistics.has_min_max
    # a day too large for MAX_ROW_GROUPS groups gets fewer, larger ones (bounded footers)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("evkit.store.compact.MAX_ROW_GROUPS", 3)
        writer = PartWriter(tmp_path)
        writer.write(shuffled.head(10))
        writer.close()
        compact(tmp_path)
    (part,) = list(day.glob("*.parquet"))
    meta = pq.ParquetFile(part).metadata
    assert meta.num_rows == 20_000 + 3 * 2 * 5 + 10 and meta.num_row_groups <= 3
    assert pl.read_parquet(part).height == meta.num_rows


@pytest.mark.parametrize("sort_rows", [1_000, 4_999, 10**9])
def test_a_large_day_sorted_a_range_of_chargers_at_a_time_is_the_same_file(
    tmp_path: Path, sort_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above ``SORT_ROWS`` a day is sorted a range of chargers at a time (memory follows a range): the
    merged part holds the same rows in the same order as sorting the day at once, rows without a
    charger last, and no range file is left."""
    _fill(tmp_path, days_ago=3, parts=3)
    day = next(tmp_path.glob("date=*"))
    start = datetime.fromisoformat(day.name.removeprefix("date=")).replace(hour=5, tzinfo=UTC)
    rows = _batch(start, 12_000, "R").with_columns(  # 40 chargers, some rows without one, shuffled times
        charger_id=pl.Series([None if i % 97 == 0 else f"EH{i % 40:03d}" for i in range(12_000)]),
        observed_at=pl.Series([start - timedelta(seconds=(i * 7919) % 12_000) for i in range(12_000)]),
    )
    writer = PartWriter(tmp_path)
    writer.write(rows.head(6_000))
    writer.write(rows.tail(6_000))
    writer.close()
    want = (
        scan(tmp_path, dedupe=False)
        .collect()
        .sort(["charger_id", "observed_at", "received_at"], maintain_order=True, nulls_last=True)
    )
    monkeypatch.setattr("evkit.store.compact.SORT_ROWS", sort_rows)
    assert compact(tmp_path).days
    (part,) = list(day.glob("*.parquet"))
    assert_frame_equal(pl.read_parquet(part).select(want.columns), want.drop("date", strict=False))
    assert [p.name for p in day.iterdir() if p.name.startswith(".")] == []
    assert pq.ParquetFile(part).metadata.row_group(0).column(0).statistics.has_min_max
    # a range file a killed compaction left is removed by the next one, before it does anything else
    (day / ".compacted-0123456789ab.parquet.tmp.range-0003.tmp").write_bytes(b"PAR1")
    compact(tmp_path)
    assert [p.name for p in day.iterdir() if p.name.startswith(".")] == []


@given(st.integers(0, 10**9))
def test_row_groups_are_bounded_in_size_and_number(rows: int) -> None:
    size = row_group_rows(rows)
    groups = -(-rows // size)
    assert size >= ROW_GROUP_ROWS and groups <= MAX_ROW_GROUPS
    # no larger than needed: the minimum size, or as many groups as allowed
    assert size == ROW_GROUP_ROWS or -(-rows // (size - 1)) > MAX_ROW_GROUPS


def test_cli_compact_reports_what_it_did(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(tmp_path, days_ago=1, parts=2)
    assert main(["compact", str(tmp_path), "--quiet"]) == 0
    assert main(["compact", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "4 parts -> 1" in out and "nothing to compact" in out


def test_cli_compact_on_a_missing_directory_exits_2(tmp_path: Path) -> None:
    assert main(["compact", str(tmp_path / "missing"), "--quiet"]) == 2


# -- safety: only merged parts go, nothing is left behind, one compaction at a time ---------------------


def _tree(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` (hidden ones too) with its bytes, and every directory."""
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else b"<dir>")
        for p in sorted(root.rglob("*"))
    }


def _yesterday(root: Path) -> Path:
    return root / f"date={(datetime.now(UTC) - timedelta(days=1)).date().isoformat()}"


def _corrupt_pages(part: Path) -> None:
    """Garble the middle of a part (its compressed pages), keeping its magic bytes and footer sound."""
    data = bytearray(part.read_bytes())
    for i in range(len(data) // 4, len(data) // 2):
        data[i] = (data[i] * 7 + 13) % 256
    part.write_bytes(bytes(data))


def test_a_failed_compaction_names_the_damaged_part_and_leaves_nothing_behind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill(tmp_path, days_ago=1, parts=3)
    part = sorted(_yesterday(tmp_path).glob("part-*.parquet"))[1]
    part.write_bytes(part.read_bytes()[:300])  # truncated
    before = _tree(tmp_path)
    assert main(["compact", str(tmp_path), "--quiet"]) == 2
    assert str(part) in capsys.readouterr().err
    assert _tree(tmp_path) == before  # no hidden folder, no temporary file, every part as it was


def test_a_merge_failing_on_a_corrupt_data_page_leaves_nothing_behind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Sound magic bytes and footer (the cheap check passes), garbage inside compressed pages: found
    # only while merging. The recorded sample compresses well, so zstd notices.
    shutil.copytree(REPO_ROOT / "data" / "sample-session", tmp_path, dirs_exist_ok=True)
    part = sorted((tmp_path / "date=2026-11-02").glob("part-*.parquet"))[1]
    _corrupt_pages(part)
    before = _tree(tmp_path)
    assert main(["compact", str(tmp_path), "--quiet"]) == 2
    assert "nothing was changed" in capsys.readouterr().err
    assert _tree(tmp_path) == before


def test_readers_see_no_row_twice_when_a_compaction_stopped_after_its_commit_and_the_next_one_finishes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(tmp_path, days_ago=1, parts=3)
    before = scan(tmp_path, dedupe=False).collect().sort("raw")
    inputs = sorted(_yesterday(tmp_path).glob("part-*.parquet"))
    real_unlink = Path.unlink

    def failing_unlink(self: Path, missing_ok: bool = False) -> None:
        if self == inputs[2]:
            raise OSError(5, "Input/output error")  # the disk fails after the merged part was committed
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", failing_unlink)
    with pytest.raises(StoreError, match="next evkit compact finishes"):
        compact(tmp_path)
    monkeypatch.undo()
    day = _yesterday(tmp_path)
    assert list(day.glob(".compact-*.json")), "the journal stays until the inputs are gone"
    assert len(list(day.glob("part-compacted-*.parquet"))) == 1
    assert [p for p in inputs if p.exists()]  # merged part and some of its inputs side by side...
    assert_frame_equal(scan(tmp_path, dedupe=False).collect().sort("raw"), before)  # ...read once

    done = compact(tmp_path)
    assert done.days == []  # the repair left one part: nothing more to merge
    assert not list(day.glob(".compact-*")) and not [p for p in inputs if p.exists()]
    assert_frame_equal(scan(tmp_path, dedupe=False).collect().sort("raw"), before)


def test_a_compaction_interrupted_before_its_commit_is_rolled_back(tmp_path: Path) -> None:
    _fill(tmp_path, days_ago=1, parts=2)
    day = _yesterday(tmp_path)
    inputs = sorted(day.glob("part-*.parquet"))
    before = scan(tmp_path, dedupe=False).collect().sort("raw")
    # What a crash between steps 4 and 5 leaves: the hidden merged file and the journal, no commit.
    (day / ".compacted-deadbeef0000.parquet.tmp").write_bytes(inputs[0].read_bytes())
    journal = {"output": "part-compacted-deadbeef0000.parquet", "inputs": [p.name for p in inputs]}
    (day / ".compact-deadbeef0000.json").write_text(json.dumps(journal))
    assert_frame_equal(scan(tmp_path, dedupe=False).collect().sort("raw"), before)
    done = compact(tmp_path)
    assert [d.parts_before for d in done.days] == [4]
    assert not list(day.glob(".compact*"))
    assert_frame_equal(scan(tmp_path, dedupe=False).collect().sort("raw"), before)


def test_a_second_compaction_while_one_runs_says_so_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill(tmp_path, days_ago=1, parts=2)
    from evkit.store.lease import try_compaction_lock  # imported here: the file also runs on old versions

    before = _tree(tmp_path)
    running = try_compaction_lock(tmp_path)
    assert running is not None
    with running:
        assert main(["compact", str(tmp_path), "--quiet"]) == 0
    assert "already running" in capsys.readouterr().out
    assert _tree(tmp_path) == before
    assert main(["compact", str(tmp_path), "--quiet"]) == 0
    assert "4 parts -> 1" in capsys.readouterr().out


def test_two_compaction_processes_at_once_both_exit_0_and_keep_every_row(tmp_path: Path) -> None:
    for days_ago in (1, 2, 3):
        _fill(tmp_path, days_ago=days_ago, parts=20)
    before = scan(tmp_path, dedupe=False).collect().sort("raw")
    command = [sys.executable, "-m", "evkit", "compact", str(tmp_path), "--quiet"]
    procs = [
        subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [(p.wait(120), *p.communicate()) for p in procs]
    assert [code for code, _, _ in results] == [0, 0], results
    assert_frame_equal(scan(tmp_path, dedupe=False).collect().sort("raw"), before)
    assert sorted(len(list(d.glob("*.parquet"))) for d in tmp_path.glob("date=*")) == [1, 1, 1]


# -- leases: a day a capture still writes into is not finished ------------------------------------------


def test_a_day_a_writer_still_holds_is_left_alone_and_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill(tmp_path, days_ago=1, parts=2)
    day = _yesterday(tmp_path).name.removeprefix("date=")
    late = datetime.fromisoformat(f"{day}T23:59:58+00:00")
    writer = PartWriter(tmp_path, clock=lambda: late)  # a capture whose clock still says yesterday
    assert writer.held_days == [day]
    assert main(["compact", str(tmp_path), "--quiet"]) == 0
    assert f"date={day}: a running capture may still write into it" in capsys.readouterr().out
    assert len(list(_yesterday(tmp_path).glob("*.parquet"))) == 4
    writer.close()
    assert main(["compact", str(tmp_path), "--quiet"]) == 0
    assert "4 parts -> 1" in capsys.readouterr().out


def test_midnight_a_batch_received_before_midnight_and_written_after_is_not_lost(tmp_path: Path) -> None:
    """23:59:5x rows of day D are written after midnight: the writer holds D until it has written a
    row of D+1, so a cron compaction at 00:00:0x leaves D alone; a late row arriving for a day it
    released waits for a running merge and lands beside it."""
    today = datetime.now(UTC).date()
    d = datetime(today.year, today.month, today.day, tzinfo=UTC) - timedelta(days=1)
    now = [d + timedelta(hours=23, minutes=59, seconds=50)]
    writer = PartWriter(tmp_path, clock=lambda: now[0])
    other = PartWriter(tmp_path, clock=lambda: now[0])
    other.write(_batch(d + timedelta(hours=23, minutes=59), 5, "other"))
    other.close()  # a capture that ended before midnight
    writer.write(_batch(d + timedelta(hours=23, minutes=59, seconds=50), 3, "a"))
    now[0] = d + timedelta(days=1, seconds=5)  # midnight has passed; the 23:59:59 batch is on its way
    assert [x.day for x in compact(tmp_path).days] == []  # D is still held
    writer.write(_batch(d + timedelta(hours=23, minutes=59, seconds=58), 2, "late"))
    writer.write(_batch(d + timedelta(days=1, seconds=1), 4, "new"))  # first row of D+1: D released
    assert writer.held_days == [(d + timedelta(days=1)).date().isoformat()]
    done = compact(tmp_path).days
    assert [(x.parts_before, x.rows) for x in done] == [(3, 10)]

    # The wall clock steps back across midnight: a row for D again, while a compaction claims D.
    from evkit.store.lease import try_claim_day

    claim = try_claim_day(tmp_path, d.date().isoformat())
    assert claim is not None
    written: list[Path] = []
    late = threading.Thread(
        target=lambda: written.extend(
            writer.write(
                _batch(d + timedelta(hours=23, minutes=59, seconds=59, microseconds=5), 1, "stepped")
            )
        )
    )
    late.start()
    late.join(0.5)
    assert late.is_alive(), "the writer must wait while a compaction holds the day"
    claim.release()
    late.join(30)
    assert written and written[0].exists()
    got = scan(tmp_path, dedupe=False).collect()
    assert sorted(got["raw"].to_list()) == sorted(
        [
            f"{tag}-{i}".encode()
            for tag, n in (("other", 5), ("a", 3), ("late", 2), ("new", 4), ("stepped", 1))
            for i in range(n)
        ]
    )
    writer.close()


MERGE_STEPS = ["merged", "journaled", "committed", "unlinked", "unlinked", "unlinked", "done"]


@pytest.mark.parametrize(
    "crash_after", range(1, len(MERGE_STEPS) + 1), ids=lambda k: f"{k}-{MERGE_STEPS[k - 1]}"
)
def test_a_crash_at_any_step_of_a_merge_never_shows_a_row_twice_and_the_next_run_repairs_it(
    tmp_path: Path, crash_after: int
) -> None:
    from evkit.store.compact import merge_steps  # imported here: the file also runs on old versions
    from evkit.store.parts import inspect_parts

    _fill(tmp_path, days_ago=1, parts=2)
    before = scan(tmp_path, dedupe=False).collect().sort("raw")
    day = _yesterday(tmp_path)
    parts = sorted(day.glob("part-*.parquet"))
    inputs, bystander = parts[:3], parts[3]  # a part the merge did not list must survive whatever happens
    steps = merge_steps(day, inputs, inspect_parts(inputs).schema)
    done = [next(steps)[0] for _ in range(crash_after)]
    assert done == MERGE_STEPS[:crash_after]
    del steps  # the process dies here: nothing after this step runs, no clean-up
    assert_frame_equal(scan(tmp_path, dedupe=False).collect().sort("raw"), before)
    assert bystander.exists()

    compact(tmp_path)  # repairs first, then merges what is left
    assert_frame_equal(scan(tmp_path, dedupe=False).collect().sort("raw"), before)
    assert [p.name for p in day.iterdir() if p.name.startswith(".")] == []
    assert len(list(day.glob("*.parquet"))) == 1


def test_empty_hidden_folders_an_older_failed_compaction_left_are_removed(tmp_path: Path) -> None:
    _fill(tmp_path, days_ago=1, parts=1)
    leftover = tmp_path / f".{_yesterday(tmp_path).name}.compacting-0badc0de"
    leftover.mkdir()
    compact(tmp_path)
    assert not leftover.exists()


def test_a_reader_that_listed_parts_a_compaction_then_removed_lists_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evkit.store import reader

    _fill(tmp_path, days_ago=1, parts=3)
    before = scan(tmp_path, dedupe=False).collect().sort("raw")
    real_live_parts = reader.live_parts
    compactions: list[int] = []

    def listing_then_a_whole_compaction(root: Path) -> list[Path]:
        files = real_live_parts(root)
        if not compactions:  # a compaction runs from start to end right after this reader listed
            compactions.append(len(compact(tmp_path).days))
        return files

    monkeypatch.setattr(reader, "live_parts", listing_then_a_whole_compaction)
    after = scan(tmp_path, dedupe=False).collect().sort("raw")
    assert compactions == [1]
    assert_frame_equal(after, before)


def test_with_skip_damaged_a_day_that_cannot_be_merged_is_left_and_the_others_are_compacted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(REPO_ROOT / "data" / "sample-session", tmp_path, dirs_exist_ok=True)
    part = sorted((tmp_path / "date=2026-11-02").glob("part-*.parquet"))[1]
    _corrupt_pages(part)
    before = _tree(tmp_path / "date=2026-11-02")
    assert main(["compact", str(tmp_path), "--quiet", "--skip-damaged"]) == 0
    others = [
        len(list((REPO_ROOT / "data" / "sample-session" / f"date={day}").glob("part-*.parquet")))
        for day in ("2026-11-03", "2026-11-04")
    ]
    out = capsys.readouterr().out
    # 2026-11-03 merged, 2026-11-04 (one capture part) sorted, 2026-11-02 named as left unmerged
    assert f"compacted 2 day(s): {sum(others)} parts -> 2" in out
    assert "date=2026-11-02: a part could not be read while merging" in out
    assert _tree(tmp_path / "date=2026-11-02") == before
