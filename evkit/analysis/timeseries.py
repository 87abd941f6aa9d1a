"""Time series for plots: readings of chosen observations, and op-mode periods (bands)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import polars as pl

from evkit.analysis import _ids
from evkit.analysis._prep import observations, require
from evkit.easee.catalog import OpMode, label
from evkit.timeutil import as_utc

#: Op-mode labels by code, as the catalog names them (unknown codes get a null label).
OP_MODE_LABELS: dict[int, str | None] = {int(mode): label(_ids.OP_MODE, int(mode)) for mode in OpMode}


def readings(
    lf: pl.LazyFrame,
    ids: Iterable[int],
    charger_id: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> pl.LazyFrame:
    """Easee readings of ``ids`` (one row per distinct message), optionally one charger and a time range.

    Columns ``charger_id``, ``observed_at``, ``observation_id``, ``observation``, ``value``,
    ``value_text``; sorted by charger and time. ``start`` is inclusive, ``end`` exclusive (naive: UTC,
    as the contract's times; aware: in any zone).
    """
    lf = require(lf)
    start, end = as_utc(start), as_utc(end)
    frame = observations(lf, ids, extra=["observation"])
    if charger_id is not None:
        frame = frame.filter(pl.col("charger_id") == charger_id)
    if start is not None:
        frame = frame.filter(pl.col("observed_at") >= start)
    if end is not None:
        frame = frame.filter(pl.col("observed_at") < end)
    return frame.select(
        "charger_id", "observed_at", "observation_id", "observation", "value", "value_text"
    ).sort("charger_id", "observed_at", "observation_id")


def op_mode_periods(lf: pl.LazyFrame, charger_id: str | None = None) -> pl.LazyFrame:
    """Periods of constant op mode (109) per charger: ``start``, ``end`` (null for the last), ``mode``,
    ``label``. Repeated reports of the same mode extend one period.
    """
    modes = readings(lf, [_ids.OP_MODE], charger_id).filter(pl.col("value").is_not_null())
    modes = modes.select("charger_id", "observed_at", pl.col("value").cast(pl.Int32).alias("mode"))
    changed = pl.col("mode") != pl.col("mode").shift(1).over("charger_id")
    periods = modes.filter(changed.fill_null(True)).with_columns(
        pl.col("observed_at").shift(-1).over("charger_id").alias("end")
    )
    return periods.select(
        "charger_id",
        pl.col("observed_at").alias("start"),
        "end",
        "mode",
        pl.col("mode").replace_strict(OP_MODE_LABELS, default=None, return_dtype=pl.String).alias("label"),
    )


__all__ = ["OP_MODE_LABELS", "op_mode_periods", "readings"]
