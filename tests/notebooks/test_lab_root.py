"""`make lab` as root (containers): JupyterLab refuses root without --allow-root; evkit lab passes it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from evkit.commands.lab import lab_command
from tests.browser.lab import free_port, isolated_env
from tests.conftest import REPO_ROOT


def test_root_gets_allow_root_and_others_do_not() -> None:
    root = lab_command(Path("nb"), ["--", "--no-browser"], uid=0)
    assert "--allow-root" in root and "--no-browser" in root and "--" not in root
    assert "--allow-root" not in lab_command(Path("nb"), ["--no-browser"], uid=1000)
    assert lab_command(Path("nb"), ["--allow-root"], uid=0).count("--allow-root") == 1


@pytest.mark.slow
def test_evkit_lab_serves_as_whoever_runs_it(tmp_path: Path) -> None:
    """As root (this test machine) JupyterLab used to exit at once: "Running as root is not recommended"."""
    port, token = free_port(), "evkit-lab-root-test"
    env = isolated_env(tmp_path / "home", {"PYTHONPATH": str(REPO_ROOT)})
    command = [sys.executable, "-m", "evkit", "lab", "--no-simulators", "--notebooks", str(tmp_path), "--",
               "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
               "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}"]  # fmt: skip
    log = tmp_path / "lab.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 90
        answered = False
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2
                ) as r:
                    answered = r.status == 200
                    break
            except OSError:
                time.sleep(0.3)
        text = log.read_text(errors="replace")
        assert answered, f"JupyterLab did not serve (exit {process.poll()}):\n{text[-3000:]}"
        if os.geteuid() == 0:
            assert "running as root, so JupyterLab is started with --allow-root" in text
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
