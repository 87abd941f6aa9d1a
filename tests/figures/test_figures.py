"""Figures return the traces users read, for frames with known content; empty input never raises."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import numpy as np
import plotly.graph_objects as go
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from evkit import figures
from evkit.figures.latency import _ecdf_points, latency_ecdf, latency_heatmap
from tests.figures.frames import T0, at, scenario


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def _sessions() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "charger_id": ["C1", "C2", "C1"],
            "session_id": ["C1/1", "C2/1", "C1/2"],
            "started_at": [at(60), at(5), at(500)],
            "ended_at": [at(210), None, at(700)],
            "energy_kwh": [18.0, None, 5.0],
            "energy_source": ["session_energy", None, "lifetime_meter"],
            "charge_duration_s": [5880.0, 600.0, 3000.0],
            "connected_duration_s": [9000.0, 1200.0, 12000.0],
            "peak_power_kw": [11.0, 7.2, 3.6],
            "rfid_token": ["04AB", None, None],
            "complete": [True, False, True],
            "gap": [False, False, True],
            "started_mid_session": [False, True, False],
        },
        schema_overrides={"started_at": pl.Datetime("us", "UTC"), "ended_at": pl.Datetime("us", "UTC")},
    )


def _trace(fig: go.Figure, prefix: str) -> go.BaseTraceType:
    matches = [t for t in fig.data if (t.name or "").startswith(prefix)]
    assert len(matches) == 1, [t.name for t in fig.data]
    return matches[0]


def _says_no_data(fig: go.Figure) -> bool:
    return len(fig.data) == 0 and any(a.text for a in fig.layout.annotations)


# --- session timeline -------------------------------------------------------------------------------


def test_session_timeline_draws_each_session_from_start_to_end_by_status() -> None:
    end = at(1000)
    fig = figures.session_timeline(_sessions(), data_end=end)
    complete = _trace(fig, "complete")
    assert list(complete.y) == ["C1"]
    assert list(complete.base) == [_naive(at(60))]
    assert list(complete.x) == [150 * 60_000]  # 60 -> 210 min, in ms
    gap = _trace(fig, "capture gap")
    assert list(gap.x) == [200 * 60_000]
    opened = _trace(fig, "open")
    assert list(opened.y) == ["C2"]
    assert list(opened.x) == [(1000 - 5) * 60_000]  # open: drawn to the data end
    assert opened.marker.pattern.shape == "/"
    assert "open" in fig.layout.title.subtitle.text


def test_session_timeline_hover_carries_energy_source_duration_and_rfid() -> None:
    fig = figures.session_timeline(_sessions(), data_end=at(1000))
    row = list(_trace(fig, "complete").customdata[0])
    assert "18.00 kWh" in row and "session_energy" in row and "04AB" in row and "1 h 38 min" in row


def test_session_timeline_by_energy_colours_with_the_energies() -> None:
    fig = figures.session_timeline(_sessions().lazy(), color_by="energy", data_end=at(1000))
    (bar,) = fig.data
    assert list(bar.marker.color) == [18.0, 0.0, 5.0]
    assert list(bar.marker.pattern.shape) == ["", "/", ""]


def test_open_session_without_data_end_runs_to_start_plus_connected_time() -> None:
    fig = figures.session_timeline(_sessions().filter(pl.col("charger_id") == "C2"))
    assert list(_trace(fig, "open").x) == [1200 * 1000]


# --- power curve ------------------------------------------------------------------------------------


def test_power_curve_has_power_phase_currents_and_op_mode_bands() -> None:
    obs = scenario()
    doubled = pl.concat([obs, obs.head(300)])  # redelivered rows must not add points
    fig = figures.session_power_curve(doubled.lazy(), "EHTEST01", at(50), at(220))
    power = _trace(fig, "total power")
    assert len(power.y) == 119 and max(power.y) == 11.0 and min(power.y) == 0.0
    assert list(power.x) == sorted(power.x)
    for phase in ("L1", "L2", "L3"):
        assert _trace(fig, phase).yaxis == "y2"
    assert fig.layout.yaxis2.title.text == "phase current (A)"
    # Op mode at 50 min comes from the reading at 0 (Disconnected); then 2, 3, 4, 3, 4, 1.
    bands = [(s.x0, s.x1) for s in fig.layout.shapes]
    assert len(bands) == 7
    assert bands[0] == (_naive(at(50)), _naive(at(60)))
    assert bands[2] == (_naive(at(62)), _naive(at(120)))
    assert {t.name for t in fig.data if t.name.startswith("op mode")} == {
        "op mode: Disconnected",
        "op mode: AwaitingStart",
        "op mode: Charging",
        "op mode: Completed",
    }
    assert "Charging" in [a.text for a in fig.layout.annotations]


def test_power_curve_of_an_unknown_charger_says_so() -> None:
    fig = figures.session_power_curve(scenario(), "NOPE", at(0), at(100))
    assert _says_no_data(fig) and "NOPE" in fig.layout.annotations[0].text


# --- energy -----------------------------------------------------------------------------------------


def test_energy_per_day_stacks_one_series_per_charger() -> None:
    day = T0.date()
    energy = pl.DataFrame(
        {
            "charger_id": ["A", "B", "A", "B"],
            "day": [day, day, day + timedelta(days=1), day + timedelta(days=1)],
            "energy_kwh": [10.0, 5.0, 2.5, 1.0],
            "source": ["lifetime_meter", "session_energy", "lifetime_meter", "lifetime_meter"],
        }
    )
    fig = figures.energy_per_day(energy)
    assert fig.layout.barmode == "stack"
    assert list(_trace(fig, "A").y) == [10.0, 2.5]
    assert list(_trace(fig, "B").y) == [5.0, 1.0]
    assert list(_trace(fig, "total").text) == ["15.0", "3.5"]
    assert fig.layout.yaxis.title.text == "energy (kWh)"


def test_energy_per_day_groups_small_chargers_as_other() -> None:
    day = T0.date()
    energy = pl.DataFrame(
        {
            "charger_id": [f"C{i:02d}" for i in range(20)],
            "day": [day] * 20,
            "energy_kwh": [float(i) for i in range(20)],
        }
    )
    fig = figures.energy_per_day(energy, max_series=5)
    bars = [t for t in fig.data if isinstance(t, go.Bar)]
    assert [b.name for b in bars][:4] == ["C19", "C18", "C17", "C16"]
    other = _trace(fig, "other (16 chargers)")
    assert list(other.y) == [float(sum(range(16)))]


# --- latency ----------------------------------------------------------------------------------------


def _latency(values: dict[str, list[float]]) -> pl.DataFrame:
    rows = [(hop, v) for hop, vs in values.items() for v in vs]
    return pl.DataFrame(rows, schema={"hop": pl.String, "latency_s": pl.Float64}, orient="row")


def test_latency_ecdf_is_exact_for_small_samples_and_keeps_negative_values() -> None:
    values = [0.3, -0.2, 0.1, 0.5, 0.2]
    fig = latency_ecdf(_latency({"end_to_end": values, "device_to_cloud": [0.1, 0.2]}))
    e2e = _trace(fig, "end to end")
    assert list(e2e.x) == sorted(values)
    assert list(e2e.y) == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert [t.name.split(" (")[0] for t in fig.data] == ["device → cloud", "end to end"]
    assert "end to end: 1 negative" in fig.layout.title.subtitle.text
    assert fig.layout.xaxis.type == "linear"


def test_latency_ecdf_samples_long_inputs_but_keeps_min_and_max_and_uses_log_when_spread() -> None:
    rng = np.random.default_rng(7)
    values = np.concatenate([rng.lognormal(0, 2, 50_000), [-3.0]]).tolist()
    fig = latency_ecdf(_latency({"end_to_end": values}), points=500)
    (trace,) = fig.data
    assert len(trace.x) == 500
    assert trace.x[0] == -3.0 and trace.x[-1] == max(values) and trace.y[-1] == 1.0
    assert fig.layout.xaxis.type == "log"
    assert "1 negative" in fig.layout.title.subtitle.text


def test_scheduled_observations_get_their_own_dotted_curves_after_the_transport_hops() -> None:
    frame = _latency(
        {
            "scheduled_end_to_end": [204.0, 210.0, 0.4],
            "end_to_end": [0.3, 0.4, 0.5],
            "scheduled_device_to_cloud": [203.9, 209.9, 0.3],
        }
    )
    fig = latency_ecdf(frame)
    names = [t.name.split(" (")[0] for t in fig.data]
    assert names == ["end to end", "scheduled 122/124: stamp → cloud", "scheduled 122/124: stamp → capture"]
    assert [t.line.dash for t in fig.data] == ["solid", "dot", "dot"]
    assert list(_trace(fig, "end to end").x) == [0.3, 0.4, 0.5]  # transport alone


def test_latency_heatmap_cells_are_the_p95_of_their_hour() -> None:
    hour = datetime(2026, 11, 20, 14, tzinfo=UTC)
    cell = [0.1, 0.2, 0.4, 0.8, 3.0]
    frame = pl.DataFrame(
        {
            "hop": ["end_to_end"] * 6 + ["device_to_cloud"],
            "latency_s": [*cell, 9.0, 100.0],
            "hour": [hour] * 5 + [hour + timedelta(days=1, hours=3), hour],
            "charger_id": ["A"] * 7,
        }
    )
    fig = latency_heatmap(frame)
    (heat,) = fig.data
    assert list(heat.y) == ["2026-11-20", "2026-11-21"]
    assert heat.z[0][14] == pytest.approx(float(np.percentile(cell, 95)))
    assert heat.z[1][17] == 9.0 and heat.z[0][13] is None
    assert heat.customdata[0][14] == 5
    by_charger = latency_heatmap(frame, by="charger_id")
    assert list(by_charger.data[0].y) == ["A"]


# --- data quality and connectivity ------------------------------------------------------------------


def test_data_quality_overview_bars_and_gap_timeline() -> None:
    summary = pl.DataFrame(
        {
            "charger_id": ["A", "B"],
            "gaps_n": [2, 0],
            "duplicates_n": [5, 1],
            "out_of_order_n": [0, 3],
            "decode_errors_n": [1, 0],
            "unknown_ids_n": [0, 4],
        }
    )
    gaps = pl.DataFrame(
        {"charger_id": ["A", "A"], "gap_start": [at(10), at(100)], "gap_end": [at(40), at(130)]}
    )
    fig = figures.data_quality_overview(summary, gaps)
    assert [t.name for t in fig.data] == [
        "telemetry gaps",
        "duplicates",
        "out of order",
        "decode errors",
        "unknown ids",
        "gap (2)",
    ]
    duplicates = _trace(fig, "duplicates")
    assert list(duplicates.x) == ["A", "B"] and list(duplicates.y) == [5, 1]
    gap = _trace(fig, "gap")
    assert list(gap.x) == [30 * 60_000, 30 * 60_000] and gap.xaxis == "x2"
    framed = figures.data_quality_overview(summary, gaps, time_range=(at(0), at(600)))
    assert list(framed.layout.xaxis2.range) == [_naive(at(0)), _naive(at(600))]


def test_connectivity_timeline_bands_and_boots() -> None:
    fig = figures.connectivity_timeline(scenario())
    up = _trace(fig, "cloud connected")
    down = _trace(fig, "cloud disconnected")
    assert sorted(up.y) == ["EHTEST01", "EHTEST01", "EHTEST02"]
    assert list(down.x) == [30 * 60_000]
    assert _trace(fig, "boot").name == "boot (1)"  # 80 and 89 of one boot are one boot
    assert len([t for t in fig.data if "Wi-Fi" in (t.name or "")]) == 2


# --- empty input ------------------------------------------------------------------------------------

EMPTY_OBS = scenario().head(0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: figures.session_timeline(_sessions().head(0)),
        lambda: figures.session_timeline(pl.DataFrame()),
        lambda: figures.session_power_curve(EMPTY_OBS, "C1", at(0)),
        lambda: figures.energy_per_day(pl.DataFrame({"charger_id": [], "day": [], "energy_kwh": []})),
        lambda: figures.latency_ecdf(_latency({})),
        lambda: figures.latency_heatmap(pl.LazyFrame({"hop": [], "latency_s": [], "hour": []})),
        lambda: figures.data_quality_overview(pl.DataFrame({"charger_id": []}), pl.DataFrame()),
        lambda: figures.connectivity_timeline(EMPTY_OBS.lazy()),
    ],
)
def test_empty_input_gives_a_no_data_figure(make: object) -> None:
    fig = make()  # type: ignore[operator]
    assert isinstance(fig, go.Figure)
    assert _says_no_data(fig)
    assert fig.layout.title.text


def test_timeline_with_many_chargers_draws_those_with_most_energy_and_says_so() -> None:
    many = pl.DataFrame(
        {
            "charger_id": [f"C{i:03d}" for i in range(60)],
            "started_at": [at(i) for i in range(60)],
            "ended_at": [at(i + 30) for i in range(60)],
            "energy_kwh": [float(i) for i in range(60)],
        }
    )
    fig = figures.session_timeline(many, max_chargers=10)
    drawn = {y for t in fig.data for y in t.y}
    assert drawn == {f"C{i:03d}" for i in range(50, 60)}
    assert "10 chargers with the most energy of 60" in fig.layout.title.subtitle.text


def test_connectivity_with_many_chargers_keeps_the_troubled_ones() -> None:
    obs = scenario()
    fig = figures.connectivity_timeline(obs, max_chargers=1)
    assert {y for t in fig.data if isinstance(t, go.Bar) for y in t.y} == {"EHTEST01"}  # it rebooted
    assert "of 2" in fig.layout.title.subtitle.text


@given(
    values=st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=300),
    points=st.integers(2, 50),
)
def test_ecdf_points_are_a_monotone_sample_of_the_sorted_values(values: list[float], points: int) -> None:
    ordered = pl.Series(values).sort()
    x, y = _ecdf_points(ordered, points)
    assert len(x) == min(len(values), points)
    assert x[0] == min(values) and x[-1] == max(values) and y[-1] == 1.0
    assert x == sorted(x) and all(a < b for a, b in pairwise(y)) and y[0] > 0
    for value, share in zip(x, y, strict=True):  # each point is a true ECDF step
        assert share <= sum(v <= value for v in values) / len(values) + 1e-12


def test_quality_counts_of_very_different_size_use_a_log_axis() -> None:
    summary = pl.DataFrame({"charger_id": ["A"], "gaps_n": [1], "unknown_ids_n": [5000]})
    fig = figures.data_quality_overview(summary)
    assert fig.layout.yaxis.type == "log"
    assert list(_trace(fig, "telemetry gaps").y) == [1]
    even = figures.data_quality_overview(summary.with_columns(pl.lit(3).alias("unknown_ids_n")))
    assert even.layout.yaxis.type == "linear"
