"""Merge the many small parts of a long capture into one part per day.

A capture flushes often (acknowledging only what is on disk), so a day of steady traffic leaves
thousands of small files; scans slow down with the file count. Compaction rewrites each finished day
(``date=YYYY-MM-DD`` older than today, UTC, where no capture writes any more) into one part sorted by
``received_at``, keeping every row and every byte of every column.

The swap is two renames: the merged day is built in a hidden directory, the old directory is renamed
away, the new one takes its name, then the old one is removed. A reader never sees a row twice; it may
miss a day for the instant between the renames.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from evkit.errors import DatasetError, StoreError
from evkit.store.reader import union_schema
from evkit.store.writer import fsync_path


@dataclass(frozen=True)
class CompactedDay:
    """What compaction did to one day."""

    day: str
    parts_before: int
    rows: int


def _day_of(directory: Path) -> date | None:
    name = directory.name
    if not name.startswith("date="):
        return None
    try:
        return date.fromisoformat(name.removeprefix("date="))
    except ValueError:
        return None


def compactable_days(root: Path | str, include_today: bool = False) -> list[Path]:
    """Day directories below ``root`` holding more than one part, finished days only by default."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root} is not a dataset directory")
    today = datetime.now(UTC).date()
    days = []
    for directory in sorted(root.glob("date=*")):
        day = _day_of(directory)
        if day is None or not directory.is_dir() or (day >= today and not include_today):
            continue
        if len(list(directory.glob("part-*.parquet"))) > 1:
            days.append(directory)
    return days


def compact_day(directory: Path) -> CompactedDay:
    """Rewrite one day directory as a single part sorted by ``received_at``."""
    parts = sorted(directory.glob("part-*.parquet"))
    rows = 0
    staging = directory.with_name(f".{directory.name}.compacting-{uuid.uuid4().hex[:8]}")
    retired = directory.with_name(f".{directory.name}.retired-{uuid.uuid4().hex[:8]}")
    try:
        staging.mkdir()
        target = staging / f"part-compacted-{uuid.uuid4().hex[:12]}.parquet"
        schema = union_schema(parts)
        frame = pl.scan_parquet(parts, schema=schema, missing_columns="insert", hive_partitioning=False)
        frame.sort("received_at", maintain_order=True).sink_parquet(target, compression="zstd")
        rows = pl.scan_parquet(target).select(pl.len()).collect().item()
        expected = frame.select(pl.len()).collect().item()
        if rows != expected:
            raise StoreError(f"compaction of {directory} wrote {rows} rows instead of {expected}")
        fsync_path(target)
        fsync_path(staging, directory=True)
        directory.rename(retired)
        staging.rename(directory)
        fsync_path(directory.parent, directory=True)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise StoreError(f"cannot compact {directory}: {exc.strerror or exc}") from exc
    shutil.rmtree(retired, ignore_errors=True)
    return CompactedDay(day=directory.name.removeprefix("date="), parts_before=len(parts), rows=rows)


def compact(root: Path | str, include_today: bool = False) -> list[CompactedDay]:
    """Compact every finished day of the dataset at ``root``; returns what was done per day."""
    return [compact_day(directory) for directory in compactable_days(root, include_today)]
