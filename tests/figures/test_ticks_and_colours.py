"""Sensible ticks (round steps, whole counts) and one colour per charger across figures."""

from __future__ import annotations

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

import evkit
from evkit import analysis, figures
from evkit.figures.style import charger_colours, nice_step
from tests.conftest import REPO_ROOT

SAMPLE = REPO_ROOT / "data" / "sample-session"


@given(st.floats(min_value=1e-3, max_value=1e6, allow_nan=False))
def test_nice_step_is_round_and_gives_a_few_ticks(maximum: float) -> None:
    step = nice_step(maximum)
    mantissa = step / 10 ** __import__("math").floor(__import__("math").log10(step))
    assert round(mantissa, 6) in (1.0, 2.0, 2.5, 5.0, 10.0)
    assert 2 <= maximum / step + 1 <= 9


def test_power_curve_axes_have_round_aligned_ticks() -> None:
    lf = evkit.scan(SAMPLE)
    session = analysis.sessions(lf).collect().sort("energy_kwh", descending=True).row(0, named=True)
    fig = figures.session_power_curve(lf, session["charger_id"], session["started_at"], session["ended_at"])
    y, y2 = fig.layout.yaxis, fig.layout.yaxis2
    for axis in (y, y2):
        assert axis.dtick in {1, 2, 2.5, 5, 10, 20, 25, 50} or axis.dtick < 1
        assert axis.range[0] == 0
    # Same number of grid steps on both axes: the right-hand ticks sit on the left-hand grid lines.
    assert round(y.range[1] / y.dtick) == round(y2.range[1] / y2.dtick)


def test_count_axis_never_shows_half_messages() -> None:
    summary = pl.DataFrame({"charger_id": ["a", "b"], "gaps_n": [1, 0], "duplicates_n": [2, 1]})
    fig = figures.data_quality_overview(summary)
    assert fig.layout.yaxis.dtick is not None and fig.layout.yaxis.dtick >= 1
    assert fig.layout.yaxis.tickformat == ",d"


def test_a_charger_keeps_its_colour_whatever_the_selection() -> None:
    energy = analysis.energy_per_day(evkit.scan(SAMPLE)).collect()
    everyone = charger_colours(energy["charger_id"].unique().to_list())
    some = energy.filter(pl.col("charger_id").is_in(["EH9HWQGI", "EHKUC9GK"]))
    fig = figures.energy_per_day(some, colours=everyone)
    bars = {t.name: t.marker.color for t in fig.data if t.type == "bar"}
    assert bars == {"EH9HWQGI": everyone["EH9HWQGI"], "EHKUC9GK": everyone["EHKUC9GK"]}
    # Without a map the chargers shown, sorted, get the palette in order: same set, same colours.
    default = figures.energy_per_day(energy)
    assert {t.name: t.marker.color for t in default.data if t.type == "bar"} == everyone


def test_connectivity_lines_use_the_chargers_colours() -> None:
    lf = evkit.scan(SAMPLE)
    everyone = charger_colours(["EH290BP4", "EH5HNMUZ", "EH9HWQGI", "EHKUC9GK", "EHZZZZZZ"])
    fig = figures.connectivity_timeline(lf, colours=everyone)
    names = (" Wi-Fi", " cell")
    lines = [t for t in fig.data if t.type == "scatter" and any(n in (t.name or "") for n in names)]
    assert lines
    for trace in lines:
        charger = trace.name.split(" ")[0]
        assert trace.line.color == everyone[charger]
