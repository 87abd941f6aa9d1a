"""Shared preparation: validation of inputs, Easee rows only, duplicates collapsed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import polars as pl

from evkit.errors import DatasetError
from evkit.store.schema import REQUIRED_COLUMNS, missing_required

#: The identity of one observation: the same charger, id, device time and value are one message.
IDENTITY = ("charger_id", "observation_id", "observed_at", "value", "value_text")


#: Columns no analysis of a held bucket reads.
_NOT_HELD = {"capture_id"}


def held_columns(lf: pl.LazyFrame) -> list[pl.Expr]:
    """The columns of ``lf`` as a bucket held in memory keeps them (the report's and the explorer's:
    each bucket is read once, then every analysis runs on it), see :func:`held`."""
    names = lf.collect_schema().names()
    return [held(name, names) for name in names if name not in _NOT_HELD]


def held_rows(lf: pl.LazyFrame) -> pl.DataFrame:
    """A bucket's rows read once into memory, its :func:`held_columns`."""
    return lf.select(held_columns(lf)).collect()


def held(name: str, names: Sequence[str]) -> pl.Expr:
    """Column ``name`` as a bucket held in memory keeps it (the masks use only ``names``): the routing
    key only on command responses and failed rows, the only rows an analysis reads it on
    (``easee_commands.easee_command_roundtrips``, ``quality.decode_errors``); no raw body at all (a
    null column keeps the contract's shape): the report and the explorer count decode errors by
    ``error`` and read no body, and reading the bodies was 40 % of reading a bucket; any other column
    whole."""
    if name == "raw":
        return pl.lit(None, REQUIRED_COLUMNS["raw"]).alias(name)
    failed = pl.col("error").is_not_null() if "error" in names else None
    if name == "routing_key" and "kind" in names:
        responses = pl.col("kind") == "command_response"
        where = responses if failed is None else responses | failed
        return pl.when(where).then(pl.col(name)).alias(name)
    return pl.col(name)


def columns_of(lf: pl.LazyFrame) -> list[str]:
    """Column names of ``lf`` (schema only, nothing is read)."""
    return list(lf.collect_schema().names())


def require(lf: pl.LazyFrame, columns: Iterable[str] = REQUIRED_COLUMNS) -> None:
    """Raise DatasetError naming the columns of ``columns`` that ``lf`` lacks."""
    present = columns_of(lf)
    wanted = list(columns)
    missing = (
        missing_required(present)
        if wanted == list(REQUIRED_COLUMNS)
        else [c for c in wanted if c not in present]
    )
    if missing:
        raise DatasetError(f"the data lacks required column(s): {', '.join(missing)}")


def easee_rows(lf: pl.LazyFrame, ids: Iterable[int] | None = None) -> pl.LazyFrame:
    """Rows from Easee (not MQTT) with a charger and a device time, optionally only ``ids``.

    A store's scan holding only such rows (asked once, from the parts' statistics: milliseconds) is
    not filtered: no column is read for the filter alone and no row copied (6M rows: ~0.05 s)."""
    from evkit.store.reader import none_match

    cond = pl.col("charger_id").is_not_null() & pl.col("observed_at").is_not_null()
    cond = cond & (pl.col("kind").is_null() | (pl.col("kind") != "mqtt"))
    if "source" in columns_of(lf):
        cond = cond & (pl.col("source").is_null() | (pl.col("source") == "easee"))
    wanted = None if ids is None else pl.col("observation_id").is_in(list(ids))
    if none_match(lf, cond.not_()):  # ``cond`` is never null: its negation is the rows it drops
        return lf if wanted is None else lf.filter(wanted)
    return lf.filter(cond if wanted is None else cond & wanted)


def observations(lf: pl.LazyFrame, ids: Iterable[int], extra: Iterable[str] = ()) -> pl.LazyFrame:
    """Easee observations of ``ids``, one row per distinct message, projected to what analysis uses."""
    cols = [*IDENTITY, *extra]
    present = set(columns_of(lf))
    frame = easee_rows(lf, ids)
    frame = frame.select([pl.col(c) if c in present else pl.lit(None).alias(c) for c in cols])
    return frame.unique(subset=list(IDENTITY), keep="first")


def steady_sum(expr: pl.Expr) -> pl.Expr:
    """``expr.sum()`` (0.0 when there is nothing to add), the same to the last bit however the rows
    came: float addition is not associative, and the engine adds rows in whatever order its threads
    and joins left them (a 4-decimal cost such as 8.46995 printed 8.4699 in one run and 8.47 in the
    next). The values are added one after another in sorted order (``sort().sum()`` would not do: the
    optimiser drops a sort before a sum)."""
    return expr.sort().cum_sum().last().fill_null(0.0)


def seconds(expr: pl.Expr) -> pl.Expr:
    """A duration expression as float seconds."""
    return expr.dt.total_microseconds().cast(pl.Float64) / 1e6


def first_deliveries(lf: pl.LazyFrame | pl.DataFrame, extra: Iterable[str] = ()) -> pl.LazyFrame:
    """One row per message (same charger, id, device time and value), the copy delivered first.

    A copy the broker flagged ``redelivered`` loses to one it did not; among equals the first in the
    dataset wins (captures write rows in arrival order). Columns: ``IDENTITY`` plus ``extra``.
    A frame in memory is deduplicated at once (:func:`_first_in_memory`; the result is a frame in
    memory, lazily, its rows in the input's order).
    """
    present = set(lf.collect_schema().names())
    wanted = [*IDENTITY, *[c for c in extra if c not in IDENTITY]]
    columns = [pl.col(c) if c in present else pl.lit(None).alias(c) for c in wanted]
    # A 64-bit hash of the identity keeps the bookkeeping on one integer column instead of five.
    key = pl.struct(list(IDENTITY)).hash().alias("__id")
    flag = pl.col("redelivered").fill_null(False) if "redelivered" in present else pl.lit(False)
    red = flag.alias("__red")
    if isinstance(lf, pl.DataFrame):
        found = _first_in_memory(lf.select(columns), lf.select(key, red))
        if found is not None:
            return found.lazy()
    frame = lf.lazy().select(*columns, key, red)
    first = pl.col("__id").is_first_distinct()
    plain = frame.filter(pl.col("__red").not_()).filter(first)
    again = frame.filter(pl.col("__red")).filter(first).join(plain.select("__id"), on="__id", how="anti")
    found_lazy = pl.concat([plain, again], how="vertical").drop("__id", "__red")
    return found_lazy.collect().lazy() if isinstance(lf, pl.DataFrame) else found_lazy


def _first_in_memory(frame: pl.DataFrame, keys: pl.DataFrame) -> pl.DataFrame | None:
    """``first_deliveries`` of ``frame`` (``keys``: its rows' ``__id`` and ``__red``) when no two
    deliveries without the redelivered flag are copies, the usual case; else None. Counting distinct
    messages is cheaper than marking each one's first copy, and only the flagged rows (few) are
    looked up among the others: one filter of ``frame`` instead of two passes and a concatenation."""
    red = keys["__red"]
    plain = keys["__id"].filter(red.not_())
    if plain.n_unique() != plain.len():
        return None
    flagged = keys.with_row_index("__row").filter(red).filter(pl.col("__id").is_first_distinct())
    seen = plain.filter(plain.is_in(flagged["__id"].implode()))  # the few flagged messages also sent plain
    kept = flagged.filter(pl.col("__id").is_in(seen.implode()).not_())["__row"]
    return frame.filter(red.not_().scatter(kept, True))


def narrowed(
    lf: pl.LazyFrame,
    chargers: Sequence[str] | None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> pl.LazyFrame:
    """The rows of ``lf`` of ``chargers`` observed in [``start``, ``end``) (each optional).

    A frame straight from ``evkit.scan`` is read again narrowly: only the row groups whose
    statistics admit the chargers and window, and of them only the columns used (compacted days are
    sorted by charger and device time: one charger is a few row groups a day). Any other frame is
    filtered. The rows are the same either way (``evkit.store.reader.narrow``)."""
    from evkit.store.reader import narrow

    return narrow(lf, chargers, start, end)
