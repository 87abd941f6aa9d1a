"""Issue 13: the report's time-axis figures are drawn in the chosen zone and say so; data stays UTC."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import evkit
from evkit import analysis
from evkit import figures as fig
from evkit.figures.localtime import in_zone
from evkit.report import build_report
from tests.conftest import REPO_ROOT
from tests.plotted import values

SAMPLE = REPO_ROOT / "data" / "sample-session"
TOKYO = timedelta(hours=9)  # Asia/Tokyo has no daylight saving time: always UTC+9


def test_the_session_timeline_bars_start_at_local_wall_time() -> None:
    sessions = analysis.sessions(evkit.scan(SAMPLE)).collect()
    utc = fig.session_timeline(sessions)
    starts = [b for trace in utc.data for b in values(trace.base)]
    local = in_zone(fig.session_timeline(sessions), "Asia/Tokyo")
    moved = [b for trace in local.data for b in values(trace.base)]
    assert moved and all(isinstance(b, datetime) for b in moved)
    assert [m - s for s, m in zip(starts, moved, strict=True)] == [TOKYO] * len(starts)
    assert local.layout.xaxis.title.text == "time (Asia/Tokyo, JST)"


def test_a_subplot_time_axis_is_moved_and_renamed() -> None:
    lf = evkit.scan(SAMPLE)
    utc = fig.connectivity_timeline(lf)
    local = in_zone(fig.connectivity_timeline(lf), "Asia/Tokyo")
    titles = [axis.title.text for axis in local.select_xaxes()]
    assert "time (Asia/Tokyo, JST)" in titles
    pairs = [
        (a, b)
        for t0, t1 in zip(utc.data, local.data, strict=True)
        if values(t0.x) and isinstance(values(t0.x)[0], datetime)
        for a, b in zip(values(t0.x), values(t1.x), strict=True)
    ]
    assert pairs and all(b - a == TOKYO for a, b in pairs)


def test_the_report_draws_its_time_axes_in_tz(tmp_path: Path) -> None:
    title = "time (Asia\\u002fTokyo, JST)"  # as plotly writes it into the page's JSON
    page = build_report(SAMPLE, tmp_path / "r.html", progress=False, tz="Asia/Tokyo").read_text("utf-8")
    assert page.count(title) >= 3  # session timeline, power curve, connectivity
    # the energy per day is per Tokyo day, and its axis says so (it said "day (UTC)"; the latency
    # heatmap's rows are UTC days, and say that)
    assert '"text":"day (Asia\\u002fTokyo)"' in page
    utc_page = build_report(SAMPLE, tmp_path / "u.html", progress=False, tz="UTC").read_text("utf-8")
    assert "Tokyo" not in utc_page
