"""Pieces every control panel shares (evcc, go-e): writes switch, preview, Apply, result log, the shell.

A panel = a controller (pure logic: edits, preview, apply; see :class:`PanelController`) + widgets
wired to it. :class:`ControlPanel` is the shell: sections of setting widgets, a "Writes enabled"
switch (off at start), an "Apply" button, a preview of exactly what will be sent, and a log of
results. Stable CSS classes for browser tests and styling:

``evkit-panel`` (the shell) · ``evkit-writes`` · ``evkit-apply`` · ``evkit-discard`` · ``evkit-preview``
· ``evkit-log``
· log entries ``evkit-result evkit-<outcome>`` (``evkit-confirmed``, ``evkit-no_answer``, ...).
"""

from __future__ import annotations

import html
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import ipywidgets as widgets

from evkit.control.base import CommandResult, Outcome
from evkit.display import SENTENCE_LIMIT, html_text
from evkit.errors import ControlError, EvkitError, ValidationError
from evkit.wording import words

_COLOURS = {
    Outcome.CONFIRMED: "#1b7f3b",
    Outcome.ACCEPTED: "#1b7f3b",
    Outcome.UNCHANGED: "#555555",
    Outcome.SENT: "#555555",
    Outcome.DRY_RUN: "#555555",
    Outcome.REJECTED: "#b00020",
    Outcome.NO_ANSWER: "#b35c00",
    Outcome.EXPIRED: "#b35c00",
}


@dataclass(frozen=True)
class PreviewLine:
    """One pending change: what would be sent, or why it cannot be."""

    setting: str
    topic_or_url: str = ""
    payload: str | None = None
    error: str | None = None

    @property
    def valid(self) -> bool:
        """True when it would be sent."""
        return self.error is None


class PanelController(Protocol):
    """What :class:`ControlPanel` needs from a controller."""

    writes_enabled: bool

    def preview(self) -> list[PreviewLine]:
        """The pending changes, validated, without sending anything."""

    def apply(self) -> list[CommandResult]:
        """Send the valid pending changes (raises ``ControlError`` when writes are off)."""

    def discard(self, setting: str | None = None) -> None:
        """Forget one pending change, or all (nothing is sent)."""


class PendingEdits:
    """A panel controller's shared logic: pending edits, their preview and Apply; writes off at start.

    Subclasses say how one setting is prepared (``prepare_line``: target and exact payload, or
    ``ValidationError``) and sent (``send``: validates again, then sends and confirms).
    """

    def __init__(self) -> None:
        self.writes_enabled = False
        self._edits: dict[str, object] = {}
        self._lock = threading.Lock()

    def prepare_line(self, setting: str, value: object) -> tuple[str, str]:
        """(topic or URL, payload) that ``send`` would use; raises ``ValidationError``."""
        raise NotImplementedError

    def send(self, setting: str, value: object) -> CommandResult:
        """Validate, send and confirm one setting; raises ``ValidationError`` before sending."""
        raise NotImplementedError

    @property
    def edits(self) -> dict[str, object]:
        """Pending changes: setting -> value as entered."""
        with self._lock:
            return dict(self._edits)

    def edit(self, setting: str, value: object) -> None:
        """Record a change to send on Apply (replaces an earlier edit of the same setting)."""
        with self._lock:
            self._edits[setting] = value

    def discard(self, setting: str | None = None) -> None:
        """Forget one pending change, or all."""
        with self._lock:
            if setting is None:
                self._edits.clear()
            else:
                self._edits.pop(setting, None)

    def preview(self) -> list[PreviewLine]:
        """Each pending change validated against the live state: exact target and payload, or why not."""
        lines = []
        for setting, value in self.edits.items():
            try:
                target, payload = self.prepare_line(setting, value)
            except ValidationError as exc:
                lines.append(PreviewLine(setting, error=str(exc)))
            else:
                lines.append(PreviewLine(setting, target, payload))
        return lines

    def apply(self) -> list[CommandResult]:
        """Send every valid pending change and confirm it; invalid ones stay pending, unsent.

        Raises ``ControlError`` when writes are off. Changes that ended well are cleared; the others
        stay pending so the preview keeps showing them.
        """
        if not self.writes_enabled:
            raise ControlError("writes are off: switch on 'Writes enabled' first; nothing was sent")
        results = []
        for setting, value in self.edits.items():
            try:
                result = self.send(setting, value)
            except ValidationError:
                continue  # shown in the preview; never sent
            results.append(result)
            if result.ok:
                with self._lock:
                    if self._edits.get(setting) is value:
                        del self._edits[setting]
        return results


def preview_html(lines: Sequence[PreviewLine]) -> str:
    """The preview as HTML: ``topic ← payload`` per valid change, the reason per invalid one."""
    if not lines:
        return '<div class="evkit-preview-empty">No changes. Edit a setting to see what would be sent.</div>'
    rows = []
    for line in lines:
        if line.valid:
            rows.append(
                f'<div class="evkit-preview-line"><code>{html.escape(line.topic_or_url)}</code> ← '
                f"<code>{html.escape(line.payload or '', quote=False)}</code></div>"
            )
        else:
            rows.append(
                f'<div class="evkit-preview-error" style="color:#b00020">✗ {html.escape(line.error or "")}'
                " (will not be sent)</div>"
            )
    return "<div><b>Will send</b> (QoS 1, not retained):</div>" + "".join(rows)


def clock(moment: datetime, zone: str | None = None) -> str:
    """``HH:MM:SS ZONE`` of an aware time in ``zone`` (``None``: the machine's zone), always labelled."""
    local = moment.astimezone(ZoneInfo(zone)) if zone is not None else moment.astimezone()
    return f"{local:%H:%M:%S} {local.tzname() or zone or ''}".rstrip()


def result_html(result: CommandResult, zone: str | None = None) -> str:
    """One log entry for a result: time (in ``zone``, labelled), outcome, topic ← payload, latency, detail."""
    colour = _COLOURS[result.outcome]
    when = clock(result.time, zone)
    latency = f" in {result.latency_s:.2f} s" if result.latency_s is not None else ""
    detail = f" — {html_text(result.detail, SENTENCE_LIMIT)}" if result.detail else ""
    return (
        f'<div class="evkit-result evkit-{result.outcome.value}">'
        f"{when} <b style='color:{colour}'>{html.escape(result.outcome.label)}</b>: "
        f"<code>{html.escape(result.topic_or_url)}</code> ← "
        f"<code>{html.escape(result.payload, quote=False)}</code>"
        f"{latency}{detail}</div>"
    )


class ResultLog(widgets.HTML):  # type: ignore[misc]
    """The result log, newest first; ``entries`` keeps the plain-text lines for tests and notebooks."""

    def __init__(self, limit: int = 50, zone: str | None = None, **kwargs: Any) -> None:
        super().__init__(value="", **kwargs)
        self.limit = limit
        self.zone = zone  # times of the entries, labelled (None: the machine's zone)
        self.entries: list[str] = []
        self._html: list[str] = []
        self.add_class("evkit-log")

    def add(self, result: CommandResult) -> None:
        """Log a command result."""
        self._push(result.summary(), result_html(result, self.zone))

    def note(self, text: str, *, error: bool = False) -> None:
        """Log a message that is not a command result (writes off, validation errors)."""
        when = clock(datetime.now(UTC), self.zone)
        style = "color:#b00020" if error else "color:#555555"
        kind = "evkit-error" if error else "evkit-note"
        self._push(text, f'<div class="evkit-result {kind}" style="{style}">{when} {html.escape(text)}</div>')

    def _push(self, text: str, entry_html: str) -> None:
        self.entries.insert(0, text)
        self._html.insert(0, entry_html)
        del self.entries[self.limit :], self._html[self.limit :]
        self.value = "".join(self._html)


def writes_switch() -> widgets.Checkbox:
    """The "Writes enabled" switch, off at start."""
    switch = widgets.Checkbox(value=False, description="Writes enabled", indent=False)
    switch.add_class("evkit-writes")
    return switch


def discard_button() -> widgets.Button:
    """The "Discard" button: forget every pending edit and show the device's values again."""
    button = widgets.Button(description="Discard", icon="undo", tooltip="forget the pending changes")
    button.add_class("evkit-discard")
    return button


def apply_button() -> widgets.Button:
    """The "Apply" button (disabled until writes are enabled)."""
    button = widgets.Button(
        description="Apply",
        button_style="warning",
        icon="paper-plane",
        disabled=True,
        tooltip="send the changes",
    )
    button.add_class("evkit-apply")
    return button


class ControlPanel(widgets.VBox):  # type: ignore[misc]
    """The shell of a control panel around ``controller``: sections, writes switch, Apply, preview, log.

    Subclasses build their setting widgets, call :meth:`refresh_preview` after every edit, and pass
    the sections to ``__init__``. Clicking Apply with writes off only logs a note; nothing is sent.
    """

    def __init__(
        self,
        controller: PanelController,
        *,
        title: str,
        sections: Sequence[widgets.Widget],
        css_class: str,
        status: widgets.Widget | None = None,
        tz: str | None = None,
    ) -> None:
        from evkit.timeutil import resolve_zone

        self.controller = controller
        self.zone = resolve_zone(tz)  # what the panel's times are shown in (data and commands stay UTC)
        self.writes = writes_switch()
        self.apply_button = apply_button()
        self.discard_button = discard_button()
        self.preview = widgets.HTML(value=preview_html([]))
        self.preview.add_class("evkit-preview")
        self.result_log = ResultLog(zone=self.zone)
        self.writes.observe(self._on_writes, names="value")
        self.apply_button.on_click(self._on_apply)
        self.discard_button.on_click(self._on_discard)
        header_items: list[widgets.Widget] = [
            widgets.HTML(f"<h3 style='margin:0;white-space:nowrap'>{html.escape(title)}</h3>")
        ]
        if status is not None:
            header_items.append(status)
        header = widgets.HBox(header_items, layout=widgets.Layout(justify_content="space-between"))
        actions = widgets.HBox([self.writes, self.apply_button, self.discard_button])
        super().__init__(
            children=[
                header,
                *sections,
                widgets.HTML("<hr style='margin:4px 0'>"),
                self.preview,
                actions,
                widgets.HTML("<b>Results</b>"),
                self.result_log,
            ]
        )
        self.add_class("evkit-panel")
        self.add_class(css_class)

    def _on_writes(self, change: dict[str, Any]) -> None:
        self.controller.writes_enabled = bool(change["new"])
        self.apply_button.disabled = not change["new"]
        self.result_log.note(
            "writes enabled: Apply sends to the device" if change["new"] else "writes disabled"
        )

    def refresh_preview(self) -> None:
        """Re-validate the pending edits and show what would be sent."""
        self.preview.value = preview_html(self.controller.preview())

    def resync(self) -> None:
        """Show the device's current values in every field (after Discard); panels override it."""

    def _on_discard(self, button: widgets.Button | None = None) -> None:
        del button
        pending = self.controller.preview()
        self.controller.discard()
        self.resync()
        self.refresh_preview()
        if pending:
            self.result_log.note(f"discarded {len(pending)} pending change(s); nothing was sent")
        else:
            self.result_log.note("nothing to discard")

    def _on_apply(self, button: widgets.Button | None = None) -> None:
        del button
        if not self.controller.writes_enabled:
            self.result_log.note(
                "writes are off: switch on 'Writes enabled' first; nothing was sent", error=True
            )
            return
        invalid = [line for line in self.controller.preview() if not line.valid]
        self.apply_button.disabled = True
        self.apply_button.description = "Applying…"
        try:
            results = self.controller.apply()
        except EvkitError as exc:
            self.result_log.note(str(exc), error=True)
            results = []
        finally:
            self.apply_button.description = "Apply"
            self.apply_button.disabled = not self.controller.writes_enabled
        for line in invalid:
            self.result_log.note(f"not sent: {line.error}", error=True)
        for result in results:
            self.result_log.add(result)
        if not results and not invalid:
            self.result_log.note("nothing to apply: no setting was changed")
        self.refresh_preview()


__all__ = [
    "ControlPanel",
    "PanelController",
    "PreviewLine",
    "ResultLog",
    "apply_button",
    "discard_button",
    "preview_html",
    "result_html",
    "words",
    "writes_switch",
]
