"""``evkit compact DIR``: merge a long capture's small parts into one sorted part per finished day."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from evkit.commands._dataset import add_skip_damaged
from evkit.secrets import mask_secrets
from evkit.store.compact import CompactedDay, Compaction, compact
from evkit.store.writer import store_root


def _what(parts: int) -> str:
    return "1 part sorted" if parts == 1 else f"{parts} parts -> 1"


def _left(done: Compaction) -> list[str]:
    """One line per thing the run left as it was (it never claims a day is done that is not)."""
    lines = [
        f"date={day}: a running capture may still write into it; left for a later run" for day in done.busy
    ]
    if done.damaged:
        lines.append(f"left {len(done.damaged)} damaged part(s) as they were (--skip-damaged):")
        lines += [f"  {mask_secrets(str(part))}" for part in done.damaged]
    lines += [
        f"date={day}: a part could not be read while merging (damaged data behind a sound footer); "
        "the day is not merged, every part left as it was"
        for day in done.unmerged
    ]
    return lines


def _run(args: argparse.Namespace) -> int:
    shown = mask_secrets(str(args.dir))  # a token or password typed into the target is never echoed

    def progress(day: CompactedDay) -> None:
        if not args.quiet:
            print(f"date={day.day}: {_what(day.parts_before)}, {day.rows} rows", file=sys.stderr)

    done = compact(
        store_root(args.dir),
        include_today=args.include_today,
        skip_damaged=args.skip_damaged,
        on_day=progress,
    )
    if done.already_running:
        print(f"another evkit compact is already running on {shown}; nothing done")
        return 0
    if done.no_parts_yet:
        print(f"nothing to compact in {shown}: no capture has written a part into it yet")
        return 0
    for line in _left(done):
        print(line)
    problems = len(done.damaged) + len(done.unmerged)
    if not done.days:
        if problems:
            print(
                f"nothing compacted in {shown}: the damaged parts and days named above are left as they were"
            )
        else:
            others = "other " if done.busy else ""
            print(
                f"nothing to compact in {shown} ({others}finished days already have one compacted part each)"
            )
        return 0
    parts = sum(d.parts_before for d in done.days)
    rows = sum(d.rows for d in done.days)
    tail = "; the damaged parts and days named above are left as they were" if problems else ""
    print(f"compacted {len(done.days)} day(s): {parts} parts -> {len(done.days)}, {rows} rows kept{tail}")
    return 0


def register(top: Any, groups: dict[str, Any]) -> None:
    """Add ``evkit compact``."""
    del groups
    parser = top.add_parser(
        "compact",
        help="merge a dataset's small parts into one sorted part per finished day",
        description=(
            "Rewrite each finished day (UTC, older than today, no capture still writing into it) of a "
            "dataset as one Parquet part sorted by charger and device time (charger_id, observed_at, "
            "received_at) with row-group statistics; a day of one part a capture wrote is sorted too, a "
            "day already compacted is left as it is. Every row is kept; captures may keep running. Only "
            "the parts merged are removed, so a part written meanwhile is never lost; a second "
            "compaction while one runs does nothing (exit 0)."
        ),
        epilog=(
            "Exit 0 done (or already running; with --skip-damaged the damaged parts and the days left "
            "unmerged are named); 1 the disk failed; 2 damaged parts (named) or no dataset (a day "
            "directory, a directory or s3:// prefix without parts in date=YYYY-MM-DD directories)."
        ),
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
