"""The control panels in a real JupyterLab in headless Chromium, exactly as a user clicks them.

04_evcc_panel.ipynb: the notebook starts an evcc simulator on the real Mosquitto under a unique prefix;
we pick a new Mode, switch writes on, click Apply, and check that a paho subscriber saw the
NON-retained ``/set`` and that the panel logs "confirmed".
05_goe_panel.ipynb: same over HTTP against the go-e simulator's API v2 on a port we choose, and we
read the value back from the simulator.

Screenshots go to test-artifacts/ (git-ignored); with EVKIT_UPDATE_DOCS_SCREENSHOT=1 the evcc panel's
screenshot also replaces docs/panel.png for the README.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

import evkit
from tests.browser.lab import chromium, free_port, lab_server, open_notebook, run_all_cells, screenshot
from tests.conftest import REPO_ROOT
from tests.helpers import MqttRecorder, RecordMqtt

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOKS = REPO_ROOT / "notebooks"
PANEL_TIMEOUT_MS = 60_000
RESULT_TIMEOUT_MS = 20_000
DOCS_SCREENSHOT = REPO_ROOT / "docs" / "panel.png"


@pytest.fixture
def recorder(record_mqtt: RecordMqtt, unique_name: str) -> tuple[MqttRecorder, str]:
    """Everything below the notebook's evcc prefix, each message's retain flag as published."""
    prefix = f"{unique_name}/evcc"
    return record_mqtt(prefix), prefix


def _run_panel_notebook(page: Page, server: Any, notebook: str, panel_class: str) -> None:
    open_notebook(page, server, notebook)
    run_all_cells(page)
    page.locator(f".{panel_class}").first.wait_for(timeout=PANEL_TIMEOUT_MS)


def _failure_context(page: Page, server: Any, name: str) -> str:
    shot = screenshot(page, f"{name}-failure.png")
    return f"screenshot: {shot}\nserver log (tail):\n{server.log()[-4000:]}"


def test_evcc_panel_applies_mode_in_browser(
    tmp_path: Path, mqtt_broker: tuple[str, int], recorder: tuple[MqttRecorder, str]
) -> None:
    sub, prefix = recorder
    host, port = mqtt_broker
    env = {
        "EVKIT_MQTT_HOST": host,
        "EVKIT_MQTT_PORT": str(port),
        "EVKIT_EVCC_PREFIX": prefix,
        "EVKIT_NOTEBOOK_OUT": str(tmp_path / "out"),
    }
    notebook = NOTEBOOKS / "04_evcc_panel.ipynb"
    with lab_server(tmp_path, [notebook], env) as server, chromium(server.home) as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        try:
            _run_panel_notebook(page, server, "04_evcc_panel.ipynb", "evkit-evcc-panel")
            panel = page.locator(".evkit-evcc-panel").first
            mode = panel.get_by_label("Mode", exact=True).first
            # Wait for evcc's live mode (shown next to the field), then choose a different one:
            # sending the current value would (rightly) be reported "unchanged", not "confirmed".
            live = panel.locator(".evkit-live").first
            expect(live).to_have_text(re.compile(r"evcc: (off|now|minpv|pv)"), timeout=RESULT_TIMEOUT_MS)
            target = "minpv" if live.inner_text().strip() != "evcc: minpv" else "pv"
            mode.select_option(target)
            expect(panel.locator(".evkit-preview")).to_contain_text("loadpoints/1/mode/set")
            panel.locator(".evkit-writes input[type=checkbox]").check()
            panel.locator("button.evkit-apply").click()
            # The log shows the newest result first.
            result = panel.locator(".evkit-log .evkit-result").first
            expected = f"confirmed: {prefix}/loadpoints/1/mode/set"
            expect(result).to_contain_text(expected, timeout=RESULT_TIMEOUT_MS)
            expect(panel.locator(".evkit-log .evkit-confirmed").first).to_be_visible()
            screenshot(page, "evcc-panel-page.png")
            shot = screenshot(page, "evcc-panel.png", ".evkit-evcc-panel")
            # Snapshot now: the simulator clears its topics when the kernel shuts down.
            sets = sub.sets()
            seen = [(m.topic, m.payload) for m in sub.snapshot()]
        except Exception as exc:
            raise AssertionError(_failure_context(page, server, "evcc-panel")) from exc
    # Exactly one command, never retained. (evcc, and its simulator, then wipe the /set topic with an
    # empty payload, so a retained command cannot re-apply forever; that wipe is not ours.)
    commands = [entry for entry in sets if entry[1]]
    assert commands == [(f"{prefix}/loadpoints/1/mode/set", target.encode(), False)], sets
    assert all(retained is False for _, _, retained in sets)
    assert (f"{prefix}/loadpoints/1/mode", target.encode()) in seen  # the echo the panel confirmed
    if os.environ.get("EVKIT_UPDATE_DOCS_SCREENSHOT") == "1":
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, DOCS_SCREENSHOT)


def _goe_status(base_url: str, key: str) -> Any:
    with urllib.request.urlopen(f"{base_url}/api/status?filter={key}", timeout=5) as response:
        return json.loads(response.read())[key]


def test_goe_panel_applies_current_over_http_in_browser(tmp_path: Path) -> None:
    http_port = free_port()
    base_url = f"http://127.0.0.1:{http_port}"
    env = {"EVKIT_GOE_HTTP_PORT": str(http_port), "EVKIT_NOTEBOOK_OUT": str(tmp_path / "out")}
    notebook = NOTEBOOKS / "05_goe_panel.ipynb"
    with lab_server(tmp_path, [notebook], env) as server, chromium(server.home) as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        try:
            _run_panel_notebook(page, server, "05_goe_panel.ipynb", "evkit-goe-panel")
            panel = page.locator(".evkit-goe-panel").first
            before = _goe_status(base_url, "amp")
            target = 10 if before != 10 else 12
            amp = panel.locator(".evkit-goe-amp input").first
            amp.fill(str(target))
            amp.press("Enter")
            expect(panel.locator(".evkit-preview")).to_contain_text("amp")
            panel.locator(".evkit-writes input[type=checkbox]").check()
            panel.locator("button.evkit-apply").click()
            result = panel.locator(".evkit-log .evkit-result").first  # newest first
            expect(result).to_contain_text("confirmed", timeout=RESULT_TIMEOUT_MS)
            expect(result).to_contain_text("amp")
            screenshot(page, "goe-panel-page.png")
            screenshot(page, "goe-panel.png", ".evkit-goe-panel")
            after = _goe_status(base_url, "amp")
        except Exception as exc:
            raise AssertionError(_failure_context(page, server, "goe-panel")) from exc
    assert after == target


def test_goe_panel_refuses_40_amperes_in_browser(tmp_path: Path) -> None:
    """40 A is refused with `evkit set goe`'s own sentence and nothing is sent (it used to be clamped
    to 32 A and sent)."""
    from evkit.goe.values import prepare_setting

    http_port = free_port()
    base_url = f"http://127.0.0.1:{http_port}"
    env = {"EVKIT_GOE_HTTP_PORT": str(http_port), "EVKIT_NOTEBOOK_OUT": str(tmp_path / "out")}
    notebook = NOTEBOOKS / "05_goe_panel.ipynb"
    with lab_server(tmp_path, [notebook], env) as server, chromium(server.home) as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        try:
            _run_panel_notebook(page, server, "05_goe_panel.ipynb", "evkit-goe-panel")
            panel = page.locator(".evkit-goe-panel").first
            before = _goe_status(base_url, "amp")
            state = {k: _goe_status(base_url, k) for k in ("ama", "var", "adi")}
            try:
                prepare_setting("amp", 40, state=state)
                cli_message = ""
            except evkit.ValidationError as exc:
                cli_message = str(exc)
            assert cli_message
            amp = panel.locator(".evkit-goe-amp input").first
            amp.fill("40")
            amp.press("Enter")
            expect(panel.locator(".evkit-preview")).to_contain_text(cli_message, timeout=RESULT_TIMEOUT_MS)
            expect(amp).to_have_value("40")  # kept as typed, never clamped to 32
            panel.locator(".evkit-writes input[type=checkbox]").check()
            panel.locator("button.evkit-apply").click()
            expect(panel.locator(".evkit-log .evkit-error").first).to_contain_text(
                "not sent", timeout=RESULT_TIMEOUT_MS
            )
            expect(panel.get_by_text("Force state (frc)")).to_be_visible()
            screenshot(page, "goe-panel-refused.png", ".evkit-goe-panel")
            after = _goe_status(base_url, "amp")
        except Exception as exc:
            raise AssertionError(_failure_context(page, server, "goe-panel-refused")) from exc
    assert after == before


def test_easee_panel_disables_a_charger_in_browser(tmp_path: Path, amqp_url: str) -> None:
    """07_easee_control.ipynb: a simulated fleet answering commands on the real RabbitMQ; we select the
    second charger, choose "disable", switch writes on, click Apply; the log says "confirmed", and the
    audit and the recorder's store hold the command and its response."""
    import polars as pl

    out = tmp_path / "out"
    env = {"EVKIT_LOCAL_AMQP": amqp_url, "EVKIT_NOTEBOOK_OUT": str(out)}
    notebook = NOTEBOOKS / "07_easee_control.ipynb"
    with lab_server(tmp_path, [notebook], env) as server, chromium(server.home) as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 1200})
        try:
            _run_panel_notebook(page, server, "07_easee_control.ipynb", "evkit-easee-panel")
            panel = page.locator(".evkit-easee-panel").first
            chargers = panel.locator(".evkit-easee-chargers select").first
            options = chargers.locator("option").all_inner_texts()
            target = options[1]
            chargers.select_option(target)
            panel.locator(".evkit-easee-action select").first.select_option("disable")
            expect(panel.locator(".evkit-preview")).to_contain_text(f"{target}.C.29.")
            panel.locator(".evkit-writes input[type=checkbox]").check()
            panel.locator("button.evkit-apply").click()
            result = panel.locator(".evkit-log .evkit-result").first  # newest first
            expect(result).to_contain_text("confirmed", timeout=RESULT_TIMEOUT_MS)
            expect(result).to_contain_text(f"{target}.C.29.")
            screenshot(page, "easee-panel.png", ".evkit-easee-panel")
        except Exception as exc:
            raise AssertionError(_failure_context(page, server, "easee-panel")) from exc
    audit = pl.read_parquet(list((out / "easee-control" / "audit").rglob("*.parquet")))
    rows = audit.filter(pl.col("setting") == f"{target} SetEnabled")
    assert rows.get_column("outcome").to_list() == ["confirmed"]
    stored = pl.read_parquet(
        [p for p in (out / "easee-control").rglob("part-*.parquet") if "audit" not in p.parts]
    )
    assert any(key.startswith(f"{target}.CR.29.") for key in stored.get_column("routing_key").to_list())
