"""Per-charger analyses in charger buckets: memory bounded by the bucket, not by the dataset.

Sessions (and anything else computed charger by charger) do not mix chargers, so a large dataset is
split into buckets of chargers, contiguous in charger id, and each bucket is read and analysed on its
own, one after another; the results are concatenated. Peak memory then follows the rows of one bucket
(about ``rows_per_bucket``), whatever the size of the dataset.

Why buckets and not Polars' streaming engine: the sessioniser needs as-of joins, windows over each
charger and sorts, which the streaming engine runs in memory over their whole input, so its peak
grows with the dataset. Why contiguous ranges of ids (not a hash): a compacted store is sorted by
charger, so the reader skips the row groups of the other buckets by their statistics; a store in
arrival order is read once per bucket (filtered while read).
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

#: Rows analysed at once (sessions of 6M rows peak at about 0.8 GiB, the whole process).
ROWS_PER_BUCKET = 8_000_000


def charger_ranges(lf: pl.LazyFrame, rows_per_bucket: int = ROWS_PER_BUCKET) -> list[tuple[str, str]]:
    """Contiguous (first, last) charger ids, each range holding about ``rows_per_bucket`` rows.

    None (no split) when the whole dataset fits, and when it holds MQTT rows: evcc and go-e rows are
    grouped by device and loadpoint, not by ``charger_id``. Rows without a charger id are in no range."""
    if lf.select(pl.len()).collect().item() <= rows_per_bucket:
        return []
    counts = (
        lf.group_by("charger_id")
        .agg(pl.len().alias("n"), (pl.col("kind") == "mqtt").any().alias("mqtt"))
        .sort("charger_id", nulls_last=True)
        .collect()
    )
    if counts["mqtt"].any():
        return []
    counts = counts.drop_nulls("charger_id")  # Easee rows without a charger: no session has them
    ranges: list[tuple[str, str]] = []
    first: str | None = None
    held = 0
    ids = counts["charger_id"].to_list()
    for charger, n in zip(ids, counts["n"].to_list(), strict=True):
        if first is None:
            first = charger
        held += n
        if held >= rows_per_bucket:
            ranges.append((first, charger))
            first, held = None, 0
    if first is not None:
        ranges.append((first, ids[-1]))
    return ranges


def in_charger_buckets(
    lf: pl.LazyFrame,
    analyse: Callable[[pl.LazyFrame], pl.LazyFrame],
    rows_per_bucket: int = ROWS_PER_BUCKET,
) -> pl.DataFrame:
    """``analyse(lf).collect()``, computed bucket by bucket of chargers (see the module docstring).

    ``analyse`` must treat every charger on its own (its result for one charger may depend only on
    that charger's rows), as ``evkit.analysis.sessions`` does."""
    ranges = charger_ranges(lf, rows_per_bucket)
    if not ranges:
        return analyse(lf).collect()
    frames = [
        analyse(lf.filter(pl.col("charger_id").is_between(pl.lit(lo), pl.lit(hi)))).collect()
        for lo, hi in ranges
    ]
    return pl.concat(frames, how="vertical")


__all__ = ["ROWS_PER_BUCKET", "charger_ranges", "in_charger_buckets"]
