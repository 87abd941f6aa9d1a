"""``report_data``: every number and figure input of the report, computed charger bucket by charger
bucket (locally, one after another) or charger group by charger group (Dask tasks on a cluster).

Memory is bounded by design: a bucket holds about ``ROWS_PER_BUCKET`` rows, read once, every analysis
run on it (``evkit.report.partial``), and only small per-charger results and histograms are kept; the
latency percentiles are exact in a second, narrow pass (``evkit.report.latency_data``). A cluster runs
the same functions in its tasks (``evkit.cluster.report_tasks``); the client only combines.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from evkit._steps import ANALYSING, Step, splitting
from evkit.analysis import buckets
from evkit.analysis._prep import held_columns, held_rows, narrowed
from evkit.analysis.absent import absent_sentence, charger_ids, unseen, window_text
from evkit.errors import ConfigError, DatasetError
from evkit.report import latency_data, partial
from evkit.report.partial import session_to_plot
from evkit.store.manifest import read_manifest
from evkit.store.objstore import is_s3
from evkit.store.reader import scan
from evkit.store.schema import contract_frame
from evkit.store.scratch import scratch_dir
from evkit.store.writer import store_root

if TYPE_CHECKING:
    from evkit.analysis.tariff import Tariff

Source = Path | str | pl.LazyFrame | pl.DataFrame
log = logging.getLogger(__name__)

#: Rows read and analysed at once (see benchmarks/RESULTS.md: the whole process stays well under
#: 2 GiB at 6M and 60M rows; buckets of 4M rows reached 1.73 GB).
ROWS_PER_BUCKET = 3_000_000


@dataclass
class ReportData:
    """What ``build_report`` renders: frames and numbers, no HTML."""

    name: str
    manifest: dict[str, Any]
    zone: str
    overview: dict[str, Any]
    sessions: pl.DataFrame
    per_day: pl.DataFrame
    hourly: pl.DataFrame | None
    tariff: Tariff | None
    latency: latency_data.LatencyResult
    summary: pl.DataFrame
    gaps: pl.DataFrame
    connected: pl.DataFrame
    liveness: pl.DataFrame
    readings: pl.DataFrame
    readings_chargers: int
    #: (charger, rows) of the session drawn as a power curve (the one with the most energy), or None
    power: tuple[dict[str, Any], pl.DataFrame] | None


def load(source: Source) -> tuple[pl.LazyFrame, str, dict[str, Any]]:
    """(frame, how to name it, manifest) of a dataset path or an in-memory frame."""
    if isinstance(source, pl.DataFrame | pl.LazyFrame):
        # as ``scan`` checks and reads a store: pandas' nanoseconds, a local zone, ``None`` times
        return contract_frame(source), "(in-memory frame)", {}
    path = store_root(source)  # s3://bucket/prefix stays a URL
    # Not deduplicated here: every analysis collapses redeliveries itself (so the quality section can
    # count them).
    lf = scan(path, dedupe=False)  # times as the contract's, whatever a hand-made store keeps
    is_dataset = (is_s3(path) and not str(path).endswith(".parquet")) or Path(path).is_dir()
    manifest = read_manifest(path) if is_dataset else {}
    return lf, str(path), manifest


#: Home chargers whose readings mostly carry no device time (evcc: only ``updated``; go-e: none).
_HOME = ["evcc", "go-e"]


def windowed(
    whole: pl.LazyFrame, chargers: Sequence[str] | None, start: datetime | None, end: datetime | None
) -> pl.LazyFrame:
    """The rows of ``chargers`` in [``start``, ``end``): by device time (read narrowly), and home
    chargers' readings without one by when they were received (a window by device time alone left out
    every evcc session, silently)."""
    lf = narrowed(whole, chargers, start, end)
    if (start is None and end is None) or "source" not in whole.collect_schema().names():
        return lf
    received = pl.col("received_at")
    untimed = pl.col("observed_at").is_null() & pl.col("source").is_in(_HOME)
    if start is not None:
        untimed = untimed & (received >= start)
    if end is not None:
        untimed = untimed & (received < end)
    if chargers:
        untimed = untimed & pl.col("charger_id").is_in(list(chargers))
    return pl.concat([lf, whole.filter(untimed)], how="vertical")


def _local(
    lf: pl.LazyFrame,
    zone: str,
    tariff: Tariff | None,
    rows_per_bucket: int,
    progress: Step,
) -> tuple[partial.Combined, latency_data.LatencyResult]:
    filters = buckets.bucket_filters(lf, rows_per_bucket, chargerless=True)
    columns = held_columns(lf)
    with buckets.bucket_sources(lf, filters, columns, splitting=splitting(progress)) as sources:
        return _run(sources, columns, zone, tariff, progress)


def _run(
    sources: list[pl.LazyFrame],
    columns: list[pl.Expr],
    zone: str,
    tariff: Tariff | None,
    progress: Step,
) -> tuple[partial.Combined, latency_data.LatencyResult]:
    """Every bucket of ``sources`` read (``columns``: ``held_columns`` of the whole data) and
    analysed, one after another; then latency's pass 2."""
    single = len(sources) == 1
    with ExitStack() as stack:
        kept = partial.KeptLatencies(None if single else stack.enter_context(scratch_dir()))
        parts = []
        histograms = None
        progress(ANALYSING, 0, len(sources))
        for index, rows in enumerate(sources):
            part = partial.analyse(held_rows(rows, columns), zone=zone, tariff=tariff, keep_latency=True)
            parts.append(kept.keep(index, part))
            histograms = latency_data.fold(histograms, part.latency)
            part.latency = []  # folded in
            progress(ANALYSING, len(parts), len(sources))
        plan = latency_data.plan([histograms] if histograms is not None else [])
        found: list[list[pl.DataFrame]] = []
        if plan.needs_pass2:
            progress("latency percentiles, pass 2", 0, len(sources))
            for index, (rows, part) in enumerate(zip(sources, parts, strict=True)):
                values = kept.values(index, part)
                found.append(partial.latency_pass2(values if values is not None else rows, plan))
                progress("latency percentiles, pass 2", len(found), len(sources))
    return partial.combine(parts), latency_data.finish(plan, found)


def _ticking(progress: Step, tick: Callable[[], None] | None) -> Step:
    """``progress``, and ``tick()`` after each bucket analysed."""
    if tick is None:
        return progress

    def both(step: str, done: int, total: int | None) -> None:
        progress(step, done, total)
        if step == ANALYSING and done:
            tick()

    return both


def _recorded_tariff(lf: pl.LazyFrame) -> Tariff | None:
    from evkit.analysis.evcc_tariff import recorded_tariff

    return recorded_tariff(lf)


def _nothing(
    name: str,
    chargers: Sequence[str] | None,
    start: datetime | None,
    end: datetime | None,
    known: list[str] | None,
) -> str:
    """Why a report has no rows: the dataset is empty, or none of the asked chargers (or none at all
    in the window) has a row, said with the closest of the ``known`` ids the data holds."""
    if chargers:
        return absent_sentence(unseen(chargers), name, known, start, end)
    if start is not None or end is not None:
        return f"{name} has no rows{window_text(start, end)}"
    return f"{name} has no rows"


def cluster_chargers(client: Any, source: Source) -> list[str]:
    """Every charger id of ``source``, listed by the cluster's workers."""
    from evkit.cluster import chargers as listed

    return listed(client, str(source))


def report_data(
    source: Source,
    *,
    tariff: Tariff | None = None,
    zone: str = "UTC",
    client: Any = None,
    chargers: Sequence[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    rows_per_bucket: int = ROWS_PER_BUCKET,
    progress: Step = lambda _step, _done, _total: None,
    tick: Callable[[], None] | None = None,
) -> ReportData:
    """Every analysis of the report (see ``build_report``), in bounded memory (module docstring).

    With ``client`` (a ``distributed.Client``; ``source`` a path every worker sees, or ``s3://``) every
    analysis runs in the cluster's tasks, one per charger group; the client combines small results.
    ``progress`` hears each step (``evkit._steps.Step``): the rows read into bucket files, when the
    data is split into them; the buckets analysed; the buckets read again for exact percentiles.
    ``tick`` (as before ``progress``) is called after each bucket analysed."""
    known: list[str] | None = None  # every charger id of the data, once it is needed
    if client is not None:
        if isinstance(source, pl.DataFrame | pl.LazyFrame):
            raise ConfigError("a report on a Dask cluster needs a dataset path or s3:// URL, not a frame")
        from evkit.cluster.report_tasks import report_on_cluster

        name = str(store_root(source))
        is_dataset = (is_s3(name) and not name.endswith(".parquet")) or Path(name).is_dir()
        manifest = read_manifest(name) if is_dataset else {}
        known = cluster_chargers(client, source) if chargers else None
        if chargers and known is not None and not set(chargers) & set(known):
            raise DatasetError(f"{_nothing(name, chargers, start, end, known)}: nothing to report")
        combined, result, power_rows, tariff = report_on_cluster(
            client,
            source,
            zone=zone,
            tariff=tariff,
            chargers=chargers,
            start=start,
            end=end,
            rows_per_group=rows_per_bucket,
        )
        if combined.overview["rows"] == 0:
            raise DatasetError(f"{_nothing(name, chargers, start, end, known)}: nothing to report")
    else:
        whole, name, manifest = load(source)
        lf = windowed(whole, chargers, start, end)
        if lf.select(pl.len()).collect().item() == 0:
            known = charger_ids(whole) if chargers else None
            raise DatasetError(f"{_nothing(name, chargers, start, end, known)}: nothing to report")
        # evcc's site (its own device id) prices every loadpoint: read whatever the chosen chargers
        tariff = tariff if tariff is not None else _recorded_tariff(windowed(whole, None, start, end))
        combined, result = _local(lf, zone, tariff, rows_per_bucket, _ticking(progress, tick))

        def power_rows(charger: str) -> pl.DataFrame:
            return partial.power_rows(lf, charger)

    if chargers and (absent := [c for c in chargers if c not in set(combined.summary["charger_id"])]):
        known = known if known is not None else charger_ids(whole)
        log.warning(
            "%s (the report covers the other chargers)", absent_sentence(absent, name, known, start, end)
        )
    chosen = session_to_plot(combined.sessions)
    power = None
    if chosen is not None:
        # the buckets kept the rows of their own session with the most energy: the fleet's is one of
        # them (read again only when another session of as much energy was chosen)
        kept = partial.kept_power(combined.power_kept, chosen)
        power = (chosen, kept if kept is not None else power_rows(chosen["charger_id"]))
    return ReportData(
        name=name,
        manifest=manifest,
        zone=zone,
        tariff=tariff,
        latency=result,
        power=power,
        # every table and number of the combined buckets, under the same names
        **{f.name: getattr(combined, f.name) for f in fields(combined) if f.name != "power_kept"},
    )


__all__ = ["ROWS_PER_BUCKET", "ReportData", "load", "report_data", "session_to_plot", "windowed"]
