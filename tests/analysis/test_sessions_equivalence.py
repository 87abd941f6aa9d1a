"""The sessioniser gives the same sessions as before its speed pass (issue 11), on the known scenarios
and on generated chargers: ``tests/analysis/sessions_reference.py`` is the earlier version, verbatim.

Float figures are compared to 1e-9 relative: sums of the same readings in another order differ in the
last bits (the earlier version itself differs from run to run by that much)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from evkit import scan
from evkit.analysis import easee_sessions
from evkit.analysis._timeline import scan_begins_in_runs
from tests.analysis import scenario as sc
from tests.analysis import sessions_reference
from tests.analysis.conftest import Fleet


def _same(lf: pl.LazyFrame, gap: timedelta = timedelta(minutes=20)) -> None:
    new = easee_sessions(lf, gap).collect()
    old = sessions_reference.easee_sessions(lf, gap).collect()
    assert_frame_equal(new, old, rel_tol=1e-9, abs_tol=1e-9)


def test_the_fleet_gives_the_sessions_it_gave(fleet: Fleet) -> None:
    _same(fleet.frame().lazy())  # duplicates, arrival order, every quirk
    _same(fleet.frame(fleet.clean).lazy())
    _same(fleet.frame().lazy(), gap=timedelta(minutes=3))  # many more holes


plans = st.lists(
    st.tuples(
        st.integers(1, 120),
        st.integers(0, 90),
        st.sampled_from([None, 0, 4, 6]),
        st.integers(0, 90),
        st.sampled_from([3.7, 11.0, 22.0]),
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    plans=st.lists(plans, min_size=1, max_size=3),
    seed=st.integers(0, 1000),
    holes=st.lists(st.tuples(st.integers(0, 400), st.integers(1, 90)), max_size=2),
    token=st.sampled_from([None, "04AABBCC"]),
    start=st.sampled_from([0, 2, 3]),
    zeros=st.lists(st.integers(0, 600), max_size=3),
)
def test_generated_chargers_give_the_sessions_they_gave(
    *,
    plans: list[list[tuple[int, int, int | None, int, float]]],
    seed: int,
    holes: list[tuple[int, int]],
    token: str | None,
    start: int,
    zeros: list[int],
) -> None:
    """Several chargers: charging or not, pauses, offline, errors, open ends, data starting mid-session
    (first op mode ``start``), capture holes, spurious zero counters, tokens, duplicates, shuffled arrival."""
    rows: list[sc.Row] = []
    for n, plan in enumerate(plans):
        cid = f"EHEQ{n:05d}"
        steps: list[tuple[int, int, float]] = [(0, 1 if start == 0 else start, 7.4 if start == 3 else 0.0)]
        minute = 0
        for wait, charge, middle, idle, power in plan:
            minute += wait
            steps.append((minute, 2, 0.0))
            if charge:
                steps.append((minute + 1, 3, power))
                minute += 1 + charge
            if middle is not None:
                steps.append((minute, middle, 0.0))
            minute += 1 + idle
            if idle:
                steps.append((minute, 1, 0.0))
        charger = sc.Charger(cid, steps, minute + 30, token=token, initial_session_kwh=2.0).run()
        got = charger.rows
        for at, length in holes:
            begin = sc.T0 + timedelta(minutes=at)
            got = sc.drop_window(got, cid, begin, begin + timedelta(minutes=length))
        for minute in zeros:
            got = sc.spurious_zero(got, cid, sc.T0 + timedelta(minutes=minute, seconds=30))
        rows += got
    _same(sc.frame(sc.shuffle(sc.duplicate(rows), seed=seed)).lazy())


def test_a_store_sorted_by_charger_gives_the_sessions_it_gave(fleet: Fleet, tmp_path: Path) -> None:
    """A store sorted by charger (an export, a compacted store) is read in runs: its silences come
    from neighbouring rows, not a group-by over every row. Its sessions are those the earlier version
    gives, and those of the same rows in arrival order (which go to the blocks)."""
    frame = fleet.frame(fleet.clean)
    stores = {"sorted": frame.sort("charger_id", "observed_at"), "arrival": frame.sort("received_at")}
    for name, rows in stores.items():
        (tmp_path / name).mkdir()
        rows.write_parquet(tmp_path / name / "part.parquet")
    by_charger, arrival = (scan(tmp_path / name, dedupe=False) for name in stores)
    assert scan_begins_in_runs(by_charger) and not scan_begins_in_runs(arrival)
    assert not scan_begins_in_runs(by_charger.filter(pl.lit(True)))  # not a scan: not looked at
    _same(by_charger)
    found = easee_sessions(by_charger).collect()
    assert found["gap"].any()  # the fleet's hole is found in runs too
    assert_frame_equal(found, easee_sessions(arrival).collect(), rel_tol=1e-9, abs_tol=1e-9)


def test_device_times_of_any_unit_or_zone_give_the_same_sessions(fleet: Fleet) -> None:
    """The counter and the meter of each session's range are looked up up to the next start, or past
    any time of the column's type for a charger's last session: nanoseconds (which end in 2262),
    milliseconds, another zone or none give the sessions of the contract's microseconds in UTC."""
    frame = fleet.frame()
    expected = easee_sessions(frame.lazy()).collect()
    last = expected.group_by("charger_id").agg(pl.all().sort_by("started_at").last())
    assert last["energy_session_kwh"].drop_nulls().len() > 0  # the last ranges hold counter readings
    assert last["meter_stop_kwh"].drop_nulls().len() > 0  # and meter readings
    at = pl.col("observed_at")
    for observed in (
        at.dt.cast_time_unit("ns"),
        at.dt.cast_time_unit("ms"),
        at.dt.convert_time_zone("Europe/Oslo"),
        at.dt.replace_time_zone(None),
    ):
        got = easee_sessions(frame.with_columns(observed).lazy()).collect()
        assert_frame_equal(got, expected, rel_tol=1e-9, abs_tol=1e-9)
