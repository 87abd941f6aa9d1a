"""Figures bound what they draw (and say so) and keep their times and zones straight, whatever the data."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import plotly.graph_objects as go
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from evkit import figures
from evkit.figures import _binned, latency
from evkit.figures.localtime import _moved, _moved_times, in_zone
from tests.plotted import values

T0 = datetime(2026, 3, 2, 6, tzinfo=UTC)
CHARGER = "EH000001"


def _readings(
    obs_id: int, times: list[datetime] | pl.Series, values: list[float] | pl.Series
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "observed_at": pl.Series(times, dtype=pl.Datetime("us", "UTC")),
            "charger_id": CHARGER,
            "observation_id": pl.Series([obs_id] * len(values), dtype=pl.Int32),
            "value": pl.Series(values, dtype=pl.Float64),
        }
    )


def _modes(*changes: tuple[datetime, int]) -> pl.DataFrame:
    return _readings(109, [t for t, _ in changes], [float(m) for _, m in changes])


def _seconds(n: int, every_s: int = 1) -> pl.Series:
    return pl.datetime_range(
        T0 + timedelta(seconds=every_s),
        T0 + timedelta(seconds=n * every_s),
        timedelta(seconds=every_s),
        time_unit="us",
        time_zone="UTC",
        eager=True,
    )


def _subtitle(figure: go.Figure) -> str:
    return str(figure.layout.title.subtitle.text or "")


def _trace(figure: go.Figure, prefix: str) -> go.Scatter:
    return next(t for t in figure.data if str(t.name).startswith(prefix))


def test_a_long_charge_draws_bin_means_and_says_how_many_readings_they_summarise() -> None:
    n = 300_000  # a reading per second for 3.5 days
    power = _readings(120, _seconds(n), [7.0 + (i % 10) / 10 for i in range(n)])
    current = _readings(183, _seconds(n // 10, 10), [16.0] * (n // 10))
    frame = pl.concat([_modes((T0, 3), (T0 + timedelta(seconds=n + 1), 1)), power, current])
    figure = figures.session_power_curve(frame, CHARGER, T0)
    for name in ("total power", "L1"):
        trace = _trace(figure, name)
        assert 0 < len(trace.x) <= _binned.MAX_POINTS
        assert len(trace.x) == len(trace.y)
    drawn = len(_trace(figure, "total power").x) + len(_trace(figure, "L1").x)
    assert f"{n + n // 10:,} readings drawn as {drawn:,} points" in _subtitle(figure)
    assert "mean of each 2-minute interval" in _subtitle(figure)
    # the means are of the readings: 7.0 … 7.9 repeating averages 7.45
    assert all(abs(y - 7.45) < 0.01 for y in _trace(figure, "total power").y[1:-1])
    assert _trace(figure, "L1").y[0] == 16.0


def test_a_short_charge_draws_every_reading() -> None:
    n = 500
    power = _readings(120, _seconds(n), [float(i) for i in range(n)])
    frame = pl.concat([_modes((T0, 3)), power])
    figure = figures.session_power_curve(frame, CHARGER, T0)
    trace = _trace(figure, "total power")
    assert list(trace.y) == [float(i) for i in range(n)]
    assert [t.replace(tzinfo=UTC) for t in values(trace.x)] == _seconds(n).to_list()
    assert "mean of each" not in _subtitle(figure)


def test_bin_widths_are_round_and_bound_the_points() -> None:
    for span in (timedelta(minutes=5), timedelta(hours=7), timedelta(days=3), timedelta(days=400)):
        width = _binned.bin_width(span)
        assert math.floor(span / width) + 2 <= _binned.MAX_POINTS


def test_a_session_without_power_readings_still_draws_its_bands_on_a_date_axis() -> None:
    frame = _modes((T0, 2), (T0 + timedelta(minutes=10), 3), (T0 + timedelta(hours=2), 1))
    figure = figures.session_power_curve(frame, CHARGER, T0, T0 + timedelta(hours=3))
    assert figure.layout.xaxis.type == "date"
    assert len(figure.layout.shapes) == 3
    for shape in figure.layout.shapes:
        assert isinstance(shape.x0, datetime | str) and isinstance(shape.x1, datetime | str)
    assert "no TotalPower (120) readings" in _subtitle(figure)
    assert "NaN" not in figure.to_json()


def test_op_mode_labels_move_with_their_bands_to_the_zone() -> None:
    start = datetime(2026, 7, 1, 10, tzinfo=UTC)
    power = _readings(120, [start + timedelta(minutes=m) for m in range(0, 180, 5)], [7.0] * 36)
    frame = pl.concat(
        [_modes((start, 2), (start + timedelta(minutes=30), 3), (start + timedelta(hours=2), 1)), power]
    )
    figure = in_zone(
        figures.session_power_curve(frame, CHARGER, start, start + timedelta(hours=3)), "Europe/Oslo"
    )
    labels = [a for a in figure.layout.annotations if a.xref == "x"]
    assert labels, "the wide bands are labelled"
    starts = {s.x0 for s in figure.layout.shapes}
    for label in labels:
        assert label.x in starts
    assert min(starts) == datetime(2026, 7, 1, 12)  # 10:00 UTC is 12:00 in Oslo in summer


def _axis_title(figure: go.Figure) -> str:
    return str(figure.layout.xaxis.title.text)


def test_the_zone_label_is_the_one_of_the_data_not_of_today() -> None:
    for when, expected in ((datetime(2026, 7, 1, 12), "CEST"), (datetime(2026, 1, 15, 12), "CET")):
        figure = figures.session_timeline(
            pl.DataFrame({"charger_id": ["A"], "started_at": [when], "ended_at": [when + timedelta(hours=1)]})
        )
        assert _axis_title(in_zone(figure, "Europe/Oslo")) == f"time (Europe/Oslo, {expected})"


def test_data_across_a_daylight_saving_change_names_the_zone_alone() -> None:
    starts = [datetime(2026, 3, 28, 12), datetime(2026, 3, 30, 12)]  # CET, then CEST
    frame = pl.DataFrame(
        {"charger_id": ["A", "A"], "started_at": starts, "ended_at": [s + timedelta(hours=1) for s in starts]}
    )
    assert _axis_title(in_zone(figures.session_timeline(frame), "Europe/Oslo")) == "time (Europe/Oslo)"


def test_energy_per_day_names_the_zone_of_its_days() -> None:
    frame = pl.DataFrame(
        {"charger_id": ["A", "A"], "day": [date(2026, 7, 1), date(2026, 7, 2)], "energy_kwh": [3.0, 4.0]}
    )
    assert _axis_title(figures.energy_per_day(frame, zone="Europe/Oslo")) == "day (Europe/Oslo)"
    assert _axis_title(figures.energy_per_day(frame)) == "day (UTC)"


def _heat_cells(rows: Sequence[object]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "row": [r for r in rows for _ in (3, 15)],
            "_hod": pl.Series([h for _ in rows for h in (3, 15)], dtype=pl.Int8),
            "q": [0.5, 1.5] * len(rows),
            "n": [i + 1 for i in range(len(rows)) for _ in (3, 15)],
        }
    )


def test_the_latency_heatmap_draws_the_last_year_of_a_long_span_and_says_so() -> None:
    days = [date(1996, 1, 1) + timedelta(days=i) for i in range(11_000)]
    figure = latency.latency_heatmap_of(_heat_cells(days), by="day", pct="p95", title="p95")
    heat = figure.data[0]
    assert len(heat.y) == latency.MAX_HEAT_DAYS
    assert heat.y[-1] == str(days[-1]) and heat.y[0] == str(days[-latency.MAX_HEAT_DAYS])
    assert f"the last {latency.MAX_HEAT_DAYS} of 11,000 days with data" in _subtitle(figure)


def test_the_latency_heatmap_of_a_few_days_draws_them_all() -> None:
    days = [date(2026, 1, 1) + timedelta(days=i) for i in range(30)]
    figure = latency.latency_heatmap_of(_heat_cells(days), by="day", pct="p95", title="p95")
    assert len(figure.data[0].y) == 30
    assert "showing" not in _subtitle(figure)


def test_the_latency_heatmap_per_charger_draws_the_busiest() -> None:
    chargers = [f"EH{i:05d}" for i in range(1_000)]
    figure = latency.latency_heatmap_of(_heat_cells(chargers), by="charger_id", pct="p95", title="p95")
    assert list(figure.data[0].y) == sorted(chargers[-latency.MAX_HEAT_CHARGERS :])  # the most messages
    assert f"the {latency.MAX_HEAT_CHARGERS} chargers with the most messages of 1,000" in _subtitle(figure)


def test_the_latency_heatmap_from_messages_is_bounded_too() -> None:
    hours = pl.datetime_range(datetime(2020, 1, 1), datetime(2026, 1, 1), "1d", eager=True)
    frame = pl.DataFrame({"hop": "end_to_end", "latency_s": 1.0, "hour": hours})
    figure = figures.latency_heatmap(frame)
    assert len(figure.data[0].y) == latency.MAX_HEAT_DAYS
    assert f"of {hours.len():,} days with data" in _subtitle(figure)


@settings(max_examples=60, deadline=None)
@given(
    times=st.lists(
        st.one_of(st.none(), st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2060, 1, 1))),
        max_size=20,
    ),
    zone=st.sampled_from(["Europe/Oslo", "America/Sao_Paulo", "Asia/Kolkata", "Australia/Lord_Howe"]),
)
def test_times_handed_over_as_an_array_move_as_each_time_alone(
    times: list[datetime | None], zone: str
) -> None:
    """A trace's times as an array (as the figures hand a frame's column) move to the zone's wall time
    and name its abbreviations exactly as the same times one by one; a missing time stays missing."""
    each: set[str] = set()
    at_once: set[str] = set()
    one_by_one = [_moved(t, ZoneInfo(zone), each) for t in times]
    array = pl.Series(times, dtype=pl.Datetime("us")).to_numpy()
    assert values(_moved_times(array, ZoneInfo(zone), at_once)) == one_by_one
    assert at_once == each
