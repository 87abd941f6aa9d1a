"""``EvccPanel``: evcc's settings as widgets, with live state, a preview, Apply and a result log.

>>> from evkit.widgets import EvccPanel
>>> EvccPanel(host="127.0.0.1", port=1883, prefix="evcc")     # doctest: +SKIP

Per loadpoint: mode, min/max current, phases, limitSoc, limitEnergy, plan energy + time. Site:
residualPower, buffer/priority SoC, batteryDischargeControl, smartCostLimit. Vehicles: limitSoc,
minSoc, plan SoC + time. Widgets show evcc's live values until you edit them; an edit appears in
the preview as the exact topic and payload (or why it cannot be sent). A setting the running evcc
lacks (by its ``site/version``) is disabled and says from which release it exists. A deleted vehicle
plan disappears (evcc publishes ``vehicles/<n>/plan`` = ""), and an empty vehicle SoC shows 0 (evcc's
``omitempty``). Above the settings, each loadpoint's live line: charging or not, car connected or
not, charge power, vehicle SoC and session energy, as evcc publishes them. Labels are whole words
(never cut); numbers out of range are refused with the CLI's sentence, never clamped. Nothing is sent
until "Writes enabled" is on and Apply is clicked; Discard forgets pending edits. The logic is
:class:`EvccPanelController` (no widgets), so it is testable with the in-memory broker.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import ipywidgets as widgets

from evkit.control.audit import AuditLog
from evkit.control.base import CommandResult, MqttTransport
from evkit.control.evcc import EvccClient
from evkit.display import html_text, truncate_for_display
from evkit.errors import ValidationError
from evkit.evcc.setters import format_time
from evkit.evcc.state import MODES, parse_topic, state_key
from evkit.widgets.common import ControlPanel, PendingEdits

PHASE_OPTIONS = [("auto", 0), ("1", 1), ("3", 3)]
#: Loadpoint keys of the live line (evcc's own names; chargePower W, sessionEnergy Wh, vehicleSoc %).
LIVE_KEYS = ("charging", "connected", "chargePower", "vehicleSoc", "sessionEnergy", "title", "vehicleTitle")
_LABEL_WIDTH = "200px"


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


def loadpoint_live(state: dict[str, str], number: int) -> str:
    """One loadpoint's live state in words: ``Loadpoint 1 "Garage": charging · car connected · 7.40 kW
    · vehicle SoC 56 % · session 3.20 kWh`` (parts evcc has not published are left out)."""
    base = f"loadpoints/{number}/"
    title = truncate_for_display(state[base + "title"]) if state.get(base + "title") else None
    parts = [f"Loadpoint {number}" + (f" “{title}”" if title else "")]
    charging, connected = state.get(base + "charging"), state.get(base + "connected")
    if charging is not None:
        parts.append("charging" if charging == "true" else "not charging")
    if connected is not None:
        vehicle = truncate_for_display(state.get(base + "vehicleTitle") or "")
        parts.append(
            ("car connected" + (f" ({vehicle})" if vehicle else "")) if connected == "true" else "no car"
        )
    if (power := _number(state.get(base + "chargePower"))) is not None:
        parts.append(f"{power / 1000:.2f} kW")
    if (soc := _number(state.get(base + "vehicleSoc"))) is not None and connected == "true":
        parts.append(f"vehicle SoC {soc:.0f} %")
    if (energy := _number(state.get(base + "sessionEnergy"))) is not None:
        parts.append(f"session {energy / 1000:.2f} kWh")
    return " · ".join(parts)


@dataclass(frozen=True)
class FieldSpec:
    """One setting widget: the path it sets, its label and how it is edited."""

    path: str  # loadpoints/1/mode
    label: str  # "Mode"
    kind: str  # mode / phases / int / float / bool / nullable / plan
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    value_key: str = ""  # state key shown, when not ``path`` (plans: planEnergy, plan/soc)
    time_key: str = ""  # plans: state key of the plan time


def loadpoint_fields(number: int) -> list[FieldSpec]:
    """The panel's settings of loadpoint ``number``."""
    base = f"loadpoints/{number}"
    return [
        FieldSpec(f"{base}/mode", "Mode", "mode"),
        FieldSpec(f"{base}/minCurrent", "Min current", "float", "A", 0, 80, 0.5),
        FieldSpec(f"{base}/maxCurrent", "Max current", "float", "A", 0, 80, 0.5),
        FieldSpec(f"{base}/phasesConfigured", "Phases", "phases"),
        FieldSpec(f"{base}/limitSoc", "Limit SoC", "int", "%", 0, 100, 1),
        FieldSpec(f"{base}/limitEnergy", "Limit energy", "float", "kWh", 0, 1000, 0.5),
        FieldSpec(
            f"{base}/planEnergy",
            "Plan energy",
            "plan",
            "kWh",
            0,
            1000,
            0.5,
            value_key=f"{base}/planEnergy",
            time_key=f"{base}/planTime",
        ),
    ]


def site_fields() -> list[FieldSpec]:
    """The panel's site settings."""
    return [
        FieldSpec("site/residualPower", "Residual power", "float", "W", -100000, 100000, 10),
        FieldSpec("site/bufferSoc", "Buffer SoC", "float", "%", 0, 100, 1),
        FieldSpec("site/prioritySoc", "Priority SoC", "float", "%", 0, 100, 1),
        FieldSpec("site/batteryDischargeControl", "Battery discharge control", "bool"),
        # evcc has no site-level state for it: it applies to all loadpoints, shown from the first
        FieldSpec(
            "site/smartCostLimit",
            "Smart cost limit",
            "nullable",
            "/kWh",
            value_key="loadpoints/1/smartCostLimit",
        ),
    ]


def vehicle_fields(name: str) -> list[FieldSpec]:
    """The panel's settings of vehicle ``name``."""
    base = f"vehicles/{name}"
    return [
        FieldSpec(f"{base}/limitSoc", "Limit SoC", "int", "%", 0, 100, 1),
        FieldSpec(f"{base}/minSoc", "Min SoC", "int", "%", 0, 100, 1),
        FieldSpec(
            f"{base}/planSoc",
            "Plan SoC",
            "plan",
            "%",
            0,
            100,
            1,
            value_key=f"{base}/plan/soc",
            time_key=f"{base}/plan/time",
        ),
    ]


def unix_to_iso(text: str | None, zone: str = "UTC") -> str:
    """evcc's Unix-seconds time as ``yyyy-mm-ddThh:mm:ssZ``, or local ``yyyy-mm-ddThh:mm`` in ``zone``
    (empty when none)."""
    if not text:
        return ""
    try:
        moment = datetime.fromtimestamp(int(float(text)), UTC)
    except (ValueError, OverflowError, OSError):
        return ""
    if zone == "UTC":
        return format_time(moment)
    return f"{moment.astimezone(ZoneInfo(zone)):%Y-%m-%dT%H:%M}"


def local_to_utc_text(text: str, zone: str) -> str:
    """A plan time typed in ``zone`` (an explicit ``Z`` or offset wins) as evcc's UTC ``...Z`` text;
    text that is not a time is passed on unchanged, so the setter refuses it with its own sentence."""
    from evkit.timeutil import parse_local

    if not text or zone == "UTC":
        return text
    try:
        return format_time(parse_local(text, zone))
    except ValueError:
        return text


def _empty_value(path: str, state: dict[str, str]) -> str | None:
    """``"0"`` for an ``omitempty`` vehicle number evcc published empty (it always publishes the vehicle
    map, so the vehicle's other fields are there); otherwise None (no value)."""
    topic = parse_topic(f"evcc/{path}", "evcc")
    if topic is None or topic.scope != "vehicle" or topic.device_id is None:
        return None
    known = state_key(topic.scope, topic.key)
    if known is None or not known.empty_is_zero:
        return None
    has_vehicle = any(key.startswith(topic.device_id + "/") for key in state)
    return "0" if has_vehicle else None


class EvccPanelController(PendingEdits):
    """The panel's logic: pending edits, their preview, and Apply (writes off until enabled)."""

    def __init__(self, client: EvccClient) -> None:
        super().__init__()
        self.client = client

    def fields(self) -> dict[str, list[FieldSpec]]:
        """Sections (title -> fields) for what evcc published: loadpoints, site, vehicles."""
        sections: dict[str, list[FieldSpec]] = {}
        state = self.client.state
        for number in self.client.loadpoints or [1]:
            title = state.get(f"loadpoints/{number}/title")
            label = f"Loadpoint {number}" + (f" · {title}" if title else "")
            sections[label] = loadpoint_fields(number)
        sections["Site"] = site_fields()
        for name in self.client.vehicles:
            title = state.get(f"vehicles/{name}/title")
            sections[f"Vehicle {name}" + (f" · {title}" if title and title != name else "")] = vehicle_fields(
                name
            )
        return sections

    def unavailable(self, setting: str) -> str | None:
        """Why the running evcc cannot take ``setting`` (its version lacks the setter), or None."""
        try:
            self.client.check_version(self.client.resolve(setting))
        except ValidationError as exc:
            return str(exc)
        return None

    def prepare_line(self, setting: str, value: object) -> tuple[str, str]:
        """evcc's ``<topic>/set`` and the exact payload for ``setting`` (a path like loadpoints/1/mode)."""
        command = self.client.prepare(setting, value)
        return self.client.topic(command), command.payload

    def send(self, setting: str, value: object) -> CommandResult:
        """Publish one setting and wait for evcc's echo."""
        return self.client.send(self.client.prepare(setting, value))


class _Binding:
    """Keeps one field's widget(s) in step with evcc's state until the user edits it."""

    def __init__(self, spec: FieldSpec, panel: EvccPanel) -> None:
        self.spec = spec
        self.panel = panel
        self.syncing = False
        self.live = widgets.HTML(layout=widgets.Layout(width="220px"))
        self.live.add_class("evkit-live")
        self.time: widgets.Text | None = None
        self.widget = self._make()
        self.widget.observe(self._on_edit, names="value")
        if self.time is not None:
            self.time.observe(self._on_edit, names="value")
        self.sync()

    def _make(self) -> widgets.Widget:
        spec = self.spec
        style = {"description_width": _LABEL_WIDTH}
        layout = widgets.Layout(width="360px")
        description = f"{spec.label} ({spec.unit})" if spec.unit and spec.kind != "plan" else spec.label
        if spec.kind == "mode":
            return widgets.Dropdown(options=list(MODES), description="Mode", style=style, layout=layout)
        if spec.kind == "phases":
            return widgets.Dropdown(options=PHASE_OPTIONS, description="Phases", style=style, layout=layout)
        if spec.kind == "bool":
            # The label sits right of the box: the row must be as wide as it needs ("Battery discharg…").
            return widgets.Checkbox(
                description=spec.label, indent=True, style=style, layout=widgets.Layout(width="auto")
            )
        if spec.kind == "nullable":
            return widgets.Text(
                description=description, placeholder="empty = no limit", style=style, layout=layout
            )
        # Not bounded widgets: they would clamp an out-of-range number and send that. The client
        # refuses it with the same sentence as `evkit set evcc`.
        if spec.kind == "int":
            return widgets.IntText(description=description, style=style, layout=layout)
        number = widgets.FloatText(
            description=f"{spec.label} ({spec.unit})" if spec.unit else spec.label,
            step=spec.step,
            style=style,
            layout=layout,
        )
        if spec.kind == "plan":
            zone = self.panel.zone
            self.time = widgets.Text(
                description=f"at ({zone})" if zone == "UTC" else f"at {zone}",
                placeholder="2026-03-05T07:00:00Z" if zone == "UTC" else "2026-03-05T07:00",
                style={"description_width": "60px"},
                layout=widgets.Layout(width="260px"),
            )
        return number

    @property
    def row(self) -> widgets.HBox:
        """The field's row: widget(s) and the live value."""
        children = [self.widget] + ([self.time] if self.time is not None else []) + [self.live]
        return widgets.HBox(children)

    def state_keys(self) -> tuple[str, ...]:
        """State paths this field shows."""
        if self.spec.kind == "plan":
            return (self.spec.value_key, self.spec.time_key)
        return (self.spec.value_key or self.spec.path,)

    def sync(self) -> None:
        """Show evcc's current value; overwrite the widget only while the user has no pending edit."""
        state = self.panel.client.state
        texts = [state.get(key) or _empty_value(key, state) for key in self.state_keys()]
        shown = ", ".join(t for t in texts if t) or "—"
        if self.spec.kind == "plan":
            when = unix_to_iso(texts[1], self.panel.zone)
            shown = f"{texts[0] or '—'} {self.spec.unit} at {when + ' ' + self.panel.zone if when else '—'}"
            if texts[0] is None and texts[1] is None:
                shown = "no plan"
        missing = self.panel.controller.unavailable(self.spec.path)
        self.widget.disabled = missing is not None
        if self.time is not None:
            self.time.disabled = missing is not None
        if missing is not None:
            shown = missing.split(";")[0]  # "site/x needs evcc 0.312.0 or newer"
        self.live.value = f"<span style='color:#555'>evcc: {html_text(shown)}</span>"
        if self.spec.path in self.panel.controller.edits:
            return
        self.syncing = True
        try:
            self._set_widget(texts)
        finally:
            self.syncing = False

    def _set_widget(self, texts: list[str | None]) -> None:
        text = texts[0]
        kind = self.spec.kind
        if kind == "mode":
            if text in MODES:
                self.widget.value = text
        elif kind == "phases":
            if text in ("0", "1", "3"):
                self.widget.value = int(text)
        elif kind == "bool":
            self.widget.value = text == "true"
        elif kind == "nullable":
            self.widget.value = text or ""
        elif text is not None:
            try:
                number = float(text)
            except ValueError:
                return
            if kind == "int":
                self.widget.value = int(number)
            else:
                self.widget.value = number
        elif kind == "plan":
            self.widget.value = 0  # no plan (evcc deleted it)
        if kind == "plan" and self.time is not None:
            self.time.value = unix_to_iso(texts[1], self.panel.zone)

    def _on_edit(self, change: dict[str, Any]) -> None:
        del change
        if self.syncing:
            return
        value: object = self.widget.value
        if self.spec.kind == "plan" and self.time is not None:
            when = local_to_utc_text(self.time.value.strip(), self.panel.zone)
            value = {"value": self.widget.value, "time": when}
        self.panel.controller.edit(self.spec.path, value)
        self.panel.refresh_preview()


class EvccPanel(ControlPanel):
    """evcc's settings as a widget panel (see the module docs).

    Give broker details (``host``, ``port``, ``prefix``, ``username``, ``password``, ``tls``), or a
    ready ``client``, or a ``transport`` (e.g. ``MemoryBroker().transport()``). ``audit`` is the store
    whose ``audit/`` receives every command (``None`` for no audit).
    """

    controller: EvccPanelController

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1883,
        prefix: str = "evcc",
        *,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        audit: AuditLog | Path | str | None = "data",
        timeout: float = 5.0,
        client: EvccClient | None = None,
        transport: MqttTransport | None = None,
        tz: str | None = None,
    ) -> None:
        from evkit.timeutil import resolve_zone

        self.zone = resolve_zone(tz)  # plan times and the log in this zone; evcc gets UTC
        self._owns_client = client is None
        if client is None:
            client = EvccClient(
                transport,
                host=host,
                port=port,
                prefix=prefix,
                username=username,
                password=password,
                tls=tls,
                audit=audit,
                timeout=timeout,
            )
        self.client = client
        controller = EvccPanelController(client)
        self.bindings: dict[str, _Binding] = {}
        self.status = widgets.HTML()
        self.status.add_class("evkit-status")
        self.live = widgets.HTML()
        self.live.add_class("evkit-evcc-live")
        self._by_state_key: dict[str, list[_Binding]] = {}
        sections: list[widgets.Widget] = []
        # the controller must exist before bindings read its edits
        self.controller = controller
        for title, specs in controller.fields().items():
            rows = []
            for spec in specs:
                binding = _Binding(spec, self)
                self.bindings[spec.path] = binding
                for key in binding.state_keys():
                    self._by_state_key.setdefault(key, []).append(binding)
                rows.append(binding.row)
            section = widgets.VBox([widgets.HTML(f"<b>{html.escape(title)}</b>"), *rows])
            section.add_class("evkit-section")
            sections.append(section)
        super().__init__(
            controller,
            title="evcc",
            sections=[self.live, *sections],
            css_class="evkit-evcc-panel",
            status=self.status,
            tz=tz,
        )
        self._update_status()
        self._update_live()
        self._stop_listening = client.on_change(self._on_state)

    @property
    def controls(self) -> dict[str, widgets.Widget]:
        """The value widget of every setting, by path (``loadpoints/1/mode`` -> the Mode dropdown)."""
        return {path: binding.widget for path, binding in self.bindings.items()}

    def plan_time(self, path: str) -> widgets.Text:
        """The time field of a plan setting (``loadpoints/1/planEnergy``, ``vehicles/x/planSoc``)."""
        binding = self.bindings[path]
        assert binding.time is not None, f"{path} is not a plan"
        return binding.time

    def _on_state(self, path: str, text: str | None) -> None:
        del text
        bindings = self.bindings.values() if path == "site/version" else self._by_state_key.get(path, ())
        for binding in bindings:
            binding.sync()
        if path in ("status", "updated"):
            self._update_status()
        if path.startswith("loadpoints/") and path.rsplit("/", 1)[-1] in LIVE_KEYS:
            self._update_live()

    def _update_live(self) -> None:
        state = self.client.state
        lines = [html_text(loadpoint_live(state, n), 300) for n in self.client.loadpoints]
        self.live.value = "<br>".join(lines) if lines else "<i>no loadpoint published yet</i>"

    def resync(self) -> None:
        """Every field shows evcc's value again (after Discard)."""
        for binding in self.bindings.values():
            binding.sync()

    def _on_apply(self, button: widgets.Button | None = None) -> None:
        super()._on_apply(button)
        for binding in self.bindings.values():  # the applied edits are gone: show evcc's state again
            binding.sync()

    def _update_status(self) -> None:
        client = self.client
        online = {True: "online", False: "offline", None: "no status"}[client.online]
        where = f"{html.escape(client.prefix)}/ · {len(client.loadpoints)} loadpoint(s) · {online}"
        self.status.value = f"<span style='color:#555'>{where}</span>"

    def close(self) -> None:
        """Stop listening and close the client if the panel made it."""
        stop = getattr(self, "_stop_listening", None)
        if stop is not None:
            stop()
        if getattr(self, "_owns_client", False) and hasattr(self, "client"):
            self.client.close()
        super().close()


__all__ = ["EvccPanel", "EvccPanelController", "FieldSpec"]
