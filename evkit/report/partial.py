"""Every analysis of the report on one charger bucket, and the buckets' results combined exactly.

A bucket is the rows of a contiguous range of chargers (``evkit.analysis.buckets``), or a Dask task's
charger group (``evkit.cluster``), or the rows without a charger. ``evkit.analysis._prep.held_rows``
reads its rows ONCE (the columns the analyses use; no raw body: none reads it) and ``analyse`` runs
every analysis on that frame in one ``pl.collect_all`` (common subplans shared). Everything the report
shows of a bucket is per charger, except:

- the overview (sums, minima, maxima: combined by the same),
- telemetry gaps: a charger silent before the data ends has an ``ongoing`` gap up to the newest
  observation of ANY charger; buckets give their inner gaps and spans, ``combine`` adds the tails,
- the connectivity figure's chargers (the most troubled of the fleet: each bucket keeps the readings
  of its own most troubled, a superset of the fleet's),
- latency percentiles (``evkit.report.latency_data``: histograms, then a second pass).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from evkit import analysis
from evkit.analysis import _ids
from evkit.analysis._prep import require
from evkit.analysis._timeline import DEFAULT_GAP, held_timeline
from evkit.analysis.connectivity import most_troubled, readings_plan, trouble_of
from evkit.analysis.exact import exact_resum, exact_sum, exact_total
from evkit.analysis.home import evcc_liveness_summary
from evkit.analysis.latency import hop_latencies
from evkit.analysis.quality import first_of, gap_counts, ongoing_gaps, quality_summary
from evkit.analysis.schema import ALL_HOPS
from evkit.analysis.sessions import sessions as sessions_of
from evkit.errors import first_line
from evkit.report import latency_data
from evkit.store.schema import replayed_rows
from evkit.store.scratch import has_room

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from evkit.analysis.tariff import Tariff

#: Observation ids the session power curve draws (and the op mode before it).
POWER_IDS = [_ids.OP_MODE, _ids.TOTAL_POWER, *_ids.PHASE_CURRENTS]

#: The session the power curve draws (a row of the sessions, as a dict) and its charger's
#: ``power_rows``.
Power = tuple[dict[str, Any], pl.DataFrame]


@dataclass
class Partial:
    """One bucket's results (small: per charger, or histograms)."""

    overview: dict[str, Any]
    sessions: pl.DataFrame
    per_day: pl.DataFrame
    hourly: pl.DataFrame | None
    summary: pl.DataFrame
    inner_gaps: pl.DataFrame
    spans: pl.DataFrame
    connected: pl.DataFrame
    liveness: pl.DataFrame
    trouble: pl.DataFrame
    readings: pl.DataFrame
    latency: list[pl.DataFrame]
    #: the bucket's latency values, kept only when the caller asks (one bucket: no second read)
    latency_values: pl.DataFrame | None = field(default=None, repr=False)
    #: where a Dask task kept them for its pass 2: (the worker's address, the file), or None
    kept_at: tuple[str, str] | None = None
    #: the bucket's session with the most energy (``session_to_plot``) and its charger's power rows:
    #: the fleet's such session is one of the buckets', whose rows need no second read of the data
    power: Power | None = None


def _overview(lf: pl.LazyFrame) -> pl.LazyFrame:
    mark = replayed_rows(lf.collect_schema().names())
    return lf.select(
        pl.len().alias("rows"),
        pl.col("charger_id").drop_nulls().n_unique().alias("chargers"),
        pl.col("received_at").min().alias("first_received"),
        pl.col("received_at").max().alias("last_received"),
        pl.col("observed_at").min().alias("first_observed"),
        pl.col("observed_at").max().alias("last_observed"),
        pl.col("error").is_not_null().sum().alias("errors"),
        (mark.sum() if mark is not None else pl.lit(0)).cast(pl.Int64).alias("replayed"),
    )


def analyse(
    frame: pl.DataFrame,
    *,
    zone: str,
    tariff: Tariff | None,
    gap: timedelta = timedelta(minutes=20),
    keep_latency: bool = False,
) -> Partial:
    """Every analysis of the report on one bucket's rows (``_prep.held_rows``)."""
    lf = require(frame)  # looked at once, not by every analysis (``store.schema.contract_frame``)
    first = first_of(frame).collect()  # in memory, at once: the quality checks' plan runs faster on it
    # the silences: found once for the sessions and the quality checks
    heard = held_timeline(frame, DEFAULT_GAP)
    queries = [
        _overview(lf),
        sessions_of(lf, gap, timeline=heard),
        analysis.energy_per_day(lf, zone=zone),
        quality_summary(lf, first=first, timeline=heard),
        heard.gaps.with_columns(pl.lit(False).alias("ongoing")),
        heard.spans,
        analysis.connectivity_summary(lf),
        evcc_liveness_summary(lf),
        hop_latencies(lf, first=first.lazy()),
        readings_plan(lf),
    ]
    if tariff is not None:
        queries.append(
            # each bucket's exact totals, which ``combine`` adds exactly (their floats would round
            # again, by how the chargers were split into buckets)
            analysis.energy_per_hour(lf)
            .group_by("hour")
            .agg(exact_sum(pl.col("energy_kwh")), exact_total(pl.col("energy_kwh")).alias("__total"))
            .sort("hour")
        )
    results = pl.collect_all(queries)
    overview, sessions, per_day, summary, inner, spans_, connected, liveness, values, readings = results[:10]
    hourly = results[10] if tariff is not None else None
    if tariff is not None:
        from evkit.analysis.cost import session_costs

        sessions = session_costs(sessions, tariff, lf).collect()
    trouble = trouble_of(readings)
    top = most_troubled(trouble)
    chosen = session_to_plot(sessions)
    del first
    latency = pl.collect_all(latency_data.pass1(values.lazy()))
    return Partial(
        overview=overview.row(0, named=True),
        sessions=sessions,
        per_day=per_day,
        hourly=hourly,
        summary=summary,
        inner_gaps=inner,
        spans=spans_,
        connected=connected,
        liveness=liveness,
        trouble=trouble,
        readings=readings.filter(pl.col("charger_id").is_in(top.implode())),
        latency=latency,
        latency_values=values if keep_latency else None,
        power=(chosen, power_rows(frame.lazy(), chosen["charger_id"])) if chosen is not None else None,
    )


class KeptLatencies:
    """Each bucket's latency values (``Partial.latency_values``) from the first pass to the second:
    with a ``folder`` (several buckets), in an uncompressed Parquet file there when a bin of the
    bucket's histograms is crowded (pass 2 may read it) and the temporary folder has room, else
    dropped (pass 2 reads the bucket and computes them again; once the folder had no room, or a write
    failed, for every later bucket too, said once); without, kept in memory (one bucket).
    A 3M-message bucket's file takes 0.35 s to write and 0.1 s to read, against 1.7 s to read the
    bucket again, deduplicate it and compute its latencies."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.files: dict[int, Path] = {}
        #: False once the folder had no room (said once, not once a bucket): no more files
        self.room = True

    def keep(self, index: int, part: Partial) -> Partial:
        """``part`` (the ``index``-th bucket's) without its values in memory, when they go to a file."""
        values = part.latency_values
        if self.folder is None or values is None:
            return part
        part.latency_values = None
        crowded = any((h["__lo"] != h["__hi"]).any() for h in part.latency)
        if not crowded or not self.room:
            return part
        self.room = has_room(int(values.estimated_size()), "pass 2 reads each bucket again")
        if self.room:
            path = self.folder / f"latency-{index:05d}.parquet"
            try:
                values.write_parquet(path, compression="uncompressed", statistics=False)
            except (OSError, pl.exceptions.PolarsError) as exc:
                # the folder filled up after all (another process, the bucket files) or went away:
                # a file is only a shortcut, pass 2 reads this bucket and the next ones again
                path.unlink(missing_ok=True)
                self.room = False
                log.warning(
                    "cannot keep a bucket's latencies in %s (%s): pass 2 reads each bucket again, which is "
                    "slower; set TMPDIR to a folder with more room",
                    self.folder,
                    first_line(exc),
                )
            else:
                self.files[index] = path
        return part

    def values(self, index: int, part: Partial) -> pl.LazyFrame | None:
        """The ``index``-th bucket's values for pass 2, or None (read the bucket again)."""
        if part.latency_values is not None:
            return part.latency_values.lazy()
        path = self.files.get(index)
        return pl.read_parquet(path).lazy() if path is not None else None


def latency_pass2(frame: pl.LazyFrame, plan: latency_data.Plan) -> list[pl.DataFrame]:
    """Pass 2 of the latency numbers on one bucket's rows (a scan or ``Partial.latency_values``)."""
    names = frame.collect_schema().names()
    # A bucket's latencies are computed once: pass 2 reads them per hop, for the positives and for the
    # heatmap (as a lazy plan they re-read and deduplicated the bucket a dozen times: 30 s, 5.9 GB)
    held = {"hour", *ALL_HOPS} <= set(names)
    values = frame if held else hop_latencies(frame).collect().lazy()
    return pl.collect_all(latency_data.pass2(values, plan))


def session_to_plot(sessions: pl.DataFrame) -> dict[str, Any] | None:
    """The Easee session with the most energy (drawn as a power curve), or None."""
    easee = sessions.filter(pl.col("started_at").is_not_null())
    if "source" in easee.columns:
        easee = easee.filter(pl.col("source").is_null() | (pl.col("source") == "easee"))
    if easee.height == 0:
        return None
    return easee.sort(pl.col("energy_kwh").fill_null(-1.0), descending=True).row(0, named=True)


def kept_power(kept: list[Power], chosen: dict[str, Any]) -> pl.DataFrame | None:
    """The power rows a bucket kept (``Partial.power``) of the ``chosen`` session, or None."""
    for session, rows in kept:
        if (session["charger_id"], session["session_id"]) == (chosen["charger_id"], chosen["session_id"]):
            return rows
    return None


def power_rows(lf: pl.LazyFrame, charger: str) -> pl.DataFrame:
    """The rows the session power curve of ``charger`` reads (power, currents, op mode)."""
    return (
        lf.filter((pl.col("charger_id") == charger) & pl.col("observation_id").is_in(POWER_IDS))
        .select("charger_id", "observed_at", "observation_id", "value")
        .collect()
    )


def _concat(frames: list[pl.DataFrame]) -> pl.DataFrame:
    return pl.concat(frames, how="vertical_relaxed") if len(frames) > 1 else frames[0]


def _min(values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _max(values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    return max(present) if present else None


@dataclass
class Combined:
    """The buckets combined: what the report shows (latency still to finish)."""

    overview: dict[str, Any]
    sessions: pl.DataFrame
    per_day: pl.DataFrame
    hourly: pl.DataFrame | None
    summary: pl.DataFrame
    gaps: pl.DataFrame
    connected: pl.DataFrame
    liveness: pl.DataFrame
    readings: pl.DataFrame
    readings_chargers: int
    #: every bucket's ``Partial.power``
    power_kept: list[Power] = field(default_factory=list)


def combine_overview(parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "rows": sum(p["rows"] for p in parts),
        "chargers": sum(p["chargers"] for p in parts),  # buckets hold disjoint chargers
        "first_received": _min([p["first_received"] for p in parts]),
        "last_received": _max([p["last_received"] for p in parts]),
        "first_observed": _min([p["first_observed"] for p in parts]),
        "last_observed": _max([p["last_observed"] for p in parts]),
        "errors": sum(p["errors"] for p in parts),
        "replayed": sum(p.get("replayed", 0) for p in parts),
    }


def telemetry_gaps(
    inner: pl.DataFrame, spans_: pl.DataFrame, expected: timedelta = DEFAULT_GAP
) -> pl.DataFrame:
    """``evkit.analysis.telemetry_gaps`` from the buckets' inner gaps and spans (see the docstring)."""
    spans_lf = spans_.lazy()
    data_end = spans_lf.select(pl.col("last_seen").max().alias("data_end"))
    tail = ongoing_gaps(spans_lf, data_end, expected).collect()
    return pl.concat([inner, tail], how="vertical_relaxed").sort("charger_id", "gap_start")


def _with_gaps(summary: pl.DataFrame, all_gaps: pl.DataFrame) -> pl.DataFrame:
    """``summary`` with its gap columns from the fleet's gaps (a bucket alone misses ongoing tails)."""
    columns = summary.columns
    per = all_gaps.group_by("charger_id").agg(gap_counts())
    fixed = summary.drop("gaps_n", "gap_s_total", "longest_gap_s").join(per, on="charger_id", how="left")
    return fixed.with_columns(pl.col("gaps_n").fill_null(0), pl.col("gap_s_total").fill_null(0.0)).select(
        columns
    )


def combine(parts: list[Partial]) -> Combined:
    """The buckets' results as one (``Partial`` s of disjoint chargers)."""
    spans_ = _concat([p.spans for p in parts])
    all_gaps = telemetry_gaps(_concat([p.inner_gaps for p in parts]), spans_)
    summary = _with_gaps(_concat([p.summary for p in parts]).sort("charger_id"), all_gaps)
    trouble = _concat([p.trouble for p in parts])
    top = most_troubled(trouble)
    hourly = None
    if parts[0].hourly is not None:
        hourly = (
            _concat([p.hourly for p in parts if p.hourly is not None])
            .group_by("hour")
            .agg(exact_resum(pl.col("__total"), pl.col("energy_kwh").sum()).alias("energy_kwh"))
            .sort("hour")
        )
    return Combined(
        overview=combine_overview([p.overview for p in parts]),
        sessions=_concat([p.sessions for p in parts]).sort("charger_id", "started_at", maintain_order=True),
        per_day=_concat([p.per_day for p in parts]).sort("charger_id", "day", maintain_order=True),
        hourly=hourly,
        summary=summary,
        gaps=all_gaps,
        connected=_concat([p.connected for p in parts]).sort("charger_id", maintain_order=True),
        liveness=_concat([p.liveness for p in parts]),
        readings=_concat([p.readings for p in parts]).filter(pl.col("charger_id").is_in(top.implode())),
        readings_chargers=trouble.height,
        power_kept=[p.power for p in parts if p.power is not None],
    )


__all__ = [
    "Combined",
    "Partial",
    "Power",
    "analyse",
    "combine",
    "kept_power",
    "latency_pass2",
    "power_rows",
    "session_to_plot",
]
