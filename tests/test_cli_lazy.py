"""``evkit COMMAND`` imports only the module of that command (a fast start for ``evkit sessions``), and a
read-only command ends without the interpreter's teardown (a fast end), its output complete."""

from __future__ import annotations

import argparse
import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evkit.cli import COMMAND_MODULES, COMMANDS, GROUPS, build_parser, main, modules_for
from tests.conftest import REPO_ROOT, python_output

SAMPLE = REPO_ROOT / "data" / "sample-session"


def _registered(module: str) -> set[str]:
    parser = argparse.ArgumentParser()
    top = parser.add_subparsers()
    groups = {name: top.add_parser(name).add_subparsers() for name in GROUPS}
    importlib.import_module(module).register(top, groups)
    names = {name for name in top.choices if name not in GROUPS}
    names |= {f"{group} {target}" for group, sub in groups.items() for target in sub.choices}
    return names


def test_the_command_table_is_what_the_modules_register() -> None:
    table = {module: {c for c, m in COMMANDS.items() if m == module} for module in COMMAND_MODULES}
    assert table == {module: _registered(module) for module in COMMAND_MODULES}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_command_line_parses_with_only_its_module(command: str) -> None:
    argv = [*command.split(), "--help"]
    assert modules_for(["-v", *argv]) == (COMMANDS[command],)
    with pytest.raises(SystemExit) as done:
        build_parser(argv).parse_args(argv)
    assert done.value.code == 0


@pytest.mark.parametrize("argv", [[], ["--help"], ["sesions", "DIR"], ["capture"], ["set", "nothing"]])
def test_without_a_known_command_every_command_is_offered(argv: list[str]) -> None:
    assert modules_for(argv) == COMMAND_MODULES


def test_evkit_sessions_loads_no_broker_client_simulator_or_report(tmp_path: Path) -> None:
    out = tmp_path / "s.json"
    code = (
        "import sys\n"
        "from evkit.cli import main\n"
        f"assert main(['sessions', {str(SAMPLE)!r}, '--format', 'json', '--out', {str(out)!r}]) == 0\n"
        "heavy = ['pika', 'paho', 'plotly', 'numpy', 'dask', 'distributed', 'anywidget',\n"
        "         'evkit.analysis.tariff', 'evkit.sources.amqp', 'evkit.sim', 'evkit.report',\n"
        "         'evkit.explore', 'tqdm']\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    assert python_output(code).strip() == "[]"
    assert out.stat().st_size > 100


def _program(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """The ``evkit`` program (``evkit.cli.entry``) on ``argv``, with an exit handler that says whether
    the interpreter's teardown ran."""
    code = (
        "import atexit, sys\n"
        "atexit.register(print, 'interpreter teardown', file=sys.stderr)\n"
        "from evkit.cli import entry\n"
        f"sys.argv = ['evkit', *{argv!r}]\n"
        "entry()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, cwd=REPO_ROOT)
    # bytes as written (CSV rows end in CRLF)
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(), done.stderr.decode())


@pytest.mark.parametrize(
    "argv",
    [
        ["sessions", str(SAMPLE), "--format", "csv"],
        ["sessions", str(SAMPLE), "--format", "json"],
        ["latency", str(SAMPLE), "--format", "json"],
    ],
)
def test_a_read_only_command_ends_at_once_with_all_its_output(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    done = _program(argv)
    assert done.returncode == 0, done.stderr
    assert "interpreter teardown" not in done.stderr
    assert main(argv) == 0
    assert done.stdout == capsys.readouterr().out != ""


def test_a_failed_read_only_command_keeps_its_exit_code_and_message(tmp_path: Path) -> None:
    done = _program(["sessions", str(tmp_path / "absent")])
    assert done.returncode == 2
    assert done.stderr.startswith("evkit: ") and "interpreter teardown" not in done.stderr


def test_a_command_that_writes_the_store_ends_with_the_usual_teardown(tmp_path: Path) -> None:
    store = tmp_path / "store"
    shutil.copytree(SAMPLE, store)
    done = _program(["compact", str(store), "--quiet"])
    assert done.returncode == 0, done.stderr
    assert "interpreter teardown" in done.stderr
