"""Energy per day (stacked per charger)."""

from __future__ import annotations

import html
from collections.abc import Mapping
from datetime import date

import plotly.graph_objects as go
import polars as pl

from evkit.analysis.exact import exact_sum
from evkit.analysis.quality import named_chargers
from evkit.display import plotly_labels, plotly_text_expr
from evkit.figures._format import hover_rows
from evkit.figures.style import MUTED_COLOUR, charger_colours, collect, colour_of, new_figure, no_data, note

#: Beyond this many chargers the smallest are summed into one "other" series (legends stay readable).
MAX_SERIES = 12
#: Legend text (names plus room for each marker) that still fits in one row above the plot.
LEGEND_ROW_CHARS = 110


def _day_column(frame: pl.DataFrame) -> pl.DataFrame:
    dtype = frame.schema["day"]
    if isinstance(dtype, pl.Datetime):
        return frame.with_columns(pl.col("day").dt.date())
    if dtype == pl.String:
        return frame.with_columns(pl.col("day").str.to_date(strict=False))
    return frame


def energy_per_day(
    energy: pl.DataFrame | pl.LazyFrame,
    *,
    max_series: int = MAX_SERIES,
    title: str | None = None,
    colours: Mapping[str, str] | None = None,
    zone: str = "UTC",
) -> go.Figure:
    """Stacked bars of ``energy_kwh`` per ``day``, one series per charger.

    Expects the frame of ``evkit.analysis.energy_per_day`` (charger_id, day, energy_kwh, source). With
    more than ``max_series`` chargers the ones with the least energy are summed as "other". The hover
    names the energy source (session energy, lifetime meter, hourly energy) used for that day.
    ``colours`` (charger -> colour, :func:`evkit.figures.style.charger_colours`) keeps each charger's
    colour the same as in other figures; by default the chargers shown, sorted, get the palette in order.
    ``zone`` names the zone whose days ``day`` are (``evkit.analysis.energy_per_day(lf, zone)``): the
    axis and the default title say it.
    """
    title = title or f"Energy per day ({zone} days)"
    frame = collect(energy)
    if frame.height == 0 or not {"charger_id", "day", "energy_kwh"} <= set(frame.columns):
        return no_data(title, "no energy readings")
    frame = _day_column(frame).with_columns(named_chargers())
    palette = colours if colours is not None else charger_colours(frame["charger_id"].unique().to_list())
    if palette:  # keyed like the legend names below (ids shown as text)
        labels = plotly_labels(pl.Series(list(palette), dtype=pl.String)).to_list()
        palette = dict(zip(labels, palette.values(), strict=True))
    if "source" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias("source"))
    # Legend names and hovers show ids and sources as text, cut to the display limit.
    frame = frame.with_columns(
        plotly_labels(frame["charger_id"]).alias("charger_id"),
        plotly_text_expr(pl.col("source")).alias("source"),
    )
    totals = (
        frame.group_by("charger_id")
        .agg(exact_sum(pl.col("energy_kwh")))
        .sort(["energy_kwh", "charger_id"], descending=[True, False])
    )
    keep = totals["charger_id"].to_list()
    if len(keep) > max_series:
        keep = keep[: max_series - 1]
        others = totals.height - len(keep)
        frame = frame.with_columns(
            pl.when(pl.col("charger_id").is_in(keep))
            .then(pl.col("charger_id"))
            .otherwise(pl.lit(f"other ({others} chargers)"))
            .alias("charger_id")
        )
    per_day = (
        frame.group_by("charger_id", "day")
        .agg(
            exact_sum(pl.col("energy_kwh")),
            pl.col("source").drop_nulls().unique().sort().str.join(", ").alias("source"),
        )
        .sort("day")
    )
    series = [c for c in keep if c in set(per_day["charger_id"])]
    series += sorted(set(per_day["charger_id"]) - set(series))
    fig = new_figure(title, height=440)
    for index, charger in enumerate(series):
        part = per_day.filter(pl.col("charger_id") == charger)
        fig.add_trace(
            go.Bar(
                name=charger,
                x=part["day"].to_list(),  # days as dates: a missing one stays null, not "NaT"
                y=part["energy_kwh"].to_numpy(),
                customdata=hover_rows([[s or "unknown"] for s in part["source"].to_list()]),
                marker={
                    "color": MUTED_COLOUR
                    if charger.startswith("other (")
                    else colour_of(charger, palette, index)
                },
                hovertemplate=(
                    f"<b>{charger}</b><br>%{{x|%Y-%m-%d}}: %{{y:.2f}} kWh"
                    "<br>source: %{customdata[0]}<extra></extra>"
                ),
            )
        )
    daily = per_day.group_by("day").agg(exact_sum(pl.col("energy_kwh"))).sort("day")
    if daily.height <= 62:
        fig.add_trace(
            go.Scatter(
                name="total",
                x=daily["day"].to_list(),
                y=daily["energy_kwh"].to_list(),
                mode="text",
                text=[f"{v:.1f}" for v in daily["energy_kwh"].to_list()],
                textposition="top center",
                textfont={"size": 10, "color": "#52606D"},
                hovertemplate="%{x|%Y-%m-%d}: %{y:.2f} kWh in total<extra></extra>",
                showlegend=False,
            )
        )
    fig.update_layout(barmode="stack", bargap=0.25)
    if sum(len(html.unescape(name)) + 6 for name in series) > LEGEND_ROW_CHARS:
        # A legend longer than one row above the plot would run into the title: it goes to the right.
        fig.update_layout(
            legend={"orientation": "v", "x": 1.02, "xanchor": "left", "y": 1.0, "yanchor": "top"}
        )
    first, last = daily["day"].min(), daily["day"].max()
    days = (last - first).days + 1 if isinstance(first, date) and isinstance(last, date) else daily.height
    fig.update_xaxes(
        title_text=f"day ({zone})",  # the days are the zone's: the data's, not always UTC
        type="date",
        tickformat="%Y-%m-%d",
        dtick=86_400_000 * max(1, days // 20),  # whole days only, never one label twice
    )
    fig.update_yaxes(title_text="energy (kWh)", rangemode="tozero")
    sources = sorted(set(frame["source"].drop_nulls().to_list()))
    if sources:
        note(fig, "energy source: " + ", ".join(sources))
    return fig
