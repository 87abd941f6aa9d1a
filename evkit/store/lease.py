"""Per-day leases and the compaction lock of a dataset directory (advisory ``flock`` locks).

A day's lease is a small empty file ``<dataset>/.evkit-locks/date=YYYY-MM-DD.lock`` (hidden, so
readers never list it); the compaction lock is the dataset directory itself (no file left behind).

* A capture's part writer holds a **shared** lease on every day it may still write into: today by its
  clock from the moment it starts, and each day of a batch until a later day has been written (see
  :class:`~evkit.store.writer.PartWriter`). Many captures share a day.
* ``evkit compact`` treats a day as finished only when it gets the day's lease **exclusively**
  without waiting, and holds it while it merges: a capture that still has a late row for that day
  waits the few seconds until the merge is done, then writes a new part beside the merged one.
* The dataset directory is locked exclusively by one compaction at a time; a second one sees it
  taken and says so.

``fcntl.flock`` rather than a library: the one well-kept lock library (``filelock``) is not a
dependency and has no shared (reader) mode, which the leases need; ``flock`` is what
``evkit.store.manifest`` already uses, is released by the kernel when a process dies (a killed
capture never leaves a stale lease) and works between processes and between threads holding their
own open file. Lock files are never deleted (deleting a lock file races with its next user).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

LOCK_DIR = ".evkit-locks"


def lock_path(root: Path, name: str) -> Path:
    """The lock file ``name`` of the dataset at ``root`` (its directory is created)."""
    directory = root / LOCK_DIR
    directory.mkdir(parents=True, exist_ok=True)
    return directory / name


def day_lock_name(day: str) -> str:
    """Lock file name of the partition ``date=<day>``."""
    return f"date={day}.lock"


class Lock:
    """One held ``flock``; :meth:`release` (or leaving the ``with`` block) drops it."""

    def __init__(self, fd: int | None, path: Path) -> None:
        self._fd: int | None = fd
        self.path = path

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __del__(self) -> None:  # a writer dropped without close() must not keep its days locked
        self.release()

    def __enter__(self) -> Lock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def acquire(path: Path, *, shared: bool, wait: bool = True) -> Lock | None:
    """Lock ``path`` (a lock file, created if missing, or a directory), shared or exclusive;
    ``None`` when ``wait`` is false and someone else holds it."""
    if path.is_dir():
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    else:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    flags = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if wait else fcntl.LOCK_NB)
    try:
        fcntl.flock(fd, flags)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return Lock(fd, path)


def hold_day(root: Path, day: str) -> Lock:
    """A capture's shared lease on ``date=<day>`` (waits while a compaction merges that day)."""
    lock = acquire(lock_path(root, day_lock_name(day)), shared=True)
    assert lock is not None
    return lock


def try_claim_day(root: Path, day: str) -> Lock | None:
    """Compaction's exclusive claim on ``date=<day>``, or ``None`` while a capture holds the day.

    A day no writer ever leased (no lease file: data copied in, or written by an older evkit) is
    claimed without creating a file, so a compaction leaves nothing behind; a writer that starts on
    such a day meanwhile is still safe (compaction never removes a part it did not merge).
    """
    path = root / LOCK_DIR / day_lock_name(day)
    if not path.exists():
        return Lock(None, path)
    return acquire(path, shared=False, wait=False)


def try_compaction_lock(root: Path) -> Lock | None:
    """The store's compaction lock (on the dataset directory itself, so it leaves no file), or
    ``None`` while another compaction runs."""
    return acquire(root, shared=False, wait=False)
