"""Hostile tests of 7175707: under ``--dask --skip-damaged`` a skipped damaged part is named once per
run, for the combinations the commit's own test leaves out: ``sessions`` with an absent charger (the
absent-charger check lists the chargers), ``latency`` with a window and an absent charger (two
listings of chargers: every one, and those with rows in the window), ``sessions --charger``."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from distributed import Client

from tests.analysis.conftest import B
from tests.cluster.test_dask import _cli
from tests.test_cli_damaged_pages import _run, damaged_store

__all__ = ["damaged_store"]  # the fixture, used below

ABSENT = "EHABSENT01"

CASES = {
    "sessions-absent": ["sessions", "--format", "json", "--charger", B, "--charger", ABSENT],
    "sessions-charger": ["sessions", "--format", "json", "--charger", B],
    "latency-window-absent": [
        "latency", "--format", "json", "--charger", B, "--charger", ABSENT,
        "--from", "2026-03-02T08:00:00Z", "--to", "2026-03-02T12:00:00Z",
    ],
    "sessions-tariff": ["sessions", "--format", "json", "--tariff", "0.25"],
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_a_skipped_part_is_named_once_per_dask_run(
    client: Client,
    damaged_store: tuple[Path, Path, Path],
    case: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    root, damaged, clean = damaged_store
    argv = CASES[case]
    dask = ["--dask", client.scheduler.address]
    with caplog.at_level(logging.WARNING, logger="evkit.store"):
        code, got, err = _run(capsys, argv[0], str(root), *argv[1:], *dask, "--skip-damaged")
    assert code == 0, err
    said = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(said) == 1 and str(damaged) in said[0], said
    assert "Traceback" not in err
    if "absent" in case:
        assert err.count(ABSENT) == 1, err
    code, want, err = _run(capsys, argv[0], str(clean), *argv[1:], *dask)
    assert code == 0, err
    assert got == want


def test_a_skipped_part_is_named_once_by_the_command_not_again_by_its_workers(
    damaged_store: tuple[Path, Path, Path],
) -> None:
    """The command's own cluster (``--dask local:1``): its worker processes write to the command's
    stderr, where each worker's listing named the skipped part a second time."""
    root, damaged, _ = damaged_store
    done = _cli("sessions", str(root), "--format", "json", "--skip-damaged", "--dask", "local:1")
    assert done.returncode == 0, done.stderr
    said = [line for line in done.stderr.splitlines() if "skipped" in line]
    assert len(said) == 1 and str(damaged) in said[0], done.stderr
