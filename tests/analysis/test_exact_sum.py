"""``exact_sum``: a sum the same to the last bit in any row order and any split into parts (values
rounded to 15 decimals, added exactly as decimals, rounded once), within a rounding of the exact sum
of the values, and the plain sum where it cannot be exact; ``divided``: the same bits in a column of
any length."""

from __future__ import annotations

import math

import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from evkit.analysis.exact import divided, exact_resum, exact_sum, exact_total, seconds

readings = st.lists(
    st.one_of(st.none(), st.floats(min_value=-500.0, max_value=500.0, allow_nan=False)), max_size=300
)


@settings(max_examples=300, deadline=None)
@example(micros=3_657_949_000, divisor=1e6, rows=2)  # a telemetry gap of a hostile review
@given(
    micros=st.integers(-(2**53), 2**53),
    divisor=st.sampled_from([1e6, 1e3, 3600.0, 3.6e6, 1e12]),
    rows=st.integers(2, 40),
)
def test_a_division_gives_the_same_bits_in_a_column_of_any_length(
    micros: int, divisor: float, rows: int
) -> None:
    """Polars divides a one-row column by true division, a longer one by the reciprocal's product: a
    bucket or group of one row gave other bits (3,657,949,000 µs: 3657.949 s against 3657.9489999999996)."""
    one = pl.DataFrame({"x": [float(micros)]})
    many = pl.DataFrame({"x": [float(micros)] * rows})
    assert (
        one.select(divided(pl.col("x"), divisor)).item()
        == many.select(divided(pl.col("x"), divisor))["x"][-1]
    )
    spans = pl.DataFrame({"d": [micros]}).select(pl.col("d").cast(pl.Duration("us")))
    longer = pl.concat([spans] * rows)
    assert spans.select(seconds(pl.col("d"))).item() == longer.select(seconds(pl.col("d")))["d"][0]


def _summed(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.group_by("g").agg(exact_sum(pl.col("x"))).sort("g")


@settings(max_examples=200, deadline=None)
@given(values=readings, groups=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_any_order_gives_the_same_bits_and_the_sum(
    values: list[float | None], groups: int, seed: int
) -> None:
    frame = pl.DataFrame(
        {"g": [i % groups for i in range(len(values))], "x": values}, schema={"g": pl.Int64, "x": pl.Float64}
    )
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=seed)
    halves = pl.concat([shuffled.tail(len(values) // 2), shuffled.head(len(values) - len(values) // 2)])
    summed = _summed(frame)
    for other in (shuffled, halves, frame.reverse()):
        assert _summed(other).equals(summed)  # bit for bit, NaN-free here
    for g, total in summed.iter_rows():
        group = [v for i, v in enumerate(values) if i % groups == g and v is not None]
        # each value within half a unit of the 15th decimal (of its float times 1e15, for values above
        # 9: a float's own precision), the total within one rounding
        each = math.fsum(abs(v) for v in group) * 2**-52 + 1e-15 * (len(group) + 1)
        assert total == pytest.approx(math.fsum(group), abs=each, rel=2**-52)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.floats(min_value=0.0, max_value=50.0), min_size=1, max_size=200), cuts=st.data())
def test_parts_added_again_give_the_same_bits_however_split(values: list[float], cuts: st.DataObject) -> None:
    """(a hostile review: a fleet's hour summed per bucket, then over buckets, depended on the split)"""
    frame = pl.DataFrame({"x": values})
    whole = frame.select(exact_sum(pl.col("x"))).item()
    parts = cuts.draw(st.integers(1, len(values)))
    split = frame.with_columns((pl.int_range(pl.len()) % parts).alias("part"))
    per_part = split.group_by("part").agg(exact_sum(pl.col("x")), exact_total(pl.col("x")).alias("t"))
    assert per_part.select(exact_resum(pl.col("t"), pl.col("x").sum())).item() == whole


def test_what_cannot_be_exact_is_the_plain_sum() -> None:
    def total(values: list[float | None]) -> float:
        return pl.DataFrame({"x": values}, schema={"x": pl.Float64}).select(exact_sum(pl.col("x"))).item()

    assert math.isnan(total([1.0, float("nan")]))
    assert total([1.0, float("inf")]) == math.inf
    assert total([1e16, 0.25]) == 1e16  # beyond the limit: added as floats
    assert total([8e6, 2e6, 0.25]) == 10_000_000.25
    assert total([]) == 0.0
    assert total([None, None]) == 0.0
    assert total([46.55]) == 46.55  # one value is itself (a product with 1e-12 gave 46.550000000000004)
    assert total([0.1]) == 0.1
    assert total([0.1, 0.2]) == total([0.2, 0.1]) == 0.3  # the exact sum, rounded once
    assert total([1e-9] * 100_000) == pytest.approx(1e-4, rel=1e-12)  # no term lost to rounding


def test_seconds_from_microsecond_times_add_exactly_far_beyond() -> None:
    gaps = pl.DataFrame({"x": [9481.727001, 9481.166, 3.0e9, 1e-6]})
    for frame in (gaps, gaps.reverse()):
        assert frame.select(exact_sum(pl.col("x"), places=6)).item() == 3_000_018_962.893002
