from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import evkit
import evkit.store
from tests.conftest import REPO_ROOT
from tests.test_cli_damaged_pages import _store, damage_a_page


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


def test_a_library_user_can_name_the_part_a_decoding_error_comes_from(tmp_path: Path) -> None:
    """``evkit.scan(path).collect()`` on a data page damaged behind a sound footer fails with Polars'
    error, which names no file: ``evkit.store.unreadable_parts(path)`` names the part, and ``scan``
    says so."""
    parts = _store(tmp_path)
    damage_a_page(parts[2])
    with pytest.raises(pl.exceptions.ComputeError):
        evkit.scan(tmp_path).collect()
    (found,) = evkit.store.unreadable_parts(tmp_path)
    assert found.path == parts[2] and found.reason.startswith("data page unreadable in row group 0: ")
    assert "evkit.store.unreadable_parts(path)" in (evkit.scan.__doc__ or "")
    assert "unreadable_parts" in evkit.store.__all__
    for name in evkit.store.__all__:
        assert getattr(evkit.store, name) is not None, name
