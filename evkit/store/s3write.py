"""Durable parts and the manifest on object storage (``s3://bucket/prefix``).

A part is built in memory and stored with one conditional ``PUT`` (``If-None-Match: *``: an
existing object is never overwritten; names are unique per capture anyway:
``date=YYYY-MM-DD/part-<capture id>-<seq>.parquet``). :meth:`S3PartWriter.write` returns only
after the object is complete and verified (a ``HEAD`` shows its size and the ETag of our ``PUT``),
so a capture acknowledges nothing the store does not hold. Object stores make an object visible
whole or not at all: there is no half-written part to hide.

No file locks exist on object storage: the writer holds its days with lease objects instead
(``evkit.store.s3lease``: created with a conditional PUT, renewed in the background, expiring by the
server's clock), the same days the local writer holds, so ``evkit compact s3://...`` leaves a day a
capture may still write into alone; and compaction never removes a part it did not merge. The
manifest is one object per capture (``manifest.d/<capture id>.json``, written only by that capture)
and readers merge them: concurrent captures on many machines never lose each other's update.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

import polars as pl

from evkit import __version__
from evkit.errors import StoreError
from evkit.store.objstore import S3Location, open_store, retrying, store_error
from evkit.store.s3lease import S3Leases
from evkit.store.schema import CAPTURE_ID_COLUMN

MANIFEST_DIR = "manifest.d"
_SECRET_KEYS = frozenset({"password", "pass", "token", "secret", "authorization", "credentials"})


def _utc_now() -> datetime:
    return datetime.now(UTC)


def ensure_writable_s3(url: str) -> None:
    """Prove the bucket exists and an object can be written and removed there, or raise StoreError."""
    import obstore

    location = S3Location.parse(url)
    store = open_store(location)
    try:
        # A LIST first: some servers create a missing bucket on PUT; a capture must not.
        next(iter(obstore.list(store, chunk_size=1)), None)
        probe = f".evkit-write-probe-{uuid.uuid4().hex[:8]}"
        obstore.put(store, probe, b"ok", mode="create", use_multipart=False)
        obstore.delete(store, probe)
    except Exception as exc:
        raise store_error(exc, location, "write to") from exc


class S3PartWriter:
    """:class:`~evkit.store.writer.PartWriter` for ``s3://bucket/prefix`` (same interface)."""

    def __init__(
        self,
        root: str,
        capture_id: str,
        compression: Literal["zstd", "lz4", "snappy", "uncompressed"] = "zstd",
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.location = S3Location.parse(root)
        self.root = self.location.url
        self.capture_id = capture_id
        self.compression = compression
        self.clock = clock
        self.rows_written = 0
        self.parts_written = 0
        self._seq = 0
        self._store = open_store(self.location)
        self._leases = S3Leases(self.location, capture_id)
        self._leases.hold(self._today())

    @property
    def held_days(self) -> list[str]:
        """Days (``YYYY-MM-DD``) whose lease this writer holds."""
        return self._leases.days

    def close(self) -> None:
        """Release every lease (the writer writes nothing more)."""
        self._leases.close()

    def _today(self) -> str:
        return self.clock().astimezone(UTC).date().isoformat()

    def _release_before(self, day: str) -> None:
        """Drop the leases of days before ``day`` (except today's by the clock), as the local writer."""
        today = self._today()
        for held in [d for d in self._leases.days if d < day and d != today]:
            self._leases.release(held)

    def __enter__(self) -> S3PartWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, frame: pl.DataFrame) -> list[str]:
        """Write ``frame`` (needs ``received_at``); returns the part URLs once stored and verified."""
        if frame.height == 0:
            return []
        frame = frame.with_columns(pl.lit(self.capture_id, dtype=pl.String).alias(CAPTURE_ID_COLUMN))
        day = pl.col("received_at").dt.date().cast(pl.String).fill_null("unknown").alias("__day")
        urls: list[str] = []
        self._leases.hold(self._today())
        for (day_value,), part in frame.with_columns(day).group_by("__day", maintain_order=True):
            if day_value is not None and day_value != "unknown":  # never compacted: no lease needed
                self._leases.hold(str(day_value))
            urls.append(self._write_part(str(day_value), part.drop("__day")))
        last = frame.get_column("received_at").max()
        if isinstance(last, datetime):
            self._release_before(last.date().isoformat())
        self.rows_written += frame.height
        return urls

    def _write_part(self, day: str, part: pl.DataFrame) -> str:
        import obstore
        from obstore.exceptions import AlreadyExistsError, PreconditionError

        buffer = io.BytesIO()
        try:
            part.write_parquet(buffer, compression=self.compression, statistics=True)
        except pl.exceptions.PolarsError as exc:
            raise StoreError(f"cannot encode Parquet for {self.root}: {exc}") from exc
        data = buffer.getvalue()
        self._seq += 1
        relative = f"date={day}/part-{self.capture_id}-{self._seq:06d}.parquet"
        etag: str | None = None
        try:
            try:
                result = retrying(
                    lambda: obstore.put(self._store, relative, data, mode="create", use_multipart=False)
                )
                etag = result.get("e_tag")
            except (AlreadyExistsError, PreconditionError):
                # A retried PUT whose first attempt did land: accept it only if it is ours, whole.
                etag = None
            meta = retrying(lambda: obstore.head(self._store, relative))
        except Exception as exc:
            raise store_error(exc, self.location.child(relative), "write") from exc
        if int(meta["size"]) != len(data) or (etag is not None and meta.get("e_tag") != etag):
            raise StoreError(
                f"{self.location.child(relative)} was not stored whole: {meta['size']} bytes "
                f"(expected {len(data)}) or another ETag; nothing of it was acknowledged"
            )
        if etag is None and bytes(obstore.get(self._store, relative).bytes()) != data:
            raise StoreError(f"{self.location.child(relative)} exists and is not this capture's part")
        self.parts_written += 1
        return self.location.child(relative)


def _scrub(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k.lower() not in _SECRET_KEYS}


def read_manifest_s3(url: str) -> dict[str, Any]:
    """The merged manifest of ``s3://bucket/prefix``: every capture's own record (and those of a
    ``manifest.json`` copied there with a dataset)."""
    import obstore
    from obstore.exceptions import NotFoundError

    location = S3Location.parse(url)
    store = open_store(location)
    captures: list[dict[str, Any]] = []
    try:
        try:  # a dataset copied from a directory keeps its manifest.json: its records count too
            copied = json.loads(bytes(obstore.get(store, "manifest.json").bytes()))
            captures += [c for c in copied.get("captures", []) if isinstance(c, dict)]
        except (NotFoundError, FileNotFoundError):  # obstore raises either
            pass
        for chunk in obstore.list(store, prefix=MANIFEST_DIR):
            for meta in chunk:
                if str(meta["path"]).endswith(".json"):
                    record = json.loads(bytes(obstore.get(store, meta["path"]).bytes()))
                    if isinstance(record, dict):
                        captures.append(record)
    except ValueError:
        raise
    except Exception as exc:
        raise OSError(str(store_error(exc, location, "read the manifest of"))) from exc
    captures.sort(key=lambda c: (str(c.get("started_at") or ""), str(c.get("capture_id"))))
    return {"evkit_version": __version__, "captures": captures}


def upsert_capture_s3(url: str, record: dict[str, Any]) -> None:
    """Write this capture's own manifest object (only it ever writes that key)."""
    import obstore

    location = S3Location.parse(url)
    record = _scrub(record)
    name = f"{MANIFEST_DIR}/{record['capture_id']}.json"
    data = (json.dumps(record, indent=2, default=str) + "\n").encode()
    try:
        store = open_store(location)
        retrying(lambda: obstore.put(store, name, data, use_multipart=False))
    except Exception as exc:
        raise OSError(str(store_error(exc, location, "update the manifest of"))) from exc
