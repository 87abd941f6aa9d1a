"""Showing a capture's live counters: a terminal line (tqdm) and, in a notebook, a background handle
with an ipywidgets panel. Shared by every streaming source (AMQP, MQTT).

A capture object only needs ``run()``, ``request_stop()`` and a ``stats`` (:class:`CaptureStats`);
:class:`BackgroundCapture` runs it on a thread and is what ``evkit.record_amqp(...)`` returns.
"""

from __future__ import annotations

import html
import threading
import time
from typing import Any, Protocol

from evkit.sources.pipeline import CaptureStats


def describe(snapshot: dict[str, Any]) -> str:
    """One line of counters, e.g. ``12,345 msgs · 2,100/s · last 0.3 s ago · 0 reconnects · 2 errors``."""
    age = snapshot.get("last_message_age_s")
    age_text = "no message yet" if age is None else f"last {age:,.1f} s ago"
    return (
        f"{snapshot['messages']:,} msgs · {snapshot['rate_msg_s']:,.0f}/s · {age_text} · "
        f"{snapshot['rows_written']:,} written · {snapshot['reconnects']} reconnects · "
        f"{snapshot['decode_errors']:,} decode errors"
        + (
            f" · WARNING: broker lost the session {lost}x, messages may be missing"
            if (lost := snapshot.get("session_lost"))
            else ""
        )
    )


class TerminalProgress:
    """A tqdm counter on stderr: messages, rate, last-message age, reconnects, decode errors."""

    def __init__(self, stats: CaptureStats, description: str = "capture", min_interval: float = 0.5) -> None:
        import sys

        from tqdm.auto import tqdm

        self._stats = stats
        # Not a terminal (a log file, CI): a line every 10 s instead of a redraw every half second.
        interactive = sys.stderr.isatty()
        min_interval = min_interval if interactive else 10.0
        self._bar = tqdm(
            desc=description, unit="msg", unit_scale=True, dynamic_ncols=True, mininterval=min_interval
        )
        self._shown = 0
        self._min_interval = min_interval
        self._last = 0.0

    def update(self, force: bool = False) -> None:
        """Refresh the line (cheap; rate-limited to ``min_interval``)."""
        now = time.monotonic()
        if not force and now - self._last < self._min_interval:
            return
        self._last = now
        snap = self._stats.snapshot()
        age = snap["last_message_age_s"]
        self._bar.set_postfix_str(
            f"age={'-' if age is None else f'{age:.1f}s'} written={snap['rows_written']} "
            f"reconnects={snap['reconnects']} errors={snap['decode_errors']}",
            refresh=False,
        )
        self._bar.update(snap["messages"] - self._shown)
        self._shown = snap["messages"]

    def close(self) -> None:
        """Final refresh and close."""
        self.update(force=True)
        self._bar.close()


class Capture(Protocol):
    """What :class:`BackgroundCapture` runs."""

    stats: CaptureStats

    def run(self) -> dict[str, Any]: ...

    def request_stop(self) -> None: ...


class BackgroundCapture:
    """A capture running on a background thread (for notebooks).

    ``stop()`` asks it to flush, acknowledge and close, then waits; ``wait()`` waits for it to end on
    its own (``max_messages`` / ``idle_exit`` / ``duration``) and re-raises its error; ``stats`` gives
    the live counters. Displaying the object in Jupyter shows :meth:`live`: counters, each charger's
    last values and a rolling power chart, updating every few seconds, with a Stop button.
    """

    def __init__(self, capture: Capture, title: str) -> None:
        self._capture = capture
        self.title = title
        self.summary: dict[str, Any] | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="evkit-capture", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.summary = self._capture.run()
        except BaseException as exc:  # handed to wait()/stop() on the caller's thread
            self.error = exc

    @property
    def capture(self) -> Capture:
        """The capture object running on the thread (``EaseePanel`` listens to its messages)."""
        return self._capture

    @property
    def running(self) -> bool:
        """True while the capture thread is alive."""
        return self._thread.is_alive()

    @property
    def stats(self) -> dict[str, Any]:
        """A snapshot of the live counters."""
        return self._capture.stats.snapshot()

    def wait(self, timeout: float | None = None) -> dict[str, Any] | None:
        """Wait for the capture to end; returns its summary (None on timeout), re-raises its error."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            return None
        if self.error is not None:
            raise self.error
        return self.summary

    def stop(self, timeout: float | None = 60.0) -> dict[str, Any] | None:
        """Flush, acknowledge, close and return the summary."""
        self._capture.request_stop()
        return self.wait(timeout)

    def __repr__(self) -> str:
        state = "running" if self.running else ("failed" if self.error else "finished")
        return f"<{type(self).__name__} {self.title} {state}: {describe(self.stats)}>"

    def _html(self) -> str:
        state = "running" if self.running else ("failed: " + str(self.error) if self.error else "finished")
        return (
            f"<b>{html.escape(self.title)}</b> — {html.escape(state)}<br>"
            f"<code>{html.escape(describe(self.stats))}</code>"
        )

    def widget(self) -> Any:
        """An ipywidgets panel whose counters refresh every second while the capture runs."""
        import ipywidgets as widgets

        label = widgets.HTML(self._html())
        button = widgets.Button(description="Stop", button_style="warning", icon="stop")

        def on_click(_: Any) -> None:
            button.disabled = True
            threading.Thread(target=self.stop, daemon=True).start()

        button.on_click(on_click)

        def refresh() -> None:
            while self.running:
                label.value = self._html()
                time.sleep(1.0)
            label.value = self._html()
            button.disabled = True

        threading.Thread(target=refresh, name="evkit-capture-widget", daemon=True).start()
        return widgets.VBox([label, button])

    def live(self, every_s: float = 2.0, **options: Any) -> Any:
        """The live view (``evkit.explore.live_view.LiveView``): messages/s, lag, decode errors, each
        charger's last values and a rolling power chart, read from what this capture has written."""
        from evkit.explore.live_view import LiveView

        return LiveView(self, every_s=every_s, **options)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        from evkit.errors import DatasetError

        try:
            view = self.live()
        except DatasetError:  # a capture that writes no store: its counters only
            view = self.widget()
        display(view)  # type: ignore[no-untyped-call]
