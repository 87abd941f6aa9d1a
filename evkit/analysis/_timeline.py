"""Per-charger timelines: when each charger was heard from, and the silences in between."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from evkit.analysis._prep import easee_rows, seconds

#: Idle Easee chargers send a heartbeat about every 15 minutes; longer silence is a hole in the data.
DEFAULT_GAP = timedelta(minutes=20)


def heard(lf: pl.LazyFrame) -> pl.LazyFrame:
    """``charger_id``, ``observed_at`` of every Easee row."""
    return easee_rows(lf).select("charger_id", "observed_at")


def spans_of(times: pl.LazyFrame) -> pl.LazyFrame:
    """Per charger of ``times`` (``charger_id``, ``observed_at``): ``first_seen``, ``last_seen``, ``rows``."""
    return times.group_by("charger_id").agg(
        pl.col("observed_at").min().alias("first_seen"),
        pl.col("observed_at").max().alias("last_seen"),
        pl.len().alias("rows"),
    )


def gaps_of(times: pl.LazyFrame, expected: timedelta = DEFAULT_GAP) -> pl.LazyFrame:
    """Silences longer than ``expected`` between consecutive ``observed_at`` of one charger.

    Columns: ``charger_id``, ``gap_start`` (last message before), ``gap_end`` (first after), ``gap_s``.
    """
    # Most chargers have no silence at all, so first find the chargers that may have one without
    # sorting anything: cut time into buckets of half the expected interval. A silence longer than
    # ``expected`` covers at least one whole bucket, so a charger heard in every bucket between its
    # first and last has none. Only the others (few) have their times sorted and compared.
    bucket_us = max(int(expected / timedelta(microseconds=1)) // 2, 1)
    bucket = pl.col("observed_at").dt.epoch("us") // bucket_us
    suspects = (
        times.group_by("charger_id")
        .agg(
            bucket.drop_nulls().n_unique().alias("heard"), (bucket.max() - bucket.min() + 1).alias("spanned")
        )
        .filter(pl.col("heard") < pl.col("spanned"))
        .select("charger_id")
    )
    times_sorted = pl.col("observed_at").sort()
    previous = times_sorted.shift(1)
    is_gap = (times_sorted - previous) > expected
    return (
        times.join(suspects, on="charger_id", how="semi")
        .group_by("charger_id")
        .agg(previous.filter(is_gap).alias("gap_start"), times_sorted.filter(is_gap).alias("gap_end"))
        .explode("gap_start", "gap_end")
        .drop_nulls("gap_end")
        .with_columns(seconds(pl.col("gap_end") - pl.col("gap_start")).alias("gap_s"))
        .sort("charger_id", "gap_start")
    )


def spans(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Per charger: ``first_seen``, ``last_seen`` (device time) and ``rows``."""
    return spans_of(heard(lf))


def gaps(lf: pl.LazyFrame, expected: timedelta = DEFAULT_GAP) -> pl.LazyFrame:
    """Silences longer than ``expected`` in the Easee rows of ``lf`` (see ``gaps_of``)."""
    return gaps_of(heard(lf), expected)
