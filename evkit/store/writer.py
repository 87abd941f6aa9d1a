"""Durable Parquet parts: a row is acknowledged to a broker only after it is in a closed, fsynced file.

Each process writes uniquely named parts (``part-<capture id>-<seq>.parquet``), so several captures can
fill one directory at once. Parts are hive-partitioned by the UTC date of ``received_at``.

A writer holds a shared lease (``evkit.store.lease``) on every day it may still write into, so
``evkit compact`` never takes a day a capture is still filling for finished:

* today by the writer's clock, from construction on and at every write (rows are stamped by the
  capture before they reach the writer, so the day they are stamped on must already be held);
* each day of a batch while it is written;
* a day is released once a batch with a row of a later day has been written: rows are stamped in
  arrival order and written in that order, so no row of an earlier day can still be on its way.

A batch received at 23:59:59 and written after midnight therefore goes into a day its writer still
holds. Should a row arrive for a day already released (the wall clock stepped back), the writer takes
the lease again, waiting while a compaction merges that day, and writes a new part beside the merged
one -- compaction never removes a part it did not merge.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

import polars as pl

from evkit.errors import StoreError
from evkit.store.lease import Lock, hold_day
from evkit.store.objstore import is_s3
from evkit.store.schema import CAPTURE_ID_COLUMN

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The wall clock, UTC (the default clock of a writer)."""
    return datetime.now(UTC)


def new_capture_id() -> str:
    """A name unique to this capture process (host, pid, random suffix)."""
    host = socket.gethostname().split(".")[0] or "host"
    return f"{host}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def fsync_path(path: Path, *, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_writable(root: Path | str) -> None:
    """Create ``root`` and prove a file can be written there, or raise StoreError (``s3://``: the
    bucket must exist and accept a write)."""
    if is_s3(root):
        from evkit.store.s3write import ensure_writable_s3

        ensure_writable_s3(str(root))
        return
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".evkit-write-probe-{uuid.uuid4().hex[:8]}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise StoreError(f"cannot write to output directory {root}: {exc.strerror or exc}") from exc


class PartWriter:
    """Writes frames as fsynced Parquet parts below ``root``, holding the leases of its days.

    ``clock`` says what "today" is (UTC); tests inject one to cross midnight. :meth:`close` (or the
    end of the process) releases the leases.
    """

    def __init__(
        self,
        root: Path | str,
        capture_id: str | None = None,
        compression: Literal["zstd", "lz4", "snappy", "uncompressed"] = "zstd",
        clock: Clock = utc_now,
    ) -> None:
        self.root = Path(root)
        self.capture_id = capture_id or new_capture_id()
        self.compression = compression
        self.clock = clock
        self.rows_written = 0
        self.parts_written = 0
        self._seq = 0
        self._leases: dict[str, Lock] = {}
        ensure_writable(self.root)
        try:
            self._hold(self._today())
        except OSError as exc:
            raise StoreError(f"cannot lock a day below {self.root}: {exc.strerror or exc}") from exc

    @property
    def held_days(self) -> list[str]:
        """Days (``YYYY-MM-DD``) whose lease this writer holds."""
        return sorted(self._leases)

    def close(self) -> None:
        """Release every lease (the writer writes nothing more)."""
        leases, self._leases = self._leases, {}
        for lease in leases.values():
            lease.release()

    def __enter__(self) -> PartWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _today(self) -> str:
        return self.clock().astimezone(UTC).date().isoformat()

    def _hold(self, day: str) -> None:
        if day not in self._leases:
            self._leases[day] = hold_day(self.root, day)

    def _release_before(self, day: str) -> None:
        """Drop the leases of days before ``day`` (except today's by the clock)."""
        today = self._today()
        for held in [d for d in self._leases if d < day and d != today]:
            self._leases.pop(held).release()

    def write(self, frame: pl.DataFrame) -> list[Path]:
        """Write ``frame`` (needs ``received_at``); returns the part files. Raises StoreError."""
        if frame.height == 0:
            return []
        frame = frame.with_columns(pl.lit(self.capture_id, dtype=pl.String).alias(CAPTURE_ID_COLUMN))
        received = frame.get_column("received_at")
        first, last = received.min(), received.max()
        single_day = (
            received.null_count() == 0
            and isinstance(first, datetime)
            and isinstance(last, datetime)
            and first.date() == last.date()
        )
        paths: list[Path] = []
        try:
            self._hold(self._today())
            if single_day and isinstance(first, datetime):
                # The common case of a live capture: one batch, one day, one part, no grouping.
                paths.append(self._write_part(first.date().isoformat(), frame))
            else:
                day = pl.col("received_at").dt.date().cast(pl.String).fill_null("unknown").alias("__day")
                for (day_value,), part in frame.with_columns(day).group_by("__day", maintain_order=True):
                    paths.append(self._write_part(str(day_value), part.drop("__day")))
            if isinstance(last, datetime):
                self._release_before(last.date().isoformat())
        except OSError as exc:
            raise StoreError(f"cannot write Parquet below {self.root}: {exc.strerror or exc}") from exc
        except pl.exceptions.ComputeError as exc:
            # Polars reports some I/O failures (a full disk mid-write) as compute errors.
            raise StoreError(f"cannot write Parquet below {self.root}: {exc}") from exc
        self.rows_written += frame.height
        return paths

    def _write_part(self, day: str, part: pl.DataFrame) -> Path:
        if day != "unknown":  # rows without a receive time go to date=unknown, never compacted
            self._hold(day)
        directory = self.root / f"date={day}"
        created = not directory.exists()
        directory.mkdir(parents=True, exist_ok=True)
        self._seq += 1
        name = f"part-{self.capture_id}-{self._seq:06d}.parquet"
        tmp = directory / f".{name}.tmp"
        final = directory / name
        try:
            part.write_parquet(tmp, compression=self.compression, statistics=True)
            fsync_path(tmp)
            tmp.rename(final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fsync_path(directory, directory=True)
        if created:
            fsync_path(self.root, directory=True)
        self.parts_written += 1
        return final


def store_root(out: Path | str) -> Path | str:
    """``out`` as a store location: an ``s3://`` URL stays a string, anything else is a Path."""
    return str(out) if is_s3(out) else Path(out)


class Writer(Protocol):
    """What a capture needs of a part writer (local :class:`PartWriter` or ``S3PartWriter``)."""

    capture_id: str
    rows_written: int
    parts_written: int

    def write(self, frame: pl.DataFrame) -> Sequence[Path | str]: ...

    def close(self) -> None: ...


def open_writer(out: Path | str, capture_id: str) -> Writer:
    """The part writer for ``out``: :class:`PartWriter` for a directory, ``S3PartWriter`` for s3://."""
    if is_s3(out):
        from evkit.store.s3write import S3PartWriter

        return S3PartWriter(str(out), capture_id=capture_id)
    return PartWriter(out, capture_id=capture_id)
