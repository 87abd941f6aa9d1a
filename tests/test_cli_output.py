"""CLI output a person reads: tables fit the terminal, other libraries' INFO logs stay quiet unless -v."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evkit.cli import main, setup_logging
from evkit.commands._table import render
from evkit.sim.goe import GoeSimulator
from tests.conftest import REPO_ROOT

SAMPLE = REPO_ROOT / "data" / "sample-session"


def test_sessions_table_fits_an_80_column_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["sessions", str(SAMPLE), "--charger", "EH290BP4"]) == 0
    out = capsys.readouterr().out
    table = [line for line in out.splitlines() if line.startswith(("│", "┌", "└", "╞"))]
    assert table and max(len(line) for line in table) <= 80
    # Every block repeats the charger and the start, and no date is broken across lines.
    assert out.count("charger_id") >= 2 and "2026-11-02 00:26" in out
    for column in ("energy_kwh", "peak_power_kw", "flags", "rfid_token"):
        assert column in out


@pytest.mark.parametrize(
    ("by", "keys"), [("charger", ["charger_id"]), ("token,charger", ["token", "charger_id"])]
)
def test_statement_table_fits_an_80_column_terminal(
    by: str, keys: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["statement", str(SAMPLE), "--tariff", "0.30", "--currency", "EUR", "--by", by]) == 0
    out = capsys.readouterr().out
    table = [line for line in out.splitlines() if line.startswith(("│", "┌", "└", "╞"))]
    assert table and max(len(line) for line in table) <= 80
    for key in keys:  # every block repeats the grouping columns
        assert out.count(key) >= 2
    for column in ("sessions", "energy_kwh", "cost (EUR)", "total"):
        assert column in out


@given(
    st.integers(min_value=40, max_value=200),
    st.lists(st.text(alphabet="abcdefgh*^$.", min_size=1, max_size=30), min_size=2, max_size=12, unique=True),
)
@settings(max_examples=50, deadline=None)
def test_render_never_exceeds_the_width_when_each_column_fits(width: int, names: list[str]) -> None:
    frame = pl.DataFrame({name: [name * 1] for name in names})
    widest_pair = max(len(names[0]) + len(n) for n in names[1:]) + 10
    text = render(frame, width=width)
    if widest_pair <= width:
        assert max(len(line) for line in text.splitlines()) <= width
    for name in names:
        assert name in text


def _set_goe(url: str, store: Path, value: str, *verbose: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "evkit", *verbose, "set", "goe", "--http", url,
               "--audit-dir", str(store), "amp", value]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False, env=env)


def test_library_info_is_quiet_unless_verbose(tmp_path: Path) -> None:
    """`evkit set goe` printed three httpx INFO lines ("HTTP Request: GET ...") per call."""
    with GoeSimulator("300002", mqtt_host=None, http_port=0) as sim:
        quiet = _set_goe(str(sim.http_url), tmp_path, "10")
        loud = _set_goe(str(sim.http_url), tmp_path, "11", "-v")
    assert quiet.returncode == 0 and loud.returncode == 0, quiet.stderr + loud.stderr
    assert quiet.stdout.startswith("confirmed:")
    assert "HTTP Request" not in quiet.stderr, quiet.stderr
    assert "HTTP Request" in loud.stderr  # the same lines are there with -v


def test_evkit_info_still_shows() -> None:
    setup_logging(False)
    assert logging.getLogger("evkit.store").isEnabledFor(logging.INFO)
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)


SAMPLE = REPO_ROOT / "data" / "sample-session"


@pytest.mark.parametrize(
    ("command", "options", "writer"),
    [
        (["sessions"], ["--format", "json"], "evkit.commands.analysis.write_json_frame"),
        (["sessions"], ["--format", "parquet"], "polars.DataFrame.write_parquet"),
        (["statement"], ["--format", "csv"], "csv.writer"),
        (["statement"], ["--format", "xlsx"], "polars.DataFrame.write_excel"),
    ],
)
def test_a_failed_write_leaves_the_previous_output_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str], options: list[str], writer: str
) -> None:
    """--out is written beside and renamed over the file once complete: a write that fails half-way
    (here the writer raises, as a full disk does) leaves the previous output and no temporary file."""
    out = tmp_path / "out.file"
    argv = [*command, str(SAMPLE), *options, "--out", str(out)]
    assert main(argv) == 0
    before = out.read_bytes()
    assert before

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer, broken)
    assert main(argv) == 2
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.file"]


def test_out_may_be_a_device_or_a_pipe(tmp_path: Path) -> None:
    """A --out that is no regular file is written as it is (it cannot be replaced)."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    reader = subprocess.Popen(["cat", str(pipe)], stdout=subprocess.PIPE)
    assert main(["sessions", str(SAMPLE), "--format", "csv", "--out", str(pipe)]) == 0
    text, _ = reader.communicate(timeout=60)
    assert text.startswith(b"charger_id,") and text.count(b"\n") > 1
