"""Durable Parquet parts: a row is acknowledged to a broker only after it is in a closed, fsynced file.

Each process writes uniquely named parts (``part-<capture id>-<seq>.parquet``), so several captures can
fill one directory at once. Parts are hive-partitioned by the UTC date of ``received_at``.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime
from pathlib import Path
from typing import Literal

import polars as pl

from evkit.errors import StoreError
from evkit.store.schema import CAPTURE_ID_COLUMN


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


def ensure_writable(root: Path) -> None:
    """Create ``root`` and prove a file can be written there, or raise StoreError."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".evkit-write-probe-{uuid.uuid4().hex[:8]}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise StoreError(f"cannot write to output directory {root}: {exc.strerror or exc}") from exc


class PartWriter:
    """Writes frames as fsynced Parquet parts below ``root``."""

    def __init__(
        self,
        root: Path | str,
        capture_id: str | None = None,
        compression: Literal["zstd", "lz4", "snappy", "uncompressed"] = "zstd",
    ) -> None:
        self.root = Path(root)
        self.capture_id = capture_id or new_capture_id()
        self.compression = compression
        self.rows_written = 0
        self.parts_written = 0
        self._seq = 0
        ensure_writable(self.root)

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
            if single_day and isinstance(first, datetime):
                # The common case of a live capture: one batch, one day, one part, no grouping.
                paths.append(self._write_part(first.date().isoformat(), frame))
            else:
                day = pl.col("received_at").dt.date().cast(pl.String).fill_null("unknown").alias("__day")
                for (day_value,), part in frame.with_columns(day).group_by("__day", maintain_order=True):
                    paths.append(self._write_part(str(day_value), part.drop("__day")))
        except OSError as exc:
            raise StoreError(f"cannot write Parquet below {self.root}: {exc.strerror or exc}") from exc
        except pl.exceptions.ComputeError as exc:
            # Polars reports some I/O failures (a full disk mid-write) as compute errors.
            raise StoreError(f"cannot write Parquet below {self.root}: {exc}") from exc
        self.rows_written += frame.height
        return paths

    def _write_part(self, day: str, part: pl.DataFrame) -> Path:
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
