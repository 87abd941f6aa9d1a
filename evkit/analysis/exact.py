"""Arithmetic that gives the same bits however the rows came: sums whose result does not depend on
the order the engine (its threads and joins, a bucket, a cluster's group) met the rows in, and
divisions that do not depend on a column's length. Every analysis, figure and table of evkit adds
energy, cost and durations with these, so one store gives one answer, run after run."""

from __future__ import annotations

import polars as pl


def steady_sum(expr: pl.Expr) -> pl.Expr:
    """``expr.sum()`` (0.0 when there is nothing to add), the same to the last bit however the rows
    came: float addition is not associative, and the engine adds rows in whatever order its threads
    and joins left them (a 4-decimal cost such as 8.46995 printed 8.4699 in one run and 8.47 in the
    next). The values are added one after another in sorted order (``sort().sum()`` would not do: the
    optimiser drops a sort before a sum)."""
    return expr.sort().cum_sum().last().fill_null(0.0)


#: :func:`exact_sum` adds values smaller than this in magnitude exactly (a larger one, or one not
#: finite, makes its group's sum the plain float sum): 1e15 kWh, seconds or currency units.
_EXACT_LIMIT = 1e15


def _exact_terms(expr: pl.Expr, places: int) -> tuple[pl.Expr, pl.Expr]:
    """(whether a group's sum can be exact, its exact sum as a ``Decimal(38, places)``). One check per
    group, not per row: NaN makes ``nan_max`` NaN, a group of only nulls passes none (its plain sum is
    0.0 too); the clip keeps the cast of a group that fails the check from raising."""
    terms = expr.clip(-_EXACT_LIMIT, _EXACT_LIMIT).cast(pl.Decimal(38, places), strict=False)
    return expr.abs().nan_max() < _EXACT_LIMIT, terms.sum()


def exact_sum(expr: pl.Expr, places: int = 15) -> pl.Expr:
    """``expr.sum()`` (0.0 with nothing to add), the same to the last bit however the engine ordered
    the rows (its threads and joins, a cluster's groups, a shuffled input): each value becomes a
    decimal of ``places`` places (kWh: 15, a femtowatt-hour; seconds from microsecond times: 6,
    exact) by Polars' cast, which scales the float: always the same decimal for the same value, not
    always the correctly rounded one, but as close to the value as a float's own precision (measured
    up to 1e5: off by at most 1.6e-15 times the value); the decimals are added exactly (Polars'
    ``Decimal``: 128-bit integers, whose sum, unlike a float's, does not depend on the order) and the
    total is rounded once to a float. A session's energy read 46.55 kWh on one run and
    46.549999999999997 on the next, shown as 46.6 and 46.5. A group with a value not finite or beyond
    ``_EXACT_LIMIT`` (no reading of a charger) gets the plain sum. Plain aggregations under one
    condition: a group-by keeps its fast path (nested ones cost 3x per group)."""
    exact, total = _exact_terms(expr, places)
    return pl.when(exact).then(total.cast(pl.Float64)).otherwise(expr.sum())


def exact_total(expr: pl.Expr, places: int = 15) -> pl.Expr:
    """The exact sum :func:`exact_sum` rounds to a float, as a ``Decimal(38, places)``; null where it
    cannot be exact. For sums added again (buckets, then the fleet): :func:`exact_resum` adds these
    totals exactly, where adding their floats would round once more, by how the rows were split."""
    exact, total = _exact_terms(expr, places)
    return pl.when(exact).then(total)


def exact_resum(totals: pl.Expr, floats: pl.Expr) -> pl.Expr:
    """Totals of :func:`exact_total` (a few rows: a bucket's) added exactly, as a float; ``floats``'
    sum where one is null."""
    return pl.when(totals.is_null().any()).then(floats).otherwise(totals.sum().cast(pl.Float64))


def divided(expr: pl.Expr, divisor: float) -> pl.Expr:
    """``expr / divisor`` (a number), the same to the last bit whatever the length of the column:
    Polars divides a column by a number as a product with its reciprocal, but a column of one row by
    true division (3,657,949,000 µs / 1e6: 3657.9489999999996 s in a column, 3657.949 alone), so a
    bucket, a cluster's group or a group-by's group of one row gave other bits than the rest. The
    product, always: the same bits as Polars gives a longer column."""
    return expr * (1.0 / divisor)


def seconds(expr: pl.Expr) -> pl.Expr:
    """A duration expression as float seconds (:func:`divided`: the same bits in any frame)."""
    return divided(expr.dt.total_microseconds().cast(pl.Float64), 1e6)


__all__ = ["divided", "exact_resum", "exact_sum", "exact_total", "seconds", "steady_sum"]
