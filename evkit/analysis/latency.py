"""Latency per hop: device -> cloud -> capture, and end to end.

- ``device_to_cloud`` = ``arrival_time - observed_at`` (Easee's ArrivalTime header minus the device time)
- ``cloud_to_capture`` = ``received_at - arrival_time``
- ``end_to_end`` = ``received_at - observed_at``
- ``scheduled_device_to_cloud`` / ``scheduled_end_to_end``: the same for observations Easee stamps on a
  schedule (122 EnergyPerHour carries the full hour and arrives minutes later, 124 LifetimeEnergy is
  sent minutes after the hour: ``evkit.easee.catalog.SCHEDULED_OBSERVATIONS``). Their "latency" is the
  schedule, not the network: mixed in, an idle fleet's hourly reports would make p95 minutes. They are
  reported apart, so ``device_to_cloud`` and ``end_to_end`` measure transport. Their ``cloud_to_capture``
  is ordinary transport and stays in that hop.
- ``command_roundtrip`` = a go-e command's ``/set`` to its ``/result`` (our clock), when the dataset
  holds go-e MQTT traffic with the ``/set`` topics (see :func:`evkit.analysis.home.goe_command_roundtrips`);
  an Easee command's time (the ticks in ``{serial}.CR.{id}.{ticks}``) to its command response
- ``command_readback`` = an Easee command's time to its read-back observation
  (see :func:`evkit.analysis.easee_commands.easee_command_roundtrips`)

A negative latency means two clocks disagree (clock skew). It is kept in every statistic and counted in
``negative_n``, never dropped. Redelivered copies of one message count once, at their first delivery.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from evkit.analysis._ids import SCHEDULED
from evkit.analysis._prep import IDENTITY, first_deliveries, require
from evkit.analysis.easee_commands import easee_command_roundtrips
from evkit.analysis.exact import seconds
from evkit.analysis.home import goe_command_roundtrips
from evkit.analysis.schema import ALL_HOPS, COMMAND_HOP, HOPS, READBACK_HOP, SCHEDULED_HOPS
from evkit.store.schema import with_contract_types

_HOP_EXPR = {
    "device_to_cloud": pl.col("arrival_time") - pl.col("observed_at"),
    "cloud_to_capture": pl.col("received_at") - pl.col("arrival_time"),
    "end_to_end": pl.col("received_at") - pl.col("observed_at"),
}

#: Scheduled observations (stamped on the hour, sent minutes later) have transport hops of their own.
_SCHEDULED = pl.col("observation_id").is_in(list(SCHEDULED)).fill_null(False)

#: Percentiles reported, as column name -> quantile (linear interpolation, numpy's default).
PERCENTILES = {"p50_s": 0.50, "p95_s": 0.95, "p99_s": 0.99}

_BY_ALIASES = {"charger": "charger_id", "observation": "observation", "hour": "hour"}


_EXTRA = ["observation", "received_at", "arrival_time", "redelivered"]


def _first_timed(lf: pl.LazyFrame, first: pl.LazyFrame | None) -> pl.LazyFrame:
    """The first delivery of every message with a device time or an ArrivalTime (a hop to measure)."""
    if first is None:
        timed = pl.col("observed_at").is_not_null() | pl.col("arrival_time").is_not_null()
        return first_deliveries(lf.filter(timed), extra=_EXTRA)
    # ``first`` deduplicated every row. The device time is part of a message's identity, so its rows
    # with a device time are exactly the first deliveries of those messages; the few messages without
    # one but with an ArrivalTime are deduplicated here.
    untimed = lf.filter(pl.col("observed_at").is_null() & pl.col("arrival_time").is_not_null())
    known = with_contract_types(first).filter(pl.col("observed_at").is_not_null()).select(*IDENTITY, *_EXTRA)
    return pl.concat([known, first_deliveries(untimed, extra=_EXTRA)], how="vertical_relaxed")


def latency(lf: pl.LazyFrame, *, first: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """One row per message and hop: ``hop``, ``latency_s``, ``skew`` (negative), and context columns.

    Context: ``charger_id``, ``observation_id``, ``observation``, ``observed_at``, ``received_at``,
    ``hour`` (UTC hour of ``received_at``, our own clock) and ``hour_of_day``. Hops whose timestamps
    are unknown (no ArrivalTime header) are left out. ``first``: ``evkit.analysis.quality.first_of(lf)``
    when the caller has it already (the report: the deduplication is then not done twice; the rows are
    the same, in another order).
    """
    lf = require(lf)
    base = _first_timed(lf, first).with_columns(_hour(pl.col("received_at")))
    context = [
        "charger_id",
        "observation_id",
        "observation",
        "observed_at",
        "received_at",
        "hour",
        "hour_of_day",
    ]
    parts = [
        base.select(
            *context,
            _hop_name(hop).alias("hop"),
            seconds(_HOP_EXPR[hop]).alias("latency_s"),
        ).filter(pl.col("latency_s").is_not_null())
        for hop in HOPS
    ]
    parts.append(_command_roundtrips(lf, context))
    return pl.concat(parts, how="vertical").with_columns((pl.col("latency_s") < 0).alias("skew"))


def hop_latencies(
    lf: pl.LazyFrame, *, first: pl.LazyFrame | None = None, context: Sequence[str] = ()
) -> pl.LazyFrame:
    """:func:`latency` one row per message: ``hour``, the ``context`` columns asked for (any of
    :func:`latency`'s) and a column per hop of ``ALL_HOPS`` holding its latency in whole microseconds
    (exact, as the timestamps have it), null where the message has none (a scheduled observation's
    transport hops are its ``scheduled_`` ones; a command round trip is a row of its own). A third of
    the rows of :func:`latency` and only the context asked for: what percentiles need."""
    lf = require(lf)
    columns = []
    for hop in HOPS:
        us = _HOP_EXPR[hop].dt.total_microseconds()
        if _apart(hop):
            columns += [
                pl.when(~_SCHEDULED).then(us).alias(hop),
                pl.when(_SCHEDULED).then(us).alias(f"scheduled_{hop}"),
            ]
        else:
            columns.append(us.alias(hop))
    keep = ["hour", *(c for c in context if c != "hour")]
    transport = _first_timed(lf, first).with_columns(_hour(pl.col("received_at"))).select(*keep, *columns)
    us = (pl.col("latency_s") * 1e6).round().cast(pl.Int64)
    commands = _command_roundtrips(lf, keep).select(
        *keep, *[pl.when(pl.col("hop") == hop).then(us).alias(hop) for hop in (COMMAND_HOP, READBACK_HOP)]
    )
    return pl.concat([transport, commands], how="diagonal_relaxed").select(*keep, *ALL_HOPS)


def long_latencies(wide: pl.LazyFrame, context: Sequence[str] = ()) -> pl.LazyFrame:
    """:func:`hop_latencies` as one row per message and hop: ``hop``, ``__us`` and ``context``."""
    hops = [wide.select(pl.lit(hop).alias("hop"), pl.col(hop).alias("__us"), *context) for hop in ALL_HOPS]
    return pl.concat(hops, how="vertical").filter(pl.col("__us").is_not_null())


def _hour(at: pl.Expr) -> list[pl.Expr]:
    """``hour`` (UTC hour of ``at``) and ``hour_of_day``: the context of a latency."""
    hour = at.dt.truncate("1h")
    return [hour.alias("hour"), hour.dt.hour().cast(pl.Int8).alias("hour_of_day")]


def _apart(hop: str) -> bool:
    """Whether a scheduled observation's ``hop`` is ``scheduled_<hop>`` (all but cloud -> capture)."""
    return f"scheduled_{hop}" in SCHEDULED_HOPS


def _hop_name(hop: str) -> pl.Expr:
    """``hop``, or ``scheduled_<hop>`` for scheduled observations where they are kept apart."""
    if not _apart(hop):
        return pl.lit(hop)
    return pl.when(_SCHEDULED).then(pl.lit(f"scheduled_{hop}")).otherwise(pl.lit(hop))


def _command_roundtrips(lf: pl.LazyFrame, context: list[str]) -> pl.LazyFrame:
    """go-e and Easee command round trips as latency rows (none for datasets without commands)."""
    answered = goe_command_roundtrips(lf).filter(pl.col("roundtrip_s").is_not_null())
    goe = answered.select(
        "charger_id",
        pl.lit(None, dtype=pl.Int32).alias("observation_id"),
        pl.col("key").alias("observation"),
        pl.col("sent_at").alias("observed_at"),
        pl.col("answered_at").alias("received_at"),
        *_hour(pl.col("answered_at")),
        pl.lit(COMMAND_HOP).alias("hop"),
        pl.col("roundtrip_s").alias("latency_s"),
    ).select(*context, "hop", "latency_s")
    return pl.concat([goe, *_easee_roundtrips(lf, context)], how="vertical")


def _easee_roundtrips(lf: pl.LazyFrame, context: list[str]) -> list[pl.LazyFrame]:
    """Easee command -> response and command -> read-back rows (none without command responses)."""
    trips = easee_command_roundtrips(lf)
    rows = []
    for hop, at, value in (
        (COMMAND_HOP, "answered_at", "roundtrip_s"),
        (READBACK_HOP, "readback_at", "readback_s"),
    ):
        rows.append(
            trips.filter(pl.col(value).is_not_null())
            .select(
                "charger_id",
                pl.lit(None, dtype=pl.Int32).alias("observation_id"),
                pl.format("easee command {}", pl.col("command_id")).alias("observation"),
                pl.col("sent_at").alias("observed_at"),
                pl.col(at).alias("received_at"),
                *_hour(pl.col(at)),
                pl.lit(hop).alias("hop"),
                pl.col(value).alias("latency_s"),
            )
            .select(*context, "hop", "latency_s")
        )
    return rows


def _by_columns(by: str | Sequence[str] | None) -> list[str]:
    if by is None:
        return []
    names = [by] if isinstance(by, str) else list(by)
    return [_BY_ALIASES.get(name, name) for name in names]


def latency_stats(lf: pl.LazyFrame, by: str | Sequence[str] | None = None) -> pl.LazyFrame:
    """Per hop (and per ``by``: ``charger_id``/``charger``, ``observation``, ``hour``, ``hour_of_day``):
    ``n``, ``p50_s``, ``p95_s``, ``p99_s``, ``max_s``, ``min_s``, ``mean_s`` and ``negative_n``.

    ``lf`` is a dataset or the output of ``latency``. Percentiles use linear interpolation between
    the closest ranks, exactly as ``numpy.percentile`` does by default.
    """
    names = set(lf.collect_schema().names())
    frame = lf if {"hop", "latency_s"} <= names else latency(lf)
    keys = ["hop", *_by_columns(by)]
    lat = pl.col("latency_s")
    stats = frame.group_by(keys).agg(
        pl.len().alias("n"),
        *[lat.quantile(q, interpolation="linear").alias(name) for name, q in PERCENTILES.items()],
        lat.max().alias("max_s"),
        lat.min().alias("min_s"),
        lat.mean().alias("mean_s"),
        (lat < 0).sum().cast(pl.Int64).alias("negative_n"),
    )
    order = pl.col("hop").replace_strict({h: i for i, h in enumerate(ALL_HOPS)}, default=len(ALL_HOPS))
    return stats.sort([order, *keys[1:]], nulls_last=True).with_columns(pl.col("n").cast(pl.Int64))


__all__ = ["PERCENTILES", "hop_latencies", "latency", "latency_stats", "long_latencies"]
