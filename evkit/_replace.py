"""Output files written whole or not at all: a temporary file beside the target, renamed over it once
complete. A reader never sees half a file, and a failed write (a full disk, an error while writing)
leaves the previous file as it was."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """The path to write ``path``'s new content to; on leaving without an error it replaces ``path``
    (one rename on the same file system), on an error it is removed. A ``path`` that is no regular
    file (``/dev/stdout``, a named pipe) is written directly: it cannot be replaced."""
    target = Path(path)
    try:
        mode = target.stat().st_mode
    except OSError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        yield target
        return
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


__all__ = ["replacing"]
