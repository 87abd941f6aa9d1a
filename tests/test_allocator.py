"""Batch analyses of the command line turn on Polars' huge-page allocator setting; nothing else does."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from evkit._allocator import ENV, command_args, is_batch, tune
from tests.conftest import REPO_ROOT


@pytest.mark.parametrize(
    ("argv", "rest"),
    [
        (["python", "-m", "evkit", "sessions", "DIR"], ["sessions", "DIR"]),
        (["/venv/bin/python", "/venv/bin/evkit", "-v", "report", "DIR"], ["-v", "report", "DIR"]),
        (["python", "-X", "utf8", "-m", "evkit"], []),
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
        (["python", "-m", "evkit", "capture", "amqp", "DIR"], False),
        (["python", "-m", "evkit", "sim", "easee"], False),
        (["python", "-m", "evkit", "lab"], False),
        (["python", "-m", "evkit", "--help"], False),
        (["python", "notebook.py", "sessions"], False),
    ],
)
def test_only_batch_analyses_are_tuned(argv: list[str], batch: bool) -> None:
    assert is_batch(argv) is batch


def test_a_batch_command_gets_huge_pages_unless_the_user_chose() -> None:
    environ: dict[str, str] = {}
    assert tune(["python", "-m", "evkit", "sessions", "DIR"], environ) is True
    assert environ == {ENV: "1"}
    chosen = {ENV: "0"}
    assert tune(["python", "-m", "evkit", "sessions", "DIR"], chosen) is False
    assert chosen == {ENV: "0"}
    for argv in (["python", "notebook.py"], ["python", "-m", "evkit", "capture", "amqp", "DIR"]):
        untouched: dict[str, str] = {}
        assert tune(argv, untouched) is False
        assert untouched == {}


def test_importing_evkit_leaves_the_allocator_alone() -> None:
    code = "import os, evkit, polars\nprint(os.environ.get('POLARS_THP'), os.environ['_RJEM_MALLOC_CONF'])\n"
    env = {k: v for k, v in os.environ.items() if k not in (ENV, "_RJEM_MALLOC_CONF")}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, env=env, check=True
    )
    thp, conf = done.stdout.split()
    assert thp == "None"
    assert "thp" not in conf
