"""``in_zone`` moves datetime64 arrays (as the figures hand a frame's times to plotly) exactly as it
moves lists of datetimes, with the same zone rules as the figure's bands and axis, names the zone's
abbreviation alike, and leaves days (``datetime64[D]``) as they are. Written by a hostile test of the
figures' arrays; the four cases at the end broke the first version."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import numpy as np
import plotly.graph_objects as go
import polars as pl
import pytest

from evkit.figures import energy_per_day
from evkit.figures.localtime import in_zone
from tests.plotted import values

ZONES = ["Europe/Oslo", "America/Sao_Paulo", "Asia/Kolkata", "America/New_York", "Australia/Lord_Howe"]
# around Europe's DST end (2026-10-25 01:00 UTC), Sao Paulo's DST start (2018-11-04 03:00 UTC),
# New York's DST start (2026-03-08 07:00 UTC)
STARTS = [datetime(2026, 10, 24, 22), datetime(2018, 11, 4, 0), datetime(2026, 3, 8, 4), datetime(2026, 7, 1)]


def _times(start: datetime) -> list[datetime]:
    return [start + timedelta(minutes=17 * i, microseconds=123 * i) for i in range(40)]


def _pair(times: list[datetime], unit: str = "us") -> tuple[go.Figure, go.Figure]:
    as_list = go.Figure(go.Scatter(x=times, y=list(range(len(times)))))
    as_array = go.Figure(go.Scatter(x=np.array(times, dtype=f"datetime64[{unit}]"), y=np.arange(len(times))))
    return as_list, as_array


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("start", STARTS)
def test_an_array_of_times_moves_as_a_list_does(zone: str, start: datetime) -> None:
    as_list, as_array = _pair(_times(start))
    in_zone(as_list, zone)
    in_zone(as_array, zone)
    assert values(as_array.data[0].x) == values(as_list.data[0].x)
    as_list.update_xaxes(title_text="time (UTC)")  # the figures' TIME_AXIS_TITLE
    as_array.update_xaxes(title_text="time (UTC)")
    assert in_zone(as_array, zone).layout.xaxis.title.text == in_zone(as_list, zone).layout.xaxis.title.text


@pytest.mark.parametrize("unit", ["ns", "ms"])
def test_other_time_units_move_alike(unit: str) -> None:
    times = [datetime(2026, 10, 25, 0, 30), datetime(2026, 10, 25, 1, 30)]
    _, as_array = _pair(times, unit)
    in_zone(as_array, "Europe/Oslo")
    assert values(as_array.data[0].x) == [datetime(2026, 10, 25, 2, 30), datetime(2026, 10, 25, 2, 30)]


def test_the_axis_title_names_both_abbreviations_only_by_the_zone() -> None:
    fig = go.Figure(go.Scatter(x=np.array(_times(STARTS[0]), dtype="datetime64[us]"), y=np.arange(40)))
    fig.update_xaxes(title_text="time (UTC)")
    assert in_zone(fig, "Europe/Oslo").layout.xaxis.title.text == "time (Europe/Oslo)"  # CEST and CET
    one = go.Figure(go.Scatter(x=np.array([datetime(2026, 7, 1)], dtype="datetime64[us]"), y=[1]))
    one.update_xaxes(title_text="time (UTC)")
    assert in_zone(one, "Asia/Kolkata").layout.xaxis.title.text == "time (Asia/Kolkata, IST)"


def test_missing_and_empty_arrays() -> None:
    fig = go.Figure(go.Scatter(x=np.array(["2026-07-01T00:00", "NaT"], dtype="datetime64[us]"), y=[1, 2]))
    fig.add_trace(go.Scatter(x=np.array([], dtype="datetime64[us]"), y=[]))
    fig.add_trace(
        go.Bar(
            x=[1000], base=np.array(["2026-07-01T00:00"], dtype="datetime64[ms]"), y=["A"], orientation="h"
        )
    )
    in_zone(fig, "America/Sao_Paulo")
    assert values(fig.data[0].x) == [datetime(2026, 6, 30, 21), None]
    assert values(fig.data[1].x) == []
    assert values(fig.data[2].base) == [datetime(2026, 6, 30, 21)]


def test_utc_leaves_the_figure_alone() -> None:
    _, as_array = _pair(_times(STARTS[0]))
    before = as_array.to_json()
    assert in_zone(as_array, "UTC").to_json() == before


def test_in_zone_of_energy_per_day_does_not_raise() -> None:
    """Days are the zone's already: an energy figure in a zone keeps them (a first version took an array
    of days for UTC times and raised)."""
    fig = energy_per_day(
        pl.DataFrame({"charger_id": ["C1"], "day": [date(2026, 11, 20)], "energy_kwh": [1.0]})
    )
    in_zone(fig, "Europe/Oslo")
    assert values(fig.data[0].x) == [date(2026, 11, 20)]


def test_in_zone_moves_arrays_and_bands_with_the_same_zone_rules() -> None:
    """Traces and bands of one figure move by the same zone rules (Python's). A first version moved
    arrays with Polars, whose own copy of the zone database differs for "WET" in 1995: the trace and
    its band were drawn an hour apart; zones only Python knows ("localtime", "Factory") raised."""
    t = datetime(1995, 7, 15, 12)
    fig = go.Figure(go.Scatter(x=np.array([t], dtype="datetime64[us]"), y=[1]))
    fig.add_vrect(x0=t, x1=datetime(1995, 7, 15, 13))
    in_zone(fig, "WET")
    assert values(fig.data[0].x) == [fig.layout.shapes[0].x0]


def test_energy_per_day_missing_day_is_null_in_the_figure_json() -> None:
    """A missing day is ``null`` in the figure's JSON, not the string ``"NaT"`` (days go to plotly as
    dates, not as an array)."""
    fig = energy_per_day(
        pl.DataFrame({"charger_id": ["C1", "C1"], "day": ["2026-11-20", "n/a"], "energy_kwh": [1.0, 2.0]})
    )
    xs = [x for t in json.loads(fig.to_json())["data"] for x in t["x"]]
    assert "NaT" not in xs


def test_in_zone_of_an_array_in_seconds_does_not_raise() -> None:
    """An array of times in seconds (pandas 2 frames often hold ``datetime64[s]``) moves as any other
    (a first version raised: Polars takes no NumPy times in seconds)."""
    fig = go.Figure(go.Scatter(x=np.array(["2026-07-01T00:00"], dtype="datetime64[s]"), y=[1]))
    in_zone(fig, "Europe/Oslo")
    assert values(fig.data[0].x) == [datetime(2026, 7, 1, 2)]
