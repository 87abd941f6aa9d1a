"""SIGTERM to a read-only command (``evkit.commands._signals.terminable``, hostile tests of 0e887ac
and the fixes they led to) ends it with exit 143 wherever it is, leaves no output file half-written
and no temporary file behind, never shows a Polars panic or a traceback; SIGINT still gives 130.

Each case runs ``evkit`` in a child process. Where the moment of the signal matters, the child
sends it to itself from inside the phase under test (a wrapper around a Polars call that evkit makes
there), so the case does not depend on this machine's speed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import polars as pl
import pytest

from tests.analysis import scenario as sc
from tests.conftest import REPO_ROOT
from tests.test_cli_terminate import SCRIPT as LONG_QUERY_SCRIPT

pytestmark = pytest.mark.slow

SAMPLE = REPO_ROOT / "data" / "sample-session"
#: the installed ``evkit`` program (``evkit.cli:entry``)
EVKIT = str(Path(sys.executable).parent / "evkit")


def _ignore_sigint() -> None:
    # what a non-interactive shell does to a command it starts in the background (`evkit ... &`)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.fixture(scope="module")
def fleet_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20,000 chargers of one session each: a statement ``--by charger`` of 20,000 rows, whose
    workbook takes XlsxWriter most of a second to write (inside Polars' ``write_excel``)."""
    one = sc.frame(
        sc.Charger("TEMPLATE", [(0, 1, 0.0), (5, 2, 0.0), (6, 3, 11.0), (40, 1, 0.0)], 60).run().rows
    )
    ids = pl.DataFrame({"cid": [f"EHX{n:07d}" for n in range(20_000)]})
    rows = (
        ids.join(one, how="cross")
        .with_columns(
            pl.col("cid").alias("charger_id"),
            pl.concat_str(pl.col("cid"), pl.lit(".O."), pl.col("observation_id").cast(pl.String)).alias(
                "routing_key"
            ),
        )
        .select(one.columns)
    )
    path = tmp_path_factory.mktemp("fleet") / "store"
    path.mkdir()
    rows.write_parquet(path / "part.parquet")
    return path


#: ``evkit statement`` whose workbook is written while the child sends itself SIGTERM ``times`` times,
#: the first ``first_s`` after Polars' ``write_excel`` began, then every ``every_s``.
WRITE_EXCEL_SCRIPT = """
import sys
sys.orig_argv = [sys.executable, "-m", "evkit", "sessions"]  # a command line run, as evkit tells one
import evkit  # first, as the evkit program loads it (it owns SIGINT before Polars loads)
import os, signal, sys, threading, time
import polars as pl
from evkit.cli import entry

original = pl.DataFrame.write_excel

def write_excel(self, *args, **kwargs):
    def terminate():
        time.sleep({first_s})
        for _ in range({times}):
            os.kill(os.getpid(), signal.{signal_name})
            time.sleep({every_s})
    threading.Thread(target=terminate, daemon=True).start()
    return original(self, *args, **kwargs)

pl.DataFrame.write_excel = write_excel
sys.argv = ["evkit", "statement", {store!r}, "--by", "charger", "--format", "xlsx", "--out", {out!r}]
entry()
"""


def _start(script: str, tmpdir: Path, *, sigint_ignored: bool) -> subprocess.Popen[str]:
    """``python -c script`` with TMPDIR ``tmpdir``, SIGINT ignored when asked, output piped."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        env={**os.environ, "TMPDIR": str(tmpdir), "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_ignore_sigint if sigint_ignored else None,  # noqa: PLW1509
    )


def _run_script(
    script: str, tmp_path: Path, *, sigint_ignored: bool, timeout: float = 50
) -> tuple[int, str, str, float]:
    (tmp_path / "tmp").mkdir(exist_ok=True)
    started = time.monotonic()
    child = _start(script, tmp_path / "tmp", sigint_ignored=sigint_ignored)
    try:
        out, err = child.communicate(timeout=timeout)
    finally:
        child.kill()
    return child.returncode, out, err, time.monotonic() - started


def _clean(err: str) -> None:
    assert "panicked" not in err and "Traceback" not in err and "data page" not in err, err


def _workbook_run(
    store: Path, tmp_path: Path, *, times: int, every_s: float, signal_name: str, sigint_ignored: bool
) -> tuple[int, str, str]:
    """``WRITE_EXCEL_SCRIPT``'s statement, signalled ``times`` times from 0.05 s into ``write_excel``:
    (exit code, stdout, stderr), with nothing written beside the output or left in TMPDIR."""
    out = tmp_path / "out" / "statement.xlsx"
    out.parent.mkdir()
    script = WRITE_EXCEL_SCRIPT.format(
        first_s=0.05, times=times, every_s=every_s, signal_name=signal_name, store=str(store), out=str(out)
    )
    code, stdout, err, _ = _run_script(script, tmp_path, sigint_ignored=sigint_ignored)
    _clean(err)
    assert list(out.parent.iterdir()) == []  # no workbook, no temporary file beside it
    assert list((tmp_path / "tmp").iterdir()) == []
    return code, stdout, err


@pytest.mark.parametrize("sigint_ignored", [False, True], ids=["sigint-default", "sigint-ignored"])
def test_sigterm_while_polars_writes_the_workbook_ends_the_statement(
    fleet_store: Path, tmp_path: Path, sigint_ignored: bool
) -> None:
    """SIGTERM lands while Polars' ``write_excel`` (Python code of the polars package, no query)
    runs: the handler sees a Polars frame and leaves it to the relay, which sends SIGINT. When the
    process was started with SIGINT ignored (a background job of a shell script), that SIGINT does
    nothing: the SIGTERM must still end the command (143, no workbook), not be lost (it was: exit 0
    and the workbook written as if no signal came; the relay now asks again until Python is out of
    Polars)."""
    code, stdout, err = _workbook_run(
        fleet_store, tmp_path, times=1, every_s=0.0, signal_name="SIGTERM", sigint_ignored=sigint_ignored
    )
    assert code == 143, f"exit {code}: the SIGTERM was lost; stderr: {err}"
    assert stdout == ""


@pytest.mark.parametrize("sigint_ignored", [False, True], ids=["sigint-default", "sigint-ignored"])
def test_repeated_sigterms_while_the_workbook_is_written(
    fleet_store: Path, tmp_path: Path, sigint_ignored: bool
) -> None:
    """A process manager or an impatient user sends SIGTERM again and again (every 20 ms): the first
    ends the command, the later ones interrupt none of the clean-up (exit 143, nothing left)."""
    code, _, err = _workbook_run(
        fleet_store, tmp_path, times=60, every_s=0.02, signal_name="SIGTERM", sigint_ignored=sigint_ignored
    )
    assert code == 143, f"exit {code}; stderr: {err}"


def test_sigint_while_the_workbook_is_written_still_gives_130(fleet_store: Path, tmp_path: Path) -> None:
    code, _, err = _workbook_run(
        fleet_store, tmp_path, times=1, every_s=0.0, signal_name="SIGINT", sigint_ignored=False
    )
    assert code == 130, err


@pytest.mark.parametrize(
    ("command", "sig", "expected", "sigint_ignored"),
    [
        (["statement", "--format", "json"], signal.SIGTERM, 143, True),
        (["sessions", "--format", "json"], signal.SIGTERM, 143, True),
        (["statement", "--format", "json"], signal.SIGINT, 130, False),
    ],
    ids=["statement-sigterm-sigint-ignored", "sessions-sigterm-sigint-ignored", "statement-sigint"],
)
def test_a_signal_inside_a_long_query(
    tmp_path: Path, command: list[str], sig: signal.Signals, expected: int, sigint_ignored: bool
) -> None:
    out = tmp_path / "out" / "result.json"
    out.parent.mkdir()
    argv = [command[0], str(SAMPLE), *command[1:], "--out", str(out)]
    # minutes of a query (tests/test_cli_terminate.py's)
    script = LONG_QUERY_SCRIPT.format(side=1_000_000, argv=argv)
    child = _start(script, tmp_path, sigint_ignored=sigint_ignored)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "planned"
        time.sleep(0.5)  # inside the query
        assert child.poll() is None
        child.send_signal(sig)
        code = child.wait(timeout=30)
    finally:
        child.kill()
    _, err = child.communicate()
    _clean(err)
    assert code == expected, err
    assert list(out.parent.iterdir()) == []


def _reference(argv: list[str], tmp_path: Path) -> str:
    done = subprocess.run(
        [EVKIT, *argv], capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("sigint_ignored", [False, True], ids=["sigint-default", "sigint-ignored"])
@pytest.mark.parametrize(
    "command",
    [["statement", "--format", "json"], ["latency"], ["sessions", "--format", "csv"]],
    ids=["statement", "latency", "sessions"],
)
def test_sigterm_at_any_moment_of_a_small_run(
    tmp_path: Path, command: list[str], sigint_ignored: bool
) -> None:
    """SIGTERM at 16 moments from the start to the end of a run on the sample store (start-up,
    parsing, the queries, the writing of --out FILE): every run ends at once (143; or killed by
    the signal before evkit handles it; or exit 0 when it had finished), with the output file either
    absent or whole, nothing beside it, no traceback."""
    whole = tmp_path / "whole.out"
    _reference([command[0], str(SAMPLE), *command[1:], "--out", str(whole)], tmp_path)
    expected = whole.read_bytes()
    # the run's length on this machine, to spread the signals over it
    started = time.monotonic()
    _reference([command[0], str(SAMPLE), *command[1:], "--out", str(tmp_path / "timed.out")], tmp_path)
    length = time.monotonic() - started
    outcomes = []
    for n in range(16):
        folder = tmp_path / f"run{n}"
        folder.mkdir()
        out = folder / "result.out"
        child = subprocess.Popen(
            [EVKIT, command[0], str(SAMPLE), *command[1:], "--out", str(out)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            preexec_fn=_ignore_sigint if sigint_ignored else None,  # noqa: PLW1509
        )
        time.sleep(length * n / 15 * 1.1)
        sent = time.monotonic()
        child.send_signal(signal.SIGTERM)
        try:
            _, err = child.communicate(timeout=30)
        finally:
            child.kill()
        late = time.monotonic() - sent
        code = child.returncode
        outcomes.append((n, code, round(late, 3)))
        _clean(err)
        assert code in (0, 143, -signal.SIGTERM), (n, code, err)
        files = sorted(p.name for p in folder.iterdir())
        if code == 0:
            # the run had finished writing (a lost signal is the workbook tests' to find: timing-free)
            assert files == ["result.out"] and out.read_bytes() == expected, (n, files)
        else:
            assert files in ([], ["result.out"]), (n, files)
            if files:  # written whole before the signal, then ended
                assert out.read_bytes() == expected
    if command[0] == "statement":
        json.loads(expected)


#: ``terminable()`` around a block that is busy in Polars (a query of seconds) or in Python; its
#: ``finally`` clean-up takes 1 s of Python. SIGTERM at 0.3 s, again at 0.9 s (inside the clean-up).
DOUBLE_SIGTERM_SCRIPT = """
import sys
sys.orig_argv = [sys.executable, "-m", "evkit", "sessions"]  # a command line run, as evkit tells one
import evkit  # first, as the evkit program loads it (it owns SIGINT before Polars loads)
import os, signal, sys, threading, time
import polars as pl
from evkit.commands._signals import Terminated, terminable

def send(after):
    time.sleep(after)
    os.kill(os.getpid(), signal.SIGTERM)

threading.Thread(target=send, args=(0.3,), daemon=True).start()
threading.Thread(target=send, args=(0.9,), daemon=True).start()
cleaned = False
try:
    with terminable():
        try:
            if {busy!r} == "polars":
                side = pl.LazyFrame({{"a": pl.int_range(0, 1_000_000, eager=True)}})
                product = (pl.col("a") * pl.col("b")).sum()
                side.join(side.rename({{"a": "b"}}), how="cross").select(product).collect()
            else:
                started = time.monotonic()
                while time.monotonic() - started < 5:
                    pass
        finally:
            started = time.monotonic()
            while time.monotonic() - started < 1.0:
                pass
            cleaned = True
except Terminated:
    print("terminated", "cleaned" if cleaned else "clean-up interrupted")
"""


@pytest.mark.parametrize("busy", ["python", "polars"])
def test_a_second_sigterm_does_not_interrupt_the_clean_up_the_first_started(busy: str) -> None:
    """The first SIGTERM ends the block; a second one during the ``finally`` clean-up it runs must
    not raise again inside that clean-up (temporary files would stay). It did when the first was
    relayed as SIGINT because it came during a Polars query: the second raised Terminated in the
    middle of the clean-up (and Python's own SIGINT handler a second KeyboardInterrupt)."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(DOUBLE_SIGTERM_SCRIPT.format(busy=busy))],
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        check=False,
        text=True,
        timeout=50,
    )
    _clean(done.stderr)
    assert done.stdout.strip() == "terminated cleaned", (done.returncode, done.stdout, done.stderr)


#: ``evkit statement --format xlsx`` that sends itself one SIGTERM ``delay`` s after XlsxWriter
#: began to close (write out) the workbook.
WORKBOOK_CLOSE_SCRIPT = """
import sys
sys.orig_argv = [sys.executable, "-m", "evkit", "sessions"]  # a command line run, as evkit tells one
import evkit  # first, as the evkit program loads it (it owns SIGINT before Polars loads)
import os, signal, sys, threading, time
import xlsxwriter
from evkit.cli import entry

original = xlsxwriter.Workbook.close

def close(self):
    def terminate():
        time.sleep({delay})
        os.kill(os.getpid(), signal.SIGTERM)
    threading.Thread(target=terminate, daemon=True).start()
    return original(self)

xlsxwriter.Workbook.close = close
sys.argv = ["evkit", "statement", {store!r}, "--by", "charger", "--format", "xlsx", "--out", {out!r}]
entry()
"""


def test_one_sigterm_while_the_workbook_is_closed_leaves_no_temporary_file(
    fleet_store: Path, tmp_path: Path
) -> None:
    """XlsxWriter wrote each part of the workbook to a temporary file of TMPDIR (``mkstemp``) and
    zipped them when the workbook closed; Terminated raised meanwhile skipped their removal. The
    command promises no temporary file left (the workbook is now built in memory)."""
    out = tmp_path / "out" / "statement.xlsx"
    out.parent.mkdir()
    script = WORKBOOK_CLOSE_SCRIPT.format(delay=0.05, store=str(fleet_store), out=str(out))
    code, _, err, _ = _run_script(script, tmp_path, sigint_ignored=False)
    _clean(err)
    assert code == 143, err
    assert list(out.parent.iterdir()) == []
    left = sorted((p.name, p.stat().st_size) for p in (tmp_path / "tmp").iterdir())
    assert left == [], f"left in TMPDIR: {left}"


#: ``terminable()`` around one Polars query of seconds; SIGTERM 0.3 s in. What the block raised, and
#: anything raised in the half second after it.
QUERY_IN_BLOCK_SCRIPT = """
import sys
sys.orig_argv = [sys.executable, "-m", "evkit", "sessions"]  # a command line run, as evkit tells one
import evkit  # first, as the evkit program loads it (it owns SIGINT before Polars loads)
import os, signal, threading, time
import polars as pl
from evkit.commands._signals import Terminated, terminable

side = pl.LazyFrame({"a": pl.int_range(0, 200_000, eager=True)})
query = side.join(side.rename({"a": "b"}), how="cross").select((pl.col("a") * pl.col("b")).sum())
threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGTERM)).start()
events = []
try:
    try:
        with terminable():
            query.collect()
        events.append("completed")
    except BaseException as exc:
        events.append(type(exc).__name__)
    time.sleep(0.5)
    events.append("quiet")
except BaseException as exc:
    context = exc.__context__
    events.append(f"later {type(exc).__name__} (while handling {type(context).__name__})")
print(events)
"""


def test_sigterm_during_a_query_right_inside_the_block_raises_terminated_once() -> None:
    """``terminable``'s contract: inside the block SIGTERM raises Terminated, once. With the query
    right in the block, Polars' own KeyboardInterrupt was followed by a second one (Python's SIGINT
    handler for the relayed signal) raised as the block exited, before ``terminable`` could turn it
    into Terminated. In a command line run evkit owns SIGINT from before Polars loads
    (``own_sigint``), and lets the relayed SIGINT pass."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(QUERY_IN_BLOCK_SCRIPT)],
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        check=False,
        text=True,
        timeout=50,
    )
    assert done.stdout.strip() == "['Terminated', 'quiet']", (done.stdout, done.stderr[-2000:])
