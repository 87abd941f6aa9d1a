from __future__ import annotations

import subprocess
import sys

import evkit
from tests.conftest import REPO_ROOT


def test_public_names_are_exported_and_sorted() -> None:
    assert evkit.__all__ == sorted(evkit.__all__)
    for name in evkit.__all__:
        assert getattr(evkit, name) is not None, name


def test_every_error_derives_from_evkit_error() -> None:
    errors = [getattr(evkit, n) for n in evkit.__all__ if n.endswith("Error")]
    assert all(issubclass(e, evkit.EvkitError) for e in errors)


def test_python_dash_m_evkit_shows_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "evkit", "--help"], capture_output=True, text=True, cwd=REPO_ROOT, check=True
    )
    assert "capture" in out.stdout and "sim" in out.stdout and "set" in out.stdout
