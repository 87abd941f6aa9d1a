"""The audit log: every command any controller sends, appended as Parquet below ``<store>/audit/``.

Rows follow the dataset contract (``received_at`` = the command time, ``kind`` = ``"command"``, the
other required columns null where they don't apply), so ``evkit.scan(<store>/audit)`` reads them and
they sit next to captured data in one store. Extra columns: ``target``, ``transport``, ``topic``
(MQTT topic or URL, secrets masked), ``setting``, ``payload``, ``outcome``, ``detail``, ``latency_s``.
Credentials never reach the log: URLs and text pass through :func:`evkit.control.base.mask_secrets`.
"""

from __future__ import annotations

import threading
from pathlib import Path

import polars as pl

from evkit.control.base import CommandResult, mask_secrets
from evkit.store.reader import scan
from evkit.store.schema import REQUIRED_COLUMNS
from evkit.store.writer import Writer, ensure_writable, new_capture_id, open_writer, store_root

AUDIT_DIR_NAME = "audit"

#: Columns an audit row adds to the contract's required ones.
AUDIT_EXTRA_COLUMNS: dict[str, pl.DataType] = {
    "target": pl.String(),  # evcc / go-e
    "transport": pl.String(),  # mqtt / http
    "topic": pl.String(),  # topic published to, or URL requested (secrets masked)
    "setting": pl.String(),  # loadpoints/1/mode, amp, ...
    "payload": pl.String(),  # exact payload text
    "outcome": pl.String(),  # confirmed / unchanged / accepted / rejected / no_answer / dry_run
    "detail": pl.String(),  # the sentence shown to the user
    "latency_s": pl.Float64(),  # send -> confirmation, null without confirmation
}

AUDIT_SCHEMA: dict[str, pl.DataType] = {**REQUIRED_COLUMNS, **AUDIT_EXTRA_COLUMNS}


def audit_frame(results: list[CommandResult]) -> pl.DataFrame:
    """Contract-shaped rows for ``results`` (pure; secrets masked)."""
    rows = [
        {
            "received_at": result.time,
            "arrival_time": None,
            "observed_at": None,
            "charger_id": None,
            "observation_id": None,
            "observation": result.setting or None,
            "value": None,
            "value_text": mask_secrets(result.payload),
            "kind": "command",
            "routing_key": None,
            "redelivered": None,
            "raw": mask_secrets(result.payload).encode(),
            "error": None if result.ok else (result.detail or result.outcome.label),
            "target": result.target,
            "transport": result.transport,
            "topic": mask_secrets(result.topic_or_url),
            "setting": result.setting or None,
            "payload": mask_secrets(result.payload),
            "outcome": result.outcome.value,
            "detail": mask_secrets(result.detail),
            "latency_s": result.latency_s,
        }
        for result in results
    ]
    return pl.DataFrame(rows, schema=AUDIT_SCHEMA)


class AuditLog:
    """Appends command results to ``<store_dir>/audit/`` (one fsynced Parquet part per record call).

    >>> log = AuditLog("data")          # doctest: +SKIP
    >>> log.record(result)              # doctest: +SKIP
    >>> log.read().collect()            # doctest: +SKIP
    >>> log.close()                     # doctest: +SKIP

    ``close()`` (or ``with``) lets go of what the log holds open: its part writer's day leases (on
    ``s3://`` renewed in the background until then). Thread-safe: a panel and a CLI may share one log
    object. Raises ``StoreError`` when the store cannot be written.
    """

    def __init__(self, store_dir: Path | str) -> None:
        self.store_dir = store_root(store_dir)  # s3://bucket/prefix stays a URL
        self.path: Path | str = (
            f"{str(self.store_dir).rstrip('/')}/{AUDIT_DIR_NAME}"
            if isinstance(self.store_dir, str)
            else self.store_dir / AUDIT_DIR_NAME
        )
        self._writer: Writer | None = None
        self._lock = threading.Lock()

    def ensure_writable(self) -> None:
        """Raise ``StoreError`` now if the audit directory cannot be written (call before sending)."""
        ensure_writable(self.path)

    def record(self, *results: CommandResult) -> None:
        """Append ``results`` durably."""
        if not results:
            return
        with self._lock:
            if self._writer is None:
                self._writer = open_writer(self.path, new_capture_id())
            self._writer.write(audit_frame(list(results)))

    def read(self) -> pl.LazyFrame:
        """Every audited command so far (``evkit.scan`` of the audit directory)."""
        return scan(self.path)

    def close(self) -> None:
        """Let go of the part writer: on ``s3://`` its day leases are released and their renewal
        stops. Recording again opens a new one."""
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AuditLog({str(self.store_dir)!r})"


def given_audit(audit: AuditLog | Path | str | None) -> tuple[AuditLog | None, AuditLog | None]:
    """What a controller given ``audit`` records to, and the log it made of a store's path (that one
    it closes when it closes; a log it was handed belongs to the caller), else None."""
    if isinstance(audit, Path | str):
        made = AuditLog(audit)
        return made, made
    return audit, None


__all__ = ["AUDIT_DIR_NAME", "AUDIT_EXTRA_COLUMNS", "AUDIT_SCHEMA", "AuditLog", "audit_frame", "given_audit"]
