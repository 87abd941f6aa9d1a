"""The explorer and the live view in a real JupyterLab in headless Chromium, clicked as a user does.

09_explore.ipynb on the bundled sample: pick a charger, pick a session in the table, see its power
curve. 06_record_mqtt_and_replay.ipynb: the recording's live view updates while the simulators publish.
With EVKIT_UPDATE_DOCS_SCREENSHOT=1 the screenshots replace docs/explorer.png and docs/live-view.png.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.lab import (
    chromium,
    lab_server,
    live_view_updating,
    open_notebook,
    run_all_cells,
    screenshot,
)
from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOKS = REPO_ROOT / "notebooks"
DOCS = REPO_ROOT / "docs"
TIMEOUT_MS = 60_000


def _failure(page: Page, server: Any, name: str) -> str:
    shot = screenshot(page, f"{name}-failure.png")
    return f"screenshot: {shot}\nserver log (tail):\n{server.log()[-4000:]}"


def _publish(shot: Path, name: str) -> None:
    if os.environ.get("EVKIT_UPDATE_DOCS_SCREENSHOT") == "1":
        DOCS.mkdir(exist_ok=True)
        shutil.copyfile(shot, DOCS / name)


def test_explorer_pick_charger_pick_session_see_curve(tmp_path: Path) -> None:
    env = {"EVKIT_DATASET": str(REPO_ROOT / "data" / "sample-session"), "EVKIT_ZONE": "Europe/Oslo"}
    notebook = NOTEBOOKS / "09_explore.ipynb"
    with lab_server(tmp_path, [notebook], env) as server, chromium(server.home) as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1700})
        try:
            open_notebook(page, server, "09_explore.ipynb")
            run_all_cells(page)
            app = page.locator(".evkit-explorer").first
            app.wait_for(timeout=TIMEOUT_MS)
            rows = app.locator(".evkit-explore-sessions table tbody tr")
            expect(rows.first).to_be_visible(timeout=TIMEOUT_MS)
            # Pick one charger: the table shows only its sessions, in Oslo time with the zone.
            app.locator(".evkit-explore-chargers select").select_option("EH9HWQGI")
            message = app.locator(".evkit-explore-message")
            expect(message).to_contain_text("EH9HWQGI;", timeout=TIMEOUT_MS)
            table = app.locator(".evkit-explore-sessions")
            expect(table).not_to_contain_text("EH290BP4", timeout=TIMEOUT_MS)
            expect(table).to_contain_text("CET")
            # Pick its second session: its power curve is drawn below the table.
            rows.nth(1).click()
            curve = app.locator(".evkit-explore-curve .js-plotly-plot")
            expect(curve).to_be_visible(timeout=TIMEOUT_MS)
            expect(app.locator(".evkit-explore-curve")).to_contain_text("EH9HWQGI")
            expect(app.locator(".evkit-explore-curve")).to_contain_text(re.compile(r"time \(Europe/Oslo"))
            app.scroll_into_view_if_needed()
            shot = screenshot(page, "explorer.png", ".evkit-explorer")
            # A mistake is a sentence, not a traceback.
            app.locator(".widget-datepicker input").first.fill("2026-11-09")
            app.locator(".widget-datepicker input").first.press("Enter")
            expect(message).to_contain_text("before the start day", timeout=TIMEOUT_MS)
        except Exception as exc:
            raise AssertionError(_failure(page, server, "explorer")) from exc
    _publish(shot, "explorer.png")


def test_live_view_updates_while_recording(
    tmp_path: Path, mqtt_broker: tuple[str, int], unique_name: str
) -> None:
    host, port = mqtt_broker
    env = {
        "EVKIT_MQTT_HOST": host,
        "EVKIT_MQTT_PORT": str(port),
        "EVKIT_MQTT_PREFIX": unique_name,
        "EVKIT_NOTEBOOK_OUT": str(tmp_path / "out"),
    }
    notebook = NOTEBOOKS / "06_record_mqtt_and_replay.ipynb"
    with lab_server(tmp_path, [notebook], env) as server, chromium(server.home) as browser:
        page = browser.new_page(viewport={"width": 1300, "height": 1100})
        try:
            open_notebook(page, server, notebook.name)
            run_all_cells(page)
            # it updates on its own: the message count grows while the simulators publish
            view = live_view_updating(page, TIMEOUT_MS)
            expect(view.locator(".evkit-live-chargers")).to_contain_text("power (kW)")
            expect(view.locator(".evkit-live-chargers")).to_contain_text("loadpoints/1", timeout=TIMEOUT_MS)
            expect(view.locator(".evkit-live-chart .js-plotly-plot")).to_be_visible(timeout=TIMEOUT_MS)
            view.scroll_into_view_if_needed()
            shot = screenshot(page, "live-view.png", ".evkit-live-view")
        except Exception as exc:
            raise AssertionError(_failure(page, server, "live-view")) from exc
    _publish(shot, "live-view.png")
