"""``GoePanel``: a go-e Charger's settings as widgets, with live state, a preview, Apply and a result log.

>>> from evkit.widgets import GoePanel
>>> GoePanel(http="http://192.168.0.77")                                  # doctest: +SKIP
>>> GoePanel(host="127.0.0.1", serial="012345")                           # doctest: +SKIP

Settings: amp, ama, mca, tcl, frc, psm, lmo, acs, fna, dwo, fup, fzf, lbr. Each widget is labelled in
words with its API key second ("Force state (frc)") and shows the charger's live value next to it
(MQTT: as published; HTTP: polled every ``poll_s`` seconds and after every Apply). An edit appears in
the preview as the exact topic or URL and JSON payload, or the reason it cannot be sent. Nothing is
sent until "Writes enabled" is on and Apply is clicked; Discard forgets the pending edits. A number
out of range is refused with the CLI's own sentence (``evkit set goe``), never clamped to the nearest
allowed value. The logic is :class:`GoePanelController` (no widgets). CSS class ``evkit-goe-panel``.
"""

from __future__ import annotations

import contextlib
import html
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from evkit.control.audit import AuditLog
from evkit.control.base import CommandResult
from evkit.control.goe import GoeController
from evkit.display import SENTENCE_LIMIT, html_text
from evkit.errors import ControlError, SourceError
from evkit.goe.keys import KEYS, hardware_current_limit, label
from evkit.goe.status import DEFAULT_PREFIX, NRG_TOTAL_POWER_INDEX
from evkit.widgets.common import ControlPanel, PendingEdits, preview_html, words

#: Words for each setting (the API key follows in brackets; the tooltip has the key table's text).
LABELS = {
    "frc": "Force state",
    "amp": "Current (A)",
    "psm": "Phase switching",
    "lmo": "Logic mode",
    "dwo": "Energy limit (Wh)",
    "tcl": "Temporary limit (A)",
    "ama": "Maximum current (A)",
    "mca": "Minimum current (A)",
    "acs": "Access control",
    "fup": "Use PV surplus",
    "fzf": "Zero feed-in",
    "fna": "Name",
    "lbr": "LED brightness",
}


@dataclass(frozen=True)
class GoeField:
    """One setting widget: the API key and how it is edited (``int``/``choice``/``text``/``nullable``/
    ``bool``)."""

    key: str
    kind: str
    minimum: int = 0
    maximum: int = 0

    def maximum_for(self, state: dict[str, Any]) -> int:
        """The field's maximum on this charger: a current is capped by ``var``/``adi`` (16 A units)."""
        spec = KEYS.get(self.key)
        limit = hardware_current_limit(state) if spec is not None and spec.hardware_limited else None
        return self.maximum if limit is None else min(self.maximum, limit[0])

    @property
    def label(self) -> str:
        """``Force state (frc)``: words first, the API key second."""
        return f"{LABELS.get(self.key, self.key)} ({self.key})"

    @property
    def spec_description(self) -> str:
        spec = KEYS[self.key]
        return spec.description + (f" ({spec.unit})" if spec.unit else "")


#: The panel's settings, in display order, by section.
SECTIONS: dict[str, tuple[GoeField, ...]] = {
    "Charging": (
        GoeField("frc", "choice"),
        GoeField("amp", "int", 6, 32),
        GoeField("psm", "choice"),
        GoeField("lmo", "choice"),
        GoeField("dwo", "nullable"),
        GoeField("tcl", "nullable"),
    ),
    "Limits and access": (
        GoeField("ama", "int", 6, 32),
        GoeField("mca", "int", 6, 32),
        GoeField("acs", "choice"),
    ),
    "PV and device": (
        GoeField("fup", "bool"),
        GoeField("fzf", "bool"),
        GoeField("fna", "text"),
        GoeField("lbr", "int", 0, 255),
    ),
}

#: Keys shown in the status line.
STATUS_KEYS = ("car", "modelStatus", "nrg", "wh", "eto", "err", "fwv", "mcc", "sse", "var", "adi")
PANEL_KEYS = tuple(f.key for fields in SECTIONS.values() for f in fields)


class GoePanelController(PendingEdits):
    """The panel's logic: pending edits, their preview, and Apply (writes off until enabled)."""

    def __init__(self, goe: GoeController) -> None:
        super().__init__()
        self.goe = goe

    def prepare_line(self, setting: str, value: object) -> tuple[str, str]:
        """The go-e topic or URL and the exact JSON payload for key ``setting``."""
        command = self.goe.prepare(setting, value)
        return command.target, command.payload

    def send(self, setting: str, value: object) -> CommandResult:
        """Send one key and confirm it (MQTT ``/result`` or HTTP read-back)."""
        return self.goe.set(setting, value)

    def refresh(self) -> None:
        """Re-read the panel's keys (HTTP); MQTT state is live already. Raises ``SourceError``."""
        if self.goe.transport_name == "http":
            self.goe.refresh([*PANEL_KEYS, *STATUS_KEYS])


class _Binding:
    """Keeps one field's widget in step with the charger until the user edits it."""

    def __init__(self, field: GoeField, panel: GoePanel) -> None:
        self.field = field
        self.panel = panel
        self.syncing = False
        self.live = widgets.HTML(layout=widgets.Layout(width="380px"))
        self.maximum = field.maximum_for(panel.goe.state)
        self.live.add_class("evkit-live")
        self.widget = self._make()
        self.widget.add_class(f"evkit-goe-{field.key}")
        self.widget.observe(self._on_edit, names="value")
        self.sync()

    def _make(self) -> widgets.Widget:
        field = self.field
        spec = KEYS[field.key]
        common: dict[str, Any] = {
            "description": field.label,
            "description_allow_html": False,
            "tooltip": f"{field.key}: {field.spec_description}",
            "style": {"description_width": "190px"},
            "layout": widgets.Layout(width="370px"),
        }
        if field.kind == "choice":
            options = [(f"{words(name)} ({code})", code) for code, name in (spec.choices or {}).items()]
            return widgets.Dropdown(options=options, value=None, **common)
        if field.kind == "int":
            # Not a bounded widget: it would clamp 40 to 32 and send that. The controller refuses it.
            return widgets.IntText(value=field.minimum, **common)
        if field.kind == "bool":
            return widgets.Checkbox(value=False, indent=True, **common)
        placeholder = "empty = null (off)" if field.kind == "nullable" else ""
        if spec.unit and field.kind == "nullable":
            placeholder = f"{spec.unit}; {placeholder}"
        return widgets.Text(value="", placeholder=placeholder, continuous_update=False, **common)

    @property
    def row(self) -> widgets.HBox:
        """The field's row: the widget and the live value with the key's meaning."""
        return widgets.HBox([self.widget, self.live])

    def sync(self) -> None:
        """Show the charger's current value; overwrite the widget only while no edit is pending."""
        state = self.panel.goe.state
        if self.field.kind == "int":
            self.maximum = self.field.maximum_for(state)  # the unit's limit (var/adi): 16 A on 11 kW units
        key = self.field.key
        known = key in state
        value = state.get(key)
        shown = _shown(key, value, state.get("fwv")) if known else "—"
        allowed = f" · {self.field.minimum}–{self.maximum}" if self.field.kind == "int" else ""
        self.live.value = f"<span style='color:#555'>charger: <b>{html_text(shown)}</b>{allowed}</span>"
        if not known or key in self.panel.controller.edits:
            return
        self.syncing = True
        try:
            self._set_widget(value)
        finally:
            self.syncing = False

    def _set_widget(self, value: Any) -> None:
        kind = self.field.kind
        if kind == "choice":
            if value in [code for _, code in self.widget.options]:
                self.widget.value = value
        elif kind == "int":
            if isinstance(value, int | float) and not isinstance(value, bool):
                self.widget.value = int(value)
        elif kind == "bool":
            self.widget.value = bool(value)
        elif kind == "nullable":
            self.widget.value = "" if value is None else _number_text(value)
        else:
            self.widget.value = "" if value is None else str(value)

    def edited_value(self) -> object:
        """The widget's value as the controller takes it (empty nullable text = null)."""
        value = self.widget.value
        if self.field.kind == "nullable":
            text = str(value).strip()
            return None if text == "" else text
        return value

    def _on_edit(self, change: dict[str, Any]) -> None:
        del change
        if self.syncing:
            return
        if self.field.kind == "choice" and self.widget.value is None:
            return
        self.panel.controller.edit(self.field.key, self.edited_value())
        self.panel.refresh_preview()


def _nothing() -> None:
    return None


def _number_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _shown(key: str, value: Any, firmware: Any = None) -> str:
    if value is None:
        return "null"
    name = label(key, value, firmware=firmware if isinstance(firmware, str) else None)
    if name is not None:
        return f"{words(name)} ({value})"
    if isinstance(value, bool):
        return "true" if value else "false"
    return _number_text(value)


class GoePanel(ControlPanel):
    """A go-e Charger's settings as a widget panel (see the module docs).

    Give ``http`` (the charger's URL), or MQTT details (``host``, ``port``, ``serial``, ``prefix``,
    ``username``, ``password``, ``tls``), or a ready ``controller``. ``audit`` is the store whose
    ``audit/`` receives every command (``None`` for no audit). ``poll_s`` sets how often HTTP state is
    re-read (0 = only on Refresh and after Apply).
    """

    controller: GoePanelController

    def __init__(
        self,
        http: str | None = None,
        *,
        host: str | None = None,
        port: int = 1883,
        serial: str | None = None,
        prefix: str = DEFAULT_PREFIX,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        audit: AuditLog | Path | str | None = "data",
        timeout: float = 5.0,
        poll_s: float = 2.0,
        controller: GoeController | None = None,
        tz: str | None = None,
    ) -> None:
        self._closed = threading.Event()
        self._stop_listening: Callable[[], None] = _nothing
        self._owns_goe = controller is None
        if controller is None:
            if http is not None:
                controller = GoeController.over_http(http, audit=audit, timeout=timeout)
            elif host is not None and serial:
                controller = GoeController.over_mqtt(
                    host,
                    port,
                    serial=serial,
                    prefix=prefix,
                    username=username,
                    password=password,
                    tls=tls,
                    audit=audit,
                    timeout=timeout,
                )
            else:
                raise ControlError("GoePanel needs http='http://<charger>' or host=... and serial=...")
        self.goe = controller
        self.controller = GoePanelController(controller)
        self.status = widgets.HTML()
        self.status.add_class("evkit-status")
        self.refresh_button = widgets.Button(
            description="Refresh", icon="refresh", tooltip="re-read the charger"
        )
        self.refresh_button.add_class("evkit-refresh")
        self.refresh_button.on_click(self._on_refresh)
        self._load_state()
        self.bindings: dict[str, _Binding] = {}
        sections: list[widgets.Widget] = []
        for title, fields in SECTIONS.items():
            rows = []
            for field in fields:
                binding = _Binding(field, self)
                self.bindings[field.key] = binding
                rows.append(binding.row)
            section = widgets.VBox([widgets.HTML(f"<b>{html.escape(title)}</b>"), *rows])
            section.add_class("evkit-section")
            sections.append(section)
        header = widgets.HBox([self.status, self.refresh_button])
        super().__init__(
            self.controller,
            title="go-e Charger",
            sections=sections,
            css_class="evkit-goe-panel",
            status=header,
            tz=tz,
        )
        self._update_status()
        self._stop_listening = controller.on_change(self._on_state)
        self._poller: threading.Thread | None = None
        if controller.transport_name == "http" and poll_s > 0:
            self._poller = threading.Thread(
                target=self._poll, args=(poll_s,), name="goe-panel-poll", daemon=True
            )
            self._poller.start()

    # ------------------------------------------------------------------ public helpers

    @property
    def controls(self) -> dict[str, widgets.Widget]:
        """The value widget of every setting, by key (``amp`` -> its int field)."""
        return {key: binding.widget for key, binding in self.bindings.items()}

    def close(self) -> None:
        """Stop polling and listening; close the connection this panel opened; close the widgets."""
        self._closed.set()
        self._stop_listening()
        goe = getattr(self, "goe", None)
        if self._owns_goe and goe is not None:
            goe.close()
        super().close()

    def resync(self) -> None:
        """Every field shows the charger's value again (after Discard)."""
        for binding in self.bindings.values():
            binding.sync()

    def refresh_preview(self) -> None:
        """Re-validate the pending edits and show what would be sent (over MQTT or HTTP)."""
        text = preview_html(self.controller.preview())
        if self.goe.transport_name == "http":
            text = text.replace("(QoS 1, not retained)", "(HTTP GET to the charger's API v2)")
        self.preview.value = text

    # ------------------------------------------------------------------ state

    def _load_state(self) -> None:
        try:
            self.controller.refresh()
        except SourceError as exc:
            self._load_error = str(exc)
        else:
            self._load_error = ""
        if self.goe.transport_name == "mqtt":
            self.goe.wait_for_keys(PANEL_KEYS, timeout=2.0)

    def _on_state(self, key: str, value: Any) -> None:
        del value
        binding = self.bindings.get(key)
        if binding is not None:
            binding.sync()
        if key in ("var", "adi"):  # the unit's current limit changed: the current fields follow
            for other in self.bindings.values():
                if other.field.kind == "int":
                    other.sync()
        if key in STATUS_KEYS:
            self._update_status()

    def _on_refresh(self, button: widgets.Button | None = None) -> None:
        del button
        try:
            self.controller.refresh()
        except SourceError as exc:
            self.result_log.note(f"refresh failed: {exc}", error=True)
            return
        for binding in self.bindings.values():
            binding.sync()
        self._update_status()

    def _poll(self, every_s: float) -> None:
        while not self._closed.wait(every_s):
            try:
                self.controller.refresh()
            except SourceError:
                continue  # shown on the next successful read; Refresh reports the reason

    def _on_apply(self, button: widgets.Button | None = None) -> None:
        super()._on_apply(button)
        if self.controller.writes_enabled:
            with contextlib.suppress(SourceError):  # the log already says how the command went
                self.controller.refresh()
            for binding in self.bindings.values():
                binding.sync()

    def _update_status(self) -> None:
        state = self.goe.state
        parts = [html.escape(self.goe.where)]
        if "car" in state:
            parts.append(f"car: {html_text(_shown('car', state['car']))}")
        nrg = state.get("nrg")
        if isinstance(nrg, list) and len(nrg) > NRG_TOTAL_POWER_INDEX:
            power = nrg[NRG_TOTAL_POWER_INDEX]
            if isinstance(power, int | float):
                parts.append(f"power: {power / 1000:.2f} kW")
        if isinstance(state.get("wh"), int | float):
            parts.append(f"session: {state['wh'] / 1000:.2f} kWh")
        if "modelStatus" in state:
            name = label("modelStatus", state["modelStatus"])
            parts.append(html.escape(words(name) if name else f"status {state['modelStatus']}"))
        if state.get("err") not in (None, 0):
            error = html_text(_shown("err", state["err"], state.get("fwv")))
            parts.append(f"<b style='color:#b00020'>error {error}</b>")
        if self._load_error:
            parts.append(f"<span style='color:#b00020'>{html_text(self._load_error, SENTENCE_LIMIT)}</span>")
        self.status.value = f"<span style='color:#555'>{' · '.join(parts)}</span>"


__all__ = ["SECTIONS", "GoeField", "GoePanel", "GoePanelController"]
