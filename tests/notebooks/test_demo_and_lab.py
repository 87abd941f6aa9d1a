"""`make demo` (`evkit demo --out DIR`) and `make lab` (`evkit lab`) as a user runs them."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import evkit
from evkit.demo import REPORT_MODULES, mask_url
from tests.conftest import REPO_ROOT


def _report_builder_exists() -> bool:
    for name in REPORT_MODULES:
        try:
            if hasattr(importlib.import_module(name), "build_report"):
                return True
        except ImportError:
            continue
    return False


def test_mask_url_hides_the_password() -> None:
    assert mask_url("amqps://op:s3cret@host:5671/vh") == "amqps://op:***@host:5671/vh"
    assert mask_url("amqp://host/vh") == "amqp://host/vh"


@pytest.mark.slow
def test_demo_records_analyses_runs_the_notebook_and_writes_the_report(tmp_path: Path, amqp_url: str) -> None:
    out = tmp_path / "build"
    done = subprocess.run(
        [sys.executable, "-m", "evkit", "demo", "--out", str(out), "--amqp-url", amqp_url],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO_ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "guest:guest@" not in done.stdout + done.stderr
    # 1. the bundled sample was analysed
    assert "charging sessions" in done.stdout
    # 2. a fresh simulated session went through RabbitMQ and the real capture into fresh-session/
    fresh = evkit.scan(out / "fresh-session").collect()
    assert fresh.height > 1000
    assert fresh["error"].null_count() == fresh.height
    manifest = (out / "fresh-session" / "manifest.json").read_text()
    assert json.loads(manifest)
    assert "guest:guest" not in manifest
    assert "password" not in manifest.lower()
    # 3. the quickstart notebook ran, with outputs, and was rendered to HTML
    executed = nbformat.read(out / "00_quickstart.ipynb", as_version=4)
    assert any(cell.get("outputs") for cell in executed.cells if cell.cell_type == "code")
    assert (out / "00_quickstart.html").stat().st_size > 10_000
    # 4. the report, once the report builder is part of evkit
    if _report_builder_exists():
        assert (out / "report.html").stat().st_size > 10_000
    assert str(out.resolve()) in done.stdout


def test_demo_without_rabbitmq_still_analyses_the_sample(tmp_path: Path) -> None:
    out = tmp_path / "build"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "evkit",
            "demo",
            "--out",
            str(out),
            "--no-notebook",
            "--amqp-url",
            "amqp://guest:guest@127.0.0.1:1/%2F",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "not reachable" in done.stdout
    assert not (out / "fresh-session").exists()
    assert "guest:guest@" not in done.stdout + done.stderr


def test_demo_with_a_missing_sample_is_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "evkit",
            "demo",
            "--out",
            str(tmp_path),
            "--sample",
            str(tmp_path / "nope"),
            "--no-record",
            "--no-notebook",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_lab_starts_the_simulators_and_stops_them(mqtt_broker: tuple[str, int]) -> None:
    """`evkit lab -- --version`: simulators up, JupyterLab runs (prints its version), all stopped after."""
    done = subprocess.run(
        [sys.executable, "-m", "evkit", "lab", "--", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "evcc simulator" in done.stdout
    assert "go-e simulator at http://127.0.0.1:" in done.stdout
    assert done.stdout.strip().splitlines()[-1][0].isdigit()  # jupyter lab --version


@pytest.mark.slow
@pytest.mark.parametrize("name", ["04_evcc_panel.ipynb", "05_goe_panel.ipynb"])
def test_panel_notebooks_use_the_simulators_evkit_lab_started(
    name: str, tmp_path: Path, mqtt_broker: tuple[str, int]
) -> None:
    """Under `evkit lab` the panels talk to lab's simulators instead of starting their own."""
    from nbclient import NotebookClient

    from evkit.commands.lab import simulators

    notebook = nbformat.read(REPO_ROOT / "notebooks" / name, as_version=4)
    with simulators(*mqtt_broker) as lab_env:
        env = {**os.environ, **lab_env, "HOME": str(tmp_path), "EVKIT_NOTEBOOK_OUT": str(tmp_path / "out")}
        resources = {"metadata": {"path": str(REPO_ROOT / "notebooks")}}
        NotebookClient(notebook, kernel_name="python3", timeout=120, resources=resources).execute(env=env)
    text = json.dumps([cell.get("outputs", []) for cell in notebook.cells])
    assert "simulator running" not in text and "simulator (HTTP API v2) at" not in text
    assert '"output_type": "error"' not in text
    if name.startswith("04"):
        assert "loadpoints/1/mode" in text  # the state of lab's evcc simulator reached the notebook


def test_a_failing_notebook_is_an_evkit_error_and_its_output_is_kept(tmp_path: Path) -> None:
    from evkit.demo import execute_notebook
    from evkit.errors import EvkitError

    broken = tmp_path / "broken.ipynb"
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell("print('before')"), nbformat.v4.new_code_cell("1 / 0")]
    nbformat.write(notebook, broken)
    with pytest.raises(EvkitError, match=r"broken\.ipynb failed: .*ZeroDivisionError"):
        execute_notebook(broken, tmp_path / "out")
    kept = nbformat.read(tmp_path / "out" / "broken.ipynb", as_version=4)
    assert kept.cells[0].outputs[0]["text"] == "before\n"
