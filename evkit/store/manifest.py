"""``manifest.json``: what was captured into a dataset directory, by whom and when.

Several captures may share one directory, so the manifest holds one record per capture and is
updated under a file lock with an atomic replace. It never holds a password or token. On object
storage (``s3://``) each capture writes its own record object instead and readers merge them
(``evkit.store.s3write``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evkit import __version__
from evkit.store.objstore import is_s3

MANIFEST_NAME = "manifest.json"
_SECRET_KEYS = frozenset({"password", "pass", "token", "secret", "authorization", "credentials"})


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    with (root / ".manifest.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _scrub(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k.lower() not in _SECRET_KEYS}


def read_manifest(root: Path | str) -> dict[str, Any]:
    """The manifest of ``root`` (an empty one if none exists)."""
    if is_s3(root):
        from evkit.store.s3write import read_manifest_s3

        return read_manifest_s3(str(root))
    path = Path(root) / MANIFEST_NAME
    if not path.exists():
        return {"evkit_version": __version__, "captures": []}
    data: dict[str, Any] = json.loads(path.read_text())
    data.setdefault("captures", [])
    return data


def upsert_capture(root: Path | str, record: dict[str, Any]) -> None:
    """Insert or replace the record whose ``capture_id`` matches ``record['capture_id']``."""
    if is_s3(root):
        from evkit.store.s3write import upsert_capture_s3

        upsert_capture_s3(str(root), record)
        return
    root = Path(root)
    record = _scrub(record)
    with _locked(root):
        data = read_manifest(root)
        captures = [c for c in data["captures"] if c.get("capture_id") != record["capture_id"]]
        captures.append(record)
        data["captures"] = captures
        data["evkit_version"] = __version__
        tmp = root / f".{MANIFEST_NAME}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        tmp.replace(root / MANIFEST_NAME)


def annotate(root: Path | str, key: str, value: Any) -> None:
    """Set a top-level note of the manifest (e.g. ``simulated``: how the data was made), keeping the
    captures; readers such as the report and the explorer use it for caveats."""
    if key in {"captures", "evkit_version"}:
        raise ValueError(f"{key!r} is kept by the store itself")
    root = Path(root)
    with _locked(root):
        data = read_manifest(root)
        data[key] = _scrub(value) if isinstance(value, dict) else value
        tmp = root / f".{MANIFEST_NAME}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        tmp.replace(root / MANIFEST_NAME)


def latency_caveat(manifest: dict[str, Any]) -> str | None:
    """Why capture latency in this dataset cannot be trusted, from its manifest; ``None`` when it can.

    A dataset whose ``received_at`` was re-timed, that was recorded from a simulator publishing faster
    than real time, or that holds a replay, measures the tool, not the chargers' transport.
    """
    reasons: list[str] = []
    if manifest.get("retimed"):
        reasons.append("received_at was re-timed after recording (manifest: retimed)")
    simulated = manifest.get("simulated")
    if simulated:
        reasons.append(
            "the data comes from a simulator"
            + (
                " publishing faster than real time"
                if isinstance(simulated, dict) and simulated.get("fast")
                else ""
            )
        )
    captures = [c for c in manifest.get("captures") or [] if isinstance(c, dict)]
    if any(str(c.get("source", "")).startswith("replay") or c.get("replayed") for c in captures):
        reasons.append("it holds replayed messages")
    if not reasons:
        return None
    return "Latency caveat: " + "; ".join(reasons) + ". Capture latency here does not measure the chargers."
