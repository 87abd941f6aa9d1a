"""Latency per hop: an ECDF (clock skew kept and counted) and a p95 heatmap by hour of day."""

from __future__ import annotations

from typing import Literal

import plotly.graph_objects as go
import polars as pl

from evkit.analysis.ecdf import (  # noqa: F401 (LOG_SPREAD: where it was, for callers)
    ECDF_POINTS,
    LOG_SPREAD,
    MAX_HEAT_DAYS,
    EcdfCurve,
    ecdf_ranks,
    hop_order,
    log_axis,
)
from evkit.display import plotly_labels, plotly_text
from evkit.figures._format import floats, number
from evkit.figures.style import BAD_COLOUR, SEQUENTIAL, collect, colour, new_figure, no_data, note

#: How each hop is named in figures and tables.
HOP_LABELS = {
    "device_to_cloud": "device → cloud",
    "cloud_to_capture": "cloud → capture",
    "end_to_end": "end to end",
    "scheduled_device_to_cloud": "scheduled 122/124: stamp → cloud",
    "scheduled_end_to_end": "scheduled 122/124: stamp → capture",
    "command_roundtrip": "command → result",
    "command_readback": "command → read-back",
}

#: Chargers the latency heatmap draws at most when its rows are chargers: those with the most messages
#: (when its rows are days: ``MAX_HEAT_DAYS``).
MAX_HEAT_CHARGERS = 100


def _select(frame: pl.DataFrame | pl.LazyFrame, wanted: list[str]) -> pl.DataFrame:
    """Only the columns a figure needs, projected before collecting (latency frames are long)."""
    present = frame.collect_schema().names()
    return collect(frame.select([c for c in wanted if c in present]))


def hop_label(hop: str) -> str:
    """A readable name of ``hop`` (Plotly text: a hop evkit does not know is escaped and cut)."""
    return HOP_LABELS.get(hop) or plotly_text(hop)


def _ecdf_points(values: pl.Series, points: int) -> tuple[list[float], list[float]]:
    """(x, y) of the empirical CDF of sorted ``values``, at most ``points`` evenly spaced ranks.

    The first and last ranks are always kept, so minimum and maximum stay visible.
    """
    n = values.len()
    ranks = ecdf_ranks(n, points)
    x = values.gather(ranks).to_list()
    y = ((ranks + 1) / n).to_list()
    return x, y


def _counted_quantile(bins: pl.DataFrame, q: float) -> float | None:
    """The ``q`` quantile of a histogram (``latency_s``, ``n``): the first value whose cumulative share
    reaches ``q``."""
    if bins.height == 0:
        return None
    bins = bins.sort("latency_s")
    total = bins["n"].sum()
    reached = bins.filter(pl.col("n").cum_sum() >= q * float(total))
    return float(reached["latency_s"][0]) if reached.height else None


def _counted_ecdf_points(bins: pl.DataFrame, points: int) -> tuple[list[float], list[float]]:
    """(x, y) of the empirical CDF of a sorted histogram, at most ``points`` values (first and last kept)."""
    share = bins["n"].cum_sum() / bins["n"].sum()
    keep = pl.int_range(0, bins.height, eager=True)
    if bins.height > points:
        keep = (pl.int_range(0, points, eager=True) * (bins.height - 1) / (points - 1)).round().cast(pl.Int64)
    return bins["latency_s"].gather(keep).to_list(), share.gather(keep).to_list()


def latency_ecdf(
    latency_long: pl.DataFrame | pl.LazyFrame,
    *,
    hops: tuple[str, ...] | None = None,
    log_x: bool | None = None,
    points: int = ECDF_POINTS,
    title: str = "Latency per hop (ECDF)",
) -> go.Figure:
    """The empirical CDF of ``latency_s`` per ``hop`` (frame of ``evkit.analysis.latency``, or a histogram
    of it with an ``n`` column: ``n`` messages of that hop had that latency). Observations
    Easee stamps on a schedule (122/124, the ``scheduled_*`` hops) get their own dotted curves: they
    show the schedule, not transport.

    ``log_x=None`` picks a log axis when the positive latencies span more than two decades. Negative
    latencies (device or cloud clock ahead: clock skew) are never dropped: on a linear axis they show
    left of the shaded zero line; on a log axis the curve starts at the share of values ≤ 0 and a note
    counts them per hop.
    """
    frame = _select(latency_long, ["hop", "latency_s", "n"])
    if frame.height == 0 or not {"hop", "latency_s"} <= set(frame.columns):
        return no_data(title, "no latency data (needs arrival_time / received_at / observed_at)")
    counted = "n" in frame.columns  # a histogram: ``n`` messages had latency ``latency_s``
    frame = frame.select("hop", "latency_s", *(["n"] if counted else [])).drop_nulls()
    frame = frame.filter(pl.col("latency_s").is_finite())
    if frame.height == 0:
        return no_data(title, "no latency values")
    order = hop_order(frame["hop"].unique().to_list())
    if hops is not None:
        order = [h for h in order if h in hops]
    positive = frame.filter(pl.col("latency_s") > 0)
    if log_x is None:
        if counted:
            low, high = _counted_quantile(positive, 0.01), _counted_quantile(positive, 0.99)
        else:
            low = positive["latency_s"].quantile(0.01, "linear") if positive.height else None
            high = positive["latency_s"].quantile(0.99, "linear") if positive.height else None
        log_x = log_axis(low, high)
    curves = []
    for hop in order:
        if counted:
            bins = (
                frame.filter(pl.col("hop") == hop)
                .group_by("latency_s")
                .agg(pl.col("n").sum())
                .sort("latency_s")
            )
            x, y = _counted_ecdf_points(bins, points)
            curve = EcdfCurve(
                hop=hop,
                n=int(bins["n"].sum()),
                x=x,
                y=y,
                p50=_counted_quantile(bins, 0.5),
                p95=_counted_quantile(bins, 0.95),
                negative=int(bins.filter(pl.col("latency_s") < 0)["n"].sum()),
                minimum=float(bins["latency_s"][0]),
            )
        else:
            values = frame.filter(pl.col("hop") == hop)["latency_s"].sort()
            x, y = _ecdf_points(values, points)
            curve = EcdfCurve(
                hop=hop,
                n=values.len(),
                x=x,
                y=y,
                p50=values.quantile(0.5, "linear"),
                p95=values.quantile(0.95, "linear"),
                negative=int((values < 0).sum()),
                minimum=values[0],
            )
        curves.append(curve)
    return latency_ecdf_of(curves, log_x=log_x, data_min=frame["latency_s"].min(), title=title)  # type: ignore[arg-type]


#: How far an approximate curve's ``x`` may be from the exact value (``evkit.analysis.ranks.interpolated``).
APPROXIMATE = "±0.8 %"


def ecdf_hover(label: str, approximate: bool = False) -> str:
    """The hover of an ECDF curve's points: ``label``'s share of messages at or below ``x``."""
    if approximate:
        return f"{label}: %{{y:.1%}} ≤ x ≈ %{{x:.3f}} s ({APPROXIMATE})<extra></extra>"
    return f"{label}: %{{y:.1%}} ≤ %{{x:.3f}} s<extra></extra>"


def latency_ecdf_of(
    curves: list[EcdfCurve], *, log_x: bool, data_min: float, title: str = "Latency per hop (ECDF)"
) -> go.Figure:
    """The ECDF figure of ``latency_ecdf`` from its curves (hop order), e.g. computed bucket by bucket."""
    if not curves:
        return no_data(title, "no latency values")
    fig = new_figure(title, height=440)
    skew_notes = []
    for index, curve in enumerate(curves):
        hop, n, negative = curve.hop, curve.n, curve.negative
        fig.add_trace(
            go.Scatter(
                name=(
                    f"{hop_label(hop)} (n={n:,}, p50 {number(curve.p50, 's', 3)}, "
                    f"p95 {number(curve.p95, 's', 3)})"
                ),
                x=floats(curve.x),
                y=floats(curve.y),
                mode="lines",
                line={
                    "shape": "hv",
                    "color": colour(index),
                    "width": 2,
                    "dash": "dot" if hop.startswith("scheduled_") else "solid",
                },
                hovertemplate=ecdf_hover(hop_label(hop), curve.approximate),
            )
        )
        if negative:
            lowest = number(curve.minimum, "s", 3)
            skew_notes.append(f"{hop_label(hop)}: {negative:,} negative ({negative / n:.1%}, min {lowest})")
    if not log_x and skew_notes:
        fig.add_vrect(x0=data_min, x1=0, fillcolor=BAD_COLOUR, opacity=0.08, line_width=0, layer="below")
        fig.add_vline(x=0, line={"color": BAD_COLOUR, "width": 1, "dash": "dash"})
    fig.update_xaxes(
        title_text="latency (s)" + (", log scale" if log_x else ""), type="log" if log_x else "linear"
    )
    tail = None if log_x else _tail_cut(curves)
    if tail is not None:
        cut, longest = tail
        low = min(0.0, data_min)
        fig.update_xaxes(range=[low - 0.02 * (cut - low), cut * 1.05])
    fig.update_yaxes(title_text="share of messages ≤ x", tickformat=".0%", range=[0, 1.02])

    if skew_notes:
        where = "curves start above 0 on the log axis" if log_x else "shaded left of 0"
        note(fig, f"clock skew (kept, {where}): " + "; ".join(skew_notes))
    else:
        note(fig, "no negative latencies (no clock skew seen)")
    if tail is not None:
        note(
            fig,
            f"x axis up to {number(cut, 's', 3)}, where every hop has reached {TAIL_SHARE:.1%}; "
            f"the longest latency is {number(longest, 's', 3)} (zoom out to see the tail)",
        )
    _legend_below(fig, len(curves))
    return fig


#: A linear axis stops where every hop has reached this share of its messages (a share the 800 points of
#: a curve resolve) when the longest latency lies much further (``TAIL_FACTOR`` times): a few stragglers
#: of a minute squeezed every curve of a realistic fleet into the axis' first tenth.
TAIL_SHARE = 0.995
TAIL_FACTOR = 3.0


def _tail_cut(curves: list[EcdfCurve]) -> tuple[float, float] | None:
    """(where a linear axis stops: the latest hop's ``TAIL_SHARE`` point, the longest latency), or None
    to show everything."""
    reached = []
    for curve in curves:
        if not curve.x:
            continue
        at = next((x for x, y in zip(curve.x, curve.y, strict=True) if y >= TAIL_SHARE), curve.x[-1])
        reached.append(at)
    if not reached:
        return None
    cut = max(reached)
    longest = max(curve.x[-1] for curve in curves if curve.x)
    return (cut, longest) if cut > 0 and longest > TAIL_FACTOR * cut else None


#: Height of the ECDF's plot area (px); the legend below it gets a line per hop.
_PLOT_PX = 330


def _legend_below(fig: go.Figure, entries: int) -> None:
    """The legend under the axis title, in pixels (paper fractions move with the notes' margin)."""
    top = fig.layout.margin.t or 80
    bottom = 80 + 21 * entries
    fig.update_layout(
        legend={"orientation": "v", "x": 0.0, "xanchor": "left", "y": -62 / _PLOT_PX, "yanchor": "top"},
        height=_PLOT_PX + top + bottom,
        margin={"b": bottom},
    )


def latency_heatmap(
    latency_long: pl.DataFrame | pl.LazyFrame,
    *,
    hop: str = "end_to_end",
    by: Literal["day", "charger_id"] = "day",
    quantile: float = 0.95,
    title: str | None = None,
) -> go.Figure:
    """p95 (``quantile``) latency of ``hop`` per hour of day (x, UTC) and day or charger (y).

    ``hour`` must be the message's hour (a UTC datetime truncated to the hour, as ``evkit.analysis.latency``
    gives it); an integer hour of day also works with ``by="charger_id"``.
    """
    pct = f"p{quantile * 100:g}"
    title = title or f"{pct} latency {hop_label(hop)} by hour of day (UTC)"
    frame = _select(latency_long, ["hop", "latency_s", "hour", "charger_id"])
    if frame.height == 0 or not {"hop", "latency_s", "hour"} <= set(frame.columns):
        return no_data(title, "no latency data")
    frame = frame.filter((pl.col("hop") == hop) & pl.col("latency_s").is_not_null())
    if frame.height == 0:
        return no_data(title, f"no {hop_label(hop)} latencies")
    hour_dtype = frame.schema["hour"]
    if isinstance(hour_dtype, pl.Datetime):
        if hour_dtype.time_zone is not None:
            frame = frame.with_columns(pl.col("hour").dt.convert_time_zone("UTC"))
        frame = frame.with_columns(
            pl.col("hour").dt.hour().alias("_hod"), pl.col("hour").dt.date().alias("_day")
        )
    else:
        frame = frame.with_columns(pl.col("hour").cast(pl.Int32).alias("_hod"))
        if by == "day":
            by = "charger_id"
    if by == "charger_id" and "charger_id" not in frame.columns:
        return no_data(title, "no charger_id column")
    row = "_day" if by == "day" else "charger_id"
    cells = frame.group_by(row, "_hod").agg(
        pl.col("latency_s").quantile(quantile, "linear").alias("q"), pl.len().alias("n")
    )
    return latency_heatmap_of(cells.rename({row: "row"}), by=by, pct=pct, title=title)


def latency_heatmap_of(
    cells: pl.DataFrame,
    *,
    by: Literal["day", "charger_id"],
    pct: str,
    title: str,
    rows_in_data: int | None = None,
) -> go.Figure:
    """The heatmap of ``latency_heatmap`` from its cells: ``row`` (day or charger), ``_hod`` (hour of
    day), ``q`` (the percentile) and ``n`` (messages), e.g. computed bucket by bucket.
    ``rows_in_data``: how many rows (days or chargers) the whole data holds, when ``cells`` are only
    those of the rows to draw (as the report keeps its newest days)."""
    row = "row"
    if cells.height == 0:
        return no_data(title, "no latency data")
    cells, bounded = _bounded_rows(cells, by, rows_in_data)
    cells = cells.with_columns(plotly_labels(cells[row]).alias(row))
    rows = sorted(cells[row].unique().to_list())
    lookup = {(r, h): (q, n) for r, h, q, n in cells.select(row, "_hod", "q", "n").iter_rows()}
    hours = list(range(24))
    z = [[lookup.get((r, h), (None, 0))[0] for h in hours] for r in rows]
    counts = [[lookup.get((r, h), (None, 0))[1] for h in hours] for r in rows]
    fig = new_figure(title, height=min(1600, max(320, 180 + 22 * len(rows))))
    fig.add_trace(
        go.Heatmap(
            x=hours,
            y=rows,
            z=z,
            customdata=counts,
            colorscale=SEQUENTIAL,
            colorbar={"title": {"text": f"{pct} (s)"}},
            hoverongaps=False,
            hovertemplate=(
                f"%{{y}}, %{{x:02d}}:00–%{{x:02d}}:59 UTC<br>{pct} %{{z:.3f}} s"
                " over %{customdata:,} messages<extra></extra>"
            ),
            xgap=1,
            ygap=1,
        )
    )
    fig.update_xaxes(
        title_text="hour of day (UTC)", tickmode="linear", dtick=2, range=[-0.5, 23.5], showgrid=False
    )
    fig.update_yaxes(
        title_text="day (UTC)" if by == "day" else "charger",
        type="category",
        autorange="reversed",
        showgrid=False,
    )
    if bounded:
        note(fig, bounded)
    return fig


def _bounded_rows(cells: pl.DataFrame, by: str, rows_in_data: int | None) -> tuple[pl.DataFrame, str]:
    """The cells of the rows drawn, and the note saying which (empty when all are)."""
    per_row = cells.group_by("row").agg(pl.col("n").sum())
    total = max(per_row.height, rows_in_data or 0)
    if by == "day":
        if total <= MAX_HEAT_DAYS:
            return cells, ""
        kept = per_row.sort("row").tail(MAX_HEAT_DAYS)["row"]
        what = f"the last {MAX_HEAT_DAYS:,} of {total:,} days with data"
    else:
        if total <= MAX_HEAT_CHARGERS:
            return cells, ""
        kept = per_row.sort(["n", "row"], descending=[True, False]).head(MAX_HEAT_CHARGERS)["row"]
        what = f"the {MAX_HEAT_CHARGERS} chargers with the most messages of {total:,}"
    return cells.filter(pl.col("row").is_in(kept.implode())), f"showing {what}"
