"""What the explorer's views need, computed once per store: small frames an interaction only filters.

Reading a month of a fleet (5M rows) takes seconds however it is filtered; the explorer's views need
far less than the rows. :func:`summarise` reads the store once and keeps:

- ``sessions``: ``evkit.sessions`` of every charger (a session never spans chargers, so a selection's
  sessions are a filter of these: the chargers, and the sessions overlapping the days);
- ``energy_hours``: ``evkit.analysis.energy_per_hour`` of every charger (days in any zone are sums);
- ``quality_hours``: the data-quality counts of ``evkit.quality_summary`` per charger and UTC hour of
  device time (sums over the hours of a selection), and ``gaps``: every silence (clipped to the days);
- ``latency_hours``: the fleet's latency per hop as a histogram per UTC hour (values to two
  significant digits), drawn as the ECDF when every charger is selected;
- ``replayed``: rows a replay marked (``evkit.store.schema.replayed_rows``: the ``replayed`` column of
  MQTT rows, the ``evkit-replay`` header of AMQP rows).

:func:`store_summary` caches the result per store and per listing of its parts (path, size, mtime):
a recording that adds a part, or a compaction, makes the next call compute it again. A summary that
took long is also kept on disk (:mod:`evkit.explore.summary_cache`), so a new kernel opens the same
store at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl

from evkit.analysis import buckets
from evkit.analysis._prep import easee_rows, held_columns, held_rows, require
from evkit.analysis._timeline import held_timeline
from evkit.analysis.exact import exact_sum, seconds
from evkit.analysis.quality import (
    DEFAULT_STALE,
    SUMMARY_COLUMNS,
    UNKNOWN_CHARGER,
    _out_of_order_of,
    first_of,
    gap_counts,
    telemetry_gaps,
)
from evkit.store.reader import inspected, parquet_files, scan, skips_damaged
from evkit.store.schema import replayed_rows

#: Latencies are kept to this many significant digits in the fleet histogram (±5 % at two).
LATENCY_DIGITS = 2
#: Rows summarised at once (as the report's buckets: the whole process stays near 1.5 GB).
ROWS_PER_BUCKET = 3_000_000
#: Summaries kept in memory (most recently used), one per store listing.
KEEP_SUMMARIES = 2

_COUNTS = ("messages", "decode_errors_n", "out_of_order_n", "unknown_ids_n", "stale_n", "clock_skew_n")

Progress = Callable[[str], None]
#: A store's parts: (path, size, modification time in ns) each.
Listing = tuple[tuple[str, int, int], ...]


@dataclass(frozen=True)
class StoreSummary:
    """The small frames of one store listing (see the module docs)."""

    chargers: list[str]
    first_seen: datetime | None
    last_seen: datetime | None
    rows: int
    sessions: pl.DataFrame
    energy_hours: pl.DataFrame
    quality_hours: pl.DataFrame
    gaps: pl.DataFrame
    latency_hours: pl.DataFrame
    replayed: int

    def sessions_in(
        self, chargers: tuple[str, ...], lo: datetime | None, hi: datetime | None
    ) -> pl.DataFrame:
        """The sessions of ``chargers`` (empty: all) that overlap [``lo``, ``hi``)."""
        frame = self.sessions
        if chargers:
            frame = frame.filter(pl.col("charger_id").is_in(list(chargers)))
        if hi is not None:
            frame = frame.filter(pl.col("started_at") < hi)
        if lo is not None:
            frame = frame.filter(pl.col("ended_at").fill_null(pl.col("started_at")) >= lo)
        return frame

    def energy_days(
        self, chargers: tuple[str, ...], lo: datetime | None, hi: datetime | None, zone: str
    ) -> pl.DataFrame:
        """Energy per charger and day of ``zone`` (as ``evkit.analysis.energy_per_day``) in the window."""
        hours = _window(self.energy_hours, chargers, lo, hi)
        hour = pl.col("hour") if zone == "UTC" else pl.col("hour").dt.convert_time_zone(zone)
        return (
            hours.group_by("charger_id", hour.dt.date().alias("day"))
            .agg(
                exact_sum(pl.col("energy_kwh")),
                pl.col("source").unique().sort().str.join("+").alias("source"),
            )
            .sort("charger_id", "day")
        )

    def quality(self, chargers: tuple[str, ...], lo: datetime | None, hi: datetime | None) -> pl.DataFrame:
        """``evkit.quality_summary`` of the window: counts summed over its hours, silences clipped to it."""
        hours = _window(self.quality_hours, chargers, lo, hi)
        base = hours.group_by("charger_id").agg(
            pl.col("rows").sum().cast(pl.Int64),
            pl.col("first_seen").min(),
            pl.col("last_seen").max(),
            *[pl.col(c).sum().cast(pl.Int64) for c in _COUNTS],
        )
        gaps = self.gaps
        if chargers:
            gaps = gaps.filter(pl.col("charger_id").is_in(list(chargers)))
        start, end = pl.col("gap_start"), pl.col("gap_end")
        if lo is not None:
            start = pl.max_horizontal(start, pl.lit(lo))
        if hi is not None:
            end = pl.min_horizontal(end, pl.lit(hi))
        clipped = (
            gaps.with_columns(seconds(end - start).alias("gap_s"))
            .filter(pl.col("gap_s") > 0)
            .group_by("charger_id")
            .agg(gap_counts())
        )
        return (
            base.join(clipped, on="charger_id", how="left")
            .with_columns(
                pl.col("gaps_n").fill_null(0),
                pl.col("gap_s_total").fill_null(0.0),
                (pl.col("rows") - pl.col("messages")).alias("duplicates_n"),
            )
            .select(SUMMARY_COLUMNS)
            .sort("charger_id")
        )

    def latency_counts(self, lo: datetime | None, hi: datetime | None) -> pl.DataFrame:
        """The fleet's latency histogram in the window: ``hop``, ``latency_s``, ``n``."""
        return (
            _window(self.latency_hours, (), lo, hi)
            .group_by("hop", "latency_s")
            .agg(pl.col("n").sum())
            .sort("hop", "latency_s")
        )


def _window(
    frame: pl.DataFrame, chargers: tuple[str, ...], lo: datetime | None, hi: datetime | None
) -> pl.DataFrame:
    if chargers:
        frame = frame.filter(pl.col("charger_id").is_in(list(chargers)))
    if lo is not None:
        frame = frame.filter(pl.col("hour") >= lo)
    if hi is not None:
        frame = frame.filter(pl.col("hour") < hi)
    return frame


def _hour(column: str = "observed_at") -> pl.Expr:
    return pl.col(column).dt.truncate("1h").alias("hour")


def quality_hours(lf: pl.LazyFrame, first: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """The counts of ``evkit.quality_summary`` (gaps aside) per charger and UTC hour of device time.
    ``first``: ``first_of(lf)``, when the caller has it."""
    key = ["charger_id", "hour"]
    rows = lf.with_columns(pl.col("charger_id").fill_null(UNKNOWN_CHARGER))
    unknown = (pl.col("observation_id").is_not_null() & pl.col("observation").is_null()) | (
        pl.col("kind") == "unknown"
    )
    base = rows.group_by("charger_id", _hour()).agg(
        pl.len().cast(pl.Int64).alias("rows"),
        pl.col("observed_at").min().alias("first_seen"),
        pl.col("observed_at").max().alias("last_seen"),
        pl.col("error").is_not_null().sum().cast(pl.Int64).alias("decode_errors_n"),
    )
    first = first_of(lf) if first is None else first
    first = first.with_columns(pl.col("charger_id").fill_null(UNKNOWN_CHARGER))
    easee_first = easee_rows(first)
    stale = (pl.col("received_at") - pl.col("observed_at")) > DEFAULT_STALE
    skewed = (pl.col("arrival_time") < pl.col("observed_at")) | (
        pl.col("received_at") < pl.col("observed_at")
    )
    parts = [
        first.group_by("charger_id", _hour()).agg(
            pl.len().cast(pl.Int64).alias("messages"),
            skewed.fill_null(False).sum().cast(pl.Int64).alias("clock_skew_n"),
        ),
        easee_first.group_by("charger_id", _hour()).agg(
            stale.fill_null(False).sum().cast(pl.Int64).alias("stale_n")
        ),
        _out_of_order_of(easee_first)
        .group_by("charger_id", _hour())
        .agg(pl.len().cast(pl.Int64).alias("out_of_order_n")),
        easee_rows(lf.filter(pl.col("charger_id").is_not_null()))
        .filter(unknown)
        .group_by("charger_id", _hour())
        .agg(pl.len().cast(pl.Int64).alias("unknown_ids_n")),
    ]
    frame = base
    for part in parts:
        frame = frame.join(part, on=key, how="left", nulls_equal=True)
    return frame.with_columns(*[pl.col(c).fill_null(0) for c in _COUNTS])


def latency_hours(lf: pl.LazyFrame, first: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """``evkit.analysis.latency`` of every charger as counts per UTC hour (device time), hop and value
    (to ``LATENCY_DIGITS`` significant digits). ``first``: ``first_of(lf)``, when the caller has it."""
    from evkit.analysis.latency import latency

    value = pl.col("latency_s")
    binned = pl.when(value == 0).then(0.0).otherwise(value.round_sig_figs(LATENCY_DIGITS))
    return (
        latency(lf, first=first)
        .filter(value.is_finite())
        .group_by(_hour(), "hop", binned.alias("latency_s"))
        .agg(pl.len().cast(pl.Int64).alias("n"))
    )


def _passes(rows: pl.DataFrame, data_end: datetime | None) -> list[pl.LazyFrame]:
    """The summary's queries over ``rows`` (one charger bucket held in memory), run together."""
    from evkit.analysis import energy_per_hour
    from evkit.analysis.sessions import sessions

    lf = require(rows)  # looked at once, not by every analysis (``store.schema.contract_frame``)
    mark = replayed_rows(set(rows.columns))
    replayed = mark.sum() if mark is not None else pl.lit(0)
    first = first_of(rows)  # the quality counts and latency share one deduplication, done at once
    # and the sessions and the gaps one search for silences
    heard = held_timeline(rows)
    return [
        sessions(lf, timeline=heard),
        energy_per_hour(lf).select("charger_id", "hour", "energy_kwh", "source"),
        quality_hours(lf, first),
        telemetry_gaps(lf, data_end=data_end, timeline=heard).select("charger_id", "gap_start", "gap_end"),
        latency_hours(lf, first),
        lf.select(pl.len().cast(pl.Int64).alias("rows"), replayed.cast(pl.Int64).alias("replayed")),
    ]


def _combine(pieces: list[list[pl.DataFrame]]) -> list[pl.DataFrame]:
    """The buckets' frames as the whole store's (buckets hold disjoint chargers, in charger order)."""
    if len(pieces) == 1:
        return pieces[0]
    sessions_, energy, quality, gaps, latency, counts = (
        pl.concat(frames, how="vertical_relaxed") for frames in zip(*pieces, strict=True)
    )
    latency = latency.group_by("hour", "hop", "latency_s").agg(pl.col("n").sum())
    counts = counts.select(pl.col("rows").sum(), pl.col("replayed").sum())
    return [sessions_, energy, quality, gaps.sort("charger_id", "gap_start"), latency, counts]


def summarise(
    store: Path | str, progress: Progress | None = None, rows_per_bucket: int = ROWS_PER_BUCKET
) -> StoreSummary:
    """Read ``store`` once into a :class:`StoreSummary`; ``progress`` hears what is happening in words.

    A large store is read in charger buckets of about ``rows_per_bucket`` rows, one after another
    (``evkit.analysis.buckets``; the rows split into a temporary file per bucket in one read): memory
    follows a bucket, not the store. Each bucket is read once into memory (no raw bodies: see
    ``evkit.analysis._prep.held``) and its queries run together in Polars."""
    say = progress or (lambda _text: None)
    began = time.monotonic()
    parts = listing(store)
    size_mb = sum(size for _, size, _ in parts) / 1e6
    lf = scan(store)
    say(
        f"Reading {store} once ({len(parts):,} parts, {size_mb:,.0f} MB): the sessions, energy, quality "
        "and latency of every charger. A fleet's month (6M rows) takes about five seconds on two cores; "
        "every click after that filters what this read and answers in well under a second."
    )
    filters = buckets.bucket_filters(lf, rows_per_bucket, chargerless=True)
    data_end = None  # one bucket: its own newest observation is the store's
    if len(filters) > 1:  # a charger silent before the store ends is silent up to the store's end
        data_end = easee_rows(lf).select(pl.col("observed_at").max()).collect().item()
    pieces = []
    told = [-1]  # the split into bucket files is told by tenths of the rows it reads

    def splitting(done: int, total: int | None) -> None:
        spent = f"{time.monotonic() - began:.0f} s"
        if total is not None and done >= total:  # the last word: the rows read
            say(f"Split {store} into {len(filters)} charger buckets in {spent}.")
            return
        # by tenths of the rows from the footers (rows read twice counted twice); else every 5M rows
        step = done * 10 // max(total, 1) if total is not None else done // 5_000_000
        if step > told[0]:
            told[0] = step
            far = f"{10 * step}% of the rows read" if total is not None else f"{done:,} rows read"
            say(f"Splitting {store} into {len(filters)} charger buckets: {far} ({spent}).")

    # what a bucket keeps (as the report's), in its file when buckets go to files
    columns = held_columns(lf)
    with buckets.bucket_sources(lf, filters, columns, splitting=splitting) as sources:
        for done, rows in enumerate(sources, start=1):
            # each bucket read ONCE: the queries over a plan would each read the store again
            pieces.append(pl.collect_all(_passes(held_rows(rows, columns), data_end)))
            if len(sources) > 1:
                say(f"Read {done} of {len(sources)} charger buckets ({time.monotonic() - began:.0f} s).")
    sessions_frame, energy, quality, gaps, latency, counts = _combine(pieces)
    say(f"Read {store} in {time.monotonic() - began:.1f} s.")
    known = quality.filter(pl.col("charger_id") != UNKNOWN_CHARGER)
    chargers = sorted(known["charger_id"].unique().to_list())
    first_seen, last_seen = quality["first_seen"].min(), quality["last_seen"].max()
    return StoreSummary(
        chargers=chargers,
        first_seen=first_seen if isinstance(first_seen, datetime) else None,
        last_seen=last_seen if isinstance(last_seen, datetime) else None,
        rows=int(counts["rows"][0]),
        sessions=sessions_frame,
        energy_hours=energy,
        quality_hours=quality,
        gaps=gaps,
        latency_hours=latency,
        replayed=int(counts["replayed"][0]),
    )


def listing(store: Path | str) -> Listing:
    """What identifies a store's content: each part's path, size and modification time."""
    found = []
    for path in parquet_files(store):
        try:
            stat = Path(path).stat()
        except FileNotFoundError:  # a compaction removed it meanwhile
            continue
        found.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(found)


def read_listing(store: Path | str) -> Listing:
    """The :func:`listing` of the parts a read of ``store`` reads now: under
    ``damaged_parts_policy(True)``, without the damaged ones (those marked so too), so a summary that
    left them out is never taken for the whole store's, nor the other way round."""
    parts = listing(store)
    if not skips_damaged():
        return parts
    read = {str(part) for part in inspected(store).good}
    return tuple(entry for entry in parts if entry[0] in read)


_SUMMARIES: dict[tuple[str, Listing], StoreSummary] = {}


def store_summary(store: Path | str, progress: Progress | None = None) -> StoreSummary:
    """The summary of ``store`` as it is now: cached while the parts it reads are unchanged
    (:func:`read_listing`), in memory and (when it took long to compute) on disk
    (:mod:`evkit.explore.summary_cache`)."""
    from evkit.explore import summary_cache

    resolved, parts = str(Path(store).resolve()), read_listing(store)
    key = (resolved, parts)
    found = _SUMMARIES.pop(key, None)
    if found is None and (found := summary_cache.load(resolved, parts)) is not None and progress:
        progress(f"Read the explorer's summary of {store} from the cache ({summary_cache.cache_root()}).")
    if found is None:
        began = time.monotonic()
        found = summarise(store, progress)
        if time.monotonic() - began >= summary_cache.WORTH_S:
            entry = summary_cache.save(found, resolved, parts)
            if entry is not None and progress:
                progress(f"Kept in {entry} for the next open (read again when the store changes).")
    _SUMMARIES[key] = found  # most recently used last
    for old in list(_SUMMARIES)[: max(len(_SUMMARIES) - KEEP_SUMMARIES, 0)]:
        del _SUMMARIES[old]
    return found


__all__ = [
    "Listing",
    "StoreSummary",
    "latency_hours",
    "listing",
    "quality_hours",
    "read_listing",
    "store_summary",
    "summarise",
]
