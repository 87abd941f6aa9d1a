"""SIGTERM ends a read-only command at once, as Ctrl-C does, even in the middle of a Polars query:
exit 143, no Polars panic, no temporary file left (``evkit.commands._signals.terminable``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

SAMPLE = REPO_ROOT / "data" / "sample-session"

#: ``evkit ARGV`` whose sessions' plan first sums a cross join of ``side``² rows (Polars' own work, no
#: Python runs meanwhile), then sorts rows in a call back into Python (``sorted_at_once``).
SCRIPT = """
import sys
sys.orig_argv = [sys.executable, "-m", "evkit", "sessions"]  # a command line run, as evkit tells one
from evkit.cli import entry  # evkit first, as the evkit program loads it: then Polars
import polars as pl
from evkit.analysis import _session_figures as figures

sort = figures.sorted_at_once
side = pl.LazyFrame({{"a": pl.int_range(0, {side}, eager=True)}})
product = (pl.col("a") * pl.col("b")).sum().alias("__s")
summed = side.join(side.rename({{"a": "b"}}), how="cross").select(product)

def slow(rows, *keys):
    if not slow.told:
        print("planned", flush=True)
        slow.told = True
    return sort(rows.join(summed, how="cross").filter(pl.col("__s") != -1).drop("__s"), *keys)

slow.told = False
figures.sorted_at_once = slow
sys.argv = ["evkit", *{argv!r}]
entry()
"""


@pytest.mark.parametrize(
    "side",
    [
        # minutes of work: SIGTERM waited for its end, long after any grace a process manager gives
        1_000_000,
        # seconds of work, then Python: SIGTERM's handler raised in Polars' call back into Python, which
        # made Polars panic (exit 1, a Rust backtrace, and the panic read as a damaged data page)
        200_000,
    ],
    ids=["minutes-inside-polars", "seconds-then-a-call-back"],
)
def test_sigterm_ends_a_command_inside_a_polars_query_at_once(tmp_path: Path, side: int) -> None:
    script = textwrap.dedent(SCRIPT.format(side=side, argv=["sessions", str(SAMPLE), "--format", "json"]))
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(REPO_ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "planned"
    try:
        child.wait(timeout=1)  # the query runs meanwhile
    except subprocess.TimeoutExpired:
        pass
    else:
        pytest.fail(f"the command ended before the signal: {child.returncode}, {child.communicate()}")
    child.send_signal(signal.SIGTERM)
    try:
        code = child.wait(timeout=60)
    finally:
        child.kill()
    out, err = child.communicate()
    assert code == 143, err
    assert "panicked" not in err and "Traceback" not in err and "data page" not in err, err
    assert out == ""
    assert list(tmp_path.iterdir()) == []
