"""``EaseePanel``: steer a fleet of Easee chargers from a notebook, riding on a running AMQP recorder.

>>> rec = evkit.record_amqp(details="streams.json", out="data")          # doctest: +SKIP
>>> EaseePanel(recorder=rec)                                              # doctest: +SKIP

The recorder keeps consuming the operator queue into its store; the panel hears every message it takes
(in-process: command responses reach the panel and are still stored) and publishes commands on its own
connection to the command exchange. A fleet table (serial, op mode, power, dynamic current, enabled,
last seen), a multi-select of chargers, an action (pause/resume, dynamic current with TTL,
enable/disable, lock/unlock cable, smart charging on/off), a preview of the exact routing keys and
bodies, writes off until enabled, and a live result log. The logic is :class:`EaseePanelController`
(no widgets). CSS class ``evkit-easee-panel``.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from evkit.control.audit import AuditLog
from evkit.control.base import CommandResult
from evkit.control.easee import EaseeController, EaseeTransport
from evkit.easee.catalog import Obs, OpMode
from evkit.easee.commands import SERIAL_PATTERN, EaseeCommand
from evkit.errors import ControlError, ValidationError
from evkit.widgets.common import ControlPanel, PreviewLine, clock, preview_html

_AMQP_NOTE = "(AMQP: persistent, mandatory, publisher confirms; the ticks are taken again when sent)"

#: Actions of the panel: label -> (alias, takes amps, takes ttl).
ACTIONS: dict[str, tuple[str, bool, bool]] = {
    "pause": ("pause", False, True),
    "resume": ("resume", False, True),
    "dynamic current": ("current", True, True),
    "enable": ("enable", False, False),
    "disable": ("disable", False, False),
    "lock cable": ("lock", False, False),
    "unlock cable": ("unlock", False, False),
    "smart charging on": ("smart-on", False, False),
    "smart charging off": ("smart-off", False, False),
}

_OP_MODES = {int(m): m.name.replace("_", " ").lower() for m in OpMode}


@dataclass
class FleetRow:
    """What the panel knows of one charger, from the observations it heard."""

    serial: str
    op_mode: int | None = None
    power_kw: float | None = None
    dynamic_current: float | None = None
    enabled: bool | None = None
    last_seen: datetime | None = None


def _value(body: bytes) -> Any:
    import json

    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    return {str(k).casefold(): v for k, v in data.items()}.get("value")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        text = str(value).strip().lower()
        return 1.0 if text == "true" else 0.0 if text == "false" else None


class EaseePanelController:
    """The panel's logic: the fleet table, the selection, one action, its preview and Apply."""

    def __init__(self, easee: EaseeController, chargers: list[str] | None = None) -> None:
        self.easee = easee
        self.writes_enabled = False
        self.fleet: dict[str, FleetRow] = {s: FleetRow(s) for s in chargers or []}
        self.selected: list[str] = []
        self.action = "pause"
        self.amps = 16
        self.ttl = 60
        self._lock = threading.Lock()
        self.on_fleet_change: Callable[[], None] | None = None
        self._remove = easee.messages.add(self.hear)

    def hear(self, routing_key: str, body: bytes) -> None:
        """Update the fleet table from one message of the operator queue."""
        parts = routing_key.split(".")
        if len(parts) != 3 or parts[1] != "O" or not parts[2].isdigit() or not SERIAL_PATTERN.match(parts[0]):
            return
        obs = int(parts[2])
        with self._lock:
            row = self.fleet.setdefault(parts[0], FleetRow(parts[0]))
            row.last_seen = datetime.now(UTC)
            value = _number(_value(body))
            if obs == Obs.OP_MODE and value is not None:
                row.op_mode = int(value)
            elif obs == Obs.TOTAL_POWER:
                row.power_kw = value
            elif obs == Obs.DYNAMIC_CHARGER_CURRENT:
                row.dynamic_current = value
            elif obs == Obs.IS_ENABLED and value is not None:
                row.enabled = bool(value)
        if self.on_fleet_change is not None:
            self.on_fleet_change()

    def rows(self) -> list[FleetRow]:
        """The fleet, by serial."""
        with self._lock:
            return [FleetRow(**vars(r)) for _, r in sorted(self.fleet.items())]

    def commands(self) -> list[EaseeCommand]:
        """The commands Apply would send now (raises ``ValidationError`` saying what is wrong)."""
        if not self.selected:
            raise ValidationError("select one or more chargers")
        alias, takes_amps, takes_ttl = ACTIONS[self.action]
        args = [str(self.amps)] if takes_amps else []
        ttl = int(self.ttl) if takes_ttl else None
        return [self.easee.prepare(serial, alias, args, ttl=ttl) for serial in self.selected]

    def preview(self) -> list[PreviewLine]:
        """The exact routing keys and bodies (ticks are taken again when sent), or why not."""
        try:
            commands = self.commands()
        except ValidationError as exc:
            return [PreviewLine(self.action, error=str(exc))] if self.selected else []
        exchange = self.easee.transport.exchange
        return [PreviewLine(c.describe(), f"{exchange} {c.routing_key}", c.body.decode()) for c in commands]

    def apply(self) -> list[CommandResult]:
        """Send the action to every selected charger and wait for the outcomes."""
        if not self.writes_enabled:
            raise ControlError("writes are off: switch on 'Writes enabled' first; nothing was sent")
        try:
            commands = self.commands()
        except ValidationError:
            return []  # shown in the preview; never sent
        return self.easee.send_many(commands)

    def discard(self, setting: str | None = None) -> None:
        """Forget the pending action: no charger selected, the action back to "pause"."""
        del setting
        self.selected = []
        self.action = "pause"

    def close(self) -> None:
        """Stop listening."""
        self._remove()


def _fleet_html(rows: list[FleetRow], zone: str | None = None) -> str:
    if not rows:
        return "<div class='evkit-easee-fleet'><i>No charger heard yet.</i></div>"

    def cell(value: object) -> str:
        return f"<td style='padding:0 8px'>{html.escape('–' if value is None else str(value))}</td>"

    head = "".join(f"<th style='padding:0 8px'>{h}</th>" for h in
                   ("serial", "op mode", "power kW", "dynamic A", "enabled", "last seen"))  # fmt: skip
    body = "".join(
        "<tr>"
        + cell(r.serial)
        + cell(None if r.op_mode is None else f"{r.op_mode} {_OP_MODES.get(r.op_mode, '?')}")
        + cell(None if r.power_kw is None else f"{r.power_kw:.2f}")
        + cell(None if r.dynamic_current is None else f"{r.dynamic_current:g}")
        + cell(r.enabled)
        + cell(None if r.last_seen is None else clock(r.last_seen, zone))
        + "</tr>"
        for r in rows
    )
    return f"<table class='evkit-easee-fleet'><tr>{head}</tr>{body}</table>"


class EaseePanel(ControlPanel):
    """Easee fleet control on top of a running recorder (see the module docs).

    ``recorder``: what ``evkit.record_amqp`` returned (its connection details are reused).
    ``exchange``: the command exchange (default: the details' ``exchangeName``). Or give a ready
    ``transport`` (e.g. ``evkit.sim.easee_cloud.MemoryEaseeCloud``). ``audit``: the store whose
    ``audit/`` receives every command. ``chargers``: serials to list before any is heard.
    """

    controller: EaseePanelController

    def __init__(
        self,
        recorder: Any = None,
        *,
        exchange: str | None = None,
        transport: EaseeTransport | None = None,
        audit: AuditLog | Path | str | None = "data",
        timeout: float = 30.0,
        chargers: list[str] | None = None,
        tz: str | None = None,
    ) -> None:
        from evkit.timeutil import resolve_zone

        self._link: Any = None
        self.zone = resolve_zone(tz)
        if transport is None:
            if recorder is None:
                raise ControlError("EaseePanel needs recorder=evkit.record_amqp(...) or transport=...")
            from evkit.sources.easee_commands import AmqpCommandLink

            capture = recorder.capture
            link = AmqpCommandLink(capture.details, exchange=exchange, queue=capture.queue)
            link.open()
            link.listen_to(capture)
            self._link = transport = link
        self.easee = EaseeController(transport, audit=audit, timeout=timeout)
        self.controller = EaseePanelController(self.easee, chargers)
        self.fleet_table = widgets.HTML(_fleet_html(self.controller.rows(), self.zone))
        self.fleet_table.add_class("evkit-easee-fleet-table")
        self.chargers = widgets.SelectMultiple(
            options=sorted(self.controller.fleet), description="chargers", rows=6
        )
        self.chargers.add_class("evkit-easee-chargers")
        self.action = widgets.Dropdown(options=list(ACTIONS), value="pause", description="action")
        self.action.add_class("evkit-easee-action")
        # Not bounded: a widget would clamp 40 to 32 and send that; the controller refuses it in words.
        self.amps = widgets.IntText(value=16, description="amperes")
        self.amps.add_class("evkit-easee-amps")
        self.ttl = widgets.IntText(value=60, description="TTL min")
        self.ttl.add_class("evkit-easee-ttl")
        for control in (self.chargers, self.action, self.amps, self.ttl):
            control.observe(self._on_edit, names="value")
        self._last_draw = 0.0
        self.controller.on_fleet_change = self._fleet_changed
        sections = [
            self.fleet_table,
            widgets.HBox([self.chargers, widgets.VBox([self.action, self.amps, self.ttl])]),
        ]
        super().__init__(
            self.controller, title="Easee fleet", sections=sections, css_class="evkit-easee-panel", tz=tz
        )
        self._sync_controls()

    def _on_edit(self, change: dict[str, Any] | None = None) -> None:
        del change
        self.controller.selected = list(self.chargers.value)
        self.controller.action = str(self.action.value)
        self.controller.amps = int(self.amps.value)
        self.controller.ttl = int(self.ttl.value)
        self._sync_controls()
        self.refresh_preview()

    def resync(self) -> None:
        """After Discard: nothing selected, the action back to its default."""
        with self.hold_trait_notifications():
            self.chargers.value = ()
            self.action.value = self.controller.action
        self._on_edit()

    def refresh_preview(self) -> None:
        """Show exactly what Apply would publish (AMQP, not MQTT: say so)."""
        text = preview_html(self.controller.preview())
        self.preview.value = text.replace("(QoS 1, not retained)", _AMQP_NOTE)

    def _sync_controls(self) -> None:
        _, takes_amps, takes_ttl = ACTIONS[self.controller.action]
        self.amps.disabled = not takes_amps
        self.ttl.disabled = not takes_ttl

    def _fleet_changed(self) -> None:
        now = time.monotonic()
        if now - self._last_draw < 1.0 and set(self.controller.fleet) <= set(self.chargers.options):
            return  # at most one redraw a second, unless a new charger appeared
        self._last_draw = now
        self.redraw()

    def redraw(self) -> None:
        """Redraw the fleet table and the charger list (keeps the selection)."""
        self.fleet_table.value = _fleet_html(self.controller.rows(), self.zone)
        serials = sorted(self.controller.fleet)
        if list(self.chargers.options) != serials:
            selected = [s for s in self.chargers.value if s in serials]
            self.chargers.options = serials
            self.chargers.value = tuple(selected)

    def close(self) -> None:
        """Stop listening and close the command connection (the recorder keeps running)."""
        self.controller.close()
        self.easee.close()
        if self._link is not None:
            self._link.close()
        super().close()


__all__ = ["ACTIONS", "EaseePanel", "EaseePanelController", "FleetRow"]
