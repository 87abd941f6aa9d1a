"""The explorer's store summaries on disk, so a new kernel does not read a fleet's month again.

A summary that took long to compute (``WORTH_S``) is written as a few small Parquet files under
``$EVKIT_CACHE_DIR/explore`` (default ``$XDG_CACHE_HOME/evkit`` or ``~/.cache/evkit``;
``EVKIT_CACHE_DIR=`` (empty) turns the cache off). Its key is the store's listing (every part's path,
size and modification time) and a stamp of the code that computes it (evkit's analysis, store and
summary modules): a new part, a compaction or an evkit upgrade is a miss, never a stale answer. One
entry is kept per store (the newest). What it holds is derived data of the store (charger ids, times,
counts), never credentials. An unreadable entry is ignored and the store read again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from evkit.explore.summary import Listing, StoreSummary

#: Summaries computed faster than this are not written (a small or recording store: cheap to redo).
WORTH_S = 3.0
FORMAT = 1
_FRAMES = ("sessions", "energy_hours", "quality_hours", "gaps", "latency_hours")


def cache_root() -> Path | None:
    """Where summaries are kept, or ``None`` when ``EVKIT_CACHE_DIR`` is set empty (cache off)."""
    configured = os.environ.get("EVKIT_CACHE_DIR")
    if configured is not None:
        return Path(configured).expanduser() / "explore" if configured.strip() else None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "evkit" / "explore"


def _code_stamp() -> list[tuple[str, int, int]]:
    package = Path(__file__).resolve().parent.parent
    files = sorted(
        [*package.glob("analysis/*.py"), *package.glob("store/*.py"), package / "explore" / "summary.py"]
    )
    stamp = []
    for path in files:
        stat = path.stat()
        stamp.append((path.relative_to(package).as_posix(), stat.st_size, stat.st_mtime_ns))
    return stamp


def _key(store: str, listing: Listing) -> str:
    text = json.dumps([FORMAT, store, [list(part) for part in listing], _code_stamp()])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def load(store: str, listing: Listing) -> StoreSummary | None:
    """The cached summary of ``store`` with exactly this ``listing``, or ``None``."""
    from evkit.explore.summary import StoreSummary

    root = cache_root()
    if root is None:
        return None
    entry = root / _key(store, listing)
    try:
        meta = json.loads((entry / "meta.json").read_text())
        frames = {name: pl.read_parquet(entry / f"{name}.parquet") for name in _FRAMES}
        return StoreSummary(
            chargers=list(meta["chargers"]),
            first_seen=_time(meta["first_seen"]),
            last_seen=_time(meta["last_seen"]),
            rows=int(meta["rows"]),
            replayed=int(meta["replayed"]),
            **frames,
        )
    except (OSError, ValueError, KeyError, TypeError, pl.exceptions.PolarsError):
        return None  # no entry, or one that cannot be read: the store is read again


def save(summary: StoreSummary, store: str, listing: Listing) -> Path | None:
    """Write ``summary`` (replacing this store's older entry); the entry's directory, or ``None`` when
    the cache is off or cannot be written (the explorer works the same, only the next open is slower)."""
    root = cache_root()
    if root is None:
        return None
    entry = root / _key(store, listing)
    try:
        root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".writing-", dir=root))
        for name in _FRAMES:
            frame: pl.DataFrame = getattr(summary, name)
            frame.write_parquet(work / f"{name}.parquet")
        meta: dict[str, Any] = {
            "store": store,
            "chargers": summary.chargers,
            "first_seen": summary.first_seen.isoformat() if summary.first_seen else None,
            "last_seen": summary.last_seen.isoformat() if summary.last_seen else None,
            "rows": summary.rows,
            "replayed": summary.replayed,
        }
        (work / "meta.json").write_text(json.dumps(meta))
        for older in root.iterdir():  # one entry per store: the newest
            if older.is_dir() and older.name != work.name and _store_of(older) == store:
                shutil.rmtree(older, ignore_errors=True)
        work.rename(entry)
    except OSError:
        if "work" in locals():
            shutil.rmtree(work, ignore_errors=True)
        return None
    return entry


def _store_of(entry: Path) -> str | None:
    try:
        found = json.loads((entry / "meta.json").read_text()).get("store")
    except (OSError, ValueError, AttributeError):
        return None
    return found if isinstance(found, str) else None


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


__all__ = ["WORTH_S", "cache_root", "load", "save"]
