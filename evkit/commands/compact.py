"""``evkit compact DIR``: merge a long capture's small parts into one part per finished day."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from evkit.store.compact import compact_day, compactable_days


def _run(args: argparse.Namespace) -> int:
    days = compactable_days(Path(args.dir), include_today=args.include_today)
    if not days:
        print(f"nothing to compact in {args.dir} (finished days already have one part each)")
        return 0
    parts = rows = 0
    for directory in tqdm(days, desc="compacting", unit="day", disable=args.quiet):
        done = compact_day(directory)
        parts += done.parts_before
        rows += done.rows
    print(f"compacted {len(days)} day(s): {parts} parts -> {len(days)}, {rows} rows kept")
    return 0


def register(top: Any, groups: dict[str, Any]) -> None:
    """Add ``evkit compact``."""
    del groups
    parser = top.add_parser(
        "compact",
        help="merge a dataset's small parts into one part per finished day",
        description=(
            "Rewrite each finished day (UTC, older than today) of a dataset as one Parquet part sorted by "
            "received_at. Every row is kept; captures may keep running (they write today's partition)."
        ),
    )
    parser.add_argument("dir", metavar="DIR", help="dataset directory")
    parser.add_argument(
        "--include-today", action="store_true", help="also compact today (only when no capture is writing)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=_run)
