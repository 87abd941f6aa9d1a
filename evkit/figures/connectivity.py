"""Connectivity over time: RSSI (130/132), cloud connection (250) and reboots (80/89)."""

from __future__ import annotations

from collections.abc import Mapping

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from evkit.analysis.connectivity import MAX_CHARGERS, most_troubled, readings_plan, trouble_of
from evkit.display import plotly_labels
from evkit.figures import _ids
from evkit.figures._format import duration, hover_rows, naive_utc, timestamp
from evkit.figures.style import (
    BAD_COLOUR,
    OK_COLOUR,
    TEMPLATE,
    TIME_AXIS_TITLE,
    charger_colours,
    colour_of,
    no_data,
    note,
)

#: RSSI lines for at most this many chargers (the plot stays legible); bands and reboots for all.
MAX_RSSI_CHARGERS = 10
#: Points per RSSI line and bands / boot markers drawn at most: a page's size must not follow the data.
MAX_POINTS = 1_000
MAX_BANDS = 2_000


def _readings(observations: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """``evkit.analysis.connectivity.readings_plan`` collected, in UTC wall time."""
    return naive_utc(readings_plan(observations).collect(), "observed_at")


def _cloud_bands(readings: pl.DataFrame) -> pl.DataFrame:
    """Intervals of constant cloud connection state per charger (to the charger's last reading)."""
    last_seen = readings.group_by("charger_id").agg(pl.col("observed_at").max().alias("_last"))
    states = (
        readings.filter(pl.col("observation_id") == _ids.CONNECTED_TO_CLOUD)
        .drop_nulls("value")
        .with_columns((pl.col("value") != 0).alias("connected"))
        .filter((pl.col("connected") != pl.col("connected").shift(1).over("charger_id")).fill_null(True))
        .join(last_seen, on="charger_id", maintain_order="left")  # the next state is the next row
        .with_columns(
            pl.col("observed_at").shift(-1).over("charger_id").fill_null(pl.col("_last")).alias("until")
        )
        .filter(pl.col("until") > pl.col("observed_at"))
    )
    return states.select("charger_id", "observed_at", "until", "connected")


def readings(observations: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """The readings the connectivity figure draws (RSSI, cloud connection, boots), one row each."""
    return _readings(observations)


def connectivity_timeline(
    observations: pl.DataFrame | pl.LazyFrame,
    *,
    max_chargers: int = MAX_CHARGERS,
    title: str = "Connectivity per charger",
    colours: Mapping[str, str] | None = None,
    chargers_in_data: int | None = None,
) -> go.Figure:
    """Top: cellular and Wi-Fi RSSI (dBm) per charger. Bottom: cloud connection state (250) as green /
    red bands per charger, with boots (SoftwareRelease 80 / RebootReason 89) as markers.

    Takes the observations themselves (contract columns), so it works before any aggregation. With
    more than ``max_chargers`` chargers, the ones with the most disconnects and boots are drawn.
    ``colours`` (charger -> colour, ``evkit.figures.style.charger_colours``) keeps each charger's RSSI
    lines in its colour from the other figures. ``chargers_in_data``: how many chargers with such
    readings the whole data holds, when ``observations`` are only those of the chargers to draw (as
    ``most_troubled`` picks them, e.g. bucket by bucket).
    """
    columns = set(observations.collect_schema().names())
    if not {"charger_id", "observed_at", "observation_id", "value"} <= columns:
        return no_data(title, "needs charger_id, observed_at, observation_id and value")
    readings = _readings(observations)
    if readings.height == 0:
        return no_data(title, "no RSSI, cloud-connection or reboot readings")
    all_chargers = readings["charger_id"].n_unique() if chargers_in_data is None else chargers_in_data
    if all_chargers > max_chargers:
        readings = readings.filter(
            pl.col("charger_id").is_in(most_troubled(trouble_of(readings), max_chargers).implode())
        )
    # Ids are drawn as text (axis, legend, hover templates), cut to the display limit.
    raw_ids = readings["charger_id"].unique().sort()
    palette = colours if colours is not None else charger_colours(raw_ids.to_list())
    label_of = dict(zip(raw_ids.to_list(), plotly_labels(raw_ids).to_list(), strict=True))
    palette = {label_of[k]: v for k, v in palette.items() if k in label_of}
    readings = readings.with_columns(plotly_labels(readings["charger_id"]).alias("charger_id"))
    chargers = sorted(readings["charger_id"].unique().to_list())
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        row_heights=[0.55, 0.45],
        vertical_spacing=0.1,
        subplot_titles=("signal strength (dBm)", "cloud connection and reboots"),
    )
    fig.update_layout(
        template=TEMPLATE,
        title={"text": title},
        legend={"orientation": "v", "x": 1.02, "xanchor": "left", "y": 1.0, "yanchor": "top"},
    )
    rssi = readings.filter(pl.col("observation_id").is_in([_ids.CELL_RSSI, _ids.WIFI_RSSI]))
    rssi_chargers = sorted(rssi["charger_id"].unique().to_list())[:MAX_RSSI_CHARGERS]
    thinned: list[int] = []
    for index, charger in enumerate(rssi_chargers):
        for obs_id, kind, dash in ((_ids.WIFI_RSSI, "Wi-Fi", "solid"), (_ids.CELL_RSSI, "cell", "dot")):
            part = rssi.filter((pl.col("charger_id") == charger) & (pl.col("observation_id") == obs_id))
            if part.height == 0:
                continue
            if part.height > MAX_POINTS:  # every k-th reading, evenly over the whole time range
                thinned.append(part.height)
                part = part.gather_every(-(-part.height // MAX_POINTS))
            fig.add_trace(
                go.Scatter(
                    name=f"{charger} {kind}",
                    x=part["observed_at"].to_numpy(),
                    y=part["value"].to_numpy(),
                    mode="lines+markers" if part.height < 60 else "lines",
                    marker={"size": 4},
                    line={"color": colour_of(charger, palette, index), "dash": dash, "width": 1.5},
                    hovertemplate=f"{charger} {kind}: %{{y:.0f}} dBm<extra>%{{x|%Y-%m-%d %H:%M}}Z</extra>",
                ),
                row=1,
                col=1,
            )
    bands = _cloud_bands(readings)
    if bands.height > MAX_BANDS:  # the newest state changes
        note(fig, f"showing the newest {MAX_BANDS:,} of {bands.height:,} cloud connection states")
        bands = bands.sort("observed_at", descending=True).head(MAX_BANDS)
    if thinned:
        note(fig, f"RSSI: lines of more than {MAX_POINTS:,} readings drawn with every k-th reading")
    for connected, label, fill in (
        (True, "cloud connected", OK_COLOUR),
        (False, "cloud disconnected", BAD_COLOUR),
    ):
        part = bands.filter(pl.col("connected") == connected)
        if part.height == 0:
            continue
        ms = (part["until"] - part["observed_at"]).dt.total_milliseconds()
        fig.add_trace(
            go.Bar(
                name=label,
                orientation="h",
                y=part["charger_id"].to_numpy(),
                x=ms.to_numpy(),
                base=part["observed_at"].to_numpy(),
                customdata=hover_rows(
                    [
                        [timestamp(s), timestamp(u), duration(m / 1000)]
                        for s, u, m in zip(part["observed_at"], part["until"], ms, strict=True)
                    ]
                ),
                marker={"color": fill, "opacity": 0.55, "line": {"width": 0}},
                hovertemplate=(
                    f"<b>%{{y}}</b> {label}<br>%{{customdata[0]}} → %{{customdata[1]}}"
                    " (%{customdata[2]})<extra></extra>"
                ),
            ),
            row=2,
            col=1,
        )
    boots = readings.filter(pl.col("observation_id").is_in([_ids.SOFTWARE_RELEASE, _ids.REBOOT_REASON]))
    # One boot sends both 80 and 89; readings of one charger within a minute are one boot.
    boots = boots.filter(
        (pl.col("observed_at") - pl.col("observed_at").shift(1).over("charger_id"))
        .dt.total_seconds()
        .fill_null(10**9)
        > 60
    )
    if boots.height > MAX_BANDS:
        note(fig, f"showing the newest {MAX_BANDS:,} of {boots.height:,} boots")
        boots = boots.sort("observed_at", descending=True).head(MAX_BANDS)
    if boots.height:
        fig.add_trace(
            go.Scatter(
                name=f"boot ({boots.height})",
                x=boots["observed_at"].to_numpy(),
                y=boots["charger_id"].to_numpy(),
                mode="markers",
                marker={"symbol": "x", "size": 11, "color": "#1F2933", "line": {"width": 1}},
                hovertemplate="<b>%{y}</b> booted %{x|%Y-%m-%d %H:%M:%S}Z<extra></extra>",
            ),
            row=2,
            col=1,
        )
    fig.update_layout(barmode="overlay", height=min(1600, 520 + 26 * len(chargers)))
    if all_chargers > max_chargers:
        note(
            fig, f"showing the {max_chargers} chargers with the most disconnects and boots of {all_chargers}"
        )
    fig.update_yaxes(title_text="RSSI (dBm)", row=1, col=1)
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=chargers[::-1], row=2, col=1)
    fig.update_xaxes(type="date", row=1, col=1)
    fig.update_xaxes(type="date", title_text=TIME_AXIS_TITLE, row=2, col=1)
    return fig
