"""The command line turns on Polars' huge-page allocator setting; a library import does not."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from evkit._allocator import ENV, is_cli, tune
from tests.conftest import REPO_ROOT


@pytest.mark.parametrize(
    ("argv", "cli"),
    [
        (["python", "-m", "evkit", "sessions", "DIR"], True),
        (["/venv/bin/python", "/venv/bin/evkit", "sessions", "DIR"], True),
        (["python", "-X", "utf8", "-m", "evkit"], True),
        (["python", "-m", "evkit"], True),
        (["python", "-c", "import evkit", "evkit"], False),
        (["python", "-m", "pytest", "evkit"], False),
        (["python", "-m"], False),
        (["python", "notebook.py", "evkit"], False),
        (["python"], False),
    ],
)
def test_the_command_line_is_told_from_other_programs(argv: list[str], cli: bool) -> None:
    assert is_cli(argv) is cli


def test_the_command_line_gets_huge_pages_unless_the_user_chose() -> None:
    environ: dict[str, str] = {}
    assert tune(["python", "-m", "evkit", "sessions"], environ) is True
    assert environ == {ENV: "1"}
    chosen = {ENV: "0"}
    assert tune(["python", "-m", "evkit", "sessions"], chosen) is False
    assert chosen == {ENV: "0"}
    library: dict[str, str] = {}
    assert tune(["python", "notebook.py"], library) is False
    assert library == {}


def test_importing_evkit_leaves_the_allocator_alone() -> None:
    code = "import os, evkit, polars\nprint(os.environ.get('POLARS_THP'), os.environ['_RJEM_MALLOC_CONF'])\n"
    env = {k: v for k, v in os.environ.items() if k not in (ENV, "_RJEM_MALLOC_CONF")}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, env=env, check=True
    )
    thp, conf = done.stdout.split()
    assert thp == "None"
    assert "thp" not in conf
