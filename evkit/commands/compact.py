"""``evkit compact DIR``: merge a long capture's small parts into one part per finished day."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from evkit.commands._dataset import add_skip_damaged
from evkit.store.compact import CompactedDay, compact
from evkit.store.writer import store_root


def _run(args: argparse.Namespace) -> int:
    def progress(day: CompactedDay) -> None:
        if not args.quiet:
            print(f"date={day.day}: {day.parts_before} parts -> 1, {day.rows} rows", file=sys.stderr)

    done = compact(
        store_root(args.dir),
        include_today=args.include_today,
        skip_damaged=args.skip_damaged,
        on_day=progress,
    )
    if done.already_running:
        print(f"another evkit compact is already running on {args.dir}; nothing done")
        return 0
    for day in done.busy:
        print(f"date={day}: a running capture may still write into it; left for a later run")
    if not done.days:
        others = "other " if done.busy else ""
        print(f"nothing to compact in {args.dir} ({others}finished days already have one part each)")
        return 0
    parts = sum(d.parts_before for d in done.days)
    rows = sum(d.rows for d in done.days)
    print(f"compacted {len(done.days)} day(s): {parts} parts -> {len(done.days)}, {rows} rows kept")
    return 0


def register(top: Any, groups: dict[str, Any]) -> None:
    """Add ``evkit compact``."""
    del groups
    parser = top.add_parser(
        "compact",
        help="merge a dataset's small parts into one part per finished day",
        description=(
            "Rewrite each finished day (UTC, older than today, no capture still writing into it) of a "
            "dataset as one Parquet part sorted by received_at. Every row is kept; captures may keep "
            "running. Only the parts merged are removed, so a part written meanwhile is never lost; a "
            "second compaction while one runs does nothing (exit 0)."
        ),
        epilog="Exit 0 done (or already running); 1 the disk failed; 2 damaged parts (named) or no dataset.",
    )
    parser.add_argument("dir", metavar="DIR", help="dataset directory or s3://BUCKET/PREFIX")
    parser.add_argument(
        "--include-today",
        action="store_true",
        help="also compact days captures are still writing into (safe; they gain new parts again)",
    )
    add_skip_damaged(parser)
    parser.add_argument("--quiet", action="store_true", help="no line per day on stderr")
    parser.set_defaults(func=_run)
