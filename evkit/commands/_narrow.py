"""``--charger``, ``--from`` and ``--to`` of the analysis commands: parsed and checked before any work
(a reversed window exits 2 with a sentence), and, after it, a sentence on stderr for each asked
charger the data has no row of (a mistyped id must not read as "no sessions")."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from evkit.errors import ConfigError
from evkit.timeutil import OutOfRange, parse_local, parse_utc

if TYPE_CHECKING:
    import polars as pl


#: ``--charger``'s help, in every command that has it.
CHARGER_HELP = "only this charger (several: repeat --charger ID, or list them after DIR: DIR --charger A B)"


def add_narrowing(parser: argparse.ArgumentParser) -> None:
    """``--charger ID`` (repeatable), ``--from TIME``, ``--to TIME``: read only those rows."""
    parser.add_argument("--charger", action="append", metavar="ID", help=CHARGER_HELP)
    parser.add_argument(
        "--from", dest="start", metavar="TIME", help="only rows the device took at or after TIME (UTC)"
    )
    parser.add_argument(
        "--to", dest="end", metavar="TIME", help="only rows the device took before TIME (UTC)"
    )


def _charger_runs(line: Sequence[str]) -> list[list[str]]:
    """The words after each ``--charger ID`` of ``line`` up to the next option (``--charger=ID`` too)."""
    runs: list[list[str]] = []
    for index, word in enumerate(line):
        if word == "--":
            break
        if word == "--charger":
            start = index + 2
        elif word.startswith("--charger="):
            start = index + 1
        else:
            continue
        end = start
        while end < len(line) and not line[end].startswith("-"):
            end += 1
        runs.append(list(line[start:end]))
    return runs


def more_chargers(args: argparse.Namespace, line: Sequence[str], extra: Sequence[str]) -> bool:
    """Whether the words argparse left over (``extra``) are more charger ids: exactly the words listed
    after ``--charger ID`` (``DIR --charger A B``, as several values follow an option), in a command
    with ``--charger``. Then ``args.charger`` holds them too. A list before DIR (``--charger A B DIR``)
    is not guessed at: argparse took B for DIR, and :func:`charger_hint` explains the refusal."""
    listed = [word for run in _charger_runs(line) for word in run]
    if getattr(args, "charger", None) is None or not listed or list(extra) != listed:
        return False
    args.charger.extend(extra)
    return True


def charger_hint(args: argparse.Namespace, line: Sequence[str]) -> str:
    """What to add to argparse's "unrecognized arguments" when ``line`` lists words after a
    ``--charger ID`` (else nothing): that one of them was taken for DIR, when it was."""
    listed = [word for run in _charger_runs(line) for word in run]
    if not listed:
        return ""
    directory = getattr(args, "directory", None) or getattr(args, "dataset", None)  # DIR's name
    taken = f"{directory} was taken for DIR: " if directory in listed else ""
    return (
        f" ({taken}--charger takes one id; for several, repeat it, --charger A --charger B,"
        " or list them after DIR: DIR --charger A B)"
    )


def parse_time(text: str, option: str, zone: str | None = None) -> datetime:
    """An ISO 8601 date or date-time; naive values are UTC, or local time in ``zone`` when given."""
    try:
        return parse_utc(text) if zone is None else parse_local(text, zone)
    except OutOfRange as exc:
        raise ConfigError(f"{option} {exc}") from exc
    except ValueError as exc:
        raise ConfigError(
            f"{option} {text!r} is not a date or time (use e.g. 2026-03-01 or 2026-03-01T08:00Z)"
        ) from exc


def time_window(args: argparse.Namespace, zone: str | None = None) -> tuple[datetime | None, datetime | None]:
    """``--from`` and ``--to`` (naive: UTC, or local time in ``zone``); ConfigError (exit 2) with a
    sentence when one is no time or ``--to`` is not after ``--from``."""
    # an empty value (a script's unset variable) is refused, not read as "no bound"
    start = parse_time(args.start, "--from", zone) if getattr(args, "start", None) is not None else None
    end = parse_time(args.end, "--to", zone) if getattr(args, "end", None) is not None else None
    if start is not None and end is not None and end <= start:
        raise ConfigError(f"--to {args.end!r} must be after --from {args.start!r}")
    return start, end


def say_absent(
    lf: pl.LazyFrame,
    chargers: Sequence[str] | None,
    where: str,
    *,
    seen: Iterable[str] = (),
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[str]:
    """Print on stderr which of ``chargers`` have no row in ``lf`` observed in [``start``, ``end``)
    (``seen``: ids known to have rows, not looked up), with the closest ids the data holds; returns
    them. Nothing is read when every charger is in ``seen``."""
    from evkit.analysis.absent import charger_ids, chargers_without_rows

    if not chargers:
        return []
    absent = chargers_without_rows(lf, chargers, seen, start, end)
    if absent:
        tell_absent(absent, where, charger_ids(lf), start, end)
    return absent


def say_absent_on_dask(
    client: Any,
    args: argparse.Namespace,
    *,
    seen: Iterable[str] = (),
    start: datetime | None = None,
    end: datetime | None = None,
    listed: Any = None,
) -> list[str]:
    """:func:`say_absent` for a run on a Dask cluster (``args.charger`` of ``args.directory``): the
    charger ids are listed by the cluster's workers (``listed``: ``evkit.cluster.listing``'s future,
    when the run listed the parts already)."""
    from evkit import cluster
    from evkit.analysis.absent import unseen

    wanted = unseen(args.charger or [], seen)
    if not wanted:
        return []
    listed = (
        listed
        if listed is not None
        else cluster.listing(client, args.directory, skip_damaged=args.skip_damaged)
    )
    every = cluster.chargers(client, args.directory, listed=listed)
    windowed = start is not None or end is not None
    has_rows = (
        cluster.chargers(client, args.directory, start=start, end=end, listed=listed) if windowed else every
    )
    absent = [c for c in wanted if c not in set(has_rows)]
    if absent:
        tell_absent(absent, args.directory, every, start, end)
    return absent


def tell_absent(
    absent: Sequence[str],
    where: str,
    known: Sequence[str],
    start: datetime | None = None,
    end: datetime | None = None,
) -> None:
    """Print ``evkit: <the sentence of evkit.analysis.absent.absent_sentence>`` on stderr."""
    from evkit.analysis.absent import absent_sentence

    print(f"evkit: {absent_sentence(absent, where, known, start, end)}", file=sys.stderr)


__all__ = [
    "CHARGER_HELP",
    "add_narrowing",
    "charger_hint",
    "more_chargers",
    "parse_time",
    "say_absent",
    "say_absent_on_dask",
    "tell_absent",
    "time_window",
]
