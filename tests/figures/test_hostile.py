"""Device strings are data in every figure: markup is escaped, templates stay inert, long ids are cut."""

from __future__ import annotations

import html
from datetime import datetime, timedelta

import plotly.graph_objects as go
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evkit import analysis, figures
from evkit.display import LABEL_LIMIT
from tests.analysis.scenario import T0
from tests.figures.hostile import (
    CHARGER_IDS,
    LINK,
    LONG,
    LONG_PIECE,
    MARKUP,
    SPAN,
    TEMPLATE,
    TOKENS,
    hostile,
    strings,
)

ESCAPED_LINK = '&lt;a href="https://evil.example/verify"&gt;verify your account&lt;/a&gt;'
SHORT_LINK = '&lt;a href="https://evil.example/v…'


@pytest.fixture(scope="module")
def built() -> dict[str, go.Figure]:
    lf = hostile().lazy()
    sessions = analysis.sessions(lf).collect()
    latency = analysis.latency(lf).collect()
    summary, gaps = pl.collect_all([analysis.quality_summary(lf), analysis.telemetry_gaps(lf)])
    odd_hops = latency.with_columns(pl.lit(SPAN).alias("hop"))  # a frame a user made, hop and all
    return {
        "timeline": figures.session_timeline(sessions),
        "timeline by energy": figures.session_timeline(sessions, color_by="energy"),
        "power curve": figures.session_power_curve(lf, LINK, T0, T0 + timedelta(hours=3)),
        "power curve, long id": figures.session_power_curve(lf, LONG, T0, T0 + timedelta(hours=3)),
        "power curve, no data": figures.session_power_curve(lf, TEMPLATE, T0 + timedelta(days=9)),
        "energy": figures.energy_per_day(analysis.energy_per_day(lf).collect()),
        "energy, others": figures.energy_per_day(analysis.energy_per_day(lf).collect(), max_series=3),
        "latency ecdf": figures.latency_ecdf(odd_hops),
        "latency heatmap": figures.latency_heatmap(latency, by="charger_id"),
        "latency heatmap, odd hop": figures.latency_heatmap(odd_hops, hop=SPAN),
        "quality": figures.data_quality_overview(summary, gaps),
        "connectivity": figures.connectivity_timeline(lf),
    }


NAMES = [
    "timeline",
    "timeline by energy",
    "power curve",
    "power curve, long id",
    "power curve, no data",
    "energy",
    "energy, others",
    "latency ecdf",
    "latency heatmap",
    "latency heatmap, odd hop",
    "quality",
    "connectivity",
]


@pytest.mark.parametrize("name", NAMES)
def test_device_strings_are_inert_text(built: dict[str, go.Figure], name: str) -> None:
    found = strings(built[name].to_plotly_json())
    # no tag, link or style from the data, anywhere (customdata is shown through hovertemplates too)
    assert [(path, text[:80]) for path, text in found for bad in MARKUP if bad in text] == []
    # no hovertemplate substitution from the data
    assert [path for path, text in found if "EH%{" in text] == []
    # the 100 kB ids are cut for display (only customdata may hold a full value)
    assert [path for path, text in found if "customdata" not in path and LONG_PIECE in text] == []


def test_every_string_drawn_from_the_data_fits_the_display_limit(built: dict[str, go.Figure]) -> None:
    fig = built["timeline"]
    ticks = fig.layout.yaxis.categoryarray
    assert len(ticks) == len(CHARGER_IDS)  # the two long ids sharing 100 000 characters stay two rows
    for tick in ticks:
        readable = tick.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").replace("&#37;", "%")
        assert len(readable) <= LABEL_LIMIT


def test_the_hostile_strings_are_still_shown_as_literal_text(built: dict[str, go.Figure]) -> None:
    timeline = built["timeline"]
    rows = {y for trace in timeline.data for y in trace.y}
    assert SHORT_LINK in rows  # rows and legends: cut to LABEL_LIMIT
    assert "&lt;b&gt;x&lt;/b&gt;" in rows
    assert "EH&#37;{customdata[0]}&amp;amp;" in rows
    hovers = [cell for trace in timeline.data for row in trace.customdata for cell in row]
    assert ESCAPED_LINK in hovers  # the hover names the charger up to DISPLAY_LIMIT
    assert '=HYPERLINK("http://x","y")' in hovers  # a formula is harmless text in a figure
    assert all(any(token in cell for cell in hovers) for token in TOKENS[:4])
    energy = built["energy"]
    assert SHORT_LINK in {trace.name for trace in energy.data}
    assert any("<b>&lt;b&gt;x&lt;/b&gt;</b>" in (trace.hovertemplate or "") for trace in energy.data)
    assert ESCAPED_LINK in built["power curve"].layout.title.text
    assert "EH&#37;{customdata[0]}" in built["power curve, no data"].layout.annotations[0].text


def test_the_data_keeps_the_full_values(built: dict[str, go.Figure]) -> None:
    del built
    sessions = analysis.sessions(hostile().lazy()).collect()
    assert set(sessions["charger_id"]) == set(CHARGER_IDS)
    assert set(sessions["rfid_token"]) == set(TOKENS)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet="<>&%{}ab /\"'=…#1", min_size=1, max_size=90), min_size=1, max_size=6))
def test_any_charger_id_is_drawn_as_its_own_text(ids: list[str]) -> None:
    start = datetime(2026, 3, 2, 6, 0)
    sessions = pl.DataFrame(
        {
            "charger_id": ids,
            "started_at": [start + timedelta(hours=i) for i in range(len(ids))],
            "ended_at": [start + timedelta(hours=i, minutes=30) for i in range(len(ids))],
        }
    )
    fig = figures.session_timeline(sessions)
    drawn = {y for trace in fig.data for y in trace.y}
    assert len(drawn) == len(set(ids))  # distinct ids stay distinct rows
    for trace in fig.data:
        for label, hover in zip(trace.y, trace.customdata, strict=True):
            for shown in (label, hover[11]):
                assert "<" not in shown and ">" not in shown and "%{" not in shown
            text = html.unescape(hover[11])  # what the reader sees in the hover
            assert text in ids or (text.endswith("…") and any(i.startswith(text[:-1]) for i in ids))
            assert len(html.unescape(label)) <= LABEL_LIMIT


def test_long_legends_and_slanted_names_get_room(built: dict[str, go.Figure]) -> None:
    energy = built["energy"]
    assert energy.layout.legend.orientation == "v"  # six long names: beside the plot, not over the title
    short = figures.energy_per_day(
        pl.DataFrame({"charger_id": ["EH1", "EH2"], "day": [T0.date()] * 2, "energy_kwh": [1.0, 2.0]})
    )
    assert short.layout.legend.orientation is None  # the template's one row above the plot
    quality = built["quality"]
    top, bottom = quality.layout.yaxis.domain, quality.layout.yaxis2.domain
    gap_px = (top[0] - bottom[1]) * quality.layout.height
    assert gap_px >= 0.16 * 560 + 5 * (LABEL_LIMIT - 8)  # room for the slanted 32-character names
