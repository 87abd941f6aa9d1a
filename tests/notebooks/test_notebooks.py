"""Every notebook is committed clean, tells its story, and runs top to bottom on the embedded defaults.

Execution uses nbclient with the venv's own ``python3`` kernel (ipykernel installs its kernelspec into
the venv, and jupyter_client runs it with this interpreter), cwd = ``notebooks/``, an isolated HOME, and
unique MQTT prefixes so parallel runs and other tests never see each other's traffic.
"""

from __future__ import annotations

import json
import os
import runpy
import socket
import uuid
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import REPO_ROOT

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
EXPECTED = [
    "00_quickstart.ipynb",
    "01_record_easee_amqp.ipynb",
    "02_energy_and_sessions.ipynb",
    "03_latency_and_quality.ipynb",
    "04_evcc_panel.ipynb",
    "05_goe_panel.ipynb",
    "06_record_mqtt_and_replay.ipynb",
    "07_easee_control.ipynb",
    "08_fleet_on_a_cluster.ipynb",
    "09_explore.ipynb",
]
CELL_TIMEOUT_S = 180
PLOTLY = "application/vnd.plotly.v1+json"
WIDGET = "application/vnd.jupyter.widget-view+json"
# What a reader must see after running each notebook on its defaults.
REQUIRED_OUTPUTS = {
    "00_quickstart.ipynb": {PLOTLY},
    "01_record_easee_amqp.ipynb": {WIDGET},
    "02_energy_and_sessions.ipynb": {PLOTLY},
    "03_latency_and_quality.ipynb": {PLOTLY},
    "04_evcc_panel.ipynb": {WIDGET},
    "05_goe_panel.ipynb": {WIDGET},
    "06_record_mqtt_and_replay.ipynb": {WIDGET},
    "07_easee_control.ipynb": {WIDGET},
    "08_fleet_on_a_cluster.ipynb": {PLOTLY},
    "09_explore.ipynb": {WIDGET},
}
ids = [path.name for path in NOTEBOOKS]


def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def test_all_notebooks_present() -> None:
    assert [path.name for path in NOTEBOOKS] == EXPECTED


def test_notebooks_match_their_sources() -> None:
    """The committed .ipynb files are what notebooks/_build.py makes from notebooks/_src/*.py."""
    build = runpy.run_path(str(NOTEBOOK_DIR / "_build.py"))
    assert build["main"](["--check"]) == 0, "run: .venv/bin/python notebooks/_build.py"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_committed_without_outputs(path: Path) -> None:
    notebook = _read(path)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {cell.id} has outputs"
            assert cell.execution_count is None, f"cell {cell.id} has an execution count"
    assert "widgets" not in notebook.metadata, "saved widget state must not be committed"
    assert notebook.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_has_parameters_cell_and_a_story(path: Path) -> None:
    notebook = _read(path)
    parameters = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(parameters) == 1, "exactly one cell tagged 'parameters' (papermill convention)"
    assert parameters[0].cell_type == "code"
    assert notebook.cells[0].cell_type == "markdown"
    assert notebook.cells[0].source.startswith("# "), "first cell: a markdown title"
    markdown = [cell for cell in notebook.cells if cell.cell_type == "markdown"]
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert len(markdown) >= 3, "a notebook tells a story around its code"
    # Thin: logic lives in evkit, not in long notebook cells.
    longest = max(len(cell.source.splitlines()) for cell in code)
    assert longest <= 25, f"a code cell has {longest} lines; move logic into evkit"


def _kernel_env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    suffix = uuid.uuid4().hex[:8]
    env = {key: value for key, value in os.environ.items() if not key.startswith("EVKIT_")}
    env.pop("EASEE_TOKEN", None)  # the notebooks must run on their embedded defaults here
    env.update(
        HOME=str(home),
        IPYTHONDIR=str(home / "ipython"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        MPLCONFIGDIR=str(home / "mpl"),
        EVKIT_NOTEBOOK_OUT=str(tmp_path / "out"),
        EVKIT_EVCC_PREFIX=f"evkit-test-{suffix}/evcc",
        EVKIT_GOE_PREFIX=f"evkit-test-{suffix}/go-eCharger",
        EVKIT_MQTT_PREFIX=f"evkit-test-{suffix}",
    )
    return env


def _output_types(notebook: nbformat.NotebookNode) -> set[str]:
    types: set[str] = set()
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            types.update(output.get("data", {}))
    return types


def _output_text(notebook: nbformat.NotebookNode) -> str:
    return json.dumps([cell.get("outputs", []) for cell in notebook.cells])


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids)
def test_executes_top_to_bottom(path: Path, tmp_path: Path, amqp_url: str, mqtt_broker: Any) -> None:
    """Runs headless on the embedded defaults (the brokers are up in `make test`)."""
    notebook = _read(path)
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
        store_widget_state=True,
    )
    client.execute(env=_kernel_env(tmp_path))
    errors = [
        output
        for cell in notebook.cells
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
    assert errors == []
    assert REQUIRED_OUTPUTS[path.name] <= _output_types(notebook)
    text = _output_text(notebook)
    assert "guest:guest@" not in text, "a broker password leaked into the output"
    assert "Traceback" not in text


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


DEGRADED = {
    "01_record_easee_amqp.ipynb": "no RabbitMQ",
    "04_evcc_panel.ipynb": "No MQTT broker",
    "06_record_mqtt_and_replay.ipynb": "No MQTT broker",
    "07_easee_control.ipynb": "no RabbitMQ",
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(DEGRADED))
def test_without_brokers_says_so_and_degrades(name: str, tmp_path: Path) -> None:
    """No broker: the notebook still runs top to bottom and tells the reader what it did instead."""
    notebook = _read(NOTEBOOK_DIR / name)
    env = _kernel_env(tmp_path)
    closed = _closed_port()
    env.update(
        EVKIT_MQTT_PORT=str(closed),
        EVKIT_LOCAL_AMQP=f"amqp://guest:guest@127.0.0.1:{closed}/%2F",
    )
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    client.execute(env=env)
    text = _output_text(notebook)
    assert DEGRADED[name] in text
    assert "guest:guest@" not in text
    assert '"output_type": "error"' not in text
