"""Data quality: per-charger counts of what went wrong, and a timeline of telemetry gaps."""

from __future__ import annotations

import html
import math
from datetime import datetime

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from evkit.display import plotly_labels
from evkit.figures._format import duration, hover_rows, naive_utc, timestamp, utc_literal
from evkit.figures.style import (
    TEMPLATE,
    TIME_AXIS_TITLE,
    collect,
    colour,
    count_axis,
    new_figure,
    no_data,
    note,
)

#: (column stems accepted, label) of the counts drawn, in this order. The first matching column wins.
QUALITY_METRICS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("gaps_n", "gaps", "gap_n", "telemetry_gaps", "gap_count"), "telemetry gaps"),
    (("duplicates_n", "duplicates", "duplicate_n", "duplicate_count"), "duplicates"),
    (("out_of_order", "out_of_order_n", "out_of_order_count"), "out of order"),
    (("decode_errors_n", "decode_errors", "decode_error_n", "errors", "error_n"), "decode errors"),
    (("unknown_ids_n", "unknown_ids", "unknown_id_n", "unknown_n"), "unknown ids"),
    (("stale_n", "stale_values", "stale"), "stale values"),
    (("clock_skew_n", "clock_skew"), "clock skew"),
)
_GAP_START = ("gap_start", "start", "started_at", "from", "silent_from", "last_seen")
_GAP_END = ("gap_end", "end", "ended_at", "to", "silent_until", "next_seen")
GAP_COLOUR = "#3E4C59"
#: Bars for at most this many chargers (the ones with the most problems).
MAX_CHARGERS = 40
#: Gap bars drawn at most (the longest of the chargers shown): a page's size must not follow the data.
MAX_GAPS = 2_000


def _first(columns: list[str], names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in columns), None)


def quality_columns(summary: pl.DataFrame) -> list[tuple[str, str]]:
    """(column, label) of the quality counts ``summary`` has, in display order."""
    found = []
    for stems, label in QUALITY_METRICS:
        column = _first(summary.columns, stems)
        if column is not None and summary.schema[column].is_numeric():
            found.append((column, label))
    return found


def _gap_frame(gaps: pl.DataFrame) -> pl.DataFrame | None:
    start = _first(gaps.columns, _GAP_START)
    end = _first(gaps.columns, _GAP_END)
    if start is None or end is None or "charger_id" not in gaps.columns or gaps.height == 0:
        return None
    frame = gaps.select(
        pl.col("charger_id").cast(pl.String),
        pl.col(start).alias("_start"),
        pl.col(end).alias("_end"),
    )
    return naive_utc(frame, "_start", "_end").drop_nulls()


def _slant_px(summary: pl.DataFrame) -> int:
    """Extra pixels the slanted charger names under the bars need beyond short (8-character) ids."""
    if "charger_id" not in summary.columns or summary.height == 0:
        return 0
    longest = max((len(html.unescape(n)) for n in summary["charger_id"].drop_nulls().to_list()), default=0)
    return max(0, longest - 8) * 5


def _labelled(summary: pl.DataFrame, gaps: pl.DataFrame | None) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Both frames with their charger ids as Plotly labels, one label per id across both panels."""
    frames = [f for f in (summary, gaps) if f is not None and "charger_id" in f.columns]
    if not frames:
        return summary, gaps
    ids = pl.concat([f["charger_id"].cast(pl.String) for f in frames]).unique().drop_nulls()
    labels = plotly_labels(ids)

    def relabel(frame: pl.DataFrame) -> pl.DataFrame:
        shown = frame["charger_id"].cast(pl.String).replace_strict(ids, labels, default=None)
        return frame.with_columns(shown.alias("charger_id"))

    summary = relabel(summary) if "charger_id" in summary.columns else summary
    return summary, relabel(gaps) if gaps is not None else None


def data_quality_overview(
    summary: pl.DataFrame | pl.LazyFrame,
    gaps: pl.DataFrame | pl.LazyFrame | None = None,
    *,
    time_range: tuple[datetime, datetime] | None = None,
    title: str = "Data quality per charger",
) -> go.Figure:
    """Grouped bars per charger of gaps, duplicates, out-of-order, decode errors, unknown ids (and stale
    values), from ``evkit.analysis.quality_summary``; below it, with ``gaps`` (``telemetry_gaps``), each
    silence as a bar on a time axis per charger (``time_range``, e.g. the data's first and last
    observation, sets that axis so gaps show in proportion to the whole capture).
    """
    frame, gap_frame = _labelled(collect(summary), _gap_frame(collect(gaps)) if gaps is not None else None)
    metrics = quality_columns(frame) if "charger_id" in frame.columns else []
    if (frame.height == 0 or not metrics) and gap_frame is None:
        return no_data(title, "no data-quality summary")
    rows = 2 if gap_frame is not None and gap_frame.height else 1
    # Long charger names are drawn slanted under the bars: the space between the panels grows with them.
    slant = _slant_px(frame) if rows == 2 else 0
    height = (
        min(1800, 560 + 24 * gap_frame["charger_id"].n_unique()) + slant if gap_frame is not None else 420
    )
    fig = (
        make_subplots(
            rows=2,
            cols=1,
            row_heights=[0.5, 0.5],
            vertical_spacing=(0.16 * (height - slant) + slant) / height,
            subplot_titles=("problems per charger (count)", "telemetry gaps (silence longer than expected)"),
        )
        if rows == 2
        else new_figure(title)
    )
    fig.update_layout(
        template=TEMPLATE,
        title={"text": title},
        legend={"orientation": "v", "x": 1.02, "xanchor": "left", "y": 1.0, "yanchor": "top"},
    )
    if metrics and frame.height:
        frame = frame.with_columns(
            pl.sum_horizontal([pl.col(c).fill_null(0) for c, _ in metrics]).alias("_total")
        )
        shown = frame.sort(["_total", "charger_id"], descending=[True, False]).head(MAX_CHARGERS)
        for index, (column, label) in enumerate(metrics):
            fig.add_trace(
                go.Bar(
                    name=label,
                    x=shown["charger_id"].to_list(),
                    y=shown[column].fill_null(0).to_list(),
                    marker={"color": colour(index)},
                    hovertemplate=f"%{{x}}: %{{y:,}} {label}<extra></extra>",
                ),
                **({"row": 1, "col": 1} if rows == 2 else {}),
            )
        fig.update_layout(barmode="group")
        counts = [v for c, _ in metrics for v in shown[c].drop_nulls().to_list() if v > 0]
        # Counts of different checks differ by orders of magnitude; a log axis keeps the small ones visible.
        log_y = bool(counts) and max(counts) / min(counts) > 100
        fig.update_yaxes(
            title_text="count" + (" (log scale)" if log_y else ""),
            type="log" if log_y else "linear",
            rangemode="tozero",
            # Decades only, from just below 1 so single events still show as bars.
            **(
                {"dtick": 1, "range": [-0.1, math.log10(max(counts)) + 0.15]}
                if log_y
                else count_axis(max(counts, default=1))
            ),
            row=1 if rows == 2 else None,
        )
        fig.update_xaxes(type="category", row=1 if rows == 2 else None)
        if frame.height > MAX_CHARGERS:
            note(fig, f"showing the {MAX_CHARGERS} chargers with the most problems of {frame.height}")
        if int(frame["_total"].sum()) == 0:
            fig.add_annotation(
                text="no problems found",
                xref="paper",
                yref="paper",
                x=0.5,
                y=0.97 if rows == 2 else 0.5,
                showarrow=False,
                font={"size": 13, "color": "#52606D"},
            )
    if rows == 2 and gap_frame is not None:
        gap_frame = _bounded_gaps(fig, gap_frame)
        _add_gaps(fig, gap_frame)
        if time_range is not None:
            fig.update_xaxes(range=[utc_literal(time_range[0]), utc_literal(time_range[1])], row=2, col=1)
        fig.update_layout(height=height)
    else:
        fig.update_layout(height=420)
    return fig


def _bounded_gaps(fig: go.Figure, gaps: pl.DataFrame) -> pl.DataFrame:
    """At most ``MAX_CHARGERS`` chargers (the longest silence in total) and ``MAX_GAPS`` gaps (the
    longest); a note says what was left out."""
    total, chargers = gaps.height, gaps["charger_id"].n_unique()
    if chargers > MAX_CHARGERS:
        silent = (pl.col("_end") - pl.col("_start")).sum()
        top = (
            gaps.group_by("charger_id")
            .agg(silent.alias("_s"))
            .sort("_s", "charger_id", descending=[True, False])
        )
        gaps = gaps.filter(pl.col("charger_id").is_in(top.head(MAX_CHARGERS)["charger_id"].implode()))
    if gaps.height > MAX_GAPS:
        gaps = gaps.sort(pl.col("_end") - pl.col("_start"), descending=True).head(MAX_GAPS)
    if gaps.height < total:
        shown = gaps["charger_id"].n_unique()
        note(fig, f"gaps: showing the {gaps.height:,} longest of {total:,} ({shown} of {chargers} chargers)")
    return gaps


def _add_gaps(fig: go.Figure, gaps: pl.DataFrame) -> None:
    gaps = gaps.with_columns((pl.col("_end") - pl.col("_start")).dt.total_milliseconds().alias("_ms"))
    hover = [
        [timestamp(s), timestamp(e), duration(ms / 1000)]
        for s, e, ms in gaps.select("_start", "_end", "_ms").iter_rows()
    ]
    fig.add_trace(
        go.Bar(
            name=f"gap ({gaps.height})",
            orientation="h",
            y=gaps["charger_id"].to_numpy(),
            x=gaps["_ms"].to_numpy(),
            base=gaps["_start"].to_numpy(),
            customdata=hover_rows(hover),
            marker={"color": GAP_COLOUR, "line": {"width": 0}},
            hovertemplate=(
                "<b>%{y}</b><br>silent %{customdata[2]}<br>%{customdata[0]} → %{customdata[1]}<extra></extra>"
            ),
        ),
        row=2,
        col=1,
    )
    chargers = sorted(gaps["charger_id"].unique().to_list())
    fig.update_xaxes(type="date", title_text=TIME_AXIS_TITLE, row=2, col=1)
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=chargers[::-1], row=2, col=1)
