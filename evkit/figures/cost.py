"""Cost figures: cost per local day (stacked per charger) and the price curve under the energy.

Times are drawn as wall time in the zone given (plotly.js ignores offsets) and every time axis says
which zone it is in.
"""

from __future__ import annotations

from datetime import timedelta

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from evkit.analysis.exact import exact_sum
from evkit.display import plotly_labels, plotly_text
from evkit.figures.style import (
    ACCENT_COLOUR,
    MUTED_COLOUR,
    TEMPLATE,
    collect,
    colour,
    new_figure,
    no_data,
    note,
)

#: Beyond this many chargers the cheapest are summed as "other".
MAX_SERIES = 12


def _wall(expr: pl.Expr, zone: str) -> pl.Expr:
    return expr.dt.convert_time_zone(zone).dt.replace_time_zone(None)


def _money(currency: str | None) -> str:
    return plotly_text(currency) if currency else "currency"


def cost_per_day(
    sessions: pl.DataFrame | pl.LazyFrame, *, zone: str = "UTC", currency: str | None = None
) -> go.Figure:
    """Stacked bars of session ``cost`` per local day of plug-in in ``zone``, one series per charger."""
    title = f"Cost per day ({plotly_text(zone)} days, sessions by their start)"
    frame = collect(sessions)
    if frame.height == 0 or "cost" not in frame.columns or frame["cost"].drop_nulls().len() == 0:
        return no_data(title, "no priced sessions")
    frame = frame.filter(pl.col("cost").is_not_null()).with_columns(
        _wall(pl.col("started_at"), zone).dt.date().alias("day"),
        plotly_labels(frame.filter(pl.col("cost").is_not_null())["charger_id"]).alias("charger"),
    )
    totals = (
        frame.group_by("charger")
        .agg(exact_sum(pl.col("cost")))
        .sort(["cost", "charger"], descending=[True, False])
    )
    keep = (
        totals["charger"].to_list()[: MAX_SERIES - 1]
        if totals.height > MAX_SERIES
        else totals["charger"].to_list()
    )
    if totals.height > MAX_SERIES:
        others = totals.height - len(keep)
        frame = frame.with_columns(
            pl.when(pl.col("charger").is_in(keep))
            .then("charger")
            .otherwise(pl.lit(f"other ({others} chargers)"))
        )
    per_day = (
        frame.group_by("charger", "day")
        .agg(exact_sum(pl.col("cost")), exact_sum(pl.col("energy_kwh")))
        .sort("day")
    )
    fig = new_figure(title, height=420)
    money = _money(currency)
    series = sorted(
        set(per_day["charger"]), key=lambda c: (c.startswith("other ("), keep.index(c) if c in keep else 0)
    )
    for index, charger in enumerate(series):
        part = per_day.filter(pl.col("charger") == charger)
        fig.add_trace(
            go.Bar(
                name=charger,
                x=part["day"].to_list(),
                y=part["cost"].to_list(),
                customdata=part["energy_kwh"].to_list(),
                marker={"color": MUTED_COLOUR if charger.startswith("other (") else colour(index)},
                hovertemplate=(
                    f"<b>{charger}</b><br>%{{x|%Y-%m-%d}}: %{{y:.2f}} {money}"
                    "<br>%{customdata:.2f} kWh<extra></extra>"
                ),
            )
        )
    fig.update_layout(barmode="stack", bargap=0.25)
    fig.update_xaxes(
        title_text=f"day ({plotly_text(zone)})", type="date", tickformat="%Y-%m-%d", dtick=86_400_000
    )
    fig.update_yaxes(title_text=f"cost ({money})", rangemode="tozero")
    return fig


def price_and_energy(
    energy_per_hour: pl.DataFrame | pl.LazyFrame,
    tariff: pl.DataFrame,
    *,
    zone: str = "UTC",
    currency: str | None = None,
) -> go.Figure:
    """The tariff's price (step line, top) over the energy charged per hour (bars, all chargers, below).

    ``energy_per_hour`` is ``evkit.analysis.energy_per_hour`` (meter interpolated to the hours);
    ``tariff`` is a ``Tariff.frame``. Both are drawn in ``zone`` over the span of the energy (as wall
    time: on the night the clocks go back, the repeated hour's bars are drawn over each other).
    """
    title = f"Price and energy per hour ({plotly_text(zone)})"
    energy = collect(energy_per_hour)
    if energy.height == 0:
        return no_data(title, "no energy readings")
    hourly = energy.group_by("hour").agg(exact_sum(pl.col("energy_kwh"))).sort("hour")
    first = hourly["hour"].min()
    last = hourly["hour"].max() + timedelta(hours=1)  # type: ignore[operator]  # the end of the last hour
    prices = tariff.filter(
        pl.col("price").is_not_null()
        & (pl.col("to").is_null() | (pl.col("to") > first))
        & (pl.col("from") < last)
    )
    money = _money(currency)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.35, 0.65], vertical_spacing=0.06)
    fig.update_layout(template=TEMPLATE, title={"text": title}, height=480, showlegend=False)
    if prices.height:
        # a step line: each price from its start to its end (clipped to the energy's span)
        steps = prices.with_columns(
            pl.max_horizontal(pl.col("from"), pl.lit(first)).alias("a"),
            pl.min_horizontal(pl.col("to").fill_null(pl.lit(last)), pl.lit(last)).alias("b"),
        ).with_columns(_wall(pl.col("a"), zone), _wall(pl.col("b"), zone))
        xs: list[object] = []
        ys: list[float | None] = []
        for a, b, p in steps.select("a", "b", "price").iter_rows():
            xs += [a, b, None]
            ys += [p, p, None]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                line={"color": ACCENT_COLOUR, "width": 2},
                name="price",
                hovertemplate=f"%{{x|%Y-%m-%d %H:%M}}: %{{y:.4f}} {money}/kWh<extra></extra>",
                connectgaps=False,
            ),
            row=1,
            col=1,
        )
    else:
        note(fig, "the tariff has no price over this span")
    local = hourly.with_columns(_wall(pl.col("hour"), zone))
    fig.add_trace(
        go.Bar(
            x=local["hour"].to_list(),
            y=local["energy_kwh"].to_list(),
            marker={"color": MUTED_COLOUR},
            name="energy",
            hovertemplate="%{x|%Y-%m-%d %H:%M}: %{y:.2f} kWh<extra></extra>",
            xperiod=3_600_000,
            xperiodalignment="middle",  # each bar spans its hour
        ),
        row=2,
        col=1,
    )
    fig.update_yaxes(title_text=f"price ({money}/kWh)", row=1, col=1)
    fig.update_yaxes(title_text="energy (kWh)", rangemode="tozero", row=2, col=1)
    fig.update_xaxes(title_text=f"time ({plotly_text(zone)})", type="date", row=2, col=1)
    return fig


__all__ = ["cost_per_day", "price_and_energy"]
