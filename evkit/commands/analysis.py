"""``evkit sessions DIR`` (charging sessions as a table, JSON, CSV or Parquet) and ``evkit latency DIR``.

Exit codes: 0 done; 2 the directory has no Parquet, lacks required columns, is empty, or an option is
invalid (the message says which).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TextIO

import polars as pl

from evkit.commands._args import number
from evkit.commands._billing import (
    add_tariff_options,
    resolve_tariff,
    tariff_of,
    with_currency,
    with_home_figures,
    zone_of,
)
from evkit.commands._cluster import add_dask, latency_on_dask, sessions_on_dask
from evkit.commands._dataset import add_skip_damaged, reading_whole_parts
from evkit.commands._inputs import output_file
from evkit.commands._narrow import CHARGER_HELP, add_narrowing, say_absent, time_window
from evkit.commands._records import as_records, write_json_frame
from evkit.commands._session_text import EVCC_COLUMNS, evcc_rows, session_table
from evkit.commands._table import render
from evkit.display import csv_safe
from evkit.errors import ConfigError, DatasetError, first_line

if TYPE_CHECKING:
    from evkit.analysis.buckets import Reading
    from evkit.analysis.tariff import Tariff

#: Records of a frame (``evkit statement`` uses it too).
_as_records = as_records


def register(top: Any, groups: dict[str, Any]) -> None:
    """Add ``sessions`` and ``latency`` to the top level."""
    del groups
    _register_sessions(top)
    _register_latency(top)


def _register_sessions(top: Any) -> None:
    parser: argparse.ArgumentParser = top.add_parser(
        "sessions",
        help="charging sessions of a dataset (plug-in to unplug, energy cross-checked)",
        description=(
            "List the charging sessions in a Parquet dataset: per charger, plug-in to unplug, with energy "
            "from the session counter cross-checked against the lifetime meter and the power integral. "
            "Example: `evkit sessions data --format csv --columns evcc --out sessions.csv`."
        ),
        epilog="Exit 0 done; 2 no Parquet, missing columns, empty dataset or a bad option.",
    )
    parser.add_argument("directory", metavar="DIR", help="dataset directory (or one Parquet file)")
    parser.add_argument(
        "--format",
        choices=("table", "json", "csv", "parquet"),
        default="table",
        help="output (default table)",
    )
    parser.add_argument(
        "--columns",
        choices=("evkit", "evcc"),
        default="evkit",
        help="csv only: evkit's columns (default) or evcc's session export headers",
    )
    parser.add_argument(
        "--out",
        type=output_file,
        metavar="FILE",
        help="write to FILE instead of the terminal (needed for parquet)",
    )
    parser.add_argument(
        "--from",
        dest="start",
        metavar="TIME",
        help=(
            "sessions starting at or after TIME (without a zone: UTC, or --tz): the same sessions, "
            "figures and flags as without the option, reading less: op modes and phases of the whole "
            "data, meter readings from the session before, the other rows from TIME on"
        ),
    )
    parser.add_argument(
        "--to",
        dest="end",
        metavar="TIME",
        help=(
            "sessions starting before TIME; rows are read up to the end of the last of them (counters, "
            "tokens and meter readings up to the next session; everything when one is still connected)"
        ),
    )
    parser.add_argument("--charger", action="append", metavar="ID", help=CHARGER_HELP)
    parser.add_argument(
        "--gap-minutes",
        type=number(above=0, max=525_600),  # up to a year
        default=20.0,
        metavar="M",
        help="silence that counts as a hole in the data (default 20; idle chargers report every ~15)",
    )
    add_tariff_options(parser)
    add_skip_damaged(parser)
    add_dask(parser)
    parser.set_defaults(func=_sessions_command, quick_exit=True)


def _register_latency(top: Any) -> None:
    parser: argparse.ArgumentParser = top.add_parser(
        "latency",
        help="latency per hop (device -> cloud -> capture) with percentiles",
        description=(
            "Latency of every message per hop: device_to_cloud (ArrivalTime - device time), "
            "cloud_to_capture (our receive time - ArrivalTime) and end_to_end; n, p50, p95, p99 and max "
            "(linear interpolation, as numpy). Negative values are clock skew: counted in negative_n, kept. "
            "Easee stamps 122 EnergyPerHour and 124 LifetimeEnergy on the hour and sends them minutes "
            "later: they are reported apart (scheduled_* hops; 'scheduled' in JSON), not as transport."
        ),
        epilog="Exit 0 done; 2 no Parquet, missing columns or an empty dataset.",
    )
    parser.add_argument("directory", metavar="DIR", help="dataset directory (or one Parquet file)")
    parser.add_argument("--format", choices=("table", "json"), default="table", help="output (default table)")
    parser.add_argument("--by", choices=("charger", "observation", "hour"), help="also break down by this")
    parser.add_argument(
        "--out", type=output_file, metavar="FILE", help="write to FILE instead of the terminal"
    )
    add_narrowing(parser)
    add_skip_damaged(parser)
    add_dask(parser)
    parser.set_defaults(func=_latency_command, quick_exit=True)


# ------------------------------------------------------------------------------------------ helpers


def load(directory: str) -> pl.LazyFrame:
    """The dataset at ``directory``; DatasetError when it has no Parquet, misses columns or is empty."""
    from evkit.store.frame_facts import has_rows
    from evkit.store.reader import scan
    from evkit.store.schema import REQUIRED_COLUMNS, contract_error

    # evkit.analysis handles repeated messages itself (cheaply); the store's generic redelivery filter
    # is a window over every row that would only slow the work down.
    lf = scan(directory, dedupe=False)
    if error := contract_error(lf.collect_schema(), directory, REQUIRED_COLUMNS):  # every column's kind
        raise DatasetError(error)
    try:
        empty = not has_rows(lf)  # from the footers the check read: no data read
    except pl.exceptions.PolarsError as exc:
        raise DatasetError(f"cannot read the Parquet files below {directory}: {exc}") from exc
    if empty:
        raise DatasetError(f"{directory} holds no rows (an empty dataset)")
    return lf  # times as the contract's, whatever a hand-made store keeps (``scan``)


@contextmanager
def _analysing(where: str) -> Iterator[None]:
    """A Polars error inside (a column of an unexpected type, a hand-made file) becomes a DatasetError
    naming ``where`` and the error's first line, not a crash."""
    try:
        yield
    except pl.exceptions.PolarsError as exc:
        raise DatasetError(f"cannot analyse {where}: {first_line(exc)}") from exc


def _collect(lf: pl.LazyFrame, where: str) -> pl.DataFrame:
    """Run the query (errors as in :func:`_analysing`)."""
    with _analysing(where):
        return lf.collect()


def _collect_in_buckets(
    lf: pl.LazyFrame,
    analyse: Callable[[pl.LazyFrame], pl.LazyFrame],
    where: str,
    bar: Any = None,
    reading: Reading | None = None,
) -> pl.DataFrame:
    """``_collect(analyse(lf))`` for a per-charger analysis, in charger buckets when the data is large
    (each bucket shown on ``bar``, a progress bar, as it is done). ``reading``: the plans of what
    ``analyse`` reads, when it collects inside (``buckets.in_charger_buckets``)."""
    from evkit._steps import SPLITTING
    from evkit.analysis import buckets

    def progress(done: int, total: int) -> None:
        bar.set_postfix_str(f"bucket {min(done + 1, total)} of {total}")

    def splitting(done: int, total: int | None) -> None:
        bar.set_postfix_str(f"{SPLITTING}: {_millions(done)} of {_millions(total or done)} rows")

    with _analysing(where):
        return buckets.in_charger_buckets(
            lf,
            analyse,
            buckets.ROWS_PER_BUCKET,
            progress=progress if bar is not None else None,
            splitting=splitting if bar is not None else None,
            reading=reading,
        )


def _millions(rows: int) -> str:
    return f"{rows / 1e6:.1f}M" if rows >= 100_000 else f"{rows:,}"


def _latency_stats(lf: pl.LazyFrame, by: str | None, where: str, bar: Any = None) -> pl.DataFrame:
    """``latency_stats`` of ``lf``; a large dataset in charger buckets with two-pass percentiles, each
    bucket shown on ``bar`` (a tqdm bar) as it is done."""
    from evkit._steps import stepped
    from evkit.analysis.latency_buckets import latency_stats_in_buckets

    progress = stepped(bar, "latency") if bar is not None else None
    with _analysing(where):
        return latency_stats_in_buckets(lf, by=by, progress=progress)


@contextmanager
def _output(path: str | None) -> Iterator[TextIO]:
    if path is None:
        try:
            yield sys.stdout
            sys.stdout.flush()
        except BrokenPipeError:
            # the reader (head, less) went away: stop quietly, as other command-line tools do
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return
    from evkit._replace import replacing

    try:
        with replacing(path) as tmp, tmp.open("w", encoding="utf-8", newline="") as handle:
            yield handle
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from exc


# ------------------------------------------------------------------------------------------ sessions


class _NoBar:
    """What the sessions command calls on its progress bar, doing nothing (stderr is no terminal)."""

    def update(self, n: int = 1) -> None:
        del n

    def set_postfix_str(self, text: str) -> None:
        del text


def _progress(total: int, desc: str) -> AbstractContextManager[Any]:
    """A progress bar on stderr when it is a terminal (tqdm hides itself otherwise: then it is not even
    imported, a saving at start-up), else a stand-in doing nothing."""
    if not sys.stderr.isatty():
        return nullcontext(_NoBar())
    from tqdm.std import tqdm  # tqdm.auto would load asyncio

    bar: AbstractContextManager[Any] = tqdm(total=total, desc=desc, unit="step", file=sys.stderr, leave=False)
    return bar


def _sessions_command(args: argparse.Namespace) -> int:
    if args.format == "parquet" and not args.out:
        raise ConfigError("--format parquet needs --out FILE (Parquet is binary)")
    if args.columns == "evcc" and args.format != "csv":
        raise ConfigError("--columns evcc applies to --format csv only")
    tariff = tariff_of(args)
    start, end = time_window(args, args.tz)
    if getattr(args, "dask", None):
        return sessions_on_dask(args, start, end, tariff)
    return reading_whole_parts(args.directory, lambda: _sessions_here(args, start, end, tariff))


def _sessions_here(
    args: argparse.Namespace, start: datetime | None, end: datetime | None, tariff: Tariff | None
) -> int:
    """``evkit sessions`` on this machine, once the options are checked."""
    with _progress(3, "sessions") as bar:
        bar.set_postfix_str("reading")
        lf = whole = load(args.directory)
        if args.charger:
            from evkit.analysis._prep import narrowed

            lf = narrowed(lf, args.charger)  # only the row groups that may hold them are read
        bar.update()
        bar.set_postfix_str("sessionising")
        # evcc's site (its own device id) publishes the tariff of every loadpoint: read from the whole
        # recording, not from the rows of the chosen chargers
        tariff = tariff or resolve_tariff(args, whole)
        gap = timedelta(minutes=args.gap_minutes)
        frame = sessions_in_buckets(
            lf, start=start, end=end, gap=gap, tariff=tariff, where=args.directory, bar=bar
        )
        frame = _collect(with_home_figures(with_currency(frame, tariff).lazy(), lf), args.directory)
        bar.update()
        bar.set_postfix_str("writing")
        _write_sessions(frame, args)
        bar.update()
    say_absent(whole, args.charger, args.directory, seen=frame["charger_id"].unique())
    if args.out:
        print(f"{frame.height} session(s) written to {args.out}", file=sys.stderr)
    if "cost" in frame.columns and args.format != "table" and (unpriced := frame["cost"].null_count()):
        print(f"{unpriced} session(s) have no cost: see cost_note", file=sys.stderr)
    return 0


def sessions_in_buckets(
    lf: pl.LazyFrame,
    *,
    start: datetime | None,
    end: datetime | None,
    gap: timedelta,
    tariff: Tariff | None,
    where: str,
    bar: Any = None,
) -> pl.DataFrame:
    """The sessions of ``lf`` starting in [``start``, ``end``) (each optional; only the rows they depend
    on are read), priced at ``tariff`` when given, sorted by charger and start: a large dataset in
    buckets of chargers, one after another (memory follows a bucket, not the data; each bucket's
    sessions are priced in it, since a session's cost reads only its own charger's readings)."""
    from evkit.analysis.session_window import sessions_starting

    def found(part: pl.LazyFrame) -> pl.LazyFrame:
        # priced sessions keep their next start: their readings run until it, in or after the window
        return sessions_starting(part, start, end, gap, next_start=tariff is not None)

    analyse, reading = _priced(found, tariff) if tariff is not None else (found, None)
    found_all = _collect_in_buckets(lf, analyse, where, bar, reading)
    return found_all.sort("charger_id", "started_at")


def _priced(
    found: Callable[[pl.LazyFrame], pl.LazyFrame], tariff: Tariff
) -> tuple[Callable[[pl.LazyFrame], pl.LazyFrame], Reading]:
    """The sessions ``found`` of a bucket's rows priced in the bucket, and the plans of what that reads
    (pricing collects inside: its own plan does not show them)."""
    from evkit.analysis.cost import NEXT_START, readings_priced, session_costs

    def analyse(part: pl.LazyFrame) -> pl.LazyFrame:
        return session_costs(found(part), tariff, part).drop(NEXT_START, strict=False)

    def reading(part: pl.LazyFrame) -> list[pl.LazyFrame]:
        return [found(part), *readings_priced(part)]

    return analyse, reading


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _write_sessions(frame: pl.DataFrame, args: argparse.Namespace) -> None:
    if args.format == "parquet":
        from evkit._replace import replacing

        try:
            with replacing(args.out) as tmp:
                frame.write_parquet(tmp)
        except OSError as exc:
            raise ConfigError(f"cannot write {args.out}: {exc.strerror or exc}") from exc
        return
    with _output(args.out) as out:
        if args.format == "json":
            write_json_frame(frame, out)
            out.write("\n")
        elif args.format == "csv":
            # Ids and tokens starting like a formula (=, +, -, @) are read as text by spreadsheets.
            safe = csv_safe(frame)
            writer = csv.writer(out)
            if args.columns == "evcc":
                writer.writerow(EVCC_COLUMNS)
                writer.writerows(evcc_rows(safe, zone_of(args)))
            else:
                records = _as_records(safe)
                writer.writerow(frame.columns)
                writer.writerows([[_csv_cell(v) for v in r.values()] for r in records])
        else:
            out.write(session_table(frame, zone_of(args)) + "\n")


# ------------------------------------------------------------------------------------------- latency


def latency_summary(lf: pl.LazyFrame, by: str | None, bar: Any = None) -> dict[str, Any]:
    """``{hop: stats}`` (no ``by``) or ``{hop: [stats per group]}``; every observation hop present (n=0
    when empty), ``command_roundtrip`` / ``command_readback`` only when the dataset holds commands.
    Observations Easee stamps on a schedule (122, 124) are not in the transport hops: ``scheduled``
    holds their own ``device_to_cloud`` and ``end_to_end`` statistics and lists the ids. ``bar``: a
    tqdm bar the buckets are shown on."""
    return summarize_latency(_latency_stats(lf, by, "the dataset", bar), by)


def summarize_latency(stats: pl.DataFrame, by: str | None) -> dict[str, Any]:
    """:func:`latency_summary` of statistics already computed (locally or on a cluster)."""
    from evkit.analysis._ids import SCHEDULED
    from evkit.analysis.schema import COMMAND_HOP, HOPS, READBACK_HOP, SCHEDULED_HOPS

    records = _as_records(stats)
    present = {r["hop"] for r in records}
    empty = {"n": 0, "p50_s": None, "p95_s": None, "p99_s": None, "max_s": None, "negative_n": 0}

    def block(hop: str) -> Any:
        rows = [{k: v for k, v in r.items() if k != "hop"} for r in records if r["hop"] == hop]
        if by is None:
            return rows[0] if rows else dict(empty)
        return rows

    result: dict[str, Any] = {hop: block(hop) for hop in HOPS}
    scheduled: dict[str, Any] = {"observation_ids": list(SCHEDULED)}
    scheduled.update({hop.removeprefix("scheduled_"): block(hop) for hop in SCHEDULED_HOPS})
    result["scheduled"] = scheduled
    for hop in (COMMAND_HOP, READBACK_HOP):
        if hop in present:
            result[hop] = block(hop)
    return result


def _latency_command(args: argparse.Namespace) -> int:
    start, end = time_window(args)
    if getattr(args, "dask", None):
        return latency_on_dask(args, start, end)
    return reading_whole_parts(args.directory, lambda: _latency_here(args, start, end))


def _latency_here(args: argparse.Namespace, start: datetime | None, end: datetime | None) -> int:
    """``evkit latency`` on this machine, once the options are checked."""
    from tqdm.auto import tqdm

    from evkit.analysis._prep import narrowed

    with tqdm(total=2, desc="latency", unit="step", file=sys.stderr, disable=None, leave=False) as bar:
        whole = load(args.directory)
        lf = narrowed(whole, args.charger, start, end)
        bar.update()
        if args.format == "json":
            payload = latency_summary(lf, args.by, bar)
            text = json.dumps(payload, indent=2)
        else:
            text = latency_text(_latency_stats(lf, args.by, args.directory, bar))
        bar.update(bar.total - bar.n)
    with _output(args.out) as out:
        out.write(text + "\n")
    say_absent(whole, args.charger, args.directory, start=start, end=end)
    return 0


def latency_text(stats: pl.DataFrame) -> str:
    """The latency statistics as ``evkit latency`` prints them (local or on a cluster: the same text)."""
    text = render(stats.with_columns(pl.col(pl.Float64).round(3)), tbl_hide_column_data_types=False)
    skew = int(stats["negative_n"].sum()) if stats.height else 0
    if skew:
        text += f"\n{skew} negative latency value(s): clocks disagree (clock skew); kept in the figures."
    return text
