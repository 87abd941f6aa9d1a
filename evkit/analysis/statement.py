"""Statements: sessions, energy, cost and CO2 per RFID card and/or charger over a period.

A session belongs to the period it **starts** in: a charge plugged in on 31 October at 23:00 local time
and unplugged on 1 November is October's, whole (its energy and cost are not split between two
statements, so the statements of consecutive months add up to the sessions, each counted once).
Period bounds are instants; ``evkit statement`` makes them local midnight in ``--tz``.

Sessions without a card token are grouped as one row with a null ``token`` ("no card" where shown).
A token is the card as read (Easee 128, else 108 read back to front: ``SESSION_SCHEMA.rfid_token``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import polars as pl

from evkit.analysis.exact import divided, steady_sum
from evkit.errors import ConfigError
from evkit.store.schema import UTC_US
from evkit.timeutil import as_utc

#: ``--by`` choices and the session column each groups by.
GROUPS = {"token": "rfid_token", "charger": "charger_id"}

#: Shown for the group of sessions without a token.
NO_CARD = "(no card)"


def parse_by(text: str) -> list[str]:
    """``token``, ``charger``, ``token,charger`` (either order) as a list; ConfigError otherwise."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or any(p not in GROUPS for p in parts) or len(set(parts)) != len(parts):
        raise ConfigError(f"--by {text!r}: use token, charger or token,charger")
    return parts


def _aggregates(priced: bool) -> list[pl.Expr]:
    exprs = [
        pl.len().alias("sessions"),
        steady_sum(pl.col("energy_kwh")).alias("energy_kwh"),
        pl.col("energy_kwh").is_null().sum().alias("sessions_without_energy"),
    ]
    if priced:
        exprs += [
            steady_sum(pl.col("cost")).alias("cost"),
            pl.col("cost").is_null().sum().alias("sessions_without_cost"),
            steady_sum(pl.col("cost_error_bound")).alias("cost_error_bound"),
            # a CO2 total only when every session in the row has one
            pl.when(pl.col("co2_g").is_null().any().not_())
            .then(divided(steady_sum(pl.col("co2_g")), 1000.0))
            .alias("co2_kg"),
        ]
    exprs += [
        pl.col("started_at").min().alias("first_session"),
        pl.col("started_at").max().alias("last_session"),
    ]
    return exprs


def statement(
    sessions: pl.LazyFrame | pl.DataFrame,
    by: Sequence[str] = ("token",),
    start: datetime | None = None,
    end: datetime | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows, total) of the sessions starting in [``start``, ``end``), grouped by ``by``.

    ``sessions`` is ``SESSION_SCHEMA``, with the ``evkit.analysis.cost`` columns when priced. Rows hold
    ``token`` and/or ``charger_id``, ``sessions``, ``energy_kwh``, ``sessions_without_energy`` and, when
    priced, ``cost``, ``sessions_without_cost``, ``cost_error_bound`` and ``co2_kg``; then
    ``first_session`` / ``last_session`` (start times, UTC). Sorted by the group keys, no card last.
    ``total`` is one row of the same figures over all of them.
    """
    lf = sessions.lazy()
    schema = lf.collect_schema()
    if isinstance(started := schema.get("started_at"), pl.Datetime) and started != UTC_US:
        # sessions a user converted to a local zone, or pandas' naive ones (UTC): their instants
        lf = lf.with_columns(pl.col("started_at").cast(UTC_US))
    start, end = as_utc(start), as_utc(end)  # bounds in any zone, naive ones UTC
    names = schema.names()
    priced = "cost" in names
    if start is not None:
        lf = lf.filter(pl.col("started_at") >= start)
    if end is not None:
        lf = lf.filter(pl.col("started_at") < end)
    keys = [pl.col(GROUPS[g]).alias("token" if g == "token" else "charger_id") for g in by]
    key_names = ["token" if g == "token" else "charger_id" for g in by]
    rows = lf.group_by(keys).agg(_aggregates(priced)).sort([pl.col(k) for k in key_names], nulls_last=True)
    total = lf.select(_aggregates(priced))
    found = pl.collect_all([rows, total])
    return found[0], found[1]


__all__ = ["GROUPS", "NO_CARD", "parse_by", "statement"]
