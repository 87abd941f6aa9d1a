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

from evkit.analysis._timeline import _in_runs, gaps_of, spans_and_gaps, spans_and_suspects, timeline
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


@pytest.mark.parametrize("held", [True, False], ids=["in memory", "lazy"])
def test_a_timeline_s_spans_and_gaps_collect_on_their_own(fleet: Fleet, held: bool) -> None:
    """Each half of a :func:`timeline` is a query of its own, not only a part of a shared collect (Polars
    2.1 panicked collecting the silences alone: a cache over a self-join at the root of the plan)."""
    frame = fleet.frame()
    lf = frame.lazy() if held else frame.lazy().select(frame.columns)
    heard = timeline(lf)
    gaps, spans = heard.gaps.collect(), heard.spans.collect()
    assert_frame_equal(gaps, gaps_of(lf.select("charger_id", "observed_at")).collect())
    assert gaps.height > 0 and spans.height == frame["charger_id"].n_unique()
    assert_frame_equal(pl.collect_all([heard.spans, heard.gaps])[1], gaps)


def _steps(draw: st.DrawFn, expected_us: int) -> list[int]:
    """Steps between a charger's sorted times around ``expected_us``: just under, at, just over, far over."""
    near = st.integers(min_value=-3, max_value=3).map(lambda d: max(0, expected_us + d))
    anywhere = st.integers(min_value=0, max_value=3 * expected_us)
    cut = st.sampled_from([7, 8, 9]).map(lambda k: expected_us * k // 8)
    return draw(st.lists(st.one_of(near, anywhere, cut, st.just(0)), min_size=0, max_size=40))


@st.composite
def _charger_times(draw: st.DrawFn) -> tuple[int, dict[str, list[int]]]:
    expected_us = draw(st.one_of(st.integers(1, 200), st.integers(1, 10**11), st.just(20 * 60 * 10**6)))
    start = draw(st.integers(min_value=-(10**13), max_value=10**13))  # before 1970 too
    chargers: dict[str, list[int]] = {}
    for name in draw(st.lists(st.sampled_from("ABCD"), min_size=1, max_size=4, unique=True)):
        times = [start + draw(st.integers(0, 5 * expected_us))]
        for step in _steps(draw, expected_us):
            times.append(times[-1] + step)
        chargers[name] = draw(st.permutations(times))  # any order: captures write in arrival order
    return expected_us, chargers


@settings(max_examples=400, deadline=None)
@given(case=_charger_times(), categorical=st.booleans())
def test_every_charger_with_a_silence_is_a_suspect_and_few_others(
    case: tuple[int, dict[str, list[int]]], categorical: bool
) -> None:
    """Only suspects' times are sorted for the silences, so a charger with a silence longer than the
    threshold must be one; a suspect has at least a silence longer than 7/8 of it (or the threshold is
    under 8 microseconds and every charger is). Spans are each charger's first, last and row count.
    Charger ids as text (the report's timeline) and categorical (the sessions')."""
    expected_us, chargers = case
    expected = timedelta(microseconds=expected_us)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    times = pl.LazyFrame(
        {
            "charger_id": [c for c, ts in chargers.items() for _ in ts],
            "observed_at": [epoch + timedelta(microseconds=t) for ts in chargers.values() for t in ts],
        },
        schema={"charger_id": pl.String, "observed_at": pl.Datetime("us", "UTC")},
    )
    if categorical:
        times = times.with_columns(pl.col("charger_id").cast(pl.Categorical))
    got = {r["charger_id"]: r for r in spans_and_suspects(times, expected).collect().iter_rows(named=True)}
    assert set(got) == set(chargers)
    tick_us = expected_us // 8
    for name, ts in chargers.items():
        ordered = sorted(ts)
        longest = max((b - a for a, b in pairwise(ordered)), default=0)
        row = got[name]
        assert (row["first_seen"], row["last_seen"], row["rows"]) == (
            epoch + timedelta(microseconds=ordered[0]),
            epoch + timedelta(microseconds=ordered[-1]),
            len(ts),
        )
        if longest > expected_us:
            assert row["suspect"], (name, longest)
        if row["suspect"] and tick_us >= 1:
            assert longest > (expected_us // tick_us - 1) * tick_us, (name, longest)


@pytest.mark.parametrize("dtype", [pl.String, pl.Categorical])
def test_blocks_2_to_the_32_apart_do_not_hide_a_silence(dtype: pl.DataType) -> None:
    """Categorical chargers are grouped on one 64-bit key holding a block's low 32 bits: two blocks
    2^32 apart share it. A silence between them is still found, and rows without a time change none."""
    expected = timedelta(microseconds=8)  # ticks of 1 microsecond, blocks of 64
    far = 2**32 * 64
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    stamps = [epoch + timedelta(microseconds=t) for t in (3, far + 5)] + [None]
    times = pl.LazyFrame(
        {"charger_id": ["A", "A", "A"], "observed_at": stamps},
        schema={"charger_id": pl.String, "observed_at": pl.Datetime("us", "UTC")},
    ).with_columns(pl.col("charger_id").cast(dtype))
    spans = spans_and_suspects(times, expected).collect()
    assert spans.select("first_seen", "last_seen", "rows", "suspect").rows() == [
        (stamps[0], stamps[1], 3, True)
    ]
    assert gaps_of(times, expected).collect().select("gap_start", "gap_end").rows() == [tuple(stamps[:2])]


@st.composite
def _held_times(draw: st.DrawFn) -> tuple[timedelta, pl.DataFrame, bool]:
    """Times as a caller holds them: runs of one charger in time order (sorted by charger, or a
    charger a day as a compacted store has them; runs that may touch or overlap), or shuffled; a
    missing time now and then. Also whether the rows are surely in runs (sorted by charger or a
    charger a day, no overlap, no missing time)."""
    expected_us = draw(st.sampled_from([8, 1_000, 20 * 60 * 10**6]))
    chargers = draw(st.lists(st.sampled_from("ABCD"), min_size=1, max_size=4, unique=True))
    runs: list[list[list[tuple[str, int | None]]]] = []  # per charger, its runs in time order
    in_runs = True
    for name in chargers:
        start = draw(st.integers(0, 10 * expected_us))
        runs.append([])
        for _ in range(draw(st.integers(1, 3))):
            times = [start]
            for step in _steps(draw, expected_us):
                times.append(times[-1] + step)
            runs[-1].append([(name, t) for t in times])
            start = times[-1] + draw(st.integers(-expected_us, 3 * expected_us))  # may overlap
            in_runs = in_runs and start >= times[-1]
    order = draw(st.sampled_from(["by charger", "a charger a day", "runs shuffled", "rows shuffled"]))
    if order == "by charger":
        rows = [row for own in runs for run in own for row in run]
    elif order == "a charger a day":  # each charger's first run, then each one's second, ...
        rows = [row for day in range(3) for own in runs if day < len(own) for row in own[day]]
    else:
        every = [run for own in runs for run in own]
        if order == "runs shuffled":  # a charger's runs out of order, or next to each other: not claimed
            rows = [row for run in draw(st.permutations(every)) for row in run]
        else:
            rows = draw(st.permutations([row for run in every for row in run]))
        in_runs = False
    if draw(st.booleans()) and draw(st.booleans()):
        rows = [*rows, (rows[0][0], None)]
        in_runs = False
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    frame = pl.DataFrame(
        {
            "charger_id": [c for c, _ in rows],
            "observed_at": [None if t is None else epoch + timedelta(microseconds=t) for _, t in rows],
        },
        schema={"charger_id": pl.String, "observed_at": pl.Datetime("us", "UTC")},
    )
    if draw(st.booleans()):
        frame = frame.with_columns(pl.col("charger_id").cast(pl.Categorical))
    return timedelta(microseconds=expected_us), frame, in_runs


@settings(max_examples=400, deadline=None)
@given(case=_held_times())
def test_held_times_in_runs_give_the_same_spans_and_silences(
    case: tuple[timedelta, pl.DataFrame, bool],
) -> None:
    """Times held in memory (the sessions', a report bucket's) are read in their order when they come
    in runs of one charger in time order: the same spans and silences as the blocks find. Runs that
    overlap in time, shuffled rows and missing times are left to the blocks; held or not, the tables
    are the same whatever the order of the rows."""
    expected, frame, in_runs = case
    lf = frame.lazy()
    spans, gaps = pl.collect_all(list(spans_and_gaps(lf, expected)))
    found = _in_runs(frame, expected, rows_per_run=1)  # short runs too: the reading, not the choice
    if in_runs:
        assert found is not None
    if found is not None:
        assert_frame_equal(found[1], gaps, check_dtypes=False)
        assert_frame_equal(found[0].sort("charger_id"), spans.sort("charger_id"), check_dtypes=False)
    held_spans, held_gaps = pl.collect_all(list(spans_and_gaps(lf, expected, in_runs=True)))
    assert_frame_equal(held_gaps, gaps)
    assert_frame_equal(held_spans.sort("charger_id"), spans.sort("charger_id"))


def test_rows_sorted_by_charger_are_read_in_runs_and_rows_in_arrival_order_are_not() -> None:
    """What the runs buy: an export sorted by charger and a compacted store's days are read in runs,
    rows in arrival order (chargers interleaved) and overlapping runs go to the blocks."""
    # 32 rows a charger a day, 5 minutes apart, with one 35-minute silence
    ts = [T0 + timedelta(minutes=5 * k + (30 if k >= 16 else 0)) for k in range(32)]
    by_charger = pl.DataFrame({"charger_id": ["A"] * 32 + ["B"] * 32, "observed_at": ts + ts})
    found = _in_runs(pl.concat([by_charger] * 20), timedelta(minutes=20))
    assert found is None  # the same times again: every charger's runs overlap
    days = pl.concat(
        by_charger.with_columns(pl.col("observed_at") + timedelta(days=d)) for d in range(20)
    )  # a charger a day, as a compacted store
    found = _in_runs(days, timedelta(minutes=20))
    assert found is not None
    spans, gaps = found
    assert spans.sort("charger_id")["rows"].to_list() == [640, 640]
    assert gaps.height == 2 * (20 + 19)  # one silence each day, and each night
    assert (gaps["gap_s"] == 35 * 60).sum() == 2 * 20
    assert _in_runs(days.sort("observed_at"), timedelta(minutes=20)) is None
