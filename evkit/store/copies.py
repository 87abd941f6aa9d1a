"""The copy rules of the store's duplicate view (``evkit.store.reader.without_copies``).

The cheap rule: only a row flagged ``redelivered`` can be a copy (see ``without_copies``); it goes when
a plain row, or a redelivered one received before it, has the same (``routing_key``, ``raw``) (MQTT: a
DUP row when the same topic and payload came before it). The full rule, for rows without the flag:
one row of each (``routing_key``, ``raw``), the first received. A store written before the flag
existed has no ``redelivered`` column: the full rule. A store of old parts and new ones (the union has
the column): the rows of parts without it (``UNFLAGGED``, marked by the scan; a null the writer wrote
is a plain row) follow the full rule among themselves and count as plain originals for the flagged
rows, which follow the cheap rule: the rows kept of old parts do not change when a new part arrives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import polars as pl

from evkit.store.schema import COPY_ORDER

#: The scan's mark on rows of parts without the ``redelivered`` column (no flag to go by).
UNFLAGGED = "__evkit_unflagged"

#: A redelivered row is a copy when an earlier row has the same (``key``, ``raw``); the rows that may
#: be such earlier ones are found by ``narrow`` (cheap columns that equal when ``raw`` does: the
#: device time is decoded from the body).
_EASEE_COPY = ("routing_key", ("routing_key", "observed_at"))
_MQTT_COPY = ("topic", ("topic",))


def _where(frame: pl.LazyFrame, where: pl.Expr | None) -> pl.LazyFrame:
    return frame if where is None else frame.filter(where)


def copies_removed(
    parts: Callable[..., pl.LazyFrame],
    schema: dict[str, pl.DataType],
    where: pl.Expr | None,
    mixed: bool = False,
) -> pl.LazyFrame:
    """The rows of ``parts(row_index=..., marked=...)`` (all or narrowed rows; ``marked``: with the
    Boolean column ``UNFLAGGED``) without copies; ``mixed``: some parts lack ``redelivered``."""
    names = set(schema)
    rules = [(key, narrow) for key, narrow in (_EASEE_COPY, _MQTT_COPY) if {key, "raw", *narrow} <= names]
    row = "__evkit_row"
    if "redelivered" not in names:
        # hand-made data without the flag: the full rule (every copy, redelivered or not, by its body)
        return _full_rule(_where(parts(row_index=row), where), names, row)
    if not rules:
        return _where(parts(), where)
    # ``where`` first: a redelivered copy has the charger, topic and device time of its original
    mixed = mixed and {"routing_key", "raw"} <= names
    frame = _where(parts(row_index=row, marked=mixed), where)
    red = pl.col("redelivered").fill_null(False)
    if mixed:
        red = red & pl.col(UNFLAGGED).not_()
    found: list[pl.Series] = []
    if mixed:  # the rows of old parts: the full rule among themselves
        old = frame.filter(pl.col(UNFLAGGED)).select(row, "routing_key", "raw", *_received(names))
        found.append(_full_rule(old, names, row, keep=False).collect()[row])
    # Found now: the narrowing columns' 64-bit hash of every redelivered row (collisions only add
    # candidates; none found: the plain scan, nothing hashed), then the rows sharing one, with their
    # bodies (the reader filters before it decodes).
    hashes = [_narrow_hash(narrow).alias(f"__narrow{n}") for n, (_, narrow) in enumerate(rules)]
    timed = [pl.col("observed_at")] if "observed_at" in names else []
    topics = [pl.col("topic").is_not_null().alias("__topic")] if "topic" in names else []
    again = frame.filter(red).select(*hashes, *timed, *topics).collect()
    if not again.is_empty():
        found += _redelivered_copies(frame, again, names, rules, red=red, row=row)
    copies = pl.concat(found).unique() if found else pl.Series(row, [], pl.UInt32)
    if copies.is_empty():
        return _where(parts(), where)
    # the few copies go by row number; every other column is read only if asked for
    drop = [row, UNFLAGGED] if mixed else [row]
    return frame.filter(pl.col(row).is_in(copies.implode()).not_()).drop(drop)


def _received(names: set[str]) -> list[str]:
    return [c for c in COPY_ORDER if c in names]


def _redelivered_copies(
    frame: pl.LazyFrame,
    again: pl.DataFrame,
    names: set[str],
    rules: Sequence[tuple[str, tuple[str, ...]]],
    *,
    red: pl.Expr,
    row: str,
) -> list[pl.Series]:
    """The row numbers of the redelivered rows of ``frame`` (``red``) that are copies (the cheap rule),
    searched among the rows sharing a narrowing hash with one of ``again``."""
    wanted = pl.lit(False)
    for n, (_, narrow) in enumerate(rules):
        wanted = wanted | _narrow_hash(narrow).is_in(again[f"__narrow{n}"].unique().implode())
    searched = _within_copies_times(frame, again).filter(wanted)
    received = _received(names)
    keys = [key for key, _ in rules]
    pool = searched.select(row, red.alias("__red"), *keys, "raw", *received).collect()
    flag = pl.col("__red")
    found: list[pl.Series] = []
    for key, _ in rules:
        # Easee: plain rows first, then the redelivered ones in the order received (an original
        # counts wherever its part sorts). MQTT: in the order received, plain first among
        # equals: a DUP row goes only when the same topic and payload came before it (a payload
        # published again later is no original of it). A redelivered row that is not the first of its
        # (key, raw) so ordered has an original, or an earlier redelivered copy.
        mqtt = key == "topic" and "received_at" in names
        order = [pl.col("received_at"), flag] if mqtt else [flag, *map(pl.col, received)]
        ordered = pool.sort([*order, pl.col(row)], nulls_last=True)
        copy = pl.col(key).is_not_null() & pl.struct(key, "raw").is_first_distinct().not_()
        found.append(ordered.filter(flag & copy)[row])
    return found


def _within_copies_times(frame: pl.LazyFrame, again: pl.DataFrame) -> pl.LazyFrame:
    """``frame`` where the originals of the redelivered rows ``again`` can be.

    An Easee original has its copy's device time (decoded from the same body), so only rows observed
    between the copies' first and last device time are searched: the reader skips the row groups
    whose statistics lie outside (copies of one crash or reconnect: an hour, not the whole store).
    MQTT copies (no device time in the narrowing) or a copy without a device time: every row."""
    if "observed_at" not in again.columns or again["observed_at"].null_count():
        return frame
    if "__topic" in again.columns and again["__topic"].any():
        return frame
    first, last = again["observed_at"].min(), again["observed_at"].max()
    return frame.filter(pl.col("observed_at").is_between(pl.lit(first), pl.lit(last)))


def _narrow_hash(columns: tuple[str, ...]) -> pl.Expr:
    expr = pl.col(columns[0]).hash(seed=0)
    for n, column in enumerate(columns[1:], start=1):
        expr = expr ^ pl.col(column).hash(seed=n)
    return expr.alias("__narrow")


def _full_rule(frame: pl.LazyFrame, names: set[str], row: str, keep: bool = True) -> pl.LazyFrame:
    """One row of each (routing_key, raw), the first received (``COPY_ORDER``, then ``row``, dropped).
    MQTT rows as they are (no flag to go by). ``keep=False``: the copies instead (``row`` kept)."""
    if not {"routing_key", "raw"} <= names:
        return frame.drop(row) if keep else frame.filter(pl.lit(False))
    by = [*map(pl.col, _received(names)), pl.col(row)]
    first = pl.col(row).sort_by(by, nulls_last=True).first().over("routing_key", "raw")
    kept = pl.col("routing_key").is_null() | (pl.col(row) == first)
    return frame.filter(kept).drop(row) if keep else frame.filter(kept.not_())


__all__ = ["UNFLAGGED", "copies_removed"]
