"""The live view of an Easee recording over AMQP (``evkit.record_amqp``) in a real JupyterLab in
headless Chromium: the Easee simulator publishes to the real RabbitMQ (a queue and exchange of this
test's own), the notebook records that queue and shows the handle, and the view updates on its own:
messages per second grow, each simulated charger appears with its op mode in words and its power.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime
from pathlib import Path

import pika
import pytest
from playwright.sync_api import expect

from evkit.sim.easee import EaseeFleet, publish
from tests.browser.lab import (
    chromium,
    lab_server,
    live_view_updating,
    open_notebook,
    run_all_cells,
    screenshot,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.broker]

TIMEOUT_MS = 90_000
SEED = 3  # its three chargers start charging 4, 15 and 35 simulated minutes in
CHARGERS = 3

NOTEBOOK_CELLS = [
    "import os\n\nimport evkit\n\n"
    "URL, QUEUE, OUT = (os.environ[f'EVKIT_{k}'] for k in ('TEST_AMQP_URL', 'TEST_QUEUE', 'NOTEBOOK_OUT'))\n",
    "recorder = evkit.record_amqp(URL, queue=QUEUE, out=OUT, duration=600)\nrecorder\n",
]


def _notebook(path: Path) -> Path:
    cells = [
        {
            "cell_type": "code",
            "execution_count": None,
            "id": f"cell-{index}",
            "metadata": {},
            "outputs": [],
            "source": source,
        }
        for index, source in enumerate(NOTEBOOK_CELLS)
    ]
    notebook = {
        "cells": cells,
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(notebook))
    return path


class Simulator:
    """The Easee fleet simulator publishing to ``queue`` in short bursts until stopped."""

    def __init__(self, url: str, queue: str) -> None:
        self.url, self.queue = url, queue
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                fleet = EaseeFleet(CHARGERS, seed=SEED, start=datetime.now(UTC))
                # 2 simulated hours in a minute: the cars arrive and charge while the test watches.
                publish(fleet, self.url, duration=7200, queue=self.queue, speed=120, progress=False)
        except BaseException as exc:  # reported by the test
            self.error = exc

    def __enter__(self) -> Simulator:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)  # mid-burst, it ends when the test deletes its queue (daemon thread)


def test_easee_live_view_updates_while_the_simulator_publishes(
    tmp_path: Path, amqp_url: str, unique_name: str
) -> None:
    queue = f"{unique_name}-easee-live"
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    channel.queue_declare(queue, durable=False, auto_delete=False)
    env = {
        "EVKIT_TEST_AMQP_URL": amqp_url,
        "EVKIT_TEST_QUEUE": queue,
        "EVKIT_NOTEBOOK_OUT": str(tmp_path / "out"),
    }
    notebook = _notebook(tmp_path / "easee_live.ipynb")
    serials = EaseeFleet(CHARGERS, seed=SEED).serials
    try:
        with (
            Simulator(amqp_url, queue) as simulator,
            lab_server(tmp_path, [notebook], env) as server,
            chromium(server.home) as browser,
        ):
            page = browser.new_page(viewport={"width": 1300, "height": 1100})
            try:
                open_notebook(page, server, notebook.name)
                run_all_cells(page)
                # it updates on its own while the simulator publishes: the counters change
                view = live_view_updating(page, TIMEOUT_MS)
                chargers = view.locator(".evkit-live-chargers")
                expect(chargers).to_contain_text("power (kW)", timeout=TIMEOUT_MS)
                for serial in serials:
                    expect(chargers).to_contain_text(serial, timeout=TIMEOUT_MS)
                # Each charger's row: its op mode in words (not a number); once its car charges, the
                # view shows the power (a number of kW) and the op mode "Charging".
                for serial in serials:
                    row = chargers.locator("tr", has_text=serial).first
                    expect(row).to_contain_text("Charging", timeout=TIMEOUT_MS)
                    expect(row).to_contain_text(re.compile(r"Charging\s+\d+(\.\d+)?\s"), timeout=TIMEOUT_MS)
                expect(view.locator(".evkit-live-chart .js-plotly-plot")).to_be_visible(timeout=TIMEOUT_MS)
                view.scroll_into_view_if_needed()
                screenshot(page, "live-view-easee.png", ".evkit-live-view")
            except Exception as exc:
                shot = screenshot(page, "live-view-easee-failure.png")
                raise AssertionError(f"screenshot: {shot}\nserver log:\n{server.log()[-4000:]}") from exc
            assert simulator.error is None, simulator.error
    finally:
        channel.queue_delete(queue)
        connection.close()
