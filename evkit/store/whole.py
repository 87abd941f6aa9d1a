"""A read of a store that names, or leaves out, the parts whose data pages cannot be decoded.

No check before a read sees bytes damaged inside a data page behind a sound footer; Polars fails
only while it decodes the page, naming no file. :func:`read_whole` runs a read; only when it fails so
(nothing is spent when it succeeds) it finds the damaged parts (``evkit.store.pages``) and either
names them or runs the read again without them. The CLI (``evkit.commands._dataset``) and the
explorer (``evkit.explore.controller``) read through it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from evkit.errors import DatasetError
from evkit.store.parts import Damaged, marked_damaged

T = TypeVar("T")


def read_whole(
    where: Path | str,
    work: Callable[[], T],
    *,
    skip: bool,
    marked: list[Damaged] | None = None,
    find: Callable[[], list[Damaged]] | None = None,
    hint: str = "read the rest with --skip-damaged",
) -> T:
    """``work()``, a read of the store ``where`` (a directory, a file or ``s3://``), with the parts of
    ``marked`` counted as damaged by every check. When it fails decoding data
    (``pages.is_decoding_error``), the damaged parts are found (``find()``, by default
    ``pages.unreadable_parts(where)``: each part read on its own): with ``skip`` they join ``marked``
    (the caller's list, kept for its later reads) and ``work`` runs again, so the reader leaves them
    out and warns naming them; without, a ``DatasetError`` names them below ``where`` and ends with
    ``hint`` (how to read the rest). The error stands when no part is found unreadable (not damage)."""
    marked = [] if marked is None else marked
    while True:
        with marked_damaged(marked):
            try:
                return work()
            except BaseException as exc:  # a Polars panic is a BaseException; all else is re-raised
                from evkit.store.pages import is_decoding_error  # loaded only now: nothing on success

                if not is_decoding_error(exc):
                    raise
                failed = exc
            from evkit.store.pages import unreadable_message, unreadable_parts

            new = find() if find is not None else unreadable_parts(where)
        if not new:
            raise failed
        if not skip:
            raise DatasetError(unreadable_message(where, new, hint)) from failed
        marked += new


__all__ = ["read_whole"]
