"""The live view's rolling power chart: one line per charger, each in its colour."""

from __future__ import annotations

from collections.abc import Mapping

import plotly.graph_objects as go
import polars as pl

from evkit.display import plotly_text
from evkit.figures._format import naive_utc
from evkit.figures.style import TIME_AXIS_TITLE, charger_colours, colour_of, new_figure, no_data

#: Most chargers drawn (the most powerful now); the table below the chart lists all.
MAX_LINES = 12


def rolling_power(
    power: pl.DataFrame, *, colours: Mapping[str, str] | None = None, title: str = "Power, last minutes"
) -> go.Figure:
    """Lines of ``power_kw`` over ``at`` per ``charger_id`` (the frame of ``LiveFeed.power``)."""
    if power.height == 0:
        return no_data(title, "no power reading yet", height=300)
    frame = naive_utc(power, "at")
    colours = colours or charger_colours(frame["charger_id"].unique().to_list())
    latest = frame.group_by("charger_id").agg(pl.col("power_kw").last()).sort("power_kw", descending=True)
    fig = new_figure(title, height=320)
    for index, charger in enumerate(sorted(latest["charger_id"].head(MAX_LINES).to_list())):
        part = frame.filter(pl.col("charger_id") == charger)
        fig.add_trace(
            go.Scatter(
                name=plotly_text(charger),
                x=part["at"].to_list(),
                y=part["power_kw"].to_list(),
                mode="lines+markers" if part.height < 60 else "lines",
                line={"color": colour_of(charger, colours, index), "shape": "hv", "width": 2},
                marker={"size": 4},
                hovertemplate="%{x|%H:%M:%S}Z · %{y:.2f} kW<extra>%{fullData.name}</extra>",
            )
        )
    fig.update_xaxes(title_text=TIME_AXIS_TITLE)
    fig.update_yaxes(title_text="power (kW)", rangemode="tozero")
    fig.update_layout(margin={"t": 60})
    return fig


__all__ = ["rolling_power"]
