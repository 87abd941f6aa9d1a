"""What the latency figures draw, as data: the ECDF's curves (sampled ranks and a summary per hop),
the axis it takes, the hops' order and how many days the heatmap keeps. Pure: the report's data path
(``evkit.report.latency_data``, a Dask task's too) builds curves bucket by bucket without Plotly;
``evkit.figures.latency`` draws them."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from evkit.analysis.schema import ALL_HOPS

#: An ECDF curve never needs more points than a screen has pixels: ranks are sampled evenly.
ECDF_POINTS = 800
#: Use a log x axis when the positive latencies span more than this factor (p99 / p1).
LOG_SPREAD = 100.0
#: Days the latency heatmap draws at most: the newest (a year). A cell's percentile cannot be merged
#: with another's, so days are left out (a note says so), not merged.
MAX_HEAT_DAYS = 366


def hop_order(present: list[str]) -> list[str]:
    """``present`` hops in the order figures and tables show them: evkit's own first, then the rest sorted."""
    return [h for h in ALL_HOPS if h in present] + sorted(h for h in present if h not in ALL_HOPS)


def log_axis(low: float | None, high: float | None) -> bool:
    """Whether an ECDF of positive latencies with these 1st and 99th percentiles gets a log axis."""
    return bool(low and high and high / low > LOG_SPREAD)


@dataclass(frozen=True)
class EcdfCurve:
    """What the ECDF draws of one hop: ``x``/``y`` at sampled ranks (``ecdf_ranks``), and its summary."""

    hop: str
    n: int
    x: list[float]
    y: list[float]
    p50: float | None
    p95: float | None
    negative: int
    minimum: float
    #: ``x`` read off histogram bins (the report's: within ``evkit.figures.latency.APPROXIMATE``), not
    #: the exact values: the hover says so rather than show an interpolated latency as if measured
    approximate: bool = False


def ecdf_ranks(n: int, points: int = ECDF_POINTS) -> pl.Series:
    """The ranks (0-based, of the sorted values) an ECDF of ``n`` values draws: all, or ``points``
    evenly spaced ones with the first and the last."""
    if n <= points:
        return pl.int_range(0, n, eager=True)
    return (pl.int_range(0, points, eager=True) * (n - 1) / (points - 1)).round().cast(pl.Int64)


__all__ = [
    "ECDF_POINTS",
    "LOG_SPREAD",
    "MAX_HEAT_DAYS",
    "EcdfCurve",
    "ecdf_ranks",
    "hop_order",
    "log_axis",
]
