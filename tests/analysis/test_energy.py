"""Energy per hour and day, and the lifetime-meter check, against the simulated truth."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from evkit.analysis import ENERGY_SCHEMA, energy_per_day, energy_per_hour, lifetime_meter_check
from tests.analysis import scenario as sc
from tests.analysis.conftest import METER_RESET_AT, A, B, D, E, Fleet

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def test_hourly_frame_has_the_energy_schema(fleet_lf: pl.LazyFrame) -> None:
    result = energy_per_hour(fleet_lf)
    assert isinstance(result, pl.LazyFrame)
    assert result.collect_schema() == pl.Schema(ENERGY_SCHEMA)


def test_hourly_energy_follows_the_meter_hour_by_hour() -> None:
    # 11 kW from 06:30 to 08:30: 5.5 kWh in hour 06, 11 in 07, 5.5 in 08
    charger = sc.Charger(
        "EHHOUR001", [(0, 1, 0), (29, 2, 0), (30, 3, 11.0), (150, 4, 0), (160, 1, 0)], 240
    ).run()
    hourly = energy_per_hour(sc.frame(charger.rows).lazy()).collect()
    by_hour = {row["hour"]: row for row in hourly.iter_rows(named=True)}
    for offset, kwh in ((0, 5.5), (1, 11.0), (2, 5.5), (3, 0.0)):
        row = by_hour[sc.T0 + offset * HOUR]
        assert row["energy_kwh"] == pytest.approx(kwh, abs=0.01)
        assert row["source"] == "lifetime_meter"
    # the session counter, bucketed by its own reports, tells the same story
    assert by_hour[sc.T0 + HOUR]["energy_session_kwh"] == pytest.approx(11.0, abs=0.01)


def test_daily_energy_equals_the_energy_charged_that_day(fleet: Fleet, fleet_lf: pl.LazyFrame) -> None:
    daily = energy_per_day(fleet_lf).collect()
    day = {row["charger_id"]: row for row in daily.iter_rows(named=True)}
    assert all(row["day"] == date(2026, 3, 2) for row in daily.iter_rows(named=True))
    assert day[A]["energy_kwh"] == pytest.approx(29.0 + 3.7 * 195 / 60, rel=0.01)
    # B: only what was charged after the data began (the 5 kWh before it are not that day's data)
    assert day[B]["energy_kwh"] == pytest.approx(7.4 * 1.5 + 11.0 * 119 / 60, rel=0.01)
    assert day[E]["energy_kwh"] == pytest.approx(0.0, abs=1e-9)


def test_capture_hole_falls_back_to_the_counter_and_says_so(fleet_lf: pl.LazyFrame) -> None:
    hourly = energy_per_hour(fleet_lf).filter(pl.col("charger_id") == B).collect()
    sources = set(hourly["source"])
    assert sources == {"lifetime_meter", "session_energy"}
    daily = energy_per_day(fleet_lf).filter(pl.col("charger_id") == B).collect()
    assert daily["source"].item() == "lifetime_meter+session_energy"


def test_meter_reset_is_flagged_and_not_counted(fleet_lf: pl.LazyFrame) -> None:
    check = lifetime_meter_check(fleet_lf).collect()
    issues = check.filter(pl.col("issue").is_not_null())
    assert issues.select("charger_id", "observed_at", "issue").rows() == [(D, METER_RESET_AT, "reset")]
    day = energy_per_day(fleet_lf).filter(pl.col("charger_id") == D).collect()
    # the hour of the reset comes from the counter instead of a -500 kWh meter step
    assert day["energy_kwh"].item() == pytest.approx(22.0, rel=0.01)


def test_glitches_and_jumps_are_flagged() -> None:
    rows = [
        sc.Row("EHGLITCH1", 124, sc.T0 + i * HOUR, v, f"{v:g}")
        for i, v in enumerate([100.0, 101.0, 99.5, 102.0, 180.0, 181.0])
    ]
    rows.append(sc.Row("EHGLITCH1", 124, sc.T0 + 9 * HOUR, 182.0, "182"))
    check = lifetime_meter_check(sc.frame(rows).lazy()).collect()
    assert check["issue"].to_list() == [None, None, "decrease", None, "jump", None, "gap"]
    assert check["delta_kwh"].to_list()[1:3] == pytest.approx([1.0, -1.5])


def test_energy_per_hour_figure_is_used_without_a_meter() -> None:
    rows = [
        sc.Row("EHEPH0001", 122, sc.T0 + HOUR + timedelta(seconds=40), 3.2, "3.2"),
        sc.Row("EHEPH0001", 122, sc.T0 + 2 * HOUR + timedelta(seconds=35), 7.5, "7.5"),
    ]
    hourly = energy_per_hour(sc.frame(rows).lazy()).collect()
    assert hourly.select("hour", "energy_kwh", "source").rows() == [
        (sc.T0, 3.2, "energy_per_hour"),
        (sc.T0 + HOUR, 7.5, "energy_per_hour"),
    ]


def test_duplicates_do_not_double_energy(fleet: Fleet) -> None:
    clean = energy_per_day(fleet.frame(fleet.clean).lazy()).collect()
    messy = energy_per_day(fleet.frame().lazy()).collect()
    assert messy["energy_kwh"].to_list() == pytest.approx(clean["energy_kwh"].to_list())


def _meter(charger: str, readings: list[tuple[timedelta, float]]) -> list[sc.Row]:
    return [sc.Row(charger, 124, sc.T0 + at, kwh, f"{kwh:g}") for at, kwh in readings]


def test_meter_readings_off_the_hour_are_interpolated_to_the_hours() -> None:
    # 11 kW from 05:20 to 07:20; the meter is read at 20 past (live chargers send 124 at irregular
    # times). Truth: hour 05 gets 40 min (7.33 kWh), hour 06 all of it (11), hour 07 20 min (3.67).
    # Before the fix each step was booked wholesale into its reading's "closing hour": 11, 11, 0.
    rows = _meter(
        "EHIRREG01",
        [(-40 * MINUTE, 1000.0), (20 * MINUTE, 1011.0), (80 * MINUTE, 1022.0), (140 * MINUTE, 1022.0)],
    )
    hourly = energy_per_hour(sc.frame(rows).lazy()).collect()
    by_hour = {row["hour"]: row["energy_kwh"] for row in hourly.iter_rows(named=True)}
    assert by_hour[sc.T0 - HOUR] == pytest.approx(11.0 * 40 / 60)
    assert by_hour[sc.T0] == pytest.approx(11.0)
    assert by_hour[sc.T0 + HOUR] == pytest.approx(11.0 * 20 / 60)
    assert sum(by_hour.values()) == pytest.approx(22.0)


def test_a_reading_at_twenty_past_keeps_its_energy_in_its_own_hour() -> None:
    # 5 kWh charged between 09:00 and 09:20, read at 09:20: hour 09, not hour 08
    rows = _meter("EHTWENTY1", [(timedelta(0), 1000.0), (20 * MINUTE, 1005.0), (HOUR, 1005.0)])
    hourly = energy_per_hour(sc.frame(rows).lazy()).collect()
    by_hour = {row["hour"]: row["energy_kwh"] for row in hourly.iter_rows(named=True)}
    assert by_hour == {sc.T0: pytest.approx(5.0)}


def test_two_meter_readings_at_one_instant_on_the_hour() -> None:
    rows = _meter("EHSAME001", [(timedelta(0), 1000.0), (HOUR, 1002.0), (HOUR, 1002.0)])
    hourly = energy_per_hour(sc.frame(rows).lazy()).collect()
    assert hourly["energy_kwh"].sum() == pytest.approx(2.0)
    assert hourly["hour"].null_count() == 0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(min_value=1, max_value=90 * 60), st.floats(min_value=0, max_value=10)),
        min_size=1,
        max_size=30,
    )
)
def test_interpolation_keeps_every_kwh_and_books_none_outside_the_steps(
    steps: list[tuple[int, float]],
) -> None:
    # readings at arbitrary seconds, steps of up to 90 min; a step implying more than 25 kW is a
    # "jump" and left out (as before)
    at, kwh = sc.T0 + timedelta(seconds=17), 500.0
    readings = [(at - sc.T0, kwh)]
    kept = 0.0
    for seconds_, delta in steps:
        at += timedelta(seconds=seconds_)
        kwh += delta
        readings.append((at - sc.T0, kwh))
        if delta / (seconds_ / 3600) <= 25.0:
            kept += delta
    hourly = energy_per_hour(sc.frame(_meter("EHPROP001", readings)).lazy()).collect()
    assert hourly["energy_lifetime_kwh"].sum() == pytest.approx(kept, abs=1e-6)
    assert (hourly["energy_lifetime_kwh"] >= -1e-9).all()
    hours = hourly.filter(pl.col("energy_lifetime_kwh").is_not_null())["hour"].to_list()
    assert all(sc.T0.replace(minute=0) <= hour <= at for hour in hours)


def test_energy_per_day_counts_the_days_of_a_zone() -> None:
    """Issue 13: days in ``zone`` (Asia/Tokyo, UTC+9 all year): each hour in the local date it starts
    on; the energy is the same, only where the day boundary falls moves."""
    import evkit
    from tests.conftest import REPO_ROOT

    lf = evkit.scan(REPO_ROOT / "data" / "sample-session")
    hourly = energy_per_hour(lf).collect()
    expected = (
        hourly.group_by("charger_id", (pl.col("hour") + timedelta(hours=9)).dt.date().alias("day"))
        .agg(pl.col("energy_kwh").sum())
        .sort("charger_id", "day")
    )
    tokyo = energy_per_day(lf, zone="Asia/Tokyo").collect().select("charger_id", "day", "energy_kwh")
    assert_frame_equal(tokyo, expected, check_exact=False)
    utc = energy_per_day(lf).collect()
    assert utc["energy_kwh"].sum() == pytest.approx(tokyo["energy_kwh"].sum())
    assert utc.select("charger_id", "day").rows() != tokyo.select("charger_id", "day").rows()
