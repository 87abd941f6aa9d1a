"""``sessions_starting(lf, start, end)`` (``evkit sessions --from --to``) reads less and gives exactly
the sessions of the whole data that start in the window."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from evkit.analysis import sessions
from evkit.analysis.session_window import session_rows, sessions_starting
from tests.analysis import scenario as sc
from tests.analysis.conftest import Fleet

_minutes = st.none() | st.integers(-30, 640)


def _at(minute: int | None) -> datetime | None:
    return None if minute is None else sc.T0 + timedelta(minutes=minute, seconds=17)


def _filtered(lf: pl.LazyFrame, start: datetime | None, end: datetime | None) -> pl.DataFrame:
    frame = sessions(lf).collect()
    if start is not None:
        frame = frame.filter(pl.col("started_at") >= start)
    if end is not None:
        frame = frame.filter(pl.col("started_at") < end)
    return frame


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=_minutes, b=_minutes)
def test_sessions_in_a_window_are_those_of_all_the_data_filtered(
    fleet: Fleet, a: int | None, b: int | None
) -> None:
    """The fleet has every quirk: mid-session start, a hole, offline, stale and spurious counters, a
    meter reset, duplicates, arrival order, an open session at the end."""
    lf = fleet.frame().lazy()
    start, end = _at(a), _at(b)
    assert_frame_equal(sessions_starting(lf, start, end).collect(), _filtered(lf, start, end))


plans = st.lists(
    st.tuples(st.integers(1, 200), st.integers(0, 90), st.sampled_from([None, 0, 4, 6]), st.integers(0, 90)),
    min_size=1,
    max_size=6,
)


@settings(max_examples=40, deadline=None)
@given(plans=plans, a=_minutes, b=_minutes, seed=st.integers(0, 100))
def test_generated_chargers_give_the_same_sessions_in_any_window(
    plans: list[tuple[int, int, int | None, int]], a: int | None, b: int | None, seed: int
) -> None:
    """Plug-ins with or without charging, pauses, offline spells, errors and open ends, cut anywhere.
    The second charger's last session never charges: its phases come from a reading hours before."""
    steps: list[tuple[int, int, float]] = [(0, 1, 0.0)]
    minute = 0
    for wait, charge, middle, idle in plans:
        minute += wait
        steps.append((minute, 2, 0.0))
        if charge:
            steps.append((minute + 1, 3, 11.0))
            minute += 1 + charge
        if middle is not None:
            steps.append((minute, middle, 0.0))  # offline (0), paused (4), error (6)
        minute += 1 + idle
        if idle:
            steps.append((minute, 1, 0.0))
    charger = sc.Charger("EHWIN0001", steps, minute + 40).run()
    other = sc.Charger("EHWIN0002", [(0, 2, 0.0), (3, 3, 7.4), (50, 1, 0.0), (300, 2, 0.0)], 400).run()
    rows = sc.shuffle(sc.duplicate(charger.rows + other.rows), seed=seed)
    lf = sc.frame(rows).lazy()
    start, end = _at(a), _at(b)
    assert_frame_equal(sessions_starting(lf, start, end).collect(), _filtered(lf, start, end))


def test_a_window_reads_a_fraction_of_the_rows(fleet: Fleet) -> None:
    lf = fleet.frame().lazy()
    every = lf.select(pl.len()).collect().item()
    narrow = session_rows(lf, sc.T0 + timedelta(hours=3), sc.T0 + timedelta(hours=4)).select(pl.len())
    assert narrow.collect().item() < every / 2


def test_a_window_without_sessions_reads_no_easee_rows(fleet: Fleet) -> None:
    lf = fleet.frame().lazy()
    far = sc.T0 + timedelta(days=30)
    assert session_rows(lf, far, far + timedelta(hours=1)).collect().height == 0
    assert sessions_starting(lf, far, None).collect().height == 0


def test_home_charger_rows_are_read_whole_in_a_mixed_store(fleet: Fleet) -> None:
    """evcc sessions beside Easee ones: the window narrows only the Easee rows; same rows either way."""
    mqtt_frame = sc.evcc_session(plugged_at_minute=200)
    lf = pl.concat([fleet.frame(), mqtt_frame], how="diagonal_relaxed").lazy()
    start, end = sc.T0 + timedelta(minutes=150), sc.T0 + timedelta(minutes=420)
    got = sessions_starting(lf, start, end).collect()
    assert set(got["source"]) == {"easee", "evcc"}
    assert_frame_equal(got, _filtered(lf, start, end))
