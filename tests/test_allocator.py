"""Batch analyses of the command line give Polars' jemalloc one arena per CPU; nothing else does."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from evkit._allocator import ENV, SETTING, command_args, is_batch, tune
from tests.conftest import REPO_ROOT


@pytest.mark.parametrize(
    ("argv", "rest"),
    [
        (["python", "-m", "evkit", "sessions", "DIR"], ["sessions", "DIR"]),
        (["/venv/bin/python", "/venv/bin/evkit", "-v", "report", "DIR"], ["-v", "report", "DIR"]),
        (["python", "-X", "utf8", "-m", "evkit"], []),
        (["python", "-P", "-m", "evkit", "latency", "DIR"], ["latency", "DIR"]),
        (["python", "-c", "import evkit", "evkit"], None),
        (["python", "-m", "pytest", "evkit"], None),
        (["python", "-m"], None),
        (["python", "notebook.py", "evkit"], None),
        (["python"], None),
    ],
)
def test_the_command_line_is_told_from_other_programs(argv: list[str], rest: list[str] | None) -> None:
    assert command_args(argv) == rest


@pytest.mark.parametrize(
    ("argv", "batch"),
    [
        (["python", "-m", "evkit", "sessions", "DIR"], True),
        (["/venv/bin/python", "/venv/bin/evkit", "-v", "latency", "DIR"], True),
        (["python", "-m", "evkit", "report", "DIR", "--out", "r.html"], True),
        (["python", "-m", "evkit", "statement", "DIR"], True),
        (["python", "-m", "evkit", "compact", "DIR"], True),
        (["python", "-m", "evkit", "capture", "amqp", "DIR"], False),
        (["python", "-m", "evkit", "sim", "easee"], False),
        (["python", "-m", "evkit", "lab"], False),
        (["python", "-m", "evkit", "--help"], False),
        (["python", "notebook.py", "sessions"], False),
    ],
)
def test_only_batch_analyses_are_tuned(argv: list[str], batch: bool) -> None:
    assert is_batch(argv) is batch


def test_a_batch_command_gets_arenas_per_cpu_unless_the_user_chose() -> None:
    batch = ["python", "-m", "evkit", "sessions", "DIR"]
    environ: dict[str, str] = {}
    assert tune(batch, environ, "linux") is True
    assert environ == {ENV: SETTING}
    for arenas in ("narenas:4", "dirty_decay_ms:0,percpu_arena:disabled", "oversize_threshold:1048576"):
        chosen = {ENV: arenas}
        assert tune(batch, chosen, "linux") is False
        assert chosen == {ENV: arenas}
    # what a process that imported Polars leaves its children (a notebook running ``!evkit sessions``)
    inherited = {ENV: "dirty_decay_ms:500,muzzy_decay_ms:1000"}
    assert tune(batch, inherited, "linux") is True
    assert inherited == {ENV: f"dirty_decay_ms:500,muzzy_decay_ms:1000,{SETTING}"}
    for argv in (["python", "notebook.py"], ["python", "-m", "evkit", "capture", "amqp", "DIR"]):
        untouched: dict[str, str] = {}
        assert tune(argv, untouched, "linux") is False
        assert untouched == {}
    elsewhere: dict[str, str] = {}  # no CPU number for jemalloc to ask: its defaults
    assert tune(batch, elsewhere, "darwin") is False
    assert elsewhere == {}


def _run(code: str, **more: str) -> subprocess.CompletedProcess[str]:
    env = {**{k: v for k, v in os.environ.items() if k != ENV}, **more}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, env=env, check=True
    )


def test_importing_evkit_leaves_the_allocator_alone() -> None:
    done = _run(f"import os, evkit, polars\nprint(os.environ[{ENV!r}])\n")
    assert "percpu_arena" not in done.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the setting is made on Linux only")
@pytest.mark.parametrize("inherited", [None, "dirty_decay_ms:500,muzzy_decay_ms:1000"])
def test_a_batch_command_sets_it_before_polars_loads_and_jemalloc_takes_it(inherited: str | None) -> None:
    # what ``python -m evkit sessions DIR`` sees; jemalloc names any option it rejects on stderr
    code = (
        "import sys\nsys.orig_argv[:] = ['python', '-m', 'evkit', 'sessions', 'DIR']\n"
        "assert 'polars' not in sys.modules\n"
        "import os, evkit, polars\nassert 'polars' in sys.modules\n"
        "polars.DataFrame({'a': list(range(100_000))}).sort('a')\n"
        f"print(os.environ[{ENV!r}])\n"
    )
    done = _run(code, **({ENV: inherited} if inherited else {}))
    assert done.stdout.strip().endswith(SETTING)
    assert "jemalloc" not in done.stderr
