"""Latency statistics of a large dataset in bounded memory: charger buckets and exact percentiles in
two passes.

``latency_stats`` needs every latency of a hop at once to take its percentiles (and every row's
identity to count redelivered copies once): memory grows with the dataset. Here the dataset is read
in buckets of chargers (``evkit.analysis.buckets``; a message's copies share its charger, so each
bucket removes its own copies) and the percentiles are found exactly in two passes of
``evkit.analysis.ranks`` (the method the report's latency numbers use too), on each latency in whole
microseconds (``hop_latencies``: exact, as the timestamps have them):

1. per bucket, a histogram per hop (and ``by`` group): per bin of values sharing their top 8 bits, the
   count, minimum, maximum and sum; summed over the buckets (negatives are the bins below 0);
2. the ranks a percentile needs (linear interpolation between the closest ranks, as numpy) lie in
   known bins: a bin whose values are all equal gives the value at once; per bucket only the values
   of the other such bins are counted again.

Buckets hold half the rows of a sessions bucket (a message has three latencies). Each pass reads a
bucket's rows into memory once (the plan of ``latency`` scans its input once per hop and branch) and
pass 2 runs only when a percentile falls in a bin of unequal latencies. Memory follows one bucket
plus the histograms (a few thousand bins per hop and group, whatever the spread of the values); the
result equals ``latency_stats`` (``tests/analysis/test_latency_buckets.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from evkit._steps import Step, splitting
from evkit.analysis import buckets, ranks
from evkit.analysis._prep import held, held_rows, routed
from evkit.analysis.exact import divided
from evkit.analysis.latency import (
    PERCENTILES,
    _by_columns,
    hop_latencies,
    latency,
    latency_stats,
    long_latencies,
)
from evkit.analysis.quality import first_of
from evkit.analysis.schema import ALL_HOPS

#: Told after each bucket of a pass: the pass ("pass 1", "pass 2"), buckets done, buckets in all (and
#: while the data is split into bucket files, when it is: ``evkit._steps.SPLITTING``, rows read, rows
#: to read, see ``buckets.Splitting``). What ``evkit._steps.stepped`` draws.
Progress = Step


def latency_stats_in_buckets(
    lf: pl.LazyFrame,
    by: str | Sequence[str] | None = None,
    rows_per_bucket: int | None = None,
    *,
    progress: Progress | None = None,
) -> pl.DataFrame:
    """``latency_stats(lf, by).collect()`` in bounded memory (see the module docstring); ``progress``
    hears of every bucket done (nothing when the data is one bucket)."""
    size = buckets.ROWS_PER_BUCKET // 2 if rows_per_bucket is None else rows_per_bucket
    # rows without a charger (an undecodable message keeps its ArrivalTime) have a bucket of their own
    filters = buckets.bucket_filters(lf, size, chargerless=True)
    if filters[0] is None:  # one bucket: the whole data
        return latency_stats(lf, by).collect()
    reads = buckets.reads_of(latency, lf)
    keys = latency_keys(by)
    # Files or filters: each pass reads a bucket once (``_read``), so two reads a bucket. At 59.9M
    # rows in arrival order (15 buckets) the files were faster: 37.5 s vs 41.8 s wall, 69 vs 79 s CPU.
    spill = buckets.spills(filters, buckets.Reads(reads.columns, 2), lf)
    # one read of everything into the bucket files comes first, told in rows
    split = splitting(progress) if progress is not None else None
    # a plain store's routing keys are not read (``_prep.routed``), into the files or from the filters
    keyed = routed(lf)
    written = [held(c, reads.columns, routed=keyed) for c in reads.columns]
    with buckets.bucket_sources(lf, filters, written, spill=spill, splitting=split) as sources:
        return _two_passes([_held(rows, reads.columns, keys, keyed) for rows in sources], keys, progress)


def latency_keys(by: str | Sequence[str] | None) -> list[str]:
    """What the statistics are per: ``hop`` and the ``by`` columns (``charger`` is ``charger_id``)."""
    return ["hop", *_by_columns(by)]


def _held(rows: pl.LazyFrame, columns: list[str], keys: list[str], keyed: bool) -> Callable[[], pl.LazyFrame]:
    """The bucket's latencies (:func:`part_latencies`), read and computed when called."""
    return lambda: part_latencies(rows, keys, columns, routed=keyed)


def part_latencies(
    rows: pl.LazyFrame, keys: Sequence[str], columns: list[str], *, routed: bool = True
) -> pl.LazyFrame:
    """:func:`latencies_of` a part's rows (a bucket, a cluster task's charger group), read once: only
    the ``columns`` latency reads (``buckets.reads_of(latency, ...)``, found once for every part);
    ``routed``: as ``_prep.held`` (False: no row needs its routing key, which is not read)."""
    return latencies_of(_read(rows, columns, routed), keys)


def _read(rows: pl.LazyFrame, columns: list[str], routed: bool = True) -> pl.DataFrame:
    """``rows`` held in memory: the plan of ``latency`` scans its input once per hop and branch (13
    scans), so a part is read once, only the ``columns`` latency reads (as ``_prep.held`` keeps them;
    the others are null, for the schema only: they are not in a bucket's files), and scanned in memory."""
    projection = [
        held(c, columns, routed=routed) if c in columns else pl.lit(None, dtype=t).alias(c)
        for c, t in rows.collect_schema().items()
    ]
    return held_rows(rows, projection)


def latencies_of(frame: pl.DataFrame, keys: Sequence[str]) -> pl.LazyFrame:
    """The latencies of a part's rows held in memory (a bucket, a cluster task's charger group), as
    ``hop_latencies`` with the ``by`` columns of ``keys`` (``hop`` and the ``by`` columns) as context:
    one row per message, a column per hop in whole microseconds (computed once, held)."""
    # the part's first deliveries, found at once in memory (``quality.first_of``)
    return hop_latencies(frame.lazy(), first=first_of(frame), context=list(keys[1:])).collect().lazy()


def hop_histograms(
    wide: pl.LazyFrame, by: Sequence[str] = (), known: Mapping[str, pl.LazyFrame] | None = None
) -> pl.LazyFrame:
    """``ranks.histogram`` of every hop of ``hop_latencies`` (``wide``) per ``by``: columns ``hop``, the
    ``by`` columns and the bin's; one hop column at a time (no long form). ``known``: a hop's histogram
    per ``by`` already found (e.g. ``ranks.coarser`` of a finer one), taken instead of reading it again."""
    by = list(by)
    known = known or {}

    def of(hop: str) -> pl.LazyFrame:
        if hop in known:
            return known[hop]
        return ranks.histogram(wide.select(*by, pl.col(hop).alias("__us")), by)

    return pl.concat([of(hop).select(pl.lit(hop).alias("hop"), pl.all()) for hop in ALL_HOPS], how="vertical")


def _two_passes(
    latencies: list[Callable[[], pl.LazyFrame]], keys: list[str], progress: Progress | None = None
) -> pl.DataFrame:
    """The statistics of every bucket's latencies (module docstring: passes 1 and 2); each of
    ``latencies`` reads its bucket when called, so one bucket is in memory at a time."""
    tell = progress or (lambda _what, _done, _total: None)
    hists = []
    for done, part in enumerate(latencies, start=1):
        hists.append(hop_histograms(part(), keys[1:]).collect())  # one query a bucket
        tell("pass 1", done, len(latencies))
    plan = Plan.of(hists, keys)
    found = []
    if plan.needs_pass2:  # else every rank fell in a bin of equal values: no second read
        for done, part in enumerate(latencies, start=1):
            found.append(plan.values_in(part()).collect())
            tell("pass 2", done, len(latencies))
    return plan.stats(found)


@dataclass(frozen=True)
class Plan:
    """The parts' latency histograms (:func:`hop_histograms` of :func:`latencies_of`, per ``keys``)
    merged: the counts and sums, and the bins pass 2 must read again (``targets``)."""

    keys: list[str]
    n: pl.DataFrame
    sums: pl.DataFrame
    stat_ranks: pl.DataFrame
    located: pl.DataFrame
    targets: pl.DataFrame

    @classmethod
    def of(cls, hists: Sequence[pl.DataFrame], keys: Sequence[str]) -> Plan:
        keys = list(keys)
        hist = ranks.merge(hists, keys)
        n = ranks.counts(hist, keys)
        stat_ranks = ranks.percentile_ranks(n, keys, PERCENTILES)
        located = ranks.locate(hist, ranks.wanted_of(stat_ranks, keys), keys)
        return cls(keys, n, sums_of(hist, keys), stat_ranks, located, ranks.targets(located, keys))

    @property
    def needs_pass2(self) -> bool:
        return self.targets.height > 0

    def values_in(self, wide: pl.LazyFrame) -> pl.LazyFrame:
        """Pass 2 on one part's :func:`latencies_of`: its values in the ``targets`` bins, counted."""
        return ranks.values_in(long_latencies(wide, self.keys[1:]), self.targets, self.keys)

    def stats(self, found: Sequence[pl.DataFrame]) -> pl.DataFrame:
        """``latency_stats``' table, from the parts' :meth:`values_in` (none without pass 2)."""
        pct = ranks.percentiles(self.stat_ranks, ranks.pick(self.located, found, self.keys), self.keys)
        return stats_table(self.n, self.sums, pct, self.keys)


def sums_of(hist: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """Per key of a merged latency histogram: ``__sum``, ``__min``, ``__max`` (µs) and ``negative_n``
    (the values in the bins below 0)."""
    return hist.group_by(list(keys)).agg(
        pl.col("__sum").sum(),
        pl.col("__lo").min().alias("__min"),
        pl.col("__hi").max().alias("__max"),
        pl.col("__count").filter(pl.col("__bin") < 0).sum().alias("negative_n"),
    )


def stats_table(n: pl.DataFrame, sums: pl.DataFrame, pct: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """``latency_stats``' columns and order from the counts (``ranks.counts``), :func:`sums_of` and the
    percentiles in µs (``ranks.percentiles`` of ``PERCENTILES``)."""
    keys = list(keys)
    # no latency at all: the pivot has no columns to name
    pct = pct.with_columns([pl.lit(None, pl.Float64).alias(p) for p in PERCENTILES if p not in pct.columns])
    stats = (
        n.join(sums, on=keys, how="left", nulls_equal=True)
        .join(pct, on=keys, how="left", nulls_equal=True)
        .with_columns(
            *[divided(pl.col(p), 1e6).alias(p) for p in PERCENTILES],
            divided(pl.col("__max"), 1e6).alias("max_s"),
            divided(pl.col("__min"), 1e6).alias("min_s"),
            divided(pl.col("__sum") / pl.col("n"), 1e6).alias("mean_s"),
            pl.col("n").cast(pl.Int64),
            pl.col("negative_n").cast(pl.Int64),
        )
    )
    order = pl.col("hop").replace_strict({h: i for i, h in enumerate(ALL_HOPS)}, default=len(ALL_HOPS))
    columns = [*keys, "n", *PERCENTILES, "max_s", "min_s", "mean_s", "negative_n"]
    return stats.sort([order, *keys[1:]], nulls_last=True).select(columns)


__all__ = [
    "Plan",
    "Progress",
    "hop_histograms",
    "latencies_of",
    "latency_keys",
    "latency_stats_in_buckets",
    "part_latencies",
    "stats_table",
    "sums_of",
]
