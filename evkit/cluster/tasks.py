"""What runs on a Dask worker: each function reads the store itself (a path every worker sees, or
``s3://`` with the worker's own ``AWS_*`` environment) and runs the same Polars functions as a local
run. Arguments and results are small: part lists, charger ids, finished tables."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from evkit.cluster.plan import ChargerGroup

if TYPE_CHECKING:
    from evkit.analysis.latency_buckets import Plan
    from evkit.analysis.tariff import Tariff

#: (part files or s3:// URLs, their merged schema, by part the columns read as nulls: holding no
#: value, of another type; ``Inspection.empty``; the damaged parts skipped, each with its reason), as
#: listed and checked once per run.
Parts = tuple[list[str], dict[str, pl.DataType], dict[str, frozenset[str]], list[str]]


def list_parts(source: str, skip_damaged: bool, marked: dict[str, str] | None = None) -> Parts:
    """List and check the parts of ``source`` (footers only) on a worker, counting those of ``marked``
    (path: reason; parts whose data pages the client found unreadable) as damaged."""
    from evkit.store.parts import Damaged, marked_damaged
    from evkit.store.reader import check_dataset

    with marked_damaged(Damaged(path, reason) for path, reason in (marked or {}).items()):
        found = check_dataset(source, skip_damaged, say=False)  # the client names the skipped, once
    skipped = [str(d) for d in found.damaged]
    return [str(p) for p in found.good], dict(found.schema), dict(found.empty), skipped


def unreadable_task(files: list[str], by_polars: bool) -> list[tuple[str, str]]:
    """(part, why) of each of ``files`` whose data cannot be read in full: as
    ``evkit.store.pages.unreadable_parts`` finds them, by pyarrow or (``by_polars``) by Polars."""
    from evkit.store.pages import polars_problem, pyarrow_problem

    problem = polars_problem if by_polars else pyarrow_problem
    return [(part, why) for part in files if (why := problem(part)) is not None]


def _scan(parts: Parts, files: list[str] | None = None) -> pl.LazyFrame:
    """The rows of ``parts``, or of those of them in ``files``, their times in the contract's type (a
    hand-made store's nanoseconds or zone-less times, as a local command reads them: ``scan_parts``)."""
    from evkit.store.reader import scan_parts

    return scan_parts(parts[0] if files is None else files, parts[1], empty=parts[2])


def chargers_in(
    parts: Parts, files: list[str], start: datetime | None = None, end: datetime | None = None
) -> tuple[list[str], bool]:
    """(distinct charger ids, whether rows without one exist) in ``files`` (reads that column only, and
    the device time when a window [``start``, ``end``) is given: the chargers with rows in it)."""
    from evkit.analysis._prep import narrowed  # the rows themselves when there is no window

    rows = narrowed(_scan(parts, files), None, start, end)
    frame = rows.select(pl.col("charger_id").unique()).collect()
    ids = frame.get_column("charger_id")
    return sorted(ids.drop_nulls().to_list()), ids.null_count() > 0


def charger_rows_task(parts: Parts, files: list[str]) -> pl.DataFrame:
    """Rows per charger id (null: rows without one) in ``files`` (reads that column only)."""
    return _scan(parts, files).group_by("charger_id").agg(pl.len().cast(pl.Int64).alias("n")).collect()


def rows_read_task(parts: Parts, files: list[str], ranges: list[tuple[str, str]]) -> tuple[int, list[int]]:
    """(rows of ``files``, for each (first, last) charger range the rows a group filtering on it reads
    of them): footers only (``evkit.store.narrow.rows_per_range``)."""
    from evkit.store.narrow import Narrowing, rows_per_range

    del parts  # the part list travels with every task; this one reads only the footers of ``files``
    return rows_per_range(files, Narrowing.of(None, None, None), ranges)


def group_rows(
    parts: Parts, group: ChargerGroup, start: datetime | None = None, end: datetime | None = None
) -> pl.LazyFrame:
    """The rows of one group's chargers (predicate pushed into the Parquet scan), observed in
    [``start``, ``end``) when given."""
    from evkit.analysis._prep import narrowed  # the rows themselves when there is no window

    return narrowed(_scan(parts).filter(group.predicate()), None, start, end)


def sessions_task(
    parts: Parts, group: ChargerGroup, gap_s: float, tariff: Tariff | None = None, evcc_figures: bool = False
) -> pl.DataFrame:
    """The group's sessions, priced at ``tariff`` when given (a session's cost reads only its own
    charger's readings: the group prices its sessions itself), with evcc's own figures for its
    sessions when ``evcc_figures`` (``evkit.analysis.evcc_tariff.with_session_figures``)."""
    from evkit.analysis.sessions import sessions

    rows = group_rows(parts, group)
    found = sessions(rows, gap=timedelta(seconds=gap_s))
    if tariff is not None:
        from evkit.analysis.cost import session_costs

        found = session_costs(found, tariff, rows)
    if evcc_figures:
        from evkit.analysis.evcc_tariff import with_session_figures

        found = with_session_figures(found, rows)
    return found.collect()


def per_charger_task(parts: Parts, group: ChargerGroup, function: str) -> pl.DataFrame:
    """``evkit.analysis.<function>`` (one whose rows are per charger) on one group's rows."""
    from evkit import analysis

    result: pl.LazyFrame = getattr(analysis, function)(group_rows(parts, group))
    return result.collect()


#: [start, end) of device time a task reads (each optional).
Window = tuple[datetime | None, datetime | None]


def latency_hist_task(
    parts: Parts, group: ChargerGroup, keys: list[str], columns: list[str], window: Window = (None, None)
) -> pl.DataFrame:
    """Pass 1 of the exact latency percentiles on one group (its rows read once, only the ``columns``
    latency reads): its histograms (small)."""
    from evkit.analysis.latency_buckets import hop_histograms, part_latencies

    rows = group_rows(parts, group, *window)
    return hop_histograms(part_latencies(rows, keys, columns), keys[1:]).collect()


def latency_values_task(
    parts: Parts, group: ChargerGroup, plan: Plan, columns: list[str], window: Window = (None, None)
) -> pl.DataFrame:
    """Pass 2 on one group: its latencies in the bins the percentiles fall in, counted (few)."""
    from evkit.analysis.latency_buckets import part_latencies

    return plan.values_in(part_latencies(group_rows(parts, group, *window), plan.keys, columns)).collect()


def latency_group_stats_task(
    parts: Parts, group: ChargerGroup, by: Any, window: Window = (None, None)
) -> pl.DataFrame:
    """Statistics by charger of one group (exact: a charger is in one group only)."""
    from evkit.analysis.latency import latency_stats

    return latency_stats(group_rows(parts, group, *window), by=by).collect()


def per_charger_options_task(
    parts: Parts, group: ChargerGroup, function: str, options: dict[str, Any]
) -> pl.DataFrame:
    """``evkit.analysis.<function>(rows, **options)`` on one group's rows (a per-charger function)."""
    from evkit import analysis

    result: pl.LazyFrame = getattr(analysis, function)(group_rows(parts, group), **options)
    return result.collect()


def data_end_task(parts: Parts, files: list[str]) -> Any:
    """The newest device time of an Easee row in ``files`` (None without one): the end of the data,
    which ``telemetry_gaps`` measures a charger's ongoing silence up to."""
    from evkit.analysis._prep import easee_rows

    return easee_rows(_scan(parts, files)).select(pl.col("observed_at").max()).collect().item()


def quality_task(
    parts: Parts, group: ChargerGroup, expected_s: float, stale_s: float, data_end: Any
) -> pl.DataFrame:
    """``quality_summary`` of one group, ongoing silences measured up to the whole data's end."""
    from evkit.analysis.quality import quality_summary

    rows = group_rows(parts, group)
    return quality_summary(
        rows, timedelta(seconds=expected_s), timedelta(seconds=stale_s), data_end=data_end
    ).collect()
