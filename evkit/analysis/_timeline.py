"""Per-charger timelines: when each charger was heard from, and the silences in between."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from evkit.analysis._prep import easee_rows, seconds

#: Idle Easee chargers send a heartbeat about every 15 minutes; longer silence is a hole in the data.
DEFAULT_GAP = timedelta(minutes=20)


def heard(lf: pl.LazyFrame) -> pl.LazyFrame:
    """``charger_id``, ``observed_at`` of every Easee row, sorted per charger by device time."""
    return easee_rows(lf).select("charger_id", "observed_at").sort("charger_id", "observed_at")


def spans(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Per charger: ``first_seen``, ``last_seen`` (device time) and ``rows``."""
    return (
        easee_rows(lf)
        .group_by("charger_id")
        .agg(
            pl.col("observed_at").min().alias("first_seen"),
            pl.col("observed_at").max().alias("last_seen"),
            pl.len().alias("rows"),
        )
    )


def gaps(lf: pl.LazyFrame, expected: timedelta = DEFAULT_GAP) -> pl.LazyFrame:
    """Silences longer than ``expected`` between two consecutive observations of one charger.

    Columns: ``charger_id``, ``gap_start`` (last message before), ``gap_end`` (first after), ``gap_s``.
    """
    frame = heard(lf).with_columns(pl.col("observed_at").shift(1).over("charger_id").alias("gap_start"))
    return frame.filter((pl.col("observed_at") - pl.col("gap_start")) > expected).select(
        "charger_id",
        "gap_start",
        pl.col("observed_at").alias("gap_end"),
        seconds(pl.col("observed_at") - pl.col("gap_start")).alias("gap_s"),
    )
