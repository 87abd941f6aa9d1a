"""Easee command round trips in a captured dataset: command -> command response -> read-back observation.

A command response's routing key ``{serial}.CR.{commandId}.{ticks}`` carries the .NET ticks of the
command's own time (Masterloop ``MessageRoutingKey.cs``; see :mod:`evkit.easee.commands`), so the round
trip is measured from captured rows alone, whoever sent the command:

* ``command_roundtrip`` = response ``received_at`` - command time (from the ticks);
* ``command_readback`` = the first read-back observation of that charger (48 for 48, 31 for 29, ...,
  :data:`evkit.easee.commands.READBACK`) received at or after the response, within ``timeout`` - the
  command time. The value is not compared (the captured response does not carry it).

The command time is the sender's clock, ``received_at`` the capture's: on two machines the clocks may
disagree (negative values are kept and counted as skew, like every hop).
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from evkit.analysis._prep import columns_of
from evkit.easee.commands import READBACK

_TICKS_AT_EPOCH = 621_355_968_000_000_000
#: Command id -> the first read-back observation id.
_READBACK_OBS = {command: pairs[0][0] for command, pairs in READBACK.items()}

SCHEMA: dict[str, pl.DataType] = {
    "charger_id": pl.String(),
    "command_id": pl.Int32(),
    "sent_at": pl.Datetime("us", "UTC"),
    "answered_at": pl.Datetime("us", "UTC"),
    "readback_at": pl.Datetime("us", "UTC"),
    "roundtrip_s": pl.Float64(),
    "readback_s": pl.Float64(),
}


def easee_command_roundtrips(lf: pl.LazyFrame, timeout: timedelta = timedelta(minutes=2)) -> pl.LazyFrame:
    """One row per command response (first delivery): ``charger_id``, ``command_id``, ``sent_at``
    (from the ticks), ``answered_at``, ``readback_at`` (null: none seen), ``roundtrip_s``, ``readback_s``."""
    if not {"kind", "routing_key", "received_at", "charger_id", "observation_id"} <= set(columns_of(lf)):
        return pl.LazyFrame(schema=SCHEMA)
    parts = pl.col("routing_key").str.split(".")
    responses = (
        lf.filter((pl.col("kind") == "command_response") & pl.col("routing_key").is_not_null())
        .select("routing_key", "received_at", parts.alias("__parts"))
        .filter(pl.col("__parts").list.len() == 4)
        .group_by("routing_key")
        .agg(pl.col("received_at").min().alias("answered_at"), pl.col("__parts").first())
        .select(
            pl.col("__parts").list.get(0).alias("charger_id"),
            pl.col("__parts").list.get(2).cast(pl.Int32, strict=False).alias("command_id"),
            pl.col("__parts").list.get(3).cast(pl.Int64, strict=False).alias("__ticks"),
            "answered_at",
        )
        .filter(pl.col("__ticks").is_not_null() & pl.col("command_id").is_not_null())
        .with_columns(
            pl.from_epoch((pl.col("__ticks") - _TICKS_AT_EPOCH) // 10, time_unit="us")
            .dt.replace_time_zone("UTC")
            .alias("sent_at"),
            pl.col("command_id")
            .replace_strict(_READBACK_OBS, default=None, return_dtype=pl.Int32)
            .alias("__obs"),
        )
        .drop("__ticks")
        .sort("answered_at")
    )
    readback_ids = sorted(set(_READBACK_OBS.values()))
    readbacks = (
        lf.filter((pl.col("kind") == "observation") & pl.col("observation_id").is_in(readback_ids))
        .select(
            "charger_id",
            pl.col("observation_id").cast(pl.Int32).alias("__obs"),
            pl.col("received_at").alias("readback_at"),
        )
        .sort("readback_at")
    )
    joined = responses.join_asof(
        readbacks,
        left_on="answered_at",
        right_on="readback_at",
        by=["charger_id", "__obs"],
        strategy="forward",
        tolerance=timeout,
        check_sortedness=False,
    )
    seconds = 1e6
    return joined.select(
        "charger_id",
        "command_id",
        "sent_at",
        "answered_at",
        "readback_at",
        ((pl.col("answered_at") - pl.col("sent_at")).dt.total_microseconds() / seconds).alias("roundtrip_s"),
        ((pl.col("readback_at") - pl.col("sent_at")).dt.total_microseconds() / seconds).alias("readback_s"),
    ).cast(SCHEMA)  # type: ignore[arg-type]


__all__ = ["SCHEMA", "easee_command_roundtrips"]
