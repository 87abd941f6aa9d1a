"""Argument types for paths and hosts: a directory where one is needed, a file where one is needed, a
bare host name where a host is needed (never a URL that could carry a password into an error message).

Each raises ``argparse.ArgumentTypeError`` with a sentence, so argparse exits 2 naming the option
before anything is connected, sent or written::

    parser.add_argument("--out", type=output_dir, required=True)
    parser.add_argument("--out", type=output_file, default=Path("report.html"))
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from evkit.commands._args import number
from evkit.secrets import mask_url

__all__ = [
    "LONGEST_DAYS",
    "existing_dir",
    "existing_file",
    "host",
    "name",
    "output_dir",
    "output_file",
    "seconds",
]

#: Longest --duration / --idle-exit (ten years): more is a typo, and far more overflows timers.
LONGEST_DAYS = 3660


def output_dir(text: str) -> Path | str:
    """A directory to write into, existing or new; not an existing file. (A path that cannot be created,
    e.g. below a file or on a read-only disk, is found when writing starts: exit 1, nothing acknowledged.)
    An ``s3://bucket/prefix`` store is passed on as text (checked when the capture opens it)."""
    if text.strip() == "":
        raise argparse.ArgumentTypeError("the output directory must not be empty")
    if text.startswith("s3://"):
        if text.rstrip("/") == "s3:/" or text == "s3://":
            raise argparse.ArgumentTypeError("an s3:// store needs a bucket: s3://BUCKET/PREFIX")
        return text
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file; give a directory (existing or new)")
    return path


def output_file(text: str) -> Path:
    """A file to write: not an existing directory."""
    if text.strip() == "":
        raise argparse.ArgumentTypeError("the output file name must not be empty")
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a directory; give the name of a file to write")
    return path


def existing_dir(text: str) -> Path:
    """A directory that exists."""
    path = Path(text)
    if not path.is_dir():
        what = "a file" if path.exists() else "missing"
        raise argparse.ArgumentTypeError(f"{text} is {what}; give an existing directory")
    return path


def host(text: str) -> str:
    """A broker host name or address: not empty, no URL (``mqtt://...``), no ``user:password@``."""
    if text.strip() == "":
        raise argparse.ArgumentTypeError("the broker host must not be empty")
    if "://" in text or "@" in text or "/" in text or any(c.isspace() for c in text):
        raise argparse.ArgumentTypeError(
            f"{mask_url(text)} is not a host name; give the host only (e.g. 127.0.0.1), the port and "
            "the password with their own options"
        )
    return text


def seconds(*, max_days: int = LONGEST_DAYS) -> Callable[[str], float]:
    """A finite number of seconds above 0 and at most ``max_days`` days (``nan``, ``inf`` refused)."""
    limit = max_days * 86400
    parse = number(above=0, max=limit)

    def parse_seconds(text: str) -> float:
        try:
            return parse(text)
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a number of seconds above 0 and at most {limit} ({max_days} days)"
            ) from None

    parse_seconds.__name__ = "seconds"
    return parse_seconds


def existing_file(text: str) -> Path:
    """A file that exists (e.g. a CA bundle)."""
    path = Path(text)
    if not path.is_file():
        what = "a directory" if path.is_dir() else "missing"
        raise argparse.ArgumentTypeError(f"{text} is {what}; give an existing file")
    return path


def name(what: str) -> Callable[[str], str]:
    """A non-empty name (a queue, an exchange) without spaces at either end."""

    def parse(text: str) -> str:
        if text.strip() == "" or text != text.strip():
            raise argparse.ArgumentTypeError(
                f"the {what} name must not be empty or start or end with a space"
            )
        return text

    parse.__name__ = what.replace(" ", "_")
    return parse
