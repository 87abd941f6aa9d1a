"""Reading a dataset directory back as one ``pl.LazyFrame``.

Every part is checked before it is read (``evkit.store.parts``: magic bytes, footer, column types).
A damaged part is a :class:`~evkit.errors.DatasetError` naming each damaged file; with
``skip_damaged`` the rest is read and a warning (logger ``evkit.store``) names what was skipped.
Commands set the policy for everything they read with :func:`damaged_parts_policy`
(``--skip-damaged``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path

import polars as pl

from evkit.errors import DatasetError
from evkit.store.objstore import S3Location, is_s3, polars_options
from evkit.store.parts import Damaged, Inspection, VanishedPart, inspect_parts, live_parts
from evkit.store.schema import missing_required

log = logging.getLogger("evkit.store")

#: Tries at listing a dataset while compactions keep removing the parts just listed.
_LIST_ATTEMPTS = 5

_skip_damaged: ContextVar[bool] = ContextVar("evkit_skip_damaged", default=False)


@contextlib.contextmanager
def damaged_parts_policy(skip: bool) -> Iterator[None]:
    """Within the block, :func:`scan` without an explicit ``skip_damaged`` uses ``skip``."""
    token = _skip_damaged.set(skip)
    try:
        yield
    finally:
        _skip_damaged.reset(token)


def skips_damaged() -> bool:
    """The current :func:`damaged_parts_policy` (what ``--skip-damaged`` asked for)."""
    return _skip_damaged.get()


def parquet_files(path: Path | str) -> list[Path]:
    """Every live ``*.parquet`` part at or below ``path`` (a directory or one file), sorted."""
    root = Path(path)
    if root.is_file():
        return [root]
    if not root.exists():
        raise DatasetError(f"{root} does not exist")
    files = live_parts(root)
    if not files:
        raise DatasetError(f"no Parquet files below {root}")
    return files


def damaged_message(where: Path | str, damaged: list[Damaged]) -> str:
    """The sentence naming every damaged part (what the CLI prints, exit 2)."""
    names = "; ".join(str(d) for d in damaged)
    return (
        f"{len(damaged)} damaged Parquet part(s) in {where}: {names}. Move them out of the dataset, "
        "or read the rest with --skip-damaged (evkit.scan(..., skip_damaged=True))"
    )


def check_dataset(path: Path | str, skip_damaged: bool | None = None) -> Inspection:
    """List and check the parts of ``path``; raise DatasetError on damage unless skipping it."""
    skip = _skip_damaged.get() if skip_damaged is None else skip_damaged
    if is_s3(path):
        return _check_s3(str(path), skip)
    for attempt in range(_LIST_ATTEMPTS):
        files = parquet_files(path)
        try:
            found = inspect_parts(files)
            break
        except VanishedPart:
            if attempt == _LIST_ATTEMPTS - 1:
                raise DatasetError(f"parts of {path} keep disappearing while listed; try again") from None
    if found.damaged:
        if not skip:
            raise DatasetError(damaged_message(path, found.damaged))
        log.warning(
            "skipped %d damaged Parquet part(s): %s", len(found.damaged), "; ".join(map(str, found.damaged))
        )
        if not found.good:
            raise DatasetError(f"no readable Parquet part in {path} (all {len(found.damaged)} damaged)")
    return found


def _check_s3(url: str, skip: bool) -> Inspection:
    """:func:`check_dataset` for ``s3://bucket/prefix`` (``good`` holds ``s3://`` URLs)."""
    from evkit.store.s3parts import S3VanishedPart, inspect_objects, live_objects

    location = S3Location.parse(url)
    single = location.prefix.endswith(".parquet")  # one object, not a dataset prefix
    if single:
        parent, _, name = location.prefix.rpartition("/")
        location = S3Location(location.bucket, parent)
    for attempt in range(_LIST_ATTEMPTS):
        parts = [name] if single else live_objects(location)
        if not parts:
            raise DatasetError(f"no Parquet objects below {location.url}")
        try:
            good, bad, schema = inspect_objects(location, parts)
            break
        except S3VanishedPart:
            if attempt == _LIST_ATTEMPTS - 1:
                raise DatasetError(f"parts of {url} keep disappearing while listed; try again") from None
    damaged = [Damaged(where, reason) for where, reason in bad]
    if damaged:
        if not skip:
            raise DatasetError(damaged_message(url, damaged))
        log.warning("skipped %d damaged Parquet part(s): %s", len(damaged), "; ".join(map(str, damaged)))
        if not good:
            raise DatasetError(f"no readable Parquet part in {url} (all {len(damaged)} damaged)")
    return Inspection(good=good, damaged=damaged, schema=schema)  # type: ignore[arg-type]


def scan(
    path: Path | str,
    dedupe: bool = True,
    require: bool = True,
    skip_damaged: bool | None = None,
    where: pl.Expr | None = None,
) -> pl.LazyFrame:
    """Read a dataset (a directory of Parquet parts, one file, or ``s3://bucket/prefix``) lazily.

    On object storage the endpoint and credentials come from the ``AWS_*`` environment variables
    (``evkit.store.objstore``).

    Files may differ in their columns (Easee and MQTT parts in one store, older versions): missing
    columns read as null. With ``dedupe`` (the default) a message the broker redelivered appears once:
    rows with the same ``routing_key`` and the same ``raw`` body are one message, the first kept.
    MQTT rows (no routing key) are merged only when the broker flagged a copy as redelivered (DUP) and
    the same topic and payload were stored before; a payload published again is a real repeat and stays.
    With ``require`` the contract's required columns must be present (``DatasetError`` names the
    missing ones).

    Damaged parts (zero bytes, truncated, not Parquet, or a column type the other parts and the
    contract disagree with) raise ``DatasetError`` naming each file; with ``skip_damaged=True`` the
    rest is read and a warning names the skipped files (``None``: the policy of
    :func:`damaged_parts_policy`, by default refuse).

    ``where`` (a predicate on one message's own columns, e.g. charger and time) is applied before the
    redelivery check, so Polars pushes it into the Parquet scan and reads only matching row groups; a
    redelivered copy has the charger, topic and device time of its original, so the result is the same
    as filtering afterwards.
    """
    for attempt in range(_LIST_ATTEMPTS):
        found = check_dataset(path, skip_damaged)
        files, schema = found.good, found.schema
        if require and (missing := missing_required(list(schema))):
            raise DatasetError(f"{path} lacks required column(s): {', '.join(missing)}")
        if not dedupe:
            return _where(scan_parts(files, schema), where)
        try:
            return without_copies(files, schema, where=where)
        except FileNotFoundError:
            # a compaction removed a part between listing and reading the redelivered rows: list again
            if attempt == _LIST_ATTEMPTS - 1:
                raise DatasetError(f"parts of {path} keep disappearing while read; try again") from None
    raise AssertionError("unreachable")


def _where(frame: pl.LazyFrame, where: pl.Expr | None) -> pl.LazyFrame:
    return frame if where is None else frame.filter(where)


def scan_parts(
    files: list[Path] | list[str], schema: dict[str, pl.DataType], row_index: str | None = None
) -> pl.LazyFrame:
    """The rows of checked ``files`` (local paths or ``s3://`` URLs, credentials from ``AWS_*``) under
    ``schema``: a column missing from a file reads as null."""
    options = polars_options() if files and is_s3(files[0]) else {}
    return pl.scan_parquet(
        files,
        schema=schema,
        missing_columns="insert",
        extra_columns="ignore",
        hive_partitioning=False,
        row_index_name=row_index,
        **options,
    )


#: A redelivered row is a copy when an earlier row has the same (``key``, ``raw``); the rows that may
#: be such earlier ones are found by ``narrow`` (cheap columns that equal when ``raw`` does: the
#: device time is decoded from the body).
_EASEE_COPY = ("routing_key", ("routing_key", "observed_at"))
_MQTT_COPY = ("topic", ("topic",))


def without_copies(
    files: list[Path] | list[str],
    schema: dict[str, pl.DataType],
    *,
    where: pl.Expr | None = None,
) -> pl.LazyFrame:
    """The rows of ``files`` with every redelivered copy of an earlier message removed.

    Only a row the broker marked ``redelivered`` can be a copy: the capture acknowledges a message only
    after it is on disk, so the broker delivers a message again only to a capture that may already
    have stored it, and then flags it. The plain rows therefore pass untouched (nothing is hashed
    when no row is redelivered); each redelivered row is compared with the earlier rows that share
    its routing key and device time (Easee; MQTT: its topic) and dropped when one of them, or an
    earlier redelivered row, has the same body: the original delivery is kept wherever its part sorts
    (parts of several captures sort by capture id, not by time). On stores the capture writes this
    equals the full rule "one row per (routing_key, raw), the first not redelivered if any; for MQTT a
    redelivered repeat of (topic, raw) goes" (``tests/store/test_dedupe.py``), without hashing every
    body.
    """
    names = set(schema)
    rules = [(key, narrow) for key, narrow in (_EASEE_COPY, _MQTT_COPY) if {key, "raw", *narrow} <= names]
    if "redelivered" not in names:
        # hand-made data without the flag: the full rule (every copy, redelivered or not, by its body)
        return _full_rule(_where(scan_parts(files, schema), where), names)
    if not rules or not _any_redelivered(files, schema):
        return _where(scan_parts(files, schema), where)
    row = "__evkit_row"
    # ``where`` first: a redelivered copy has the charger, topic and device time of its original
    frame = _where(scan_parts(files, schema, row_index=row), where)
    red = pl.col("redelivered").fill_null(False)
    # Found now: the narrowing columns' 64-bit hash of every redelivered row (collisions only add
    # candidates), then the rows sharing one, with their bodies (the reader filters before it decodes).
    hashes = [_narrow_hash(narrow).alias(f"__narrow{n}") for n, (_, narrow) in enumerate(rules)]
    again = frame.filter(red).select(*hashes).collect()
    wanted = pl.lit(False)
    for n, (_, narrow) in enumerate(rules):
        wanted = wanted | _narrow_hash(narrow).is_in(again[f"__narrow{n}"].unique().implode())
    pool = frame.filter(wanted).select(row, "redelivered", *[key for key, _ in rules], "raw").collect()
    # plain rows first, then the redelivered ones in the order they were stored: a redelivered row
    # that is not the first of its (key, raw) has an original, or an earlier redelivered copy
    pool = pool.sort(red, pl.col(row))
    copy = pl.lit(False)
    for key, _ in rules:
        copy = copy | (pl.col(key).is_not_null() & pl.struct(key, "raw").is_first_distinct().not_())
    copies = pool.filter(red & copy)[row]
    if copies.is_empty():
        return _where(scan_parts(files, schema), where)
    # the few copies go by row number; every other column is read only if asked for
    return frame.filter(pl.col(row).is_in(copies.implode()).not_()).drop(row)


def _narrow_hash(columns: tuple[str, ...]) -> pl.Expr:
    expr = pl.col(columns[0]).hash(seed=0)
    for n, column in enumerate(columns[1:], start=1):
        expr = expr ^ pl.col(column).hash(seed=n)
    return expr.alias("__narrow")


def _any_redelivered(files: list[Path] | list[str], schema: dict[str, pl.DataType]) -> bool:
    """Whether any row is flagged redelivered (one boolean column read)."""
    found = scan_parts(files, schema).select(pl.col("redelivered").fill_null(False).any()).collect().item()
    return bool(found)


def _full_rule(frame: pl.LazyFrame, names: set[str]) -> pl.LazyFrame:
    """Keep the first row of each (routing_key, raw); MQTT rows as they are (no flag to go by)."""
    if {"routing_key", "raw"} <= names:
        frame = frame.filter(
            pl.col("routing_key").is_null() | pl.struct("routing_key", "raw").is_first_distinct()
        )
    return frame
