"""The sessioniser gives the same sessions as before its speed pass (issue 11), on the known scenarios
and on generated chargers: ``tests/analysis/sessions_reference.py`` is the earlier version, verbatim.

Float figures are compared to 1e-9 relative: sums of the same readings in another order differ in the
last bits (the earlier version itself differs from run to run by that much)."""

from __future__ import annotations

import importlib
from datetime import timedelta
from pathlib import Path
from unittest.mock import patch

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from evkit import scan
from evkit.analysis import easee_sessions
from evkit.analysis._timeline import scan_shape
from tests.analysis import scenario as sc
from tests.analysis import sessions_reference
from tests.analysis.conftest import Fleet

sessions_module = importlib.import_module("evkit.analysis.sessions")


def _same(lf: pl.LazyFrame, gap: timedelta = timedelta(minutes=20)) -> None:
    """The sessions of ``lf`` are the reference's, whichever order the power readings are assigned in
    (by time; by charger and time, chosen for stores that come a whole charger at a time), and on
    either Polars engine."""
    old = sessions_reference.easee_sessions(lf, gap).collect()
    new = easee_sessions(lf, gap).collect()
    assert_frame_equal(new, old, rel_tol=1e-9, abs_tol=1e-9)
    with patch.object(sessions_module, "scan_shape", return_value=(False, True)):
        by_charger = easee_sessions(lf, gap).collect()
    assert_frame_equal(by_charger, old, rel_tol=1e-9, abs_tol=1e-9)
    with patch.object(sessions_module, "scan_shape", return_value=(True, True)):
        in_runs = easee_sessions(lf, gap).collect(engine="in-memory")
    assert_frame_equal(in_runs, old, rel_tol=1e-9, abs_tol=1e-9)
    assert_frame_equal(easee_sessions(lf, gap).collect(engine="in-memory"), old, rel_tol=1e-9, abs_tol=1e-9)


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
    assert scan_shape(by_charger)[0] and not scan_shape(arrival)[0]
    assert not scan_shape(by_charger.filter(pl.lit(True)))[0]  # not a scan: not looked at
    _same(by_charger)
    found = easee_sessions(by_charger).collect(engine="in-memory")
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


def test_rows_that_come_a_whole_charger_at_a_time_are_told_from_a_chargers_day() -> None:
    """The hint that picks the cheaper sort of the power readings: long runs of one charger in time
    order (an export sorted by charger), not a compacted store's day per charger or arrival order."""
    from datetime import UTC, datetime

    from evkit.analysis._timeline import begins_by_charger

    minutes = [datetime(2026, 3, 2, tzinfo=UTC) + timedelta(minutes=m) for m in range(40_000)]

    def rows(chargers: list[str], times: list[datetime]) -> pl.DataFrame:
        return pl.DataFrame({"charger_id": chargers, "observed_at": times})

    whole = rows(["A"] * 20_000 + ["B"] * 20_000, minutes[:20_000] * 2)
    assert begins_by_charger(whole)
    days = rows([c for _ in range(50) for c in ["A"] * 400 + ["B"] * 400], minutes[:400] * 100)
    assert not begins_by_charger(days)
    arrival = rows(["A", "B"] * 20_000, [t for t in minutes[:20_000] for _ in range(2)])
    assert not begins_by_charger(arrival)
    assert not begins_by_charger(whole.reverse())  # one charger, time running backwards
    assert begins_by_charger(whole.head(100))  # a small store of one charger
    assert not begins_by_charger(pl.concat([whole.head(50), whole.tail(50)]))  # two in 100 rows


def test_power_held_at_an_unplug_ends_with_its_session() -> None:
    """Unplugged while charging: no zero power reading closes the charge, so the last reading is held
    until the session's end, never until the next session's first reading (for either order the
    power readings are assigned in)."""
    plan = [
        (0, 1, 0.0), (10, 2, 0.0), (12, 3, 11.0), (40, 1, 0.0),
        (100, 2, 0.0), (102, 3, 7.0), (130, 4, 0.0), (140, 1, 0.0),
    ]  # fmt: skip
    rows = sc.Charger("EHUNPLUG", plan, 180).run().rows
    unplug = sc.T0 + timedelta(minutes=40)
    rows = [r for r in rows if not (r.observation_id == 120 and r.observed_at == unplug)]
    lf = sc.frame(sc.shuffle(rows)).lazy()
    _same(lf)
    first = easee_sessions(lf).collect().row(0, named=True)
    assert first["energy_integral_kwh"] == pytest.approx(11.0 * 28 / 60, abs=1e-6)
