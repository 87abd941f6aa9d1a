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
