"""Connectivity over time: cloud connection (250/251), signal strength (130/132), reboots (80/89)."""

from __future__ import annotations

import polars as pl

from evkit.analysis import _ids
from evkit.analysis._prep import observations, require
from evkit.analysis.quality import named_chargers

#: Event names of ``connectivity`` rows.
EVENTS = (
    "cloud_connected",
    "cloud_disconnected",
    "cloud_disconnect_reason",
    "cell_rssi_dbm",
    "wifi_rssi_dbm",
    "reboot",
    "software_release",
    "offline",
)

_IDS = (
    _ids.CONNECTED_TO_CLOUD,
    _ids.CLOUD_DISCONNECT_REASON,
    _ids.CELL_RSSI,
    _ids.WIFI_RSSI,
    _ids.REBOOT_REASON,
    _ids.SOFTWARE_RELEASE,
    _ids.OP_MODE,
)


def connectivity(lf: pl.LazyFrame) -> pl.LazyFrame:
    """One row per connectivity event: ``charger_id``, ``observed_at``, ``event``, ``value``, ``value_text``.

    Events: ``cloud_connected`` / ``cloud_disconnected`` (250), ``cloud_disconnect_reason`` (251),
    ``cell_rssi_dbm`` (130), ``wifi_rssi_dbm`` (132), ``reboot`` (89, value = the reason bitmask),
    ``software_release`` (80, sent at boot) and ``offline`` (op mode 0).
    """
    lf = require(lf)
    obs_id, value = pl.col("observation_id"), pl.col("value")
    event = (
        pl.when((obs_id == _ids.CONNECTED_TO_CLOUD) & (value > 0))
        .then(pl.lit("cloud_connected"))
        .when(obs_id == _ids.CONNECTED_TO_CLOUD)
        .then(pl.lit("cloud_disconnected"))
        .when(obs_id == _ids.CLOUD_DISCONNECT_REASON)
        .then(pl.lit("cloud_disconnect_reason"))
        .when(obs_id == _ids.CELL_RSSI)
        .then(pl.lit("cell_rssi_dbm"))
        .when(obs_id == _ids.WIFI_RSSI)
        .then(pl.lit("wifi_rssi_dbm"))
        .when(obs_id == _ids.REBOOT_REASON)
        .then(pl.lit("reboot"))
        .when(obs_id == _ids.SOFTWARE_RELEASE)
        .then(pl.lit("software_release"))
        .when((obs_id == _ids.OP_MODE) & (value == _ids.OFFLINE))
        .then(pl.lit("offline"))
    )
    return (
        observations(lf, _IDS)
        .with_columns(event.alias("event"))
        .filter(pl.col("event").is_not_null())
        .select("charger_id", "observed_at", "event", "observation_id", "value", "value_text")
        .sort("charger_id", "observed_at")
    )


def connectivity_summary(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Per charger: disconnections, reboots, offline spells and signal strength (median, min)."""
    events = connectivity(lf)
    ev = pl.col("event")
    return (
        events.group_by("charger_id")
        .agg(
            (ev == "cloud_disconnected").sum().cast(pl.Int64).alias("cloud_disconnects_n"),
            (ev == "reboot").sum().cast(pl.Int64).alias("reboots_n"),
            (ev == "offline").sum().cast(pl.Int64).alias("offline_n"),
            pl.col("value").filter(ev == "cell_rssi_dbm").median().alias("cell_rssi_median_dbm"),
            pl.col("value").filter(ev == "cell_rssi_dbm").min().alias("cell_rssi_min_dbm"),
            pl.col("value").filter(ev == "wifi_rssi_dbm").median().alias("wifi_rssi_median_dbm"),
            pl.col("value").filter(ev == "wifi_rssi_dbm").min().alias("wifi_rssi_min_dbm"),
            pl.col("value_text")
            .filter(ev == "cloud_disconnect_reason")
            .drop_nulls()
            .last()
            .alias("last_disconnect_reason"),
        )
        .sort("charger_id")
    )


#: The readings the connectivity figure draws: RSSI, cloud connection and boots.
READING_IDS = (
    _ids.CELL_RSSI,
    _ids.WIFI_RSSI,
    _ids.CONNECTED_TO_CLOUD,
    _ids.SOFTWARE_RELEASE,
    _ids.REBOOT_REASON,
)
#: Chargers the connectivity figure draws at most (the most troubled first: ``most_troubled``).
MAX_CHARGERS = 40


def readings_plan(observations: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """The readings the connectivity figure draws (``READING_IDS``, with a device time), one row each,
    as a plan to collect with others (``evkit.figures.connectivity.readings`` collects it). Readings
    without a charger id (a hand-made frame) are ``UNKNOWN_CHARGER``'s, as in the quality tables."""
    return (
        observations.lazy()
        .filter(pl.col("observation_id").is_in(READING_IDS) & pl.col("observed_at").is_not_null())
        .select(
            named_chargers(),
            "observed_at",
            "observation_id",
            "value",
        )
        .unique()
        # every column: rows of one charger and time come in one order, run after run
        .sort("charger_id", "observed_at", "observation_id", "value", nulls_last=True)
    )


def trouble_of(readings: pl.DataFrame) -> pl.DataFrame:
    """Per charger of ``readings``: ``_trouble`` (disconnects and boots) and ``_rssi`` (weakest signal)."""
    trouble = ((pl.col("observation_id") == _ids.CONNECTED_TO_CLOUD) & (pl.col("value") == 0)) | pl.col(
        "observation_id"
    ).is_in([_ids.SOFTWARE_RELEASE, _ids.REBOOT_REASON])
    rssi = pl.col("value").filter(pl.col("observation_id").is_in([_ids.CELL_RSSI, _ids.WIFI_RSSI]))
    return readings.group_by("charger_id").agg(trouble.sum().alias("_trouble"), rssi.min().alias("_rssi"))


def most_troubled(ranked: pl.DataFrame, limit: int | None = None) -> pl.Series:
    """The ``limit`` (default ``MAX_CHARGERS``, read at the call) chargers of ``trouble_of`` frames with
    the most trouble (then the weakest signal)."""
    limit = MAX_CHARGERS if limit is None else limit
    return ranked.sort(
        ["_trouble", "_rssi", "charger_id"], descending=[True, False, False], nulls_last=True
    ).head(limit)["charger_id"]


__all__ = [
    "EVENTS",
    "MAX_CHARGERS",
    "READING_IDS",
    "connectivity",
    "connectivity_summary",
    "most_troubled",
    "readings_plan",
    "trouble_of",
]
