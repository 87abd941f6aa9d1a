"""Exact order statistics of values spread over parts (charger buckets, cluster tasks), in two passes.

Percentiles need every value at once; a fleet's latencies do not fit. The method of
``evkit.analysis.latency_buckets``, for any keys and any ranks:

1. per part, ``histogram``: per key and bin, the count, minimum and maximum; ``merge`` sums the
   parts' histograms;
2. the value of rank r (0-based, of the key's sorted values) lies in a known bin (``locate``). A bin
   whose values are all equal gives the value at once; only the other bins the ranks fall in
   (``targets``) are read again, per part, as counts per distinct value (``values_in``); ``pick``
   counts through them.

Values are integers (latencies in microseconds: exact, whatever float kernel computed the seconds).
Bins keep a value's top 8 bits (``bin_of``): relative width under 1 %, at most 256 bins per octave
and sign, so a histogram holds a few thousand rows per key whatever the number or spread of values,
and a bin holds at most 2^(bits-8) distinct values. ``percentile_ranks`` / ``percentiles`` turn ranks
into numpy's linear percentiles (as Polars' ``quantile(q, "linear")``). Memory: one part plus the
histograms, whatever the number of values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

_BIN = "__bin"


#: Significant bits a bin keeps.
BITS = 8


#: 2**k for every shift a 64-bit value's top bits need (looked up: Polars' ``pow`` is a float power
#: per value, more than half of the time of a bin).
_POWERS = pl.Series([1 << k for k in range(63)], dtype=pl.Int64)


def bin_of(value: pl.Expr) -> pl.Expr:
    """The bin of an integer ``value``: order-preserving, its top ``BITS`` bits and its bit length
    (negative values: the bin of their magnitude, mirrored below 0)."""
    size = value.abs()
    zeros = size.bitwise_leading_zeros().cast(pl.Int64)
    top = size // pl.lit(_POWERS).gather((64 - BITS - zeros).clip(lower_bound=0))
    magnitude = (64 - zeros) * (1 << BITS) + top
    return magnitude * value.sign() - (value < 0).cast(pl.Int64)


def _bin(value: str) -> pl.Expr:
    return bin_of(pl.col(value).cast(pl.Int64)).alias(_BIN)


def histogram(frame: pl.LazyFrame, keys: Sequence[str], value: str = "__us") -> pl.LazyFrame:
    """Per ``keys`` and bin of the integer ``value``: ``__count``, ``__lo``, ``__hi`` and ``__sum``
    (Int128, exact: no sum of 64-bit values overflows it; nulls left out). A bin's values share its
    sign: bins below 0 hold the negative values."""
    v = pl.col(value)
    return (
        frame.filter(v.is_not_null())
        .group_by(*keys, _bin(value))
        .agg(
            pl.len().cast(pl.Int64).alias("__count"),
            v.min().alias("__lo"),
            v.max().alias("__hi"),
            # 128 bits: a sum of 64-bit microseconds wraps silently (5,300 latencies of a device clock
            # reset to 1970, 56 years each, made a hop's mean negative)
            v.cast(pl.Int128).sum().alias("__sum"),
        )
    )


def summed(hists: Sequence[pl.DataFrame], keys: Sequence[str]) -> pl.DataFrame:
    """The parts' histograms summed (unsorted, no ``__before``): a running histogram folds in each
    part as it comes, so memory follows one histogram, not one per part."""
    return pl.concat(hists, how="vertical").group_by(*keys, _BIN).agg(_SUMMED)


def coarser(hist: pl.LazyFrame, keys: Sequence[str]) -> pl.LazyFrame:
    """A histogram per finer keys (``histogram``'s) summed per ``keys`` only: the histogram of the same
    values per ``keys`` (bins do not depend on the keys), without reading the values again."""
    return hist.group_by(*keys, _BIN).agg(_SUMMED)


_SUMMED = [pl.col("__count").sum(), pl.col("__lo").min(), pl.col("__hi").max(), pl.col("__sum").sum()]


def merge(hists: Sequence[pl.DataFrame], keys: Sequence[str]) -> pl.DataFrame:
    """The parts' histograms summed, sorted, with ``__before`` (values of the key in lower bins)."""
    keys = list(keys)
    return (
        summed([h.drop("__before", strict=False) for h in hists], keys)
        .sort(*keys, _BIN)
        .with_columns((pl.col("__count").cum_sum().over(keys) - pl.col("__count")).alias("__before"))
    )


def counts(hist: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """``n`` values per key of a merged histogram."""
    return hist.group_by(list(keys)).agg(pl.col("__count").sum().alias("n"))


def percentile_ranks(n: pl.DataFrame, keys: Sequence[str], percentiles: Mapping[str, float]) -> pl.DataFrame:
    """Per key (``n`` from ``counts``) and percentile name ``__p``: ``__h`` = (n - 1) q and its floor
    ``__lo_rank`` and ceiling ``__hi_rank`` (numpy's linear interpolation)."""
    frames = [
        n.select(*keys, pl.lit(name).alias("__p"), ((pl.col("n") - 1) * q).alias("__h"))
        for name, q in percentiles.items()
    ]
    return pl.concat(frames, how="vertical").with_columns(
        pl.col("__h").floor().cast(pl.Int64).alias("__lo_rank"),
        pl.col("__h").ceil().cast(pl.Int64).alias("__hi_rank"),
    )


def wanted_of(ranks: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """The distinct (keys, ``__rank``) that ``percentile_ranks`` needs."""
    return pl.concat(
        [ranks.select(*keys, pl.col(c).alias("__rank")) for c in ("__lo_rank", "__hi_rank")], how="vertical"
    ).unique()


def _by_id(left: pl.DataFrame, right: pl.DataFrame, by: Sequence[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``left`` and ``right`` with ``__key``: one integer per distinct ``by`` values, a null value equal
    to itself (an as-of join matches no null ``by`` value: a group such as "no observation name" would
    find no bin)."""
    ids = pl.concat([left.select(by), right.select(by)], how="vertical").unique().with_row_index("__key")
    return (
        left.join(ids, on=list(by), how="left", nulls_equal=True),
        right.join(ids, on=list(by), how="left", nulls_equal=True),
    )


def locate(hist: pl.DataFrame, ranks: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """The bin of every wanted rank (``ranks``: keys and ``__rank``): ``__bin``, ``__pos`` (rank within
    the bin), ``__lo``/``__hi`` (the bin's range)."""
    keys = list(keys)
    wanted = ranks.with_columns(pl.col("__rank").cast(pl.Int64))
    bins = hist.select(*keys, _BIN, "__before", "__lo", "__hi")
    if keys:
        wanted, bins = _by_id(wanted, bins, keys)
        bins = bins.drop(keys)
    located = (
        wanted.sort("__rank")
        .join_asof(
            bins.sort("__before"),
            left_on="__rank",
            right_on="__before",
            by="__key" if keys else None,
            strategy="backward",
            check_sortedness=False,  # sorted by __rank and __before, hence within every key
        )
        .drop("__key", strict=False)
    )
    return located.with_columns((pl.col("__rank") - pl.col("__before")).alias("__pos")).drop("__before")


def targets(located: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """The bins to read again: those a rank falls in whose values are not all equal."""
    return located.filter(pl.col("__lo") != pl.col("__hi")).select(*keys, _BIN).unique()


def values_in(
    frame: pl.LazyFrame, wanted: pl.DataFrame, keys: Sequence[str], value: str = "__us"
) -> pl.LazyFrame:
    """Pass 2 on one part: per distinct ``value`` in the ``targets`` bins, how often it occurs."""
    keys = list(keys)
    return (
        frame.filter(pl.col(value).is_not_null())
        .with_columns(_bin(value))
        .join(wanted.lazy(), on=[*keys, _BIN], how="semi", nulls_equal=True)
        .group_by(*keys, _BIN, pl.col(value).alias("__value"))
        .agg(pl.len().cast(pl.Int64).alias("__n"))
    )


def pick(located: pl.DataFrame, found: Sequence[pl.DataFrame], keys: Sequence[str]) -> pl.DataFrame:
    """Per key and ``__rank``: ``__value``, the value of that rank (``found``: the parts' ``values_in``)."""
    keys = list(keys)
    exact = located.filter(pl.col("__lo") == pl.col("__hi")).select(
        *keys, "__rank", pl.col("__lo").alias("__value")
    )
    crowded = located.filter(pl.col("__lo") != pl.col("__hi"))
    if crowded.height == 0:
        return exact
    values = (
        pl.concat(found, how="vertical")
        .group_by(*keys, _BIN, "__value")
        .agg(pl.col("__n").sum())
        .sort(*keys, _BIN, "__value")
        .with_columns((pl.col("__n").cum_sum().over([*keys, _BIN]) - pl.col("__n")).alias("__pos"))
    )
    crowded, values = _by_id(crowded, values.select(*keys, _BIN, "__pos", "__value"), [*keys, _BIN])
    read = crowded.sort("__pos").join_asof(
        values.drop(*keys, _BIN).sort("__pos"),
        on="__pos",
        by="__key",
        strategy="backward",
        check_sortedness=False,  # sorted by __pos, hence within every key and bin
    )
    return pl.concat([exact, read.select(*keys, "__rank", "__value")], how="vertical")


def interpolated(located: pl.DataFrame, hist: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """Per key and ``__rank`` of ``located`` (``locate`` in the merged ``hist``): ``__value``, the rank's
    value read off its bin without pass 2, linear between the bin's minimum and maximum by the rank's
    place in it. Exact in a bin of equal values and at a bin's first and last rank (the minimum and
    maximum of the data stay exact), else off by less than the bin's width (2^(1-``BITS``) of the
    value at most), and in order: a higher rank never gets a lower value. For what is drawn (an ECDF
    of a few hundred points), where reading every distinct value of each bin a point falls in costs
    nearly a sort of the whole data."""
    keys = list(keys)
    counts = hist.select(*keys, _BIN, "__count")
    share = pl.when(pl.col("__count") > 1).then(pl.col("__pos") / (pl.col("__count") - 1)).otherwise(0.0)
    value = pl.col("__lo") + (pl.col("__hi") - pl.col("__lo")) * share
    return located.join(counts, on=[*keys, _BIN], how="left", nulls_equal=True).select(
        *keys, "__rank", value.alias("__value")
    )


def percentiles(ranks: pl.DataFrame, picked: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """Per key, one column per percentile name of ``percentile_ranks`` (linear interpolation)."""
    keys = list(keys)
    lo = picked.rename({"__rank": "__lo_rank", "__value": "__v_lo"})
    hi = picked.rename({"__rank": "__hi_rank", "__value": "__v_hi"})
    joined = ranks.join(lo, on=[*keys, "__lo_rank"], how="left", nulls_equal=True).join(
        hi, on=[*keys, "__hi_rank"], how="left", nulls_equal=True
    )
    joined = joined.with_columns(
        (
            pl.col("__v_lo") + (pl.col("__v_hi") - pl.col("__v_lo")) * (pl.col("__h") - pl.col("__lo_rank"))
        ).alias("__value")
    )
    return joined.pivot(on="__p", index=keys, values="__value")


__all__ = [
    "counts",
    "histogram",
    "interpolated",
    "locate",
    "merge",
    "percentile_ranks",
    "percentiles",
    "pick",
    "summed",
    "targets",
    "values_in",
    "wanted_of",
]
