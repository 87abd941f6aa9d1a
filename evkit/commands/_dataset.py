"""The option every command that reads a dataset has: ``--skip-damaged``, and what it does about damage
no check before the read can see.

``evkit.cli.main`` runs each command under :func:`evkit.store.reader.damaged_parts_policy` with its
value, so every ``evkit.scan`` the command makes (directly or through the report or replay) follows it.
A part with a sound footer and a damaged data page is found only while its rows are decoded: an
analysis command runs its work through :func:`reading_whole_parts`, which then names the part (exit 2)
or, with ``--skip-damaged``, runs the work again without it. With ``--dask`` the workers find the part
and are told to leave it out (``evkit.commands._cluster.on_dask``).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from evkit.store.parts import Damaged

T = TypeVar("T")
log = logging.getLogger("evkit.store")


def add_skip_damaged(parser: argparse.ArgumentParser) -> None:
    """Add ``--skip-damaged`` to a command that reads a dataset."""
    parser.add_argument(
        "--skip-damaged",
        action="store_true",
        help="read the healthy parts and warn naming the damaged ones (default: exit 2 naming them)",
    )


def reading_whole_parts(
    where: str, work: Callable[[], T], find: Callable[[], list[Damaged]] | None = None
) -> T:
    """``work()``, the reading of the store ``where`` (a directory, a file or ``s3://``). When it fails
    decoding data (``evkit.store.pages.is_decoding_error``), each part it read is read on its own to
    find the damaged ones (nothing is spent when the work succeeds): without ``--skip-damaged`` a
    ``DatasetError`` names them below ``where`` (exit 2); with it, ``work`` runs again with them
    counted as damaged by every check, so the reader leaves them out and warns naming them, as it does
    parts with a damaged footer. The error stands when no part is found unreadable (not damage).
    ``find``: how the damaged parts are found, when not here (a Dask run: its workers read them)."""
    from evkit.store.reader import skips_damaged
    from evkit.store.whole import read_whole

    return read_whole(where, work, skip=skips_damaged(), find=lambda: _unreadable(where, find))


def _unreadable(where: str, find: Callable[[], list[Damaged]] | None) -> list[Damaged]:
    from evkit.secrets import mask_secrets
    from evkit.store.pages import unreadable_parts

    shown = mask_secrets(where)
    log.info("%s: a data page cannot be read; reading each part on its own to find which", shown)
    return find() if find is not None else unreadable_parts(where)
