"""One look for every evkit figure: the template, the colours, the "no data" figure, input coercion.

Figures set ``template=TEMPLATE`` themselves instead of changing ``plotly.io.templates.default``, so
importing evkit never restyles a user's other plots.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import plotly.graph_objects as go
import polars as pl

#: System fonts only: the offline report must not fetch web fonts.
FONT_FAMILY = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"

#: Qualitative colours (colour-blind friendly, Okabe-Ito based) for chargers, hops and categories.
PALETTE: tuple[str, ...] = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#000000",
    "#7F7F7F",
    "#8C564B",
)

#: Meaningful colours reused across figures.
OK_COLOUR = "#009E73"
WARN_COLOUR = "#E69F00"
BAD_COLOUR = "#D55E00"
MUTED_COLOUR = "#9AA5B1"
ACCENT_COLOUR = "#0072B2"

#: Sequential scale for magnitudes (energy, latency).
SEQUENTIAL = "Viridis"

TIME_AXIS_TITLE = "time (UTC)"

TEMPLATE = go.layout.Template(
    layout=go.Layout(
        font={"family": FONT_FAMILY, "size": 13, "color": "#1F2933"},
        title={"x": 0.0, "xanchor": "left", "font": {"size": 17}},
        paper_bgcolor="white",
        plot_bgcolor="white",
        colorway=list(PALETTE),
        margin={"l": 70, "r": 30, "t": 70, "b": 60},
        hoverlabel={"font": {"family": FONT_FAMILY}},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "right", "x": 1.0},
        xaxis={
            "showgrid": True,
            "gridcolor": "#E4E7EB",
            "linecolor": "#9AA5B1",
            "zeroline": False,
            "ticks": "outside",
            "tickcolor": "#9AA5B1",
            "automargin": True,
        },
        yaxis={
            "showgrid": True,
            "gridcolor": "#E4E7EB",
            "linecolor": "#9AA5B1",
            "zeroline": False,
            "ticks": "outside",
            "tickcolor": "#9AA5B1",
            "automargin": True,
        },
    )
)


def colour(index: int) -> str:
    """The ``index``-th palette colour (cycling)."""
    return PALETTE[index % len(PALETTE)]


def nice_step(maximum: float, ticks: int = 5) -> float:
    """A round tick step (1, 2, 2.5 or 5 times a power of ten) giving about ``ticks`` ticks up to
    ``maximum``: 0/10/20/30 A instead of 0/9/18/26/35 A."""
    import math

    if not math.isfinite(maximum) or maximum <= 0:
        return 1.0
    raw = maximum / max(ticks - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * power:
            return float(factor * power)
    return float(10 * power)


def count_axis(maximum: float) -> dict[str, float | str]:
    """Axis settings for counts: whole-number ticks only (never 0.5 messages)."""
    return {"tick0": 0, "dtick": max(1.0, float(round(nice_step(maximum)))), "tickformat": ",d"}


def charger_colours(chargers: Iterable[str]) -> dict[str, str]:
    """One colour per charger, by the sorted ids: every figure (and the explorer, and the report) built
    from the same chargers gives each the same colour. Pass the result as a figure's ``colours``."""
    return {charger: colour(index) for index, charger in enumerate(sorted(set(chargers)))}


def colour_of(charger: str, colours: Mapping[str, str] | None, fallback: int) -> str:
    """``charger``'s colour in ``colours``, else the ``fallback``-th palette colour."""
    if colours is not None and charger in colours:
        return colours[charger]
    return colour(fallback)


def collect(frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """``frame`` as a DataFrame (LazyFrames are collected here, once)."""
    return frame.collect() if isinstance(frame, pl.LazyFrame) else frame


def has_columns(frame: pl.DataFrame, columns: Sequence[str]) -> bool:
    """Whether ``frame`` has every column of ``columns``."""
    return set(columns) <= set(frame.columns)


def new_figure(title: str, height: int | None = None) -> go.Figure:
    """An empty figure with the evkit template and ``title``."""
    fig = go.Figure()
    fig.update_layout(template=TEMPLATE, title={"text": title})
    if height is not None:
        fig.update_layout(height=height)
    return fig


def no_data(title: str, message: str = "no data", height: int = 320) -> go.Figure:
    """A figure that says there is nothing to show (and why), instead of raising."""
    fig = new_figure(title, height=height)
    fig.add_annotation(
        text=message,
        xref="paper",
        yref="paper",
        x=0.5,
        y=0.5,
        showarrow=False,
        font={"size": 15, "color": MUTED_COLOUR},
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def note(fig: go.Figure, text: str) -> None:
    """A small note under the title (sources, caveats, counts); several notes stack."""
    current = fig.layout.title.subtitle.text
    combined = f"{current}<br>{text}" if current else text
    lines = combined.count("<br>") + 1
    fig.update_layout(
        title={"subtitle": {"text": combined, "font": {"size": 11, "color": "#52606D"}}},
        margin={"t": 80 + 14 * lines},
    )
