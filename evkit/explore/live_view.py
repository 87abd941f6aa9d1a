"""The live view of a running recording (thin widgets around :class:`~evkit.explore.live.LiveController`).

Every ``every_s`` seconds, without re-running a cell: the counters (messages/s, lag, decode errors),
each charger's last values (state, power, session energy, last seen) and a rolling power chart. A Stop
button ends the recording (flush, acknowledge, close). With ``explorer=`` an explorer on the same store
is refreshed every ``explorer_every_s``. CSS classes: ``evkit-live-view``, ``evkit-live-counters``,
``evkit-live-chargers``, ``evkit-live-chart``.
"""

from __future__ import annotations

import html
import threading
import time
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from evkit.explore.live import LiveController, LiveSnapshot
from evkit.explore.tables import figure_output, great_table_html


class LiveView(widgets.VBox):  # type: ignore[misc]
    """A self-updating view of ``handle`` (``record_amqp``/``record_mqtt``) or of a ``store``."""

    def __init__(
        self,
        handle: Any = None,
        *,
        store: Path | str | None = None,
        every_s: float = 2.0,
        window_s: float = 900.0,
        explorer: Any = None,
        explorer_every_s: float = 10.0,
    ) -> None:
        self.controller = LiveController(handle, store, window_s)
        self.every_s = every_s
        self.explorer = explorer
        self.explorer_every_s = explorer_every_s
        self.ticks = 0
        self.last: LiveSnapshot | None = None
        title = getattr(handle, "title", None) or f"store {self.controller.feed.store}"
        self.counters = widgets.HTML()
        self.counters.add_class("evkit-live-counters")
        self.chargers = widgets.HTML()
        self.chargers.add_class("evkit-live-chargers")
        self.chart = widgets.Output()
        self.chart.add_class("evkit-live-chart")
        self.stop_button = widgets.Button(
            description="Stop recording",
            button_style="warning",
            icon="stop",
            layout={"width": "auto", "flex": "0 0 auto", "min_width": "150px"},
        )
        self.stop_button.add_class("evkit-live-stop")
        self.stop_button.on_click(self._on_stop)
        self.stop_button.disabled = handle is None
        header = widgets.HBox(
            [
                widgets.HTML(f"<b>Live:</b> {html.escape(title)}", layout={"flex": "1 1 auto"}),
                self.stop_button,
            ],
            layout={"justify_content": "space-between"},
        )
        super().__init__([header, self.counters, self.chargers, self.chart])
        self.add_class("evkit-live-view")
        self._closed = threading.Event()
        self.update()
        self._thread = threading.Thread(target=self._loop, name="evkit-live-view", daemon=True)
        self._thread.start()

    def update(self) -> LiveSnapshot:
        """One tick now: read what was written, redraw."""
        from evkit.figures.live import rolling_power

        snap = self.controller.tick()
        self.last = snap
        self.ticks += 1
        colour = "#52606D" if snap.running else "#1b7f3b"
        self.counters.value = f"<code style='color:{colour}'>{html.escape(snap.counters)}</code>"
        self.chargers.value = great_table_html(snap.chargers, "Last values per charger")
        self.chart.outputs = (figure_output(rolling_power(snap.power)),)
        return snap

    def _loop(self) -> None:
        last_explorer = time.monotonic()
        while not self._closed.wait(self.every_s):
            try:
                snap = self.update()
            except Exception as exc:  # shown, and the next tick tries again
                self.counters.value = f"<span style='color:#b00020'>{html.escape(str(exc))}</span>"
                continue
            if self.explorer is not None and time.monotonic() - last_explorer >= self.explorer_every_s:
                last_explorer = time.monotonic()
                self.explorer.refresh()
            if not snap.running:
                self.stop_button.disabled = True
                break

    def _on_stop(self, button: widgets.Button | None = None) -> None:
        del button
        handle = self.controller.handle
        self.stop_button.disabled = True
        if handle is not None:
            threading.Thread(target=handle.stop, name="evkit-live-stop", daemon=True).start()

    def close(self) -> None:
        """Stop updating (the recording goes on) and close the widgets."""
        self._closed.set()
        super().close()


def live(handle: Any = None, **options: Any) -> LiveView:
    """The live view of a recording handle (or ``store=...``); see :class:`LiveView`."""
    return LiveView(handle, **options)


__all__ = ["LiveView", "live"]
