"""``evkit compact`` says what it did and what it left, refuses what is not a store, never echoes a
secret, and sorts a finished day of one capture part (a compacted day stays as it is).

Found by a hostile test: a day left with three parts was reported as "finished days already have one
part each"; a day directory, an empty directory and a mistyped S3 prefix were "nothing to compact"
(exit 0); ``s3://b/p?token=...`` was echoed; a capture's single part per day was never sorted."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from evkit.cli import main
from evkit.store import EASEE_SCHEMA, PartWriter, scan
from evkit.store.compact import compact, compactable_days
from tests.conftest import REPO_ROOT
from tests.store.test_compact import _corrupt_pages, _fill, _tree, _yesterday

SECRET = "SeCrEt99"
KEY = ["charger_id", "observed_at", "received_at"]


def _unsorted_day(root: Path, rows: int = 3_000, capture_id: str | None = None) -> Path:
    """Yesterday as one capture part in arrival order: device times and chargers shuffled."""
    day = (datetime.now(UTC) - timedelta(days=1)).replace(hour=3, minute=0, second=0, microsecond=0)
    frame = pl.DataFrame(
        {
            "received_at": [day + timedelta(seconds=i) for i in range(rows)],
            "routing_key": [f"EH{i % 13:02d}.O.120" for i in range(rows)],
            "raw": [f"u-{i}".encode() for i in range(rows)],
            "charger_id": [None if i % 101 == 0 else f"EH{(i * 7) % 13:02d}" for i in range(rows)],
            "observed_at": [day - timedelta(seconds=(i * 7919) % rows) for i in range(rows)],
        }
    )
    frame = frame.with_columns(
        pl.lit(None, dtype=dtype).alias(name)
        for name, dtype in EASEE_SCHEMA.items()
        if name not in frame.columns
    ).select(list(EASEE_SCHEMA))
    writer = PartWriter(root, capture_id=capture_id) if capture_id else PartWriter(root)
    writer.write(frame.cast(EASEE_SCHEMA))  # type: ignore[arg-type]
    writer.close()
    (part,) = _yesterday(root).glob("*.parquet")
    return part


def _is_sorted(part: Path) -> bool:
    key = pl.read_parquet(part).select(KEY)
    return key.sort(KEY, nulls_last=True, maintain_order=True).equals(key)


# -- 1. what was skipped is named; a day left with several parts is never called done ---------------------


def test_with_skip_damaged_the_damaged_part_is_named_on_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill(tmp_path, days_ago=1, parts=3)
    part = sorted(_yesterday(tmp_path).glob("part-*.parquet"))[1]
    part.write_bytes(part.read_bytes()[:300])  # truncated: found by the footer check
    assert main(["compact", str(tmp_path), "--quiet", "--skip-damaged"]) == 0
    out = capsys.readouterr().out
    assert str(part) in out and "damaged" in out
    assert "compacted 1 day(s): 5 parts -> 1" in out
    assert "already have one" not in out
    assert part.exists()


def test_a_day_left_unmerged_is_named_and_never_called_done(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The hostile case: damage behind a sound footer, the day's parts all stay; stdout said "nothing to
    compact (finished days already have one part each)"."""
    shutil.copytree(REPO_ROOT / "data" / "sample-session" / "date=2026-11-02", tmp_path / "date=2026-11-02")
    damaged = sorted((tmp_path / "date=2026-11-02").glob("part-*.parquet"))[1]
    _corrupt_pages(damaged)
    before = _tree(tmp_path)
    assert main(["compact", str(tmp_path), "--quiet", "--skip-damaged"]) == 0
    out = capsys.readouterr().out
    assert "date=2026-11-02" in out and "not merged" in out
    assert main(["compact", str(tmp_path), "--quiet"]) == 2  # without the flag: which part, by name
    err = capsys.readouterr().err
    assert f"damaged {damaged.name} (data page unreadable in row group" in err
    others = [p.name for p in (tmp_path / "date=2026-11-02").glob("part-*.parquet") if p != damaged]
    assert others and not any(name in err for name in others)
    assert "nothing to compact" not in out and "already have one" not in out
    assert _tree(tmp_path) == before


# -- 2. what is not a store is refused (exit 2), nothing written ------------------------------------------


def test_a_day_directory_is_refused_naming_its_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill(tmp_path, days_ago=1, parts=3)
    day = _yesterday(tmp_path)
    before = _tree(tmp_path)
    assert main(["compact", str(day), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "one day of a store" in err and f"compact the store's directory {tmp_path.resolve()}" in err
    assert _tree(tmp_path) == before


@pytest.mark.parametrize("content", ["empty", "no day directories", "empty day directory"])
def test_a_directory_without_parts_is_no_dataset(
    tmp_path: Path, content: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if content == "no day directories":
        (tmp_path / "notes.txt").write_text("x")
        (tmp_path / "2026-02-01").mkdir()
    elif content == "empty day directory":
        (tmp_path / "date=2026-02-01").mkdir()
    assert main(["compact", str(tmp_path), "--quiet"]) == 2
    assert f"{tmp_path} holds no Parquet parts" in capsys.readouterr().err


def test_a_store_whose_only_day_is_today_is_a_dataset_with_nothing_to_compact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _fill(tmp_path, days_ago=0, parts=2)
    assert main(["compact", str(tmp_path), "--quiet"]) == 0
    assert "nothing to compact" in capsys.readouterr().out


def test_a_store_a_capture_started_without_a_part_yet_is_no_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A cron compaction right after a capture started (it holds today's lease, no part flushed yet)."""
    writer = PartWriter(tmp_path)
    try:
        assert main(["compact", str(tmp_path), "--include-today", "--quiet"]) == 0
    finally:
        writer.close()
    assert "no capture has written a part into it yet" in capsys.readouterr().out


def test_an_s3_prefix_without_parts_or_of_one_day_is_refused(
    s3_dataset: str, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from evkit.store.s3write import S3PartWriter

    assert main(["compact", f"s3://{s3_bucket}/mistyped", "--quiet"]) == 2
    assert f"s3://{s3_bucket}/mistyped holds no Parquet parts" in capsys.readouterr().err
    assert main(["compact", f"{s3_dataset}/date=2026-11-03/", "--quiet"]) == 2
    assert f"compact the store's prefix {s3_dataset}" in capsys.readouterr().err
    writer = S3PartWriter(f"s3://{s3_bucket}/started", capture_id="c")  # holds today's lease, no part
    try:
        assert main(["compact", f"s3://{s3_bucket}/started", "--quiet"]) == 0
    finally:
        writer.close()
    assert "no capture has written a part into it yet" in capsys.readouterr().out


# -- 3. the target is masked wherever it is echoed ---------------------------------------------------------


def test_a_token_in_an_s3_url_is_refused_and_never_shown(
    s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compact", f"s3://{s3_bucket}/fleet?token={SECRET}", "--quiet"]) == 2
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err
    assert "?token=***" in captured.err and "no ?query" in captured.err


def test_a_password_in_a_store_path_is_never_echoed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from evkit.store.lease import try_compaction_lock

    store = tmp_path / f"u:{SECRET}@host"
    _fill(store, days_ago=1, parts=2)
    monkeypatch.chdir(tmp_path)
    target = f"u:{SECRET}@host"
    assert main(["compact", target]) == 0
    assert main(["compact", target]) == 0  # nothing to compact in <target>
    running = try_compaction_lock(store)
    assert running is not None
    with running:
        assert main(["compact", target]) == 0  # already running on <target>
    captured = capsys.readouterr()
    assert "nothing to compact in u:***@host" in captured.out and "running on u:***@host" in captured.out
    assert SECRET not in captured.out + captured.err


# -- 4. a finished day of one capture part is sorted; a compacted day is left as it is ---------------------


@pytest.mark.parametrize("sort_rows", [10**9, 500], ids=["at-once", "in-ranges"])
def test_a_day_of_one_capture_part_is_sorted_and_a_second_run_leaves_it(
    tmp_path: Path, sort_rows: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("evkit.store.compact.SORT_ROWS", sort_rows)
    part = _unsorted_day(tmp_path)
    assert not _is_sorted(part)
    before = scan(tmp_path, dedupe=False).collect().sort("raw")
    assert compactable_days(tmp_path) == [_yesterday(tmp_path)]
    assert main(["compact", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert f"{_yesterday(tmp_path).name}: 1 part sorted, 3000 rows" in captured.err
    assert "compacted 1 day(s): 1 parts -> 1, 3000 rows kept" in captured.out
    (merged,) = _yesterday(tmp_path).glob("*.parquet")
    assert merged != part and not part.exists()
    assert _is_sorted(merged)
    assert pq.ParquetFile(merged).metadata.row_group(0).column(0).statistics.has_min_max
    assert scan(tmp_path, dedupe=False).collect().sort("raw").equals(before)
    assert [p.name for p in _yesterday(tmp_path).iterdir() if p.name.startswith(".")] == []

    # compacting twice is a no-op: the compacted part is not rewritten
    tree = _tree(tmp_path)
    stamp = merged.stat().st_mtime_ns
    assert compactable_days(tmp_path) == []
    assert compact(tmp_path).days == []
    assert main(["compact", str(tmp_path)]) == 0
    assert "nothing to compact" in capsys.readouterr().out
    assert _tree(tmp_path) == tree and merged.stat().st_mtime_ns == stamp


def test_a_capture_part_named_like_a_compacted_one_is_still_sorted(tmp_path: Path) -> None:
    """The name is no proof: a capture id may be anything, so only the footer's marker is trusted."""
    part = _unsorted_day(tmp_path, capture_id="compacted")
    assert part.name.startswith("part-compacted-")
    assert [(d.parts_before, d.rows) for d in compact(tmp_path).days] == [(1, 3000)]
    (merged,) = _yesterday(tmp_path).glob("*.parquet")
    assert _is_sorted(merged)
    assert compact(tmp_path).days == []


def test_a_late_part_beside_a_compacted_one_is_merged_into_it(tmp_path: Path) -> None:
    _unsorted_day(tmp_path)
    compact(tmp_path)
    _fill(tmp_path, days_ago=1, parts=1)  # two captures each add a late part
    assert [d.parts_before for d in compact(tmp_path).days] == [3]
    (merged,) = _yesterday(tmp_path).glob("*.parquet")
    assert _is_sorted(merged) and pl.read_parquet(merged).height == 3000 + 2 * 5
    assert compact(tmp_path).days == []
