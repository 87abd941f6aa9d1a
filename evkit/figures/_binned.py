"""Readings summarised in equal time bins, so a trace's size does not follow the data's rate."""

from __future__ import annotations

import math
from datetime import timedelta

import polars as pl

#: Points a time trace draws at most; above it the readings are averaged in time bins.
MAX_POINTS = 3_000

#: Bin widths offered (s): round ones read well in a note ("mean of each 2 min").
_WIDTHS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def bin_width(span: timedelta, limit: int = MAX_POINTS) -> timedelta:
    """The smallest round width giving at most ``limit`` bins over ``span``."""
    seconds = max(span.total_seconds(), 1.0) / max(limit - 1, 1)  # the bins may straddle both ends
    for width in _WIDTHS_S:
        if width >= seconds:
            return timedelta(seconds=width)
    days = math.ceil(seconds / 86_400)
    return timedelta(days=days)


def binned_mean(readings: pl.DataFrame, width: timedelta) -> pl.DataFrame:
    """``observed_at``/``value`` as the mean of each ``width`` interval, drawn at the interval's middle.

    Empty intervals give no point (a line crosses them as it crosses a gap between readings).
    """
    return (
        readings.drop_nulls("value")
        .sort("observed_at")
        .group_by_dynamic("observed_at", every=width)
        .agg(pl.col("value").mean())
        .with_columns(pl.col("observed_at") + width / 2)
    )


def _width_text(width: timedelta) -> str:
    seconds = round(width.total_seconds())
    for unit, size in (("day", 86_400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}-{unit}"
    return f"{seconds}-second"


def binned_note(width: timedelta, readings: int, points: int) -> str:
    """The sentence a figure shows when it draws bins instead of every reading."""
    return f"mean of each {_width_text(width)} interval: {readings:,} readings drawn as {points:,} points"


__all__ = ["MAX_POINTS", "bin_width", "binned_mean", "binned_note"]
