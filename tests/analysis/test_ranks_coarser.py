"""``ranks.coarser``: a histogram per finer keys, summed per fewer keys, is the histogram of the same
values per those keys (the report takes the heatmap hop's histogram so, instead of a second pass)."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from evkit.analysis import ranks

values = st.lists(
    st.tuples(
        st.integers(0, 3),  # day
        st.integers(0, 23),  # hour
        st.one_of(st.none(), st.integers(-(2**62), 2**62), st.integers(-5_000, 5_000_000)),  # latency, µs
    ),
    max_size=200,
)


def _sorted(hist: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    return hist.sort(*keys, "__bin")


@settings(max_examples=200, deadline=None)
@given(rows=values)
def test_a_coarser_histogram_is_the_histogram_of_the_same_values(
    rows: list[tuple[int, int, int | None]],
) -> None:
    frame = pl.DataFrame(
        rows, schema={"_day": pl.Int32, "_hod": pl.Int8, "__us": pl.Int64}, orient="row"
    ).lazy()
    fine = ranks.histogram(frame, ["_day", "_hod"])
    for keys in ([], ["_day"]):
        got = ranks.coarser(fine, keys).collect()
        want = ranks.histogram(frame.select(*keys, "__us"), keys).collect()
        assert_frame_equal(_sorted(got, keys), _sorted(want, keys))
