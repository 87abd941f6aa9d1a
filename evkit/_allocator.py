"""Allocator setting for the ``evkit`` command line, applied before Polars loads.

Polars allocates through its own jemalloc, which hands out memory in 4 KiB pages by default: a
command that builds a few hundred MB of columns (``evkit sessions`` on 6M rows) takes ~160,000 page
faults, a fifth of its CPU time in the kernel. Polars' own switch ``POLARS_THP=1`` lets jemalloc use
transparent huge pages (the kernel's default mode, ``madvise``, honours it): the same run then takes
~30,000 faults and ~0.25 s less CPU (benchmarks/RESULTS.md, "Sessions speed (third pass)"). Only the
command line turns it on: importing evkit as a library leaves the process's allocator alone, and a
``POLARS_THP`` the user set is kept.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping, Sequence
from pathlib import Path

#: Polars reads it once, when it is imported (``polars/__init__.py``).
ENV = "POLARS_THP"


def is_cli(argv: Sequence[str]) -> bool:
    """True when ``argv`` (``sys.orig_argv``) runs the ``evkit`` script or ``python -m evkit``."""
    args = iter(argv[1:])
    for arg in args:
        if arg == "-m":
            return next(args, None) == "evkit"
        if arg in ("-X", "-W"):  # the interpreter's options that take a value
            next(args, None)
        elif arg == "-c":
            return False
        elif not arg.startswith("-"):
            return Path(arg).name == "evkit"
    return False


def tune(argv: Sequence[str] | None = None, environ: MutableMapping[str, str] | None = None) -> bool:
    """Set ``POLARS_THP=1`` for the command line unless the user set it; True when set.

    Has an effect only before Polars is imported (its allocator reads its options once)."""
    argv = sys.orig_argv if argv is None else argv
    environ = os.environ if environ is None else environ
    if ENV in environ or not is_cli(argv):
        return False
    environ[ENV] = "1"
    return True
