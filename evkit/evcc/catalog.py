"""Every writable evcc MQTT topic: its name, scope, parser kind, unit and range (the setter catalog).

Pure knowledge, no I/O. Source of truth is evcc's code, not its docs (``server/mqtt.go`` setter lists
``listenSiteSetters`` / ``listenLoadpointSetters`` / ``listenVehicleSetters``, ``server/mqtt_setter.go``
parsers; evcc-io/evcc at b29b49e3): the plan topic is ``planEnergy`` (not ``plan/energy``), battery boost
is ``batteryBoost`` (not ``batteryboost``), phases are set on ``phasesConfigured``. The catalog is tested
against ``tests/conformance/evcc_setters.py``, which is transcribed from evcc's source with file:line.

Which evcc release has which setter is in :mod:`evkit.evcc.versions`; building the payload and the
expected echo in :mod:`evkit.evcc.setters`; evcc's own parsers (for the simulator) in
:mod:`evkit.evcc.parsers`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from evkit.errors import ValidationError
from evkit.evcc.state import LOADPOINT_KEYS, MODES, SITE_KEYS, VEHICLE_KEYS, Scope

#: What evcc accepts as a battery mode (``api.BatteryMode`` names; an empty word releases control).
BATTERY_MODES = ("normal", "hold", "charge", "holdcharge")

#: The released battery mode (``api.BatteryUnknown``): evcc takes it as a release and publishes it after one.
BATTERY_RELEASED = "unknown"

#: evcc's zero time in JSON (Go ``time.Time{}``): "no plan time" when a plan is deleted.
ZERO_TIME = "0001-01-01T00:00:00Z"

#: Word sent to reset a nullable setting (evcc accepts ``-``, ``nil``, ``null``, ``none``).
RESET_WORD = "null"


class SetterKind(StrEnum):
    """evcc's parser for a ``/set`` topic."""

    FLOAT = "float"  # floatSetter: strconv.ParseFloat, no NaN/Inf
    FLOAT_OR_RESET = "float_or_reset"  # floatPtrSetter: float, or an empty word = reset
    INT = "int"  # intSetter: strconv.Atoi only (80, never 80.0)
    BOOL = "bool"  # boolSetter
    DURATION = "duration"  # durationSetter: whole seconds
    MODE = "mode"  # off / now / minpv / pv
    BATTERY_MODE = "battery_mode"  # normal / hold / charge / holdcharge, or an empty word
    PHASES = "phases"  # int 0 / 1 / 3
    PLAN_ENERGY = "plan_energy"  # {"value": kWh float, "time": RFC3339}
    PLAN_SOC = "plan_soc"  # {"value": int %, "time": RFC3339}
    PLAN_STRATEGY = "plan_strategy"  # {"continuous": bool, "precondition": int seconds}
    VEHICLE = "vehicle"  # a vehicle name, or an empty word (guest)


@dataclass(frozen=True)
class Setter:
    """One writable topic (the leaf below a site, loadpoint or vehicle)."""

    name: str
    scope: Scope
    kind: SetterKind
    unit: str | None = None
    description: str = ""
    minimum: float | None = None
    maximum: float | None = None
    #: state keys (same device) whose new value confirms the command; empty = the setter's own name
    echo: tuple[str, ...] = ()
    #: a note shown with every result (e.g. the battery-mode watchdog)
    note: str = ""
    #: evcc publishes the echo on every successful call, changed or not (so only its arrival confirms,
    #: and no echo means evcc dropped the command); False: on a change only, or not known
    republished: bool = False

    @property
    def echo_keys(self) -> tuple[str, ...]:
        """State keys that show the new value."""
        return self.echo or (self.name,)

    def allowed(self) -> str:
        """What values this setter takes, in words."""
        bounds = _bounds_text(self.minimum, self.maximum, self.unit)
        texts = {
            SetterKind.FLOAT: f"a number{bounds}",
            SetterKind.FLOAT_OR_RESET: f"a number{bounds}, or null/none/-/nil to reset",
            SetterKind.INT: f"a whole number{bounds}",
            SetterKind.BOOL: "true or false",
            SetterKind.DURATION: f"whole seconds{bounds} (e.g. 60, 90s, 2m)",
            SetterKind.MODE: "one of " + ", ".join(MODES),
            SetterKind.BATTERY_MODE: (
                "one of " + ", ".join(BATTERY_MODES) + ", or null/unknown to release control"
            ),
            SetterKind.PHASES: "0 (automatic), 1 or 3",
            SetterKind.PLAN_ENERGY: (
                f'{{"value": <kWh>, "time": "<future UTC time>Z"}} or <kWh>@<ISO time>{bounds};'
                " value 0 or null deletes the plan"
            ),
            SetterKind.PLAN_SOC: (
                f'{{"value": <whole %>, "time": "<future UTC time>Z"}} or <%>@<ISO time>{bounds};'
                " value 0 or null deletes the plan"
            ),
            SetterKind.PLAN_STRATEGY: '{"continuous": true|false, "precondition": <seconds>}',
            SetterKind.VEHICLE: "a vehicle name, or null for a guest vehicle",
        }
        return texts[self.kind]


def _bounds_text(minimum: float | None, maximum: float | None, unit: str | None) -> str:
    suffix = f" {unit}" if unit else ""
    if minimum is not None and maximum is not None:
        return f" from {_num(minimum)} to {_num(maximum)}{suffix}"
    if minimum is not None:
        return f" >= {_num(minimum)}{suffix}"
    if maximum is not None:
        return f" <= {_num(maximum)}{suffix}"
    return f" ({unit})" if unit else ""


def _num(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


_K = SetterKind


def _catalog(scope: Scope, *setters: Setter) -> dict[str, Setter]:
    return {s.name: s for s in setters if s.scope == scope}


SITE_SETTERS: dict[str, Setter] = _catalog(
    "site",
    Setter("bufferSoc", "site", _K.FLOAT, "%", "battery buffer SoC", 0, 100),
    Setter("bufferStartSoc", "site", _K.FLOAT, "%", "battery buffer start SoC", 0, 100),
    Setter("prioritySoc", "site", _K.FLOAT, "%", "battery priority SoC", 0, 100),
    Setter("residualPower", "site", _K.FLOAT, "W", "grid residual power (target grid power)"),
    Setter("gridExportLimit", "site", _K.FLOAT, "W", "grid export limit; 0 = off", 0),
    Setter("batteryDischargeControl", "site", _K.BOOL, None, "hold the battery while fast charging"),
    Setter("batteryGridDischarge", "site", _K.BOOL, None, "allow battery discharge to the grid"),
    Setter(
        "batteryGridChargeLimit", "site", _K.FLOAT_OR_RESET, "currency/kWh", "charge battery from grid below"
    ),
    Setter("solarAdjusted", "site", _K.BOOL, None, "solar-adjusted forecast"),
    Setter(
        "smartCostLimit",
        "site",
        _K.FLOAT_OR_RESET,
        "currency/kWh",
        "smart charging cost limit for all loadpoints",
        echo=("loadpoints/*/smartCostLimit",),
    ),
    Setter(
        "smartFeedInPriorityLimit",
        "site",
        _K.FLOAT_OR_RESET,
        "currency/kWh",
        "feed-in priority limit for all loadpoints",
        echo=("loadpoints/*/smartFeedInPriorityLimit",),
    ),
    Setter(
        "batteryMode",
        "site",
        _K.BATTERY_MODE,
        None,
        "external battery mode",
        echo=("batteryModeExternal",),
        note="evcc resets an external battery mode after 60 s unless it is sent again",
    ),
)

LOADPOINT_SETTERS: dict[str, Setter] = _catalog(
    "loadpoint",
    Setter("mode", "loadpoint", _K.MODE, None, "charge mode"),
    Setter("phasesConfigured", "loadpoint", _K.PHASES, None, "phases: 0 automatic, 1, 3", republished=True),
    Setter("limitSoc", "loadpoint", _K.INT, "%", "charge limit SoC (online vehicles)", 0, 100),
    Setter("minSoc", "loadpoint", _K.INT, "%", "minimum SoC charged fast", 0, 100),
    Setter("priority", "loadpoint", _K.INT, None, "loadpoint priority", 0, 100),
    Setter("minCurrent", "loadpoint", _K.FLOAT, "A", "minimum current", 0, 80),
    Setter("maxCurrent", "loadpoint", _K.FLOAT, "A", "maximum current", 0, 80),
    Setter("limitEnergy", "loadpoint", _K.FLOAT, "kWh", "charge limit energy (offline vehicles)", 0),
    Setter("enableThreshold", "loadpoint", _K.FLOAT, "W", "PV enable threshold"),
    Setter("disableThreshold", "loadpoint", _K.FLOAT, "W", "PV disable threshold"),
    Setter("enableDelay", "loadpoint", _K.DURATION, "s", "PV enable delay", 0),
    Setter("disableDelay", "loadpoint", _K.DURATION, "s", "PV disable delay", 0),
    Setter("smartCostLimit", "loadpoint", _K.FLOAT_OR_RESET, "currency/kWh", "smart charging cost limit"),
    Setter("smartFeedInPriorityLimit", "loadpoint", _K.FLOAT_OR_RESET, "currency/kWh", "feed-in limit"),
    Setter("batteryBoost", "loadpoint", _K.BOOL, None, "battery boost (modes pv and minpv only)"),
    Setter("batteryBoostLimit", "loadpoint", _K.INT, "%", "battery boost SoC limit", 0, 100),
    Setter(
        "planStrategy",
        "loadpoint",
        _K.PLAN_STRATEGY,
        None,
        "plan strategy",
        echo=("planStrategy/continuous", "planStrategy/precondition"),
        republished=True,
    ),
    Setter(
        "planEnergy", "loadpoint", _K.PLAN_ENERGY, "kWh", "energy plan", 0, echo=("planEnergy", "planTime")
    ),
    Setter(
        "vehicle",
        "loadpoint",
        _K.VEHICLE,
        None,
        "vehicle on this loadpoint",
        echo=("vehicleName",),
        republished=True,
    ),
)

VEHICLE_SETTERS: dict[str, Setter] = _catalog(
    "vehicle",
    Setter("limitSoc", "vehicle", _K.INT, "%", "vehicle charge limit SoC", 0, 100, republished=True),
    Setter("minSoc", "vehicle", _K.INT, "%", "vehicle minimum SoC", 0, 100, republished=True),
    Setter(
        "planStrategy",
        "vehicle",
        _K.PLAN_STRATEGY,
        None,
        "plan strategy",
        echo=("planStrategy/continuous", "planStrategy/precondition"),
        republished=True,
    ),
    Setter(
        "planSoc",
        "vehicle",
        _K.PLAN_SOC,
        "%",
        "SoC plan",
        0,
        100,
        echo=("plan/soc", "plan/time"),
        republished=True,
    ),
)

SETTERS: dict[Scope, dict[str, Setter]] = {
    "site": SITE_SETTERS,
    "loadpoint": LOADPOINT_SETTERS,
    "vehicle": VEHICLE_SETTERS,
}

#: Topics people try from old docs or other tools, and what to use instead.
RENAMED: dict[str, str] = {
    "plan/energy": "planEnergy",
    "batteryboost": "batteryBoost",
    "phases": "phasesConfigured",
    "targetSoc": "limitSoc",
    "targetEnergy": "limitEnergy",
    "targetTime": "planEnergy (loadpoint) or planSoc (vehicle)",
    "plan/soc": "planSoc",
    "effectiveLimitSoc": "limitSoc",
    "effectivePlanSoc": "planSoc",
}

_STATE_KEYS: dict[Scope, Mapping[str, object]] = {
    "site": SITE_KEYS,
    "loadpoint": LOADPOINT_KEYS,
    "vehicle": VEHICLE_KEYS,
}


# --------------------------------------------------------------------------------------------------
# Paths


@dataclass(frozen=True)
class Target:
    """A resolved writable path: ``loadpoints/1/mode`` -> device ``loadpoints/1``, setter ``mode``."""

    device_id: str  # "site", "loadpoints/1", "vehicles/db:3"
    setter: Setter

    @property
    def path(self) -> str:
        """``<device>/<setter>`` below the prefix."""
        return f"{self.device_id}/{self.setter.name}"

    def topic(self, prefix: str) -> str:
        """The topic to publish to: ``<prefix>/<path>/set``."""
        return f"{prefix.strip('/')}/{self.path}/set"


def writable_paths(loadpoints: Iterable[int] = (1,), vehicles: Iterable[str] = ("<name>",)) -> list[str]:
    """Every writable path for the given loadpoints and vehicles, in catalog order."""
    paths = [f"site/{name}" for name in SITE_SETTERS]
    paths += [f"loadpoints/{n}/{name}" for n in loadpoints for name in LOADPOINT_SETTERS]
    paths += [f"vehicles/{v}/{name}" for v in vehicles for name in VEHICLE_SETTERS]
    return paths


def _unknown_setter(scope: Scope, device_id: str, name: str) -> ValidationError:
    catalog = SETTERS[scope]
    where = f"{device_id}/{name}"
    if name in RENAMED:
        return ValidationError(f"{where} is not an evcc topic: use {device_id}/{RENAMED[name]}")
    if name in _STATE_KEYS[scope]:
        head = f"{where} is read-only state"
    else:
        head = f"{where} is not a writable evcc topic"
    close = difflib.get_close_matches(name, list(catalog), n=3, cutoff=0.6)
    lowered = [s for s in catalog if s.lower() == name.lower()]
    suggestions = " or ".join(f"{device_id}/{c}" for c in (lowered or close))
    hint = f" (did you mean {suggestions}?)" if suggestions else ""
    return ValidationError(f"{head}{hint}. Writable {scope} topics: {', '.join(catalog)}")


def resolve(
    path: str,
    *,
    prefix: str = "evcc",
    loadpoints: Iterable[int] | None = None,
    vehicles: Iterable[str] | None = None,
) -> Target:
    """Resolve a user's path (``loadpoints/1/mode``, ``site/residualPower``, ``vehicles/x/limitSoc``).

    A leading prefix and a trailing ``/set`` are tolerated. With ``loadpoints``/``vehicles`` (what
    the evcc instance published), the loadpoint or vehicle must exist. Raises ``ValidationError``.
    """
    bad = sorted({c for c in path if c in "#+\x00"})
    if bad:
        shown = " and ".join(repr(c) for c in bad)
        raise ValidationError(
            f"{path!r} contains {shown}: a setting's path names one topic, MQTT wildcards (and NUL) are "
            "not allowed; e.g. loadpoints/1/mode, site/residualPower or vehicles/<name>/limitSoc"
        )
    text = path.strip().strip("/")
    prefix = prefix.strip("/")
    if prefix and text.startswith(prefix + "/"):
        text = text[len(prefix) + 1 :]
    if text.endswith("/set"):
        text = text[: -len("/set")]
    parts = text.split("/")
    usage = "PATH must look like site/<topic>, loadpoints/<n>/<topic> or vehicles/<name>/<topic>"
    if parts[0] == "site" and len(parts) >= 2:
        name = "/".join(parts[1:])
        if name not in SITE_SETTERS:
            raise _unknown_setter("site", "site", name)
        return Target("site", SITE_SETTERS[name])
    if parts[0] in ("loadpoints", "loadpoint", "lp") and len(parts) >= 3:
        if not parts[1].isdigit() or int(parts[1]) < 1:
            raise ValidationError(f"loadpoint ids are whole numbers from 1, got {parts[1]!r}; {usage}")
        number = int(parts[1])
        known = sorted(set(loadpoints)) if loadpoints is not None else None
        if known is not None and known and number not in known:
            raise ValidationError(
                f"evcc has no loadpoint {number}; its loadpoints are {', '.join(map(str, known))}"
            )
        device_id, name = f"loadpoints/{number}", "/".join(parts[2:])
        if name not in LOADPOINT_SETTERS:
            raise _unknown_setter("loadpoint", device_id, name)
        return Target(device_id, LOADPOINT_SETTERS[name])
    if parts[0] in ("vehicles", "vehicle") and len(parts) >= 3:
        vehicle = parts[1]
        if not vehicle.strip():
            raise ValidationError(f"{path!r}: the vehicle name is empty; {usage}")
        known_vehicles = sorted(set(vehicles)) if vehicles is not None else None
        if known_vehicles is not None and known_vehicles and vehicle not in known_vehicles:
            close = difflib.get_close_matches(vehicle, known_vehicles, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ValidationError(
                f"evcc has no vehicle {vehicle!r}{hint}; its vehicles are {', '.join(known_vehicles)}"
            )
        device_id, name = f"vehicles/{vehicle}", "/".join(parts[2:])
        if name not in VEHICLE_SETTERS:
            raise _unknown_setter("vehicle", device_id, name)
        return Target(device_id, VEHICLE_SETTERS[name])
    raise ValidationError(f"{path!r}: {usage}")


__all__ = [
    "BATTERY_MODES",
    "BATTERY_RELEASED",
    "LOADPOINT_SETTERS",
    "RENAMED",
    "RESET_WORD",
    "SETTERS",
    "SITE_SETTERS",
    "VEHICLE_SETTERS",
    "ZERO_TIME",
    "Setter",
    "SetterKind",
    "Target",
    "resolve",
    "writable_paths",
]
