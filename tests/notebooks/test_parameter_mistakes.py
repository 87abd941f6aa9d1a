"""A mistake in a notebook's parameters cell is answered with a sentence, not a traceback into evkit."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.notebooks.test_notebooks import CELL_TIMEOUT_S, NOTEBOOK_DIR, _kernel_env


@pytest.mark.slow
def test_unknown_charger_in_02_is_a_sentence_naming_the_chargers(tmp_path: Path) -> None:
    notebook = nbformat.read(NOTEBOOK_DIR / "02_energy_and_sessions.ipynb", as_version=4)
    env = _kernel_env(tmp_path)
    env["EVKIT_CHARGER"] = "EHXXXX"
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
        allow_errors=True,
    )
    client.execute(env=env)
    errors = [
        o for cell in notebook.cells for o in cell.get("outputs", []) if o.get("output_type") == "error"
    ]
    assert errors, "the typo must stop the notebook"
    first = errors[0]
    # Only the sentence: no "OutOfBoundsError: index 0 is out of bounds", no frames of evkit's code.
    assert first["traceback"] == [
        "ValidationError: no charger EHXXXX in ../data/sample-session; "
        "chargers are: EH290BP4, EH5HNMUZ, EH9HWQGI, EHKUC9GK"
    ]
