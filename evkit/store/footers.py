"""Parquet footers read once per process, to the byte.

Checking a dataset reads every part's footer (its schema); a narrow read (``evkit.store.narrow``)
needs the same footers again for their row-group statistics. Both go through :func:`local_footer` /
:func:`remember`, which keep the exact footer bytes (two small reads: the length, then the footer;
Polars' own reader fetches a 256 KiB tail per file and per scan). Parts are immutable once written
(a writer or a compaction makes a new name), so a footer is cached by (location, size, mtime).
"""

from __future__ import annotations

import io
import os
import re
import struct
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from evkit.errors import first_line

if TYPE_CHECKING:
    import pyarrow.parquet as pq

MAGIC = b"PAR1"
#: With this set (to 1), Polars reads a time zone it cannot validate, such as a fixed offset of half an
#: hour ('+05:30') or 'Z', instead of panicking; its times then convert to UTC correctly.
IGNORE_ZONE_ERRORS = "POLARS_IGNORE_TIMEZONE_PARSE_ERROR"
#: Footers kept (a compacted year of one store is 365; the per-flush parts of a live day are more).
_KEEP = 8192


@dataclass
class Footer:
    """One part's footer: ``tail`` is the footer, its 4-byte length and the closing magic."""

    where: str
    size: int
    tail: bytes
    _metadata: pq.FileMetaData | None = field(default=None, repr=False)
    _ranges: dict[str, list[Any]] = field(default_factory=dict, repr=False)

    def file_bytes(self) -> bytes:
        """A tiny valid Parquet file holding only this footer (what the parsers take)."""
        return MAGIC + self.tail

    def metadata(self) -> pq.FileMetaData:
        """The parsed footer (row groups, column chunks, statistics)."""
        if self._metadata is None:
            import pyarrow.parquet as pq

            self._metadata = pq.read_metadata(io.BytesIO(self.file_bytes()))
        return self._metadata

    def ranges(self, column: str) -> list[tuple[Any, Any] | Absent | None]:
        """Per row group, (min, max) of ``column``: None when unknown, :data:`ABSENT` when the
        column is missing or every value in the group is null (a filter on it keeps no row)."""
        found = self._ranges.get(column)
        if found is None:
            found = self._ranges[column] = _ranges(self.metadata(), column)
        return found

    def holds_no_value(self, column: str) -> bool:
        """Whether the footer proves the top-level ``column`` holds no value: every row group's
        statistics are present and count all its rows as null (a part pandas wrote with an all-missing
        column: ``double`` of NaN). False when the column is absent, nested, or any group lacks a null
        count (a group of no rows holds none, and pyarrow writes it no statistics). Parses the footer
        with pyarrow (imported now): ask only about a column found odd."""
        metadata = self.metadata()
        paths = [metadata.schema.column(i).path for i in range(metadata.num_columns)]
        leaves = [i for i, path in enumerate(paths) if path.split(".")[0] == column]
        if len(leaves) != 1 or paths[leaves[0]] != column:
            return False
        for group in range(metadata.num_row_groups):
            row_group = metadata.row_group(group)
            if row_group.num_rows == 0:  # no row, no value (pyarrow writes no statistics for it)
                continue
            stats = row_group.column(leaves[0]).statistics
            if stats is None or not stats.has_null_count or stats.null_count != row_group.num_rows:
                return False
        return True

    def counts_nulls(self, column: str) -> bool:
        """Whether every row group of rows has a null count for the top-level ``column`` (else
        :meth:`holds_no_value` cannot tell); True when the column is absent or nested."""
        metadata = self.metadata()
        paths = [metadata.schema.column(i).path for i in range(metadata.num_columns)]
        if column not in paths:
            return True
        index = paths.index(column)
        for group in range(metadata.num_row_groups):
            row_group = metadata.row_group(group)
            stats = row_group.column(index).statistics
            if row_group.num_rows and (stats is None or not stats.has_null_count):
                return False
        return True

    def num_rows(self) -> int:
        """The part's rows, from the footer (Polars reads it: no pyarrow import on whole scans)."""
        return int(pl.scan_parquet(io.BytesIO(self.file_bytes())).select(pl.len()).collect().item())

    def schema(self) -> dict[str, pl.DataType]:
        """The part's columns as Polars reads them (``BadFooter`` when Polars cannot: a time zone it
        does not know, such as a fixed offset of half an hour, makes it panic)."""
        try:
            return dict(pl.read_parquet_schema(io.BytesIO(self.file_bytes())))
        except pl.exceptions.PanicException as exc:  # a BaseException: caught here, or it ends the run
            zone = re.search(r"unable to parse time zone: '[^']*'", str(exc))
            if zone is not None:
                raise BadFooter(
                    f"Polars is {zone.group(0)}: write its times in UTC, or set "
                    f"{IGNORE_ZONE_ERRORS}=1 (with which Polars reads them; the evkit command does)"
                ) from None
            raise BadFooter(f"Polars cannot read its columns: {first_line(exc)}") from None


class Absent:
    """The statistics of a column a row group does not have, or holds only nulls of."""


ABSENT = Absent()


def _ranges(metadata: pq.FileMetaData, column: str) -> list[tuple[Any, Any] | Absent | None]:
    names = [metadata.schema.column(i).path for i in range(metadata.num_columns)]
    if column not in names:
        return [ABSENT] * metadata.num_row_groups
    index = names.index(column)
    found: list[tuple[Any, Any] | Absent | None] = []
    for group in range(metadata.num_row_groups):
        row_group = metadata.row_group(group)
        stats = row_group.column(index).statistics
        if stats is None:
            found.append(None)
        elif stats.has_null_count and stats.null_count == row_group.num_rows:
            found.append(ABSENT)
        elif not stats.has_min_max:
            found.append(None)
        else:
            try:
                found.append((stats.min, stats.max))
            except Exception:  # a logical type pyarrow cannot turn into Python: unknown
                found.append(None)
    return found


class BadFooter(ValueError):
    """The end of a file is not a Parquet footer (the message says why)."""


_cache: OrderedDict[tuple[str, int, int], Footer] = OrderedDict()
_lock = threading.Lock()


def _cached(key: tuple[str, int, int]) -> Footer | None:
    with _lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
        return found


def _keep(key: tuple[str, int, int], footer: Footer) -> Footer:
    with _lock:
        _cache[key] = footer
        while len(_cache) > _KEEP:
            _cache.popitem(last=False)
    return footer


def unreadable(exc: Exception) -> str:
    """Why a part whose footer Polars or the file system could not read is damaged (the error's first
    line), in the same words for a local part and an object's."""
    lines = str(exc).strip().splitlines()
    return f"unreadable Parquet footer: {lines[0] if lines else type(exc).__name__}"


#: Why a part is damaged, in the same words for a local part and an object's (with the functions below).
EMPTY = "empty file (0 bytes)"
NOT_PARQUET = "not a Parquet file (no PAR1 header)"


def too_short(size: int) -> str:
    """Why a part of ``size`` bytes with no footer at its end is damaged."""
    return f"truncated: {size} bytes and no Parquet footer"


def footer_length(tail8: bytes, size: int) -> int:
    """The footer length from a file's last 8 bytes (``BadFooter`` when they are not a footer's)."""
    if tail8[-4:] != MAGIC:
        raise BadFooter(too_short(size))
    length = int(struct.unpack("<i", tail8[-8:-4])[0])
    if length <= 0 or length + 12 > size:
        raise BadFooter("unreadable Parquet footer: bad footer length")
    return length


def local_footer(path: Path) -> Footer:
    """The footer of the local part ``path`` (FileNotFoundError if it is gone, BadFooter, OSError)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        stat = os.fstat(fd)
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if (found := _cached(key)) is not None:
            return found
        size = stat.st_size
        if size < 12:
            raise BadFooter(too_short(size))
        length = footer_length(os.pread(fd, 8, size - 8), size)
        tail = os.pread(fd, length + 8, size - length - 8)
    finally:
        os.close(fd)
    return _keep(key, Footer(str(path), size, tail))


def remember(where: str, size: int, tail: bytes) -> Footer:
    """Keep a footer read elsewhere (object storage: ``tail`` may hold more than the footer)."""
    length = footer_length(tail[-8:], size)
    if length + 8 > len(tail):
        raise BadFooter("unreadable Parquet footer: shorter than its stated length")
    return _keep((where, -1, -1), Footer(where, size, tail[-(length + 8) :]))


def known(where: str) -> Footer | None:
    """The footer :func:`remember` kept for the object ``where`` (objects are never overwritten)."""
    return _cached((where, -1, -1))


__all__ = [
    "ABSENT",
    "EMPTY",
    "MAGIC",
    "NOT_PARQUET",
    "Absent",
    "BadFooter",
    "Footer",
    "footer_length",
    "known",
    "local_footer",
    "remember",
    "too_short",
    "unreadable",
]
