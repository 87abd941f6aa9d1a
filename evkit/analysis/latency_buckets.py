"""Latency statistics of a large dataset in bounded memory: charger buckets and exact percentiles in
two passes.

``latency_stats`` needs every latency of a hop at once to take its percentiles (and every row's
identity to count redelivered copies once): memory grows with the dataset. Here the dataset is read
in buckets of chargers (``evkit.analysis.buckets``; a message's copies share its charger, so each
bucket removes its own copies) and the percentiles are found exactly in two passes:

1. per bucket, counts, min, max, sum and negatives per hop (and ``by`` group), and how many latencies
   fall in each millisecond; summed over the buckets;
2. the ranks a percentile needs (linear interpolation between the closest ranks, as numpy) lie in
   known milliseconds: a millisecond whose latencies are all equal gives the value at once; per
   bucket only the latencies of the other such milliseconds are kept, then sorted.

Buckets hold half the rows of a sessions bucket (a message has three latencies). Each pass reads a
bucket's rows into memory once (the plan of ``latency`` scans its input once per hop and branch) and
pass 2 runs only when a percentile falls in a millisecond of unequal latencies. Memory follows one
bucket plus the per-millisecond counts, whatever the number of rows; the result equals
``latency_stats`` (``tests/analysis/test_latency_buckets.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import polars as pl

from evkit.analysis import buckets
from evkit.analysis._prep import held
from evkit.analysis.latency import PERCENTILES, _by_columns, latency, latency_stats
from evkit.analysis.quality import first_of
from evkit.analysis.schema import ALL_HOPS

_BIN = (pl.col("latency_s") * 1000.0).floor().cast(pl.Int64).alias("__bin")


def latency_stats_in_buckets(
    lf: pl.LazyFrame, by: str | Sequence[str] | None = None, rows_per_bucket: int | None = None
) -> pl.DataFrame:
    """``latency_stats(lf, by).collect()`` in bounded memory (see the module docstring)."""
    size = buckets.ROWS_PER_BUCKET // 2 if rows_per_bucket is None else rows_per_bucket
    filters = buckets.bucket_filters(lf, size)
    if filters[0] is None:  # one bucket: the whole data
        return latency_stats(lf, by).collect()
    reads = buckets.reads_of(latency, lf)
    keys = ["hop", *_by_columns(by)]
    # Files or filters: decided by latency's plan as a filtered read would run it (13 scans per
    # bucket), though each pass now reads a bucket once; at 59.9M rows (15 buckets, arrival order)
    # the files were still faster: 37.5 s vs 41.8 s wall, 69 vs 79 s CPU, ~1 GB either way.
    with buckets.bucket_sources(lf, filters, reads.columns, spill=buckets.spills(filters, reads)) as sources:
        return _two_passes([_held(rows, reads.columns, keys) for rows in sources], keys)


def _held(rows: pl.LazyFrame, columns: list[str], keys: list[str]) -> Callable[[], pl.LazyFrame]:
    """The bucket's latencies (``keys``, ``latency_s``), computed from its rows held in memory: the
    plan of ``latency`` scans its input once per hop and branch (13 scans), so the bucket is read once
    (the ``columns`` latency reads, as ``_prep.held`` keeps them; the others are null, for the schema
    only) and scanned in memory."""
    schema = rows.collect_schema()
    # the masks use only columns latency reads (the others are not in its bucket files)
    projection = [
        held(c, columns) if c in columns else pl.lit(None, dtype=t).alias(c) for c, t in schema.items()
    ]

    def compute() -> pl.LazyFrame:
        frame = rows.select(projection).collect()
        # the bucket's first deliveries, found at once in memory (``quality.first_of``)
        return latency(frame.lazy(), first=first_of(frame)).select(*keys, "latency_s")

    return compute


def _two_passes(latencies: list[Callable[[], pl.LazyFrame]], keys: list[str]) -> pl.DataFrame:
    """The statistics of every bucket's latencies (module docstring: passes 1 and 2); each of
    ``latencies`` reads its bucket when called, so one bucket is in memory at a time."""
    lat = pl.col("latency_s")
    # one query per bucket (two would each compute the bucket's latencies, side by side)
    hist_parts = [
        part()
        .group_by(*keys, _BIN)
        .agg(
            pl.len().cast(pl.Int64).alias("__count"),
            lat.min().alias("__lo_v"),
            lat.max().alias("__hi_v"),
            lat.sum().alias("__sum"),
            (lat < 0).sum().cast(pl.Int64).alias("negative_n"),
        )
        .collect()
        for part in latencies
    ]
    totals = (
        pl.concat(hist_parts)
        .group_by(keys)
        .agg(
            pl.col("__count").sum().alias("n"),
            pl.col("__hi_v").max().alias("max_s"),
            pl.col("__lo_v").min().alias("min_s"),
            pl.col("__sum").sum(),
            pl.col("negative_n").sum(),
        )
    )
    hist = (
        pl.concat(hist_parts)
        .group_by(*keys, "__bin")
        .agg(pl.col("__count").sum(), pl.col("__lo_v").min(), pl.col("__hi_v").max())
        .sort(*keys, "__bin")
        .with_columns(pl.col("__count").cum_sum().over(keys).alias("__cum"))
        .with_columns((pl.col("__cum") - pl.col("__count")).alias("__before"))
    )
    # the ranks each percentile needs: floor and ceil of (n - 1) q
    wanted = pl.concat(
        [
            totals.select(
                *keys,
                pl.lit(name).alias("__p"),
                ((pl.col("n") - 1) * q).alias("__h"),
            ).with_columns(pl.col("__h").floor().cast(pl.Int64).alias(f"__{side}") for side in ("lo",))
            for name, q in PERCENTILES.items()
        ]
    ).with_columns(pl.col("__h").ceil().cast(pl.Int64).alias("__hi"))
    ranks = pl.concat(
        [
            wanted.select(*keys, "__p", pl.lit(side).alias("__side"), pl.col(f"__{side}").alias("__rank"))
            for side in ("lo", "hi")
        ]
    )
    located = ranks.sort("__rank").join_asof(
        hist.select(*keys, "__bin", "__before", "__lo_v", "__hi_v").sort("__before"),
        left_on="__rank",
        right_on="__before",
        by=keys,
        strategy="backward",
        check_sortedness=False,  # sorted by __rank and __before, hence within every group
    )
    # a bin whose latencies are all equal gives its value at once; only the others are read again,
    # bucket by bucket (one at a time: memory follows a bucket)
    targets = located.filter(pl.col("__lo_v") != pl.col("__hi_v")).select(*keys, "__bin").unique()
    # no crowded bin (every rank fell in a bin of equal values): no second read
    found = [
        part()
        .with_columns(_BIN)
        .join(targets.lazy(), on=[*keys, "__bin"], how="semi", nulls_equal=True)
        .collect()
        for part in (latencies if targets.height else [])
    ]
    empty = pl.DataFrame(schema={**hist.select(keys).schema, "latency_s": pl.Float64, "__bin": pl.Int64})
    values = pl.concat(found) if found else empty
    values = values.sort(*keys, "__bin", "latency_s")
    values = values.with_columns(pl.int_range(pl.len()).over([*keys, "__bin"]).alias("__pos"))
    picked = (
        located.with_columns((pl.col("__rank") - pl.col("__before")).alias("__pos"))
        .join(values, on=[*keys, "__bin", "__pos"], how="left", nulls_equal=True)
        .with_columns(
            pl.when(pl.col("__lo_v") == pl.col("__hi_v"))
            .then(pl.col("__lo_v"))
            .otherwise("latency_s")
            .alias("latency_s")
        )
    )
    wide = picked.pivot(on="__side", index=[*keys, "__p"], values="latency_s").join(
        wanted.select(*keys, "__p", "__h", "__lo"), on=[*keys, "__p"], nulls_equal=True
    )
    frac = pl.col("__h") - pl.col("__lo")
    wide = wide.with_columns((pl.col("lo") + (pl.col("hi") - pl.col("lo")) * frac).alias("__value"))
    percentiles = wide.pivot(on="__p", index=keys, values="__value")
    stats = totals.join(percentiles, on=keys, how="left", nulls_equal=True).with_columns(
        (pl.col("__sum") / pl.col("n")).alias("mean_s")
    )
    order = pl.col("hop").replace_strict({h: i for i, h in enumerate(ALL_HOPS)}, default=len(ALL_HOPS))
    columns = [*keys, "n", *PERCENTILES, "max_s", "min_s", "mean_s", "negative_n"]
    return stats.sort([order, *keys[1:]], nulls_last=True).select(columns)


__all__ = ["latency_stats_in_buckets"]
