"""The option every command that reads a dataset has: ``--skip-damaged``.

``evkit.cli.main`` runs each command under :func:`evkit.store.reader.damaged_parts_policy` with its
value, so every ``evkit.scan`` the command makes (directly or through the report or replay) follows it.
"""

from __future__ import annotations

import argparse


def add_skip_damaged(parser: argparse.ArgumentParser) -> None:
    """Add ``--skip-damaged`` to a command that reads a dataset."""
    parser.add_argument(
        "--skip-damaged",
        action="store_true",
        help="read the healthy parts and warn naming the damaged ones (default: exit 2 naming them)",
    )
