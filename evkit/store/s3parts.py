"""The live and damaged parts of a dataset on object storage (``s3://bucket/prefix``).

The same contract as a directory (``evkit.store.parts``): visible ``*.parquet`` objects (no path
component starting with ``.``) minus the inputs of a committed compaction (a ``.compact-*.json``
journal whose merged part is listed), each checked cheaply before it is read: the ``PAR1`` magic at
both ends and the footer's schema, fetched with two ranged GETs (not the rows), and column types
compared across parts as for a directory.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import polars as pl

from evkit.store.footers import EMPTY, NOT_PARQUET, BadFooter, footer_length, remember, too_short, unreadable
from evkit.store.objstore import S3Location, dataset_error, open_store
from evkit.store.parts import (
    JOURNAL_PREFIX,
    JOURNAL_SUFFIX,
    MAGIC,
    marked_reason,
    settle,
)

#: Bytes fetched from the end of a part: the footer of a capture's part fits easily.
_TAIL = 64 * 1024


class S3VanishedPart(Exception):
    """A listed object disappeared before it was checked (a compaction removed it): list again."""


def _hidden(relative: str) -> bool:
    return any(piece.startswith(".") for piece in relative.split("/"))


def list_objects(location: S3Location) -> list[Any]:
    """Every object below the prefix (paths relative to it); DatasetError when the store refuses."""
    import obstore

    store = open_store(location)
    try:
        return [meta for chunk in obstore.list(store) for meta in chunk]
    except Exception as exc:
        raise dataset_error(exc, location, "list") from exc


def day_parts(url: str, day: str) -> list[str]:
    """``s3://`` URLs of the visible ``part-*.parquet`` objects below ``date=<day>/`` of ``url`` (no
    compaction bookkeeping: for a watcher that reads each new part once)."""
    import obstore

    location = S3Location.parse(url)
    store = open_store(location)
    try:
        listed = [str(m["path"]) for chunk in obstore.list(store, prefix=f"date={day}/") for m in chunk]
    except Exception as exc:
        raise dataset_error(exc, location, "list") from exc
    return [
        location.child(p)
        for p in sorted(listed)
        if p.rsplit("/", 1)[-1].startswith("part-") and p.endswith(".parquet") and not _hidden(p)
    ]


def live_objects(location: S3Location, objects: list[Any] | None = None) -> list[str]:
    """Relative paths of the live parts, sorted (superseded compaction inputs dropped)."""
    import obstore

    objects = list_objects(location) if objects is None else objects
    paths = sorted(str(meta["path"]) for meta in objects)
    parts = [p for p in paths if p.endswith(".parquet") and not _hidden(p)]
    listed = set(parts)
    superseded: set[str] = set()
    store = open_store(location)
    for path in paths:
        name = path.rsplit("/", 1)[-1]
        if not (name.startswith(JOURNAL_PREFIX) and name.endswith(JOURNAL_SUFFIX)):
            continue
        directory = path.rsplit("/", 1)[0] + "/" if "/" in path else ""
        try:
            data = json.loads(bytes(obstore.get(store, path).bytes()))
            output, inputs = str(data["output"]), [str(n) for n in data["inputs"]]
        except Exception:  # unreadable or removed journal: it supersedes nothing
            continue
        if directory + output in listed:
            superseded.update(directory + n for n in inputs)
    return [p for p in parts if p not in superseded]


def part_schema(location: S3Location, relative: str) -> tuple[dict[str, pl.DataType] | None, str | None]:
    """(schema, None) of a sound part, or (None, why it is damaged); reads the ends only."""
    import obstore
    from obstore.exceptions import NotFoundError

    store = open_store(location)
    try:
        size = int(obstore.head(store, relative)["size"])
        if size == 0:
            return None, EMPTY
        if size < 12:
            head = bytes(obstore.get_range(store, relative, start=0, end=size))
            return None, NOT_PARQUET if head[:4] != MAGIC else too_short(size)
        start = max(0, size - _TAIL)
        head, tail = (
            bytes(b) for b in obstore.get_ranges(store, relative, starts=[0, start], ends=[4, size])
        )
        if head != MAGIC:
            return None, NOT_PARQUET
        footer_len = footer_length(tail[-8:], size)
        if footer_len + 8 > len(tail):
            tail = bytes(obstore.get_range(store, relative, start=size - footer_len - 8, end=size))
    except (NotFoundError, FileNotFoundError):  # obstore raises either
        raise S3VanishedPart(relative) from None
    except BadFooter as exc:  # as a local part's
        return None, str(exc)
    except Exception as exc:
        raise dataset_error(exc, location.child(relative), "read") from exc
    try:
        # kept: a narrow read (evkit.store.narrow) prunes row groups by it without fetching it again
        return remember(location.child(relative), size, tail).schema(), None
    except BadFooter as exc:  # says what it is itself (as a local part's)
        return None, str(exc)
    except (pl.exceptions.PolarsError, OSError) as exc:
        return None, unreadable(exc)


def inspect_objects(
    location: S3Location, parts: list[str]
) -> tuple[
    list[str], list[tuple[str, str]], dict[str, pl.DataType], dict[str, frozenset[str]], frozenset[str]
]:
    """(good URLs, [(damaged URL, reason)], schema, {good URL: columns holding no value, read as
    nulls}, good URLs without a ``redelivered`` flag) of ``parts`` (``evkit.store.parts.settle``);
    raises :class:`S3VanishedPart`. Parts ``parts.marked_damaged`` names are damaged without being
    fetched."""
    from evkit.store.narrow import footer_of

    marked = [(url, why) for url in map(location.child, parts) if (why := marked_reason(url)) is not None]
    if marked:
        parts = [p for p in parts if marked_reason(location.child(p)) is None]
    with ThreadPoolExecutor(max_workers=8) as pool:  # obstore releases the GIL while it waits
        schemas = list(pool.map(lambda p: part_schema(location, p), parts))
    damaged = marked + [
        (location.child(p), why or "unreadable")
        for p, (s, why) in zip(parts, schemas, strict=True)
        if s is None
    ]
    sound = [(location.child(p), s) for p, (s, _) in zip(parts, schemas, strict=True) if s is not None]
    good, odd, union, empty, unflagged = settle(sound, footer_of)
    return good, sorted(damaged + odd), union, empty, unflagged
