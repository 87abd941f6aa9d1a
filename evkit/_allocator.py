"""Allocator setting for the ``evkit`` command line's batch analyses, applied before Polars loads.

Polars allocates through its own jemalloc, which hands out memory in 4 KiB pages by default: a
command that builds a few hundred MB of columns (``evkit sessions`` on 6M rows) takes ~165,000 page
faults, a fifth of its CPU time in the kernel. Polars' own switch ``POLARS_THP=1`` lets jemalloc use
transparent huge pages (the kernel's default mode, ``madvise``, honours it): the same run then takes
~31,000 faults and ~0.15-0.2 s less CPU, for 50-80 MB more peak RSS (benchmarks/RESULTS.md,
"Sessions speed (third pass)"). Only the one-shot analyses of a dataset turn it on (``BATCH``);
long-running commands (capture, simulators, lab) keep small pages and their bounded memory, importing
evkit as a library leaves the process's allocator alone, and a ``POLARS_THP`` the user set is kept.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping, Sequence
from pathlib import Path

#: Polars reads it once, when it is imported (``polars/__init__.py``).
ENV = "POLARS_THP"
#: Commands that read a dataset in bulk and exit.
BATCH = frozenset({"sessions", "latency", "report", "statement", "compact"})


def command_args(argv: Sequence[str]) -> list[str] | None:
    """The arguments after the program when ``argv`` (``sys.orig_argv``) runs the ``evkit`` script
    or ``python -m evkit``; None for any other program."""
    args = iter(argv[1:])
    for arg in args:
        if arg == "-m":
            return list(args) if next(args, None) == "evkit" else None
        if arg in ("-X", "-W"):  # the interpreter's options that take a value
            next(args, None)
        elif arg == "-c":
            return None
        elif not arg.startswith("-"):
            return list(args) if Path(arg).name == "evkit" else None
    return None


def is_batch(argv: Sequence[str]) -> bool:
    """True when ``argv`` runs one of the ``BATCH`` commands of the ``evkit`` command line."""
    rest = command_args(argv)
    words = [arg for arg in rest or [] if not arg.startswith("-")]
    return bool(words) and words[0] in BATCH


def tune(argv: Sequence[str] | None = None, environ: MutableMapping[str, str] | None = None) -> bool:
    """Set ``POLARS_THP=1`` for a batch command unless the user set it; True when set.

    Has an effect only before Polars is imported (its allocator reads its options once)."""
    argv = sys.orig_argv if argv is None else argv
    environ = os.environ if environ is None else environ
    if ENV in environ or not is_batch(argv):
        return False
    environ[ENV] = "1"
    return True
