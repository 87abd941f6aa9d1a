from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from evkit.cli import main
from evkit.store import EASEE_SCHEMA, PartWriter, scan
from evkit.store.compact import compact, compactable_days


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


def test_compacted_part_is_sorted_by_received_at(tmp_path: Path) -> None:
    _fill(tmp_path, days_ago=3, parts=3)
    compact(tmp_path)
    (part,) = list(tmp_path.glob("date=*/*.parquet"))
    received = pl.read_parquet(part)["received_at"]
    assert received.is_sorted()


def test_cli_compact_reports_what_it_did(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fill(tmp_path, days_ago=1, parts=2)
    assert main(["compact", str(tmp_path), "--quiet"]) == 0
    assert main(["compact", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "4 parts -> 1" in out and "nothing to compact" in out


def test_cli_compact_on_a_missing_directory_exits_2(tmp_path: Path) -> None:
    assert main(["compact", str(tmp_path / "missing"), "--quiet"]) == 2
