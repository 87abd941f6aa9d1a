"""Scratch folders for the per-bucket files of a large analysis (``evkit.analysis.buckets``): in the
system's temporary folder (``TMPDIR`` moves it), named after the host and process that made them,
removed when the analysis ends. A run that could not clean up (killed, out of memory) may leave
gigabytes behind: the next run on the host removes the folders of processes that are gone, and says
so."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("evkit.store")

PREFIX = "evkit-buckets-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _mine() -> str:
    """This machine and process in a folder name: ``<host>.<pid>`` (a temporary folder shared between
    containers sees other pid namespaces: only this host's processes can be told gone)."""
    host = "".join(c if c.isalnum() else "_" for c in socket.gethostname()) or "host"
    return f"{host}.{os.getpid()}"


def sweep(root: Path | str | None = None) -> list[Path]:
    """Remove the scratch folders below ``root`` (default: the temporary folder) of this user's evkit
    processes on this host that no longer run; returns them."""
    base = Path(root if root is not None else tempfile.gettempdir())
    host = _mine().rsplit(".", 1)[0]
    gone = []
    for folder in base.glob(f"{PREFIX}{host}.*-*"):
        pid_text = folder.name[len(PREFIX) + len(host) + 1 :].split("-", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid():
            continue
        try:
            if not folder.is_dir() or folder.stat().st_uid != os.getuid() or _alive(int(pid_text)):
                continue
            size = _size(folder)
            shutil.rmtree(folder)
        except OSError:
            continue  # another run removes it at the same moment, or it is not ours to remove
        log.info(
            "removed %s (%.1f MB) left by an evkit run that ended without cleaning up", folder, size / 1e6
        )
        gone.append(folder)
    return gone


#: Bucket files (lz4) take about 1.5 times the bytes their columns take in a store (zstd; measured on
#: both benchmark shapes, benchmarks/RESULTS.md): room for twice that is asked.
SPACE_FACTOR = 2


def has_room(stored: int, instead: str) -> bool:
    """Whether the temporary folder has room for scratch files of columns that take ``stored`` bytes in
    the store; when it has not, a warning names the folder, its free space and ``TMPDIR``, and says
    what is done ``instead``."""
    folder = tempfile.gettempdir()
    free = shutil.disk_usage(folder).free
    if stored * SPACE_FACTOR <= free:
        return True
    log.warning(
        "the temporary folder %s has %s free, less than the %s asked for scratch files: %s, "
        "which is slower; set TMPDIR to a folder with more room",
        folder,
        _size_text(free),
        _size_text(stored * SPACE_FACTOR),
        instead,
    )
    return False


def _size_text(size: int) -> str:
    """``size`` bytes for a reader: GB from one on, else MB (a small folder is not "0.0 GB")."""
    return f"{size / 1e9:.1f} GB" if size >= 1e9 else f"{size / 1e6:.1f} MB"


@contextmanager
def scratch_dir() -> Iterator[Path]:
    """A new scratch folder, removed when the block ends (after the leftovers of runs that are gone)."""
    sweep()
    with tempfile.TemporaryDirectory(prefix=f"{PREFIX}{_mine()}-") as tmp:
        yield Path(tmp)


def process_dir(tag: str, *, make: bool = True) -> Path:
    """This process's scratch folder ``tag`` (made if missing, unless not ``make``), for files kept from
    one task to a later one of the same run (a Dask worker's): named as :func:`scratch_dir`'s, so a
    run on this host removes it once this process is gone, should nothing remove it before."""
    folder = Path(tempfile.gettempdir()) / f"{PREFIX}{_mine()}-{tag}"
    if make:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


__all__ = ["PREFIX", "SPACE_FACTOR", "has_room", "process_dir", "scratch_dir", "sweep"]
