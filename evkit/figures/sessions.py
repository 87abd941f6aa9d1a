"""Charging sessions: a timeline per charger and one session's power curve."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import plotly.graph_objects as go
import polars as pl

from evkit.analysis.exact import exact_sum
from evkit.analysis.quality import named_chargers
from evkit.display import DISPLAY_LIMIT, SENTENCE_LIMIT, plotly_labels, plotly_text, plotly_text_expr
from evkit.figures import _ids
from evkit.figures._binned import MAX_POINTS, bin_width, binned_mean, binned_note
from evkit.figures._format import duration, hover_rows, naive_utc, number, timestamp, utc_literal
from evkit.figures.style import (
    ACCENT_COLOUR,
    BAD_COLOUR,
    MUTED_COLOUR,
    OK_COLOUR,
    SEQUENTIAL,
    TIME_AXIS_TITLE,
    WARN_COLOUR,
    collect,
    colour,
    new_figure,
    nice_step,
    no_data,
    note,
)

if TYPE_CHECKING:
    import numpy as np

#: Session states, most important first; a session shows in the first that applies.
_STATUS_STYLE: dict[str, tuple[str, str]] = {
    "open": ("open (still connected at data end)", ACCENT_COLOUR),
    "gap": ("capture gap inside", BAD_COLOUR),
    "incomplete": ("incomplete (started before the data)", WARN_COLOUR),
    "complete": ("complete", OK_COLOUR),
}

#: Rows (chargers) drawn at most; beyond that a timeline is unreadable.
MAX_CHARGERS = 40
#: Bars drawn at most (the newest sessions of the chargers shown): a page's size must not follow the data.
MAX_SESSIONS = 2_000

_OP_MODE_COLOURS: dict[int, str] = {
    0: "#7F7F7F",
    1: "#BCCCDC",
    2: "#F0E442",
    3: "#009E73",
    4: "#56B4E9",
    5: "#D55E00",
    6: "#E69F00",
    7: "#CC79A7",
    8: "#CC79A7",
}


def _flag(frame: pl.DataFrame, name: str) -> pl.Expr:
    return pl.col(name).fill_null(False) if name in frame.columns else pl.lit(False)


def _session_status(frame: pl.DataFrame) -> pl.Expr:
    complete = pl.col("complete").fill_null(True) if "complete" in frame.columns else pl.lit(True)
    return (
        pl.when(pl.col("ended_at").is_null())
        .then(pl.lit("open"))
        .when(_flag(frame, "gap"))
        .then(pl.lit("gap"))
        .when(_flag(frame, "started_mid_session") | ~complete)
        .then(pl.lit("incomplete"))
        .otherwise(pl.lit("complete"))
    )


def _data_end(frame: pl.DataFrame, data_end: datetime | None) -> datetime:
    """Where open sessions are drawn to: the given data end, else start + connected time, else now."""
    if data_end is not None:
        return utc_literal(data_end)
    candidates: list[datetime] = [t for t in frame["ended_at"].to_list() if t is not None]
    candidates += [t for t in frame["started_at"].to_list() if t is not None]
    if "connected_duration_s" in frame.columns:
        for start, seconds in zip(frame["started_at"], frame["connected_duration_s"], strict=True):
            if start is not None and seconds is not None:
                candidates.append(start + timedelta(seconds=float(seconds)))
    latest = max(candidates) if candidates else None
    now = datetime.now(UTC).replace(tzinfo=None)
    return latest if latest is not None and latest > max(frame["started_at"].drop_nulls()) else now


def _col(frame: pl.DataFrame, name: str) -> list[Any]:
    return frame[name].to_list() if name in frame.columns else [None] * frame.height


def _hover_rows(frame: pl.DataFrame) -> np.ndarray:
    """Each session's hover texts, one row per bar (``customdata``)."""
    rows = []
    for record in zip(
        _col(frame, "started_at"),
        _col(frame, "ended_at"),
        _col(frame, "energy_kwh"),
        _col(frame, "energy_source"),
        _col(frame, "charge_duration_s"),
        _col(frame, "connected_duration_s"),
        _col(frame, "peak_power_kw"),
        _col(frame, "rfid_token"),
        _col(frame, "_status"),
        _col(frame, "session_id"),
        _col(frame, "energy_note"),
        _col(frame, "_charger"),
        strict=True,
    ):
        start, end, energy, source, charging, connected, peak, rfid, status, session_id, why, charger = record
        rows.append(
            [
                timestamp(start),
                timestamp(end) if end is not None else "open (still connected)",
                number(energy, "kWh"),
                source or "–",
                duration(charging),
                duration(connected),
                number(peak, "kW"),
                rfid or "–",
                _STATUS_STYLE[status][0],
                str(session_id) if session_id is not None else "–",
                f"<br>{why}" if why else "",
                charger or "–",
            ]
        )
    return hover_rows(rows)


_HOVER = (
    "<b>%{customdata[11]}</b> · session %{customdata[9]}<br>"
    "%{customdata[0]} → %{customdata[1]}<br>"
    "energy %{customdata[2]} (from %{customdata[3]})<br>"
    "charging %{customdata[4]} of %{customdata[5]} connected<br>"
    "peak %{customdata[6]} · RFID %{customdata[7]}<br>"
    "%{customdata[8]}%{customdata[10]}<extra></extra>"
)


def session_timeline(
    sessions: pl.DataFrame | pl.LazyFrame,
    *,
    color_by: Literal["status", "energy"] = "status",
    data_end: datetime | None = None,
    max_chargers: int = MAX_CHARGERS,
    title: str = "Charging sessions per charger",
) -> go.Figure:
    """Sessions as bars from ``started_at`` to ``ended_at``, one row per charger.

    Open sessions (``ended_at`` null) run to ``data_end`` (default: the latest time the frame knows)
    and are hatched. ``color_by="status"`` colours by open / capture gap / incomplete / complete;
    ``"energy"`` by ``energy_kwh``. The hover shows energy (and its source), durations, peak power
    and RFID token. With more than ``max_chargers`` chargers, the ones with the most energy are drawn
    (a note says so); filter the frame to see others.
    """
    frame = collect(sessions)
    needed = {"charger_id", "started_at", "ended_at"}
    if frame.height == 0 or not needed <= set(frame.columns):
        reason = "no sessions" if needed <= set(frame.columns) else f"needs columns {sorted(needed)}"
        return no_data(title, reason)
    frame = naive_utc(frame, "started_at", "ended_at").filter(pl.col("started_at").is_not_null())
    if frame.height == 0:
        return no_data(title, "no sessions with a start time")
    # sessions of a frame without a charger id (a hand-made one) on a row of their own, as the quality
    # tables name them
    frame = frame.with_columns(named_chargers())
    end = _data_end(frame, data_end)
    all_chargers = frame["charger_id"].n_unique()
    if all_chargers > max_chargers:
        top = (
            frame.group_by("charger_id")
            .agg(
                (exact_sum(pl.col("energy_kwh")) if "energy_kwh" in frame.columns else pl.len()).alias(
                    "_rank"
                )
            )
            .sort("_rank", "charger_id", descending=[True, False])
            .head(max_chargers)["charger_id"]
        )
        frame = frame.filter(pl.col("charger_id").is_in(top.implode()))
    # The page stays small whatever the data: at most MAX_SESSIONS bars, the newest (a note says so).
    drawn_of = frame.height
    if drawn_of > MAX_SESSIONS:
        frame = frame.sort("started_at", descending=True).head(MAX_SESSIONS)
    # Device strings are shown as text, cut to the display limit (the frame keeps the full values).
    limits = {"rfid_token": DISPLAY_LIMIT, "energy_source": DISPLAY_LIMIT, "session_id": DISPLAY_LIMIT}
    limits["energy_note"] = SENTENCE_LIMIT  # evkit's own sentence: escaped, cut only when absurd
    frame = frame.with_columns(
        plotly_labels(frame["charger_id"]).alias("charger_id"),  # the row labels, cut shorter
        plotly_text_expr(pl.col("charger_id")).alias("_charger"),  # the hover's, cut to the display limit
        *(plotly_text_expr(pl.col(c), n).alias(c) for c, n in limits.items() if c in frame.columns),
    )
    frame = frame.with_columns(
        _session_status(frame).alias("_status"),
        pl.col("ended_at").fill_null(pl.lit(end)).alias("_drawn_end"),
    ).with_columns(
        (pl.col("_drawn_end") - pl.col("started_at")).dt.total_milliseconds().clip(lower_bound=0).alias("_ms")
    )
    chargers = sorted(frame["charger_id"].unique().to_list())  # text since the fill above
    fig = new_figure(title, height=min(2400, 240 + 34 * len(chargers)))

    if color_by == "energy":
        energy = _col(frame, "energy_kwh")
        open_rows = [s == "open" for s in frame["_status"].to_list()]
        fig.add_trace(
            go.Bar(
                name="session",
                orientation="h",
                y=frame["charger_id"].to_numpy(),
                x=frame["_ms"].to_numpy(),
                base=frame["started_at"].to_numpy(),
                customdata=_hover_rows(frame),
                hovertemplate=_HOVER,
                marker={
                    "color": [e if e is not None else 0.0 for e in energy],
                    "colorscale": SEQUENTIAL,
                    "colorbar": {"title": {"text": "energy (kWh)"}},
                    "pattern": {"shape": ["/" if o else "" for o in open_rows], "fillmode": "overlay"},
                    "line": {"width": 0.5, "color": "#52606D"},
                },
                showlegend=False,
            )
        )
    else:
        for status, (label, fill) in _STATUS_STYLE.items():
            part = frame.filter(pl.col("_status") == status)
            if part.height == 0:
                continue
            fig.add_trace(
                go.Bar(
                    name=f"{label} ({part.height})",
                    orientation="h",
                    y=part["charger_id"].to_numpy(),
                    x=part["_ms"].to_numpy(),
                    base=part["started_at"].to_numpy(),
                    text=[number(e, "kWh", 1) if e is not None else "" for e in _col(part, "energy_kwh")],
                    textposition="inside",
                    insidetextanchor="middle",
                    customdata=_hover_rows(part),
                    hovertemplate=_HOVER,
                    marker={
                        "color": fill,
                        "pattern": {
                            "shape": "/" if status == "open" else "",
                            "fgcolor": "white",
                            "fillmode": "overlay",
                        },
                        "line": {"width": 0.5, "color": "#1F2933"},
                    },
                )
            )
    fig.update_layout(barmode="overlay", bargap=0.35, uniformtext={"minsize": 9, "mode": "hide"})
    fig.update_xaxes(type="date", title_text=TIME_AXIS_TITLE)
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=chargers[::-1])
    if all_chargers > max_chargers:
        note(fig, f"showing the {max_chargers} chargers with the most energy of {all_chargers}")
    if drawn_of > MAX_SESSIONS:
        note(fig, f"showing the newest {MAX_SESSIONS:,} of these chargers' {drawn_of:,} sessions")
    open_n = frame.filter(pl.col("_status") == "open").height
    if open_n:
        note(fig, f"{open_n} open session(s) drawn to the data end, {timestamp(end)}.")
    return fig


# ---------------------------------------------------------------------------------------------------
# One session's power curve


def _literal_like(value: datetime, dtype: pl.DataType) -> datetime:
    """``value`` comparable with a column of ``dtype`` (aware in UTC for aware columns, else naive)."""
    naive = utc_literal(value)
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        return naive.replace(tzinfo=UTC)
    return naive


def _window(
    observations: pl.DataFrame | pl.LazyFrame, charger_id: str, start: datetime, end: datetime | None
) -> tuple[pl.DataFrame, int | None]:
    """The readings of the window, and the op mode in force at ``start`` (last 109 before it)."""
    lazy = observations.lazy()
    dtype = lazy.collect_schema()["observed_at"]
    ids = [_ids.OP_MODE, _ids.TOTAL_POWER, *_ids.PHASE_CURRENTS]
    charger = lazy.filter((pl.col("charger_id") == charger_id) & pl.col("observation_id").is_in(ids)).select(
        "observed_at", "observation_id", "value"
    )
    in_window = pl.col("observed_at") >= _literal_like(start, dtype)
    if end is not None:
        in_window &= pl.col("observed_at") <= _literal_like(end, dtype)
    before = (
        charger.filter(
            (pl.col("observation_id") == _ids.OP_MODE) & (pl.col("observed_at") < _literal_like(start, dtype))
        )
        .sort("observed_at")
        .tail(1)
    )
    window, previous = pl.collect_all([charger.filter(in_window), before])
    # Redelivered or repeated readings are one reading; arrival order does not matter.
    window = naive_utc(window.unique(["observation_id", "observed_at", "value"]), "observed_at").sort(
        "observed_at"
    )
    mode = previous["value"][0] if previous.height else None
    return window, int(mode) if mode is not None else None


def _op_mode_bands(
    window: pl.DataFrame, mode_at_start: int | None, start: datetime, end: datetime
) -> list[tuple[datetime, datetime, int]]:
    changes = window.filter(pl.col("observation_id") == _ids.OP_MODE).drop_nulls("value")
    points: list[tuple[datetime, int]] = []
    if mode_at_start is not None:
        points.append((start, mode_at_start))
    for when, value in zip(changes["observed_at"], changes["value"], strict=True):
        mode = int(value)
        if points and points[-1][1] == mode:
            continue
        points.append((when, mode))
    bands = []
    for index, (when, mode) in enumerate(points):
        until = points[index + 1][0] if index + 1 < len(points) else end
        if until > when:
            bands.append((when, until, mode))
    return bands


def session_power_curve(
    observations: pl.DataFrame | pl.LazyFrame,
    charger_id: str,
    start: datetime,
    end: datetime | None = None,
    *,
    title: str | None = None,
) -> go.Figure:
    """A session's total power (120, kW) with phase currents (182–185, A, right axis).

    The op mode (109) in force is drawn as shaded bands (the mode at ``start`` is taken from the last
    op mode before it), so pauses and waiting show. ``end=None`` runs to the last reading. Times are
    UTC; aware ``start``/``end`` are converted, naive ones are taken as UTC.
    """
    title = title or f"Power and phase currents, charger {plotly_text(charger_id)}"
    columns = observations.collect_schema().names()
    if not {"observed_at", "charger_id", "observation_id", "value"} <= set(columns):
        return no_data(title, "needs observed_at, charger_id, observation_id and value")
    window, mode_at_start = _window(observations, charger_id, start, end)
    if window.height == 0:
        return no_data(
            title, f"no power, current or op-mode readings for {plotly_text(charger_id)} in this window"
        )
    start_naive = utc_literal(start)
    end_naive = utc_literal(end) if end is not None else window["observed_at"].max()
    assert isinstance(end_naive, datetime)

    fig = new_figure(title, height=460)
    power = window.filter(pl.col("observation_id") == _ids.TOTAL_POWER)
    # A page's size must not follow the reading rate: long traces are drawn as bin means (a note says so).
    width = bin_width(end_naive - start_naive)
    binned = [0, 0]  # readings summarised, points drawn for them

    def drawn(readings: pl.DataFrame) -> pl.DataFrame:
        if readings.height <= MAX_POINTS:
            return readings
        means = binned_mean(readings, width)
        binned[0] += readings.height
        binned[1] += means.height
        return means

    power_drawn = drawn(power)
    what = "mean " if power_drawn is not power else ""
    fig.add_trace(
        go.Scatter(
            name="total power (kW)",
            x=power_drawn["observed_at"].to_numpy(),
            y=power_drawn["value"].to_numpy(),
            mode="lines+markers" if power_drawn.height < 200 else "lines",
            marker={"size": 4},
            line={"color": "#1F2933", "width": 2.2},
            hovertemplate=f"%{{x|%H:%M:%S}}Z · {what}%{{y:.2f}} kW<extra>power</extra>",
        )
    )
    for index, (obs_id, phase) in enumerate(_ids.PHASE_CURRENTS.items()):
        current = window.filter(pl.col("observation_id") == obs_id)
        if current.height == 0:
            continue
        current_drawn = drawn(current)
        what = "mean " if current_drawn is not current else ""
        fig.add_trace(
            go.Scatter(
                name=f"{phase} current (A)",
                x=current_drawn["observed_at"].to_numpy(),
                y=current_drawn["value"].to_numpy(),
                mode="lines",
                line={"color": colour(index + 1), "width": 1.3, "dash": "dot" if obs_id == 182 else "solid"},
                yaxis="y2",
                hovertemplate=f"%{{x|%H:%M:%S}}Z · {what}%{{y:.1f}} A<extra>{phase}</extra>",
            )
        )
    bands = _op_mode_bands(window, mode_at_start, start_naive, end_naive)
    span = max((end_naive - start_naive).total_seconds(), 1.0)
    shown: set[int] = set()
    # The bands and their labels as add_vrect draws them, added at once (add_vrect: 0.03 s each)
    shapes: list[dict[str, Any]] = []
    labels: list[dict[str, Any]] = []
    for band_start, band_end, mode in bands:
        fill = _OP_MODE_COLOURS.get(mode, MUTED_COLOUR)
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "y domain",
                "x0": band_start,
                "x1": band_end,
                "y0": 0,
                "y1": 1,
                "fillcolor": fill,
                "opacity": 0.16,
                "layer": "below",
                "line": {"width": 0},
            }
        )
        # Only bands wide enough to hold it get a label; the legend names every mode.
        if (band_end - band_start).total_seconds() / span > 0.06:
            labels.append(
                {
                    "text": _ids.op_mode_name(mode),
                    "x": band_start,
                    "xref": "x",
                    "xanchor": "left",
                    "y": 1,
                    "yref": "y domain",
                    "yanchor": "top",
                    "showarrow": False,
                    "font": {"size": 10, "color": "#52606D"},
                }
            )
        if mode not in shown:
            shown.add(mode)
            # A legend entry per op mode (shapes have none of their own).
            fig.add_trace(
                go.Scatter(
                    name=f"op mode: {_ids.op_mode_name(mode)}",
                    x=[None],
                    y=[None],
                    mode="markers",
                    marker={"symbol": "square", "size": 12, "color": fill, "opacity": 0.5},
                    hoverinfo="skip",
                )
            )
    # Round ticks on both axes, on the same grid lines: 0/2/4/6 kW beside 0/10/20/30 A.
    currents = window.filter(pl.col("observation_id").is_in(list(_ids.PHASE_CURRENTS)))["value"].max()
    top_kw = power["value"].max() if power.height else None
    kw_max = float(top_kw) if isinstance(top_kw, int | float) and top_kw > 0 else 1.0
    amp_max = float(currents) if isinstance(currents, int | float) and currents > 0 else 1.0
    kw_step, amp_step = nice_step(kw_max * 1.05), nice_step(amp_max * 1.05)
    lines = max(math.ceil(kw_max * 1.05 / kw_step), math.ceil(amp_max * 1.05 / amp_step), 1)
    fig.update_layout(
        yaxis={"title": {"text": "power (kW)"}, "range": [0, lines * kw_step], "dtick": kw_step, "tick0": 0},
        yaxis2={
            "title": {"text": "phase current (A)"},
            "overlaying": "y",
            "side": "right",
            "range": [0, lines * amp_step],
            "dtick": amp_step,
            "tick0": 0,
            "showgrid": False,
            "tickformat": "~g",
        },
        legend={"orientation": "h", "y": -0.22, "x": 0.0, "xanchor": "left", "yanchor": "top"},
        margin={"b": 110},
        hovermode="x unified",
        shapes=shapes,
        annotations=labels,
    )
    # A date axis even when no trace has a point: else the bands' times do not parse (NaN in the browser).
    fig.update_xaxes(type="date", title_text=TIME_AXIS_TITLE, range=[start_naive, end_naive])
    if power.height == 0:
        note(fig, "no TotalPower (120) readings in this window")
    if binned[0]:
        note(fig, binned_note(width, binned[0], binned[1]))
    return fig
