"""A real JupyterLab in headless Chromium: server, browser, and the waits that make it reliable.

Written from the feasibility notes in shared/reference/jupyterlab-browser-test.md:
- the server runs on loopback with a token and an isolated HOME / settings / workspaces per test;
- Debian's chromium through Playwright's ``executable_path`` (never ``playwright install``);
- "Run All" is only sent once the status bar says the kernel is Idle (earlier, it is silently lost),
  and it is retried if the first cell still did not start.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from tests.conftest import REPO_ROOT

CHROMIUM = os.environ.get("EVKIT_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO_ROOT / "test-artifacts"
SERVER_START_TIMEOUT_S = 60
KERNEL_IDLE_TIMEOUT_MS = 90_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LabServer:
    """A running JupyterLab server serving ``root`` on loopback."""

    root: Path
    home: Path
    port: int
    token: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def url(self, notebook: str) -> str:
        return f"http://127.0.0.1:{self.port}/lab/tree/{notebook}?token={self.token}"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def isolated_env(home: Path, extra: dict[str, str]) -> dict[str, str]:
    """Environment for the server (and so the kernel): nothing is read from or written to the real HOME."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("EVKIT_")}
    env.pop("EASEE_TOKEN", None)
    env.update(
        HOME=str(home),
        IPYTHONDIR=str(home / "ipython"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTER_CONFIG_DIR=str(home / "jupyter-config"),
        JUPYTERLAB_SETTINGS_DIR=str(home / "lab-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "lab-workspaces"),
    )
    env.update(extra)
    return env


def _quiet_lab_settings(settings_dir: Path) -> None:
    # Without this a "get notified about Jupyter news?" toast covers part of the page.
    target = settings_dir / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}), encoding="utf-8")


@contextlib.contextmanager
def lab_server(tmp_path: Path, notebooks: list[Path], env: dict[str, str]) -> Iterator[LabServer]:
    """Copy ``notebooks`` into a fresh root (the committed files are never touched) and serve it."""
    root = tmp_path / "notebooks"
    home = tmp_path / "home"
    root.mkdir(parents=True)
    home.mkdir(parents=True)
    for notebook in notebooks:
        shutil.copy2(notebook, root / notebook.name)
    server_env = isolated_env(home, env)
    _quiet_lab_settings(Path(server_env["JUPYTERLAB_SETTINGS_DIR"]))
    port = free_port()
    token = secrets.token_hex(16)
    log_path = tmp_path / "jupyterlab.log"
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        f"--IdentityProvider.token={token}",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, env=server_env, cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = LabServer(root, home, port, token, process, log_path)
    try:
        _wait_until_up(server)
        yield server
    finally:
        _stop(process)


def _wait_until_up(server: LabServer) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    status_url = f"http://127.0.0.1:{server.port}/api/status?token={server.token}"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {server.process.returncode}:\n{server.log()}")
        try:
            with urllib.request.urlopen(status_url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"JupyterLab did not answer within {SERVER_START_TIMEOUT_S} s:\n{server.log()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)  # the server shuts its kernels down cleanly
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


@contextlib.contextmanager
def chromium(home: Path) -> Iterator[Browser]:
    """Headless Debian Chromium; HOME points at the test's directory so nothing lands in /root."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, env={**os.environ, "HOME": str(home)}
        )
        try:
            yield browser
        finally:
            browser.close()


def open_notebook(page: Page, server: LabServer, notebook: str) -> None:
    """Open a notebook and wait until its kernel is really connected and idle."""
    page.goto(server.url(notebook))
    page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    wait_for_idle(page)


def wait_for_idle(page: Page, timeout_ms: int = KERNEL_IDLE_TIMEOUT_MS) -> None:
    # The execution indicator turns idle before the kernel is connected; the status bar text does not.
    page.locator(".jp-StatusBar-Widget", has_text="| Idle").first.wait_for(timeout=timeout_ms)


def run_all_cells(page: Page, attempts: int = 3) -> None:
    """Run > Run All Cells, retried while the first code cell has not started (a lost request)."""
    first_prompt = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").first
    for _ in range(attempts):
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            prompt = first_prompt.inner_text().strip()
            if prompt not in ("[ ]:", ""):
                return
            time.sleep(0.2)
        wait_for_idle(page)
    raise AssertionError("Run All Cells did not start the notebook")


def screenshot(page: Page, name: str, locator_selector: str | None = None) -> Path:
    """Save a screenshot under test-artifacts/ (git-ignored) and return its path."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    if locator_selector:
        page.locator(locator_selector).first.screenshot(path=str(path))
    else:
        page.screenshot(path=str(path), full_page=True)
    return path


def live_view_updating(page: Page, timeout_ms: int) -> Locator:
    """The notebook's first live view (``evkit.live``), once it shows a message rate and its counters
    have changed on their own (what every live-view test starts by checking)."""
    view = page.locator(".evkit-live-view").first
    view.wait_for(timeout=timeout_ms)
    counters = view.locator(".evkit-live-counters")
    expect(counters).to_contain_text("msg/s", timeout=timeout_ms)
    expect(counters).not_to_have_text(counters.inner_text(), timeout=timeout_ms)
    return view
