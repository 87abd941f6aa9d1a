"""Silences per charger (``gaps_of``) against a plain reference: every consecutive pair of a charger's
sorted times further apart than the threshold, whatever the order and spacing of the rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from evkit.analysis._timeline import gaps_of, timeline
from evkit.analysis.quality import quality_summary, telemetry_gaps
from evkit.analysis.sessions import sessions
from tests.analysis.conftest import Fleet

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _reference(rows: list[tuple[str, int]], expected: timedelta) -> list[tuple[str, datetime, datetime]]:
    found = []
    for charger in sorted({c for c, _ in rows}):
        times = sorted(T0 + timedelta(seconds=s) for c, s in rows if c == charger)
        found += [(charger, a, b) for a, b in pairwise(times) if b - a > expected]
    return found


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.sampled_from(["A", "B", "C"]), st.integers(min_value=0, max_value=4 * 3600)),
        min_size=1,
        max_size=60,
    ),
    expected_s=st.integers(min_value=1, max_value=3600),
)
def test_gaps_of_finds_exactly_the_long_silences(rows: list[tuple[str, int]], expected_s: int) -> None:
    expected = timedelta(seconds=expected_s)
    times = pl.LazyFrame(
        {"charger_id": [c for c, _ in rows], "observed_at": [T0 + timedelta(seconds=s) for _, s in rows]},
        schema={"charger_id": pl.String, "observed_at": pl.Datetime("us", "UTC")},
    )
    got = gaps_of(times, expected).collect()
    assert list(got.select("charger_id", "gap_start", "gap_end").iter_rows()) == _reference(rows, expected)
    assert got["gap_s"].to_list() == [(b - a).total_seconds() for _, a, b in _reference(rows, expected)]


def test_a_silence_just_over_the_threshold_is_found_one_just_under_is_not() -> None:
    expected = timedelta(minutes=20)
    stamps = [T0, T0 + expected, T0 + 2 * expected + timedelta(microseconds=1)]
    times = pl.LazyFrame({"charger_id": ["A"] * 3, "observed_at": stamps})
    got = gaps_of(times, expected).collect()
    assert got.select("gap_start", "gap_end").rows() == [(stamps[1], stamps[2])]


def test_rows_without_a_time_neither_hide_nor_make_a_silence() -> None:
    expected = timedelta(minutes=20)
    stamps = [T0, None, T0 + timedelta(hours=1), None, T0 + timedelta(hours=1, minutes=5)]
    times = pl.LazyFrame(
        {"charger_id": ["A"] * 5, "observed_at": stamps},
        schema={"charger_id": pl.String, "observed_at": pl.Datetime("us", "UTC")},
    )
    got = gaps_of(times, expected).collect()
    assert got.select("gap_start", "gap_end").rows() == [(T0, T0 + timedelta(hours=1))]


@pytest.mark.parametrize("gap_minutes", [20, 10])
def test_a_shared_timeline_changes_no_session_and_no_quality_count(fleet: Fleet, gap_minutes: int) -> None:
    """The report and the explorer find the silences once and hand them to the sessions and the quality
    checks: the same tables as each finding them itself (a timeline of another threshold is not used).
    The fleet with redelivered copies and shuffled arrival, and its clean rows in order."""
    gap = timedelta(minutes=gap_minutes)
    for lf in (fleet.frame().lazy(), fleet.frame(fleet.clean).lazy()):
        heard = timeline(lf)  # the default 20-minute silences
        own = pl.collect_all([sessions(lf, gap), quality_summary(lf, gap), telemetry_gaps(lf, gap)])
        shared = pl.collect_all(
            [
                sessions(lf, gap, timeline=heard),
                quality_summary(lf, gap, timeline=heard),
                telemetry_gaps(lf, gap, timeline=heard),
            ]
        )
        for mine, theirs in zip(own, shared, strict=True):
            assert_frame_equal(mine, theirs, rel_tol=1e-9)
        assert own[0]["gap"].any()  # the fleet has a hole: the shared silences are used, not ignored
