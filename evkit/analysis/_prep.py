"""Shared preparation: validation of inputs, Easee rows only, duplicates collapsed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import polars as pl

from evkit.store.schema import COPY_ORDER, REQUIRED_COLUMNS, contract_frame

#: The identity of one observation: the same charger, id, device time and value are one message.
IDENTITY = ("charger_id", "observation_id", "observed_at", "value", "value_text")


#: Columns no analysis of a held bucket reads.
_NOT_HELD = {"capture_id"}


def held_columns(lf: pl.LazyFrame) -> list[pl.Expr]:
    """The columns of ``lf`` as a bucket held in memory keeps them (the report's and the explorer's:
    each bucket is read once, then every analysis runs on it), see :func:`held`. Asked of the whole
    store's scan, the routing key and ``error`` are not read at all when no row needs them
    (:func:`routed`)."""
    names = lf.collect_schema().names()
    any_routed = routed(lf)
    return [held(name, names, routed=any_routed) for name in names if name not in _NOT_HELD]


def held_rows(lf: pl.LazyFrame, columns: Sequence[pl.Expr] | None = None) -> pl.DataFrame:
    """A bucket's rows read once into memory: ``columns`` (:func:`held_columns` of the whole data the
    bucket is part of), by default :func:`held_columns` of ``lf``."""
    return lf.select(columns if columns is not None else held_columns(lf)).collect()


def _needs_routing_key(names: Sequence[str]) -> pl.Expr | None:
    """The rows an analysis reads the routing key of: command responses and failed rows (None: every
    row, a frame without ``kind``)."""
    if "kind" not in names:
        return None
    responses = pl.col("kind") == "command_response"
    return responses | pl.col("error").is_not_null() if "error" in names else responses


def routed(lf: pl.LazyFrame) -> bool:
    """Whether a row of ``lf`` may be a command response or a failed row: False only for a store's
    scan whose footers' statistics (or one quick look) show none (``none_match``: a capture's
    observations, the usual fleet store). Then no routing key is needed and every ``error`` is null:
    neither column is read (6M rows: 0.035 s of the 0.2 s a bucket's read takes, and their memory)."""
    from evkit.store.frame_facts import none_match

    where = _needs_routing_key(lf.collect_schema().names())
    return where is None or not none_match(lf, where)


#: Columns a bucket of a store without command responses and failed rows holds as nulls (:func:`routed`).
_UNROUTED = {"routing_key", "error"}


def held(name: str, names: Sequence[str], *, routed: bool = True) -> pl.Expr:
    """Column ``name`` as a bucket held in memory keeps it (the masks use only ``names``): the routing
    key only on command responses and failed rows, the only rows an analysis reads it on
    (``easee_commands.easee_command_roundtrips``, ``quality.decode_errors``), and neither the key
    nor ``error`` when no row is one (``routed`` False: they are null); no raw body at all (a null
    column keeps the contract's shape): the report and the explorer count decode errors by ``error``
    and read no body, and reading the bodies was 40 % of reading a bucket; any other column whole."""
    if name == "raw" or (name in _UNROUTED and not routed):
        return pl.lit(None, REQUIRED_COLUMNS[name]).alias(name)
    where = _needs_routing_key(names)
    if name == "routing_key" and where is not None:
        return pl.when(where).then(pl.col(name)).alias(name)
    return pl.col(name)


def columns_of(lf: pl.LazyFrame) -> list[str]:
    """Column names of ``lf`` (schema only, nothing is read)."""
    return list(lf.collect_schema().names())


def require(lf: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """``lf`` as every analysis reads it, lazily (``store.schema.contract_frame``): DatasetError naming
    the required columns it lacks, or contract times of another kind (text, a date) holding a value,
    in the words ``evkit.scan`` uses; its contract times as microseconds in UTC and its numbers as the
    contract's when a frame made elsewhere holds them otherwise (pandas' nanoseconds, a local zone,
    no zone, ``None`` for every value, float ids), as ``evkit.scan`` reads a store; else ``lf``
    itself (a store's scan keeps the contract, and its speed hints)."""
    return contract_frame(lf)


def easee_rows(lf: pl.LazyFrame, ids: Iterable[int] | None = None) -> pl.LazyFrame:
    """Rows from Easee (not MQTT) with a charger and a device time, optionally only ``ids``.

    A store's scan holding only such rows (asked once, from the parts' statistics: milliseconds) is
    not filtered: no column is read for the filter alone and no row copied (6M rows: ~0.05 s)."""
    from evkit.store.frame_facts import none_match

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


def first_deliveries(lf: pl.LazyFrame | pl.DataFrame, extra: Iterable[str] = ()) -> pl.LazyFrame:
    """One row per message (same charger, id, device time and value), the copy delivered first.

    A copy the broker flagged ``redelivered`` loses to one it did not; among equals the one received
    first wins (``received_at``, then ``arrival_time``, then the order of the rows: ``COPY_ORDER``).
    Receive order, not file order, because compaction re-sorts a day (and parts list by capture id).
    Columns: ``IDENTITY`` plus ``extra``. A frame in memory is deduplicated at once
    (:func:`_first_in_memory`; the result is a frame in memory, lazily, its rows in the input's order).
    """
    present = set(lf.collect_schema().names())
    wanted = [*IDENTITY, *[c for c in extra if c not in IDENTITY]]
    columns = [pl.col(c) if c in present else pl.lit(None).alias(c) for c in wanted]
    # A 64-bit hash of the identity keeps the bookkeeping on one integer column instead of five.
    key = pl.struct(list(IDENTITY)).hash().alias("__id")
    flag = pl.col("redelivered").fill_null(False) if "redelivered" in present else pl.lit(False)
    ranks = {f"__rank{n}": pl.col(c) for n, c in enumerate(COPY_ORDER) if c in present}
    order = {"__red": flag, **ranks}
    if isinstance(lf, pl.DataFrame):
        return _first_in_memory(lf.select(columns), lf.select(key, **order)).lazy()
    frame = lf.select(*columns, key, **order)
    # One pass marks the messages delivered more than once (few); only those are ranked.
    marked = frame.with_columns(pl.col("__id").is_duplicated().alias("__copies"))
    single = marked.filter(pl.col("__copies").not_())
    ranked = marked.filter(pl.col("__copies")).sort(list(order), nulls_last=True, maintain_order=True)
    kept = ranked.filter(pl.col("__id").is_first_distinct())
    return pl.concat([single, kept], how="vertical").drop("__id", *order, "__copies")


def _first_in_memory(frame: pl.DataFrame, keys: pl.DataFrame) -> pl.DataFrame:
    """``first_deliveries`` of ``frame``, its rows in order (``keys``: its rows' ``__id``, then the
    columns they rank by: ``__red`` and ``COPY_ORDER``'s). Only messages a row of which can lose are
    ranked: those with a flagged row (few) and, when two deliveries without the flag are copies (rare;
    counting distinct messages is cheaper than marking each one's first copy), those too."""
    ids, red = keys["__id"], keys["__red"]
    contested = ids.filter(red)
    plain = ids.filter(red.not_())
    if plain.n_unique() != plain.len():
        contested = pl.concat([contested, plain.filter(plain.is_duplicated())])
    if contested.is_empty():
        return frame
    among = ids.is_in(contested.implode())
    rows = keys.filter(among).with_columns(among.arg_true().alias("__row"))
    ranked = rows.sort([*keys.columns[1:], "__row"], nulls_last=True)
    losers = ranked.filter(pl.col("__id").is_first_distinct().not_())["__row"]
    if losers.is_empty():
        return frame
    return frame.filter(pl.repeat(True, frame.height, eager=True).scatter(losers, False))


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
