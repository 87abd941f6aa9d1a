"""Allocator setting for the ``evkit`` command line's batch analyses, applied before Polars loads.

Polars allocates through its own jemalloc, whose defaults suit long-lived servers more than a
command that builds a few hundred MB of columns and exits: every fresh page is a page fault the
kernel zeroes, a fifth of such a command's CPU time. Two defaults cost fresh pages:

- threads have arenas of their own, four per CPU, handed out in turn. A Polars query spreads its
  allocations over many threads (its pool, the streaming executor, the I/O runtime), so memory one
  thread frees is seldom reused by the next allocation, made on another thread. With one arena per
  CPU (``percpu_arena:percpu``) memory freed on a CPU serves the next allocation on that CPU;
- allocations of 8 MiB and more (a column of a million rows) come from an arena of their own that
  returns freed memory to the system at once, so the next such column faults its pages in again.
  ``oversize_threshold:0`` serves them from the CPU's arena, which keeps freed memory a while.

``evkit sessions`` on 6M rows: 136k → 88k page faults, peak RSS 620 → 440 MB, 0.76 → 0.73 s; on 60M
rows 1.05M → 0.61M faults; ``evkit report`` on 6M rows 4.4 → 3.9 s, 1.19 → 1.05 GB
(``benchmarks/RESULTS.md``, thirteenth pass).

Only the one-shot analyses of a dataset are tuned (``BATCH``), on Linux (where jemalloc can ask the
CPU a thread runs on); long-running commands (capture, simulators, lab) keep jemalloc's defaults,
importing evkit as a library leaves the process's allocator alone, and arenas or a threshold the
user chose in ``_RJEM_MALLOC_CONF`` are kept. Other options there stay: the setting is appended (a
process that imported Polars leaves its own options in that variable for its children,
``polars/__init__.py``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping, Sequence
from pathlib import Path

#: jemalloc's options as Polars' build reads them, once, when Polars is imported.
ENV = "_RJEM_MALLOC_CONF"
#: One arena per CPU, large allocations included.
SETTING = "percpu_arena:percpu,oversize_threshold:0"
#: Options by which a user chooses what ``SETTING`` would: theirs are kept.
_CHOSEN = ("percpu_arena", "narenas", "oversize_threshold")
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


def tune(
    argv: Sequence[str] | None = None,
    environ: MutableMapping[str, str] | None = None,
    platform: str | None = None,
) -> bool:
    """Add ``SETTING`` to ``ENV`` for a batch command on Linux unless the user chose arenas or a
    threshold there; True when added.

    Has an effect only before Polars is imported (its allocator reads its options once)."""
    argv = sys.orig_argv if argv is None else argv
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    given = environ.get(ENV, "")
    if any(option in given for option in _CHOSEN) or not platform.startswith("linux") or not is_batch(argv):
        return False
    environ[ENV] = f"{given},{SETTING}" if given else SETTING
    return True
