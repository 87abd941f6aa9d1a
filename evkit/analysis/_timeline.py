"""Per-charger timelines: when each charger was heard from, and the silences in between."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import polars as pl

from evkit.analysis._prep import easee_rows, seconds

#: Idle Easee chargers send a heartbeat about every 15 minutes; longer silence is a hole in the data.
DEFAULT_GAP = timedelta(minutes=20)


def heard(lf: pl.LazyFrame) -> pl.LazyFrame:
    """``charger_id``, ``observed_at`` of every Easee row."""
    return easee_rows(lf).select("charger_id", "observed_at")


def _longest_step() -> pl.Expr:
    # See ``spans_and_gaps``: the largest step between consecutive rows in the order they come.
    return pl.col("observed_at").drop_nulls().diff().abs().max().alias("longest_step")


def _gaps_of_suspects(times: pl.LazyFrame, suspects: pl.LazyFrame, expected: timedelta) -> pl.LazyFrame:
    # Sorting each suspect charger's times inside a group-by is far cheaper than a window over all rows.
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


def spans_and_gaps(
    times: pl.LazyFrame, expected: timedelta = DEFAULT_GAP
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Per charger of ``times`` (``charger_id``, ``observed_at``): its span (``first_seen``,
    ``last_seen``, ``rows``) and its silences (``gaps_of``), from one pass over ``times``."""
    # Most chargers have no silence at all, so first find the ones that may have one, without sorting:
    # if a charger's sorted times a < b are further apart than ``expected``, no time lies between them,
    # so in the order the rows come (any order) a row <= a and a row >= b follow each other somewhere,
    # and that step is at least b - a. A charger whose rows never step further than ``expected``
    # (either way) has no silence. Captures write rows in arrival order, so usually only chargers with
    # a real silence remain, and only their times are sorted.
    stats = times.group_by("charger_id").agg(
        pl.col("observed_at").min().alias("first_seen"),
        pl.col("observed_at").max().alias("last_seen"),
        pl.len().alias("rows"),
        _longest_step(),
    )
    # one group-by for both (the optimiser would otherwise split it by the columns each side uses)
    stats = stats.cache()
    suspects = stats.filter(pl.col("longest_step") > expected).select("charger_id")
    return stats.drop("longest_step"), _gaps_of_suspects(times, suspects, expected)


@dataclass(frozen=True)
class Timeline:
    """When each charger of a frame's Easee rows was heard from (``spans``: ``charger_id``,
    ``first_seen``, ``last_seen``, ``rows``) and its silences longer than ``expected`` (``gaps``: see
    ``gaps_of``), from one pass over every row (:func:`timeline`). Analyses of the same frame run
    together take it instead of each finding the silences again (sessions and the quality checks)."""

    spans: pl.LazyFrame
    gaps: pl.LazyFrame
    expected: timedelta


def timeline(
    lf: pl.LazyFrame, expected: timedelta = DEFAULT_GAP, *, given: Timeline | None = None
) -> Timeline:
    """The :class:`Timeline` of ``lf``'s Easee rows (lazy, cached: queries collected together share it);
    ``given`` instead when a caller handed one of the same ``expected`` silence."""
    if given is not None and given.expected == expected:
        return given
    found_spans, found_gaps = spans_and_gaps(heard(lf), expected)
    return Timeline(found_spans.cache(), found_gaps.cache(), expected)


def gaps_of(times: pl.LazyFrame, expected: timedelta = DEFAULT_GAP) -> pl.LazyFrame:
    """Silences longer than ``expected`` between consecutive ``observed_at`` of one charger.

    Columns: ``charger_id``, ``gap_start`` (last message before), ``gap_end`` (first after), ``gap_s``.
    """
    return spans_and_gaps(times, expected)[1]
