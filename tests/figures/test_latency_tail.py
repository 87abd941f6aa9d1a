"""The latency ECDF's linear axis stops where every hop has reached 99.5 % when a few stragglers lie
far beyond, and says so; otherwise it shows everything."""

from __future__ import annotations

import polars as pl

from evkit.figures import latency_ecdf


def _long(values: list[float], hop: str = "end_to_end") -> pl.DataFrame:
    return pl.DataFrame({"hop": hop, "latency_s": values})


def test_a_few_stragglers_do_not_squeeze_every_curve_into_the_left_edge() -> None:
    body = [0.5 + i / 1000 for i in range(1000)]  # 0.5-1.5 s
    fig = latency_ecdf(_long([*body, 60.0, 75.0]))  # two messages of a minute and more
    low, high = fig.layout.xaxis.range
    assert high < 2.0 and low <= 0.0  # the body fills the axis
    subtitle = fig.layout.title.subtitle.text
    assert "x axis up to" in subtitle and "99.5%" in subtitle and "75.000 s" in subtitle


def test_without_far_stragglers_the_axis_shows_everything() -> None:
    fig = latency_ecdf(_long([0.5 + i / 1000 for i in range(1000)]))
    assert fig.layout.xaxis.range is None
    assert "x axis up to" not in (fig.layout.title.subtitle.text or "")


def test_the_slowest_hop_sets_where_the_axis_stops() -> None:
    fast = _long([0.1 + i / 10_000 for i in range(1000)], "cloud_to_capture")  # 0.1-0.2 s
    slow = _long([1.0 + i / 1000 for i in range(1000)] + [90.0], "device_to_cloud")  # 1-2 s, one of 90 s
    fig = latency_ecdf(pl.concat([fast, slow]))
    _, high = fig.layout.xaxis.range
    assert 1.9 < high < 2.2  # the slow hop's 99.5 %, not the fast one's
