"""Every writable evcc MQTT topic, with its type and rules, and the exact payload to send.

Pure knowledge, no I/O: the controller, the CLI, the panel and the simulator all use this module.
Source of truth is evcc's code (``server/mqtt.go`` setter lists, ``server/mqtt_setter.go`` parsers,
``core/*_api.go`` checks; see ``shared/reference/evcc-and-goe.md`` A.4), which differs from its docs:
the plan topic is ``planEnergy`` (not ``plan/energy``), battery boost is ``batteryBoost`` (not
``batteryboost``), phases are set on ``phasesConfigured``.

Two directions:

- :func:`build_command` (what we send): lenient about what people type (``"80.0"``, ``80.0``,
  ``"2m"``, ``"PV"``), strict about what goes out (int setters get ``80``, durations whole seconds,
  booleans ``true``/``false``, plans JSON with a future UTC ``Z`` time). Anything invalid raises
  :class:`~evkit.errors.ValidationError` saying what is allowed, and nothing is sent.
- :func:`evcc_parse` (what evcc accepts): the strict parsers of evcc itself (``strconv.Atoi`` for
  ints, so ``80.0`` is refused). The simulator uses them, so it reacts to bad payloads like evcc.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from evkit.errors import ValidationError
from evkit.evcc.state import (
    EMPTY_WORDS,
    LOADPOINT_KEYS,
    MODES,
    SITE_KEYS,
    VEHICLE_KEYS,
    Scope,
    encode_state,
)

#: What evcc accepts as a battery mode (``api.BatteryMode`` names; an empty word releases control).
BATTERY_MODES = ("normal", "hold", "charge", "holdcharge")

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
            SetterKind.BATTERY_MODE: "one of " + ", ".join(BATTERY_MODES) + ", or null to release control",
            SetterKind.PHASES: "0 (automatic), 1 or 3",
            SetterKind.PLAN_ENERGY: (
                f'{{"value": <kWh>, "time": "<future UTC time>Z"}} or <kWh>@<ISO time>{bounds};'
                " null deletes the plan"
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
    Setter("phasesConfigured", "loadpoint", _K.PHASES, None, "phases: 0 automatic, 1, 3"),
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
    ),
    Setter(
        "planEnergy", "loadpoint", _K.PLAN_ENERGY, "kWh", "energy plan", 0, echo=("planEnergy", "planTime")
    ),
    Setter("vehicle", "loadpoint", _K.VEHICLE, None, "vehicle on this loadpoint", echo=("vehicleName",)),
)

VEHICLE_SETTERS: dict[str, Setter] = _catalog(
    "vehicle",
    Setter("limitSoc", "vehicle", _K.INT, "%", "vehicle charge limit SoC", 0, 100),
    Setter("minSoc", "vehicle", _K.INT, "%", "vehicle minimum SoC", 0, 100),
    Setter(
        "planStrategy",
        "vehicle",
        _K.PLAN_STRATEGY,
        None,
        "plan strategy",
        echo=("planStrategy/continuous", "planStrategy/precondition"),
    ),
    Setter("planSoc", "vehicle", _K.PLAN_SOC, "%", "SoC plan", 0, 100, echo=("plan/soc", "plan/time")),
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


# --------------------------------------------------------------------------------------------------
# Building a command (lenient input, exact output)


@dataclass(frozen=True)
class SetCommand:
    """A validated command: the exact payload, and the state that will confirm it.

    ``expected`` maps state paths (below the prefix, e.g. ``loadpoints/1/mode``) to the text evcc
    will publish on success (``""`` = the topic is deleted, i.e. reset).
    """

    target: Target
    payload: str
    expected: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> str:
        """The setting's path below the prefix."""
        return self.target.path

    def topic(self, prefix: str) -> str:
        """``<prefix>/<path>/set``."""
        return self.target.topic(prefix)


def _fail(target: Target, value: object, why: str = "") -> ValidationError:
    shown = value if isinstance(value, str) else repr(value)
    reason = f" ({why})" if why else ""
    return ValidationError(
        f"{target.path}: {shown!r} is not allowed{reason}; it takes {target.setter.allowed()}"
    )


def _is_empty_word(value: object) -> bool:
    # an empty text (a cleared widget, ``""`` on the CLI) means "no value" too
    return value is None or (isinstance(value, str) and value.strip().lower() in (*EMPTY_WORDS, ""))


def _to_float(target: Target, value: object) -> float:
    if isinstance(value, bool):
        raise _fail(target, value)
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise _fail(target, value) from None
    else:
        raise _fail(target, value)
    if math.isnan(number) or math.isinf(number):
        raise _fail(target, value, "NaN and infinity are refused by evcc")
    return number


def _to_int(target: Target, value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = _to_float(target, value)
    if not number.is_integer():
        raise _fail(target, value, "a whole number is required")
    return int(number)


def _to_bool(target: Target, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("true", "1", "on", "yes"):
            return True
        if word in ("false", "0", "off", "no"):
            return False
    raise _fail(target, value)


_DURATION = re.compile(r"^\s*(?:(?P<h>\d+)\s*h)?\s*(?:(?P<m>\d+)\s*m(?:in)?)?\s*(?:(?P<s>\d+)\s*s?)?\s*$")


def _to_seconds(target: Target, value: object) -> int:
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
        if not seconds.is_integer():
            raise _fail(target, value, "whole seconds only")
        return int(seconds)
    if isinstance(value, str) and not re.fullmatch(r"\s*[-+]?[\d.eE+-]+\s*", value):
        match = _DURATION.match(value)
        if not match or not any(match.groupdict().values()):
            raise _fail(target, value)
        parts = {k: int(v) for k, v in match.groupdict().items() if v}
        return parts.get("h", 0) * 3600 + parts.get("m", 0) * 60 + parts.get("s", 0)
    return _to_int(target, value)


def _check_bounds(target: Target, number: float, original: object) -> None:
    low, high = target.setter.minimum, target.setter.maximum
    if (low is not None and number < low) or (high is not None and number > high):
        raise _fail(target, original, "out of range")


def plain_float(number: float) -> str:
    """A float as evcc's ``ParseFloat`` reads it, shortest form: ``16``, ``6.5``, ``0.25``."""
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return repr(number)


def _state_float(text: str | None) -> float | None:
    if text is None or text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return None


def parse_time(target: Target, value: object) -> datetime:
    """A plan time: an aware datetime, an ISO text with ``Z`` or an offset, or Unix seconds."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        moment = datetime.fromtimestamp(float(value), UTC)
    elif isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d{9,11}", text):
            moment = datetime.fromtimestamp(int(text), UTC)
        else:
            try:
                moment = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
            except ValueError:
                raise ValidationError(
                    f"{target.path}: plan time {text!r} is not an ISO time such as 2026-03-05T07:00:00Z"
                ) from None
    else:
        raise ValidationError(f"{target.path}: plan time {value!r} is not a time")
    if moment.tzinfo is None:
        raise ValidationError(
            f"{target.path}: plan time {moment.isoformat()} has no timezone; give UTC with Z "
            f"(e.g. {moment.strftime('%Y-%m-%dT%H:%M:%S')}Z) or an offset such as +01:00"
        )
    return moment.astimezone(UTC)


def format_time(moment: datetime) -> str:
    """UTC ``yyyy-mm-ddThh:mm:ssZ`` as evcc's docs show it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _split_plan(target: Target, value: object) -> tuple[object, object]:
    if isinstance(value, Mapping):
        if "value" not in value or "time" not in value:
            raise _fail(target, dict(value), 'both "value" and "time" are needed')
        return value["value"], value["time"]
    if isinstance(value, tuple | list) and len(value) == 2:
        return value[0], value[1]
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError as exc:
                raise _fail(target, value, f"invalid JSON: {exc.msg}") from None
            if isinstance(parsed, dict):
                return _split_plan(target, parsed)
        if "@" in text:
            amount, _, when = text.partition("@")
            return amount, when
    raise _fail(target, value)


def _build_plan(target: Target, value: object, state: Mapping[str, str], now: datetime) -> SetCommand:
    kind = target.setter.kind
    device = target.device_id
    value_key, time_key = (f"{device}/{k}" for k in target.setter.echo_keys)
    # a deleted plan: evcc publishes planEnergy 0 / a vehicle's plan fields empty, and no plan time
    cleared = {value_key: "0" if kind is SetterKind.PLAN_ENERGY else "", time_key: ""}
    if _is_empty_word(value):
        payload = json.dumps({"value": 0, "time": ZERO_TIME}, separators=(",", ":"))
        return SetCommand(target, payload, cleared)
    amount_raw, when_raw = _split_plan(target, value)
    if kind is SetterKind.PLAN_SOC:
        amount: float = _to_int(target, amount_raw)
    else:
        amount = _to_float(target, amount_raw)
    _check_bounds(target, amount, amount_raw)
    if amount == 0 and kind is SetterKind.PLAN_SOC:
        payload = json.dumps({"value": 0, "time": ZERO_TIME}, separators=(",", ":"))
        return SetCommand(target, payload, cleared)
    moment = parse_time(target, when_raw).replace(microsecond=0)
    if moment <= now:
        raise ValidationError(
            f"{target.path}: plan time {format_time(moment)} is in the past (now {format_time(now)}); "
            "evcc refuses it — give a future time"
        )
    json_value: int | float = int(amount) if kind is SetterKind.PLAN_SOC or amount.is_integer() else amount
    payload = json.dumps({"value": json_value, "time": format_time(moment)}, separators=(",", ":"))
    expected_value = encode_state(int(amount) if kind is SetterKind.PLAN_SOC else float(amount))
    return SetCommand(target, payload, {value_key: expected_value, time_key: str(int(moment.timestamp()))})


def _build_strategy(target: Target, value: object) -> SetCommand:
    raw: object = value
    if isinstance(value, str):
        try:
            raw = json.loads(value)
        except json.JSONDecodeError as exc:
            raise _fail(target, value, f"invalid JSON: {exc.msg}") from None
    if not isinstance(raw, Mapping) or set(raw) - {"continuous", "precondition"} or not raw:
        raise _fail(target, value)
    continuous = _to_bool(target, raw.get("continuous", False))
    precondition = _to_seconds(target, raw.get("precondition", 0))
    if precondition < 0:
        raise _fail(target, value, "precondition must be >= 0 s")
    payload = json.dumps({"continuous": continuous, "precondition": precondition}, separators=(",", ":"))
    device = target.device_id
    return SetCommand(
        target,
        payload,
        {
            f"{device}/planStrategy/continuous": "true" if continuous else "false",
            f"{device}/planStrategy/precondition": str(precondition),
        },
    )


def _check_site_battery(target: Target, number: float, state: Mapping[str, str]) -> None:
    name = target.setter.name
    buffer_soc = _state_float(state.get("site/bufferSoc"))
    buffer_start = _state_float(state.get("site/bufferStartSoc"))
    priority = _state_float(state.get("site/prioritySoc"))
    if name == "bufferSoc" and number != 0:
        if priority is not None and number < priority:
            raise ValidationError(
                f"site/bufferSoc {plain_float(number)} % is below prioritySoc {plain_float(priority)} %; "
                "evcc needs 0 or a value >= prioritySoc"
            )
        if buffer_start and number > buffer_start:
            raise ValidationError(
                f"site/bufferSoc {plain_float(number)} % is above bufferStartSoc "
                f"{plain_float(buffer_start)} %; evcc needs bufferSoc <= bufferStartSoc"
            )
    if name == "bufferStartSoc" and number != 0 and buffer_soc is not None and number < buffer_soc:
        raise ValidationError(
            f"site/bufferStartSoc {plain_float(number)} % is below bufferSoc {plain_float(buffer_soc)} %; "
            "evcc needs 0 or a value >= bufferSoc"
        )
    if name == "prioritySoc" and buffer_soc and number > buffer_soc:
        raise ValidationError(
            f"site/prioritySoc {plain_float(number)} % is above bufferSoc {plain_float(buffer_soc)} %; "
            "evcc needs prioritySoc <= bufferSoc"
        )


def _check_loadpoint(target: Target, number: float, state: Mapping[str, str]) -> None:
    name, device = target.setter.name, target.device_id
    if name == "minCurrent":
        maximum = _state_float(state.get(f"{device}/maxCurrent"))
        if maximum is not None and number > maximum:
            raise ValidationError(
                f"{device}/minCurrent {plain_float(number)} A is above maxCurrent {plain_float(maximum)} A; "
                f"allowed: up to {plain_float(maximum)} A (or raise maxCurrent first)"
            )
    if name == "maxCurrent":
        minimum = _state_float(state.get(f"{device}/minCurrent"))
        if minimum is not None and number < minimum:
            raise ValidationError(
                f"{device}/maxCurrent {plain_float(number)} A is below minCurrent {plain_float(minimum)} A; "
                f"allowed: {plain_float(minimum)} A or more (or lower minCurrent first)"
            )
    if name == "phasesConfigured":
        switchable = state.get(f"{device}/chargerPhases1p3p")
        single = state.get(f"{device}/chargerSinglePhase")
        if number == 0 and switchable == "false":
            raise ValidationError(
                f"{device}/phasesConfigured 0 (automatic) needs a charger that switches phases; "
                "this one cannot: allowed 1 or 3"
            )
        if number == 3 and single == "true":
            raise ValidationError(f"{device}/phasesConfigured 3: this charger is single-phase; allowed: 1")


def build_command(
    target: Target,
    value: object,
    state: Mapping[str, str] | None = None,
    *,
    now: datetime | None = None,
    vehicles: Iterable[str] | None = None,
    loadpoints: Iterable[int] | None = None,
) -> SetCommand:
    """Validate ``value`` for ``target`` and build the exact payload. Raises ``ValidationError``.

    ``state`` maps state paths below the prefix (``loadpoints/1/maxCurrent``) to evcc's published
    text; it enables the cross checks (minCurrent <= maxCurrent, buffer/priority SoC, phases,
    battery boost needs pv/minpv). ``vehicles`` enables the vehicle-name check, ``loadpoints`` the
    site-wide echo of ``smartCostLimit``.
    """
    state = state or {}
    now = (now or datetime.now(UTC)).astimezone(UTC)
    setter = target.setter
    device = target.device_id
    kind = setter.kind
    own = f"{device}/{setter.name}"

    if kind in (SetterKind.PLAN_ENERGY, SetterKind.PLAN_SOC):
        return _build_plan(target, value, state, now)
    if kind is SetterKind.PLAN_STRATEGY:
        return _build_strategy(target, value)

    if kind is SetterKind.FLOAT_OR_RESET and _is_empty_word(value):
        payload, expected_text = RESET_WORD, ""
    elif kind in (SetterKind.FLOAT, SetterKind.FLOAT_OR_RESET):
        number = _to_float(target, value)
        _check_bounds(target, number, value)
        if device == "site":
            _check_site_battery(target, number, state)
        else:
            _check_loadpoint(target, number, state)
        payload = expected_text = plain_float(number)
    elif kind in (SetterKind.INT, SetterKind.PHASES):
        whole = _to_int(target, value)
        if kind is SetterKind.PHASES and whole not in (0, 1, 3):
            raise _fail(target, value)
        _check_bounds(target, whole, value)
        if device != "site":
            _check_loadpoint(target, whole, state)
        payload = expected_text = str(whole)
    elif kind is SetterKind.DURATION:
        seconds = _to_seconds(target, value)
        _check_bounds(target, seconds, value)
        payload = expected_text = str(seconds)
    elif kind is SetterKind.BOOL:
        flag = _to_bool(target, value)
        if setter.name == "batteryBoost" and flag:
            mode = state.get(f"{device}/mode")
            if mode is not None and mode.lower() not in ("pv", "minpv"):
                raise ValidationError(
                    f"{device}/batteryBoost needs mode pv or minpv; the loadpoint is in mode {mode!r}"
                )
        payload = expected_text = "true" if flag else "false"
    elif kind is SetterKind.MODE:
        word = value.strip().lower() if isinstance(value, str) else None
        if word not in MODES:
            raise _fail(target, value)
        payload = expected_text = word
    elif kind is SetterKind.BATTERY_MODE:
        if _is_empty_word(value):
            payload, expected_text = RESET_WORD, ""
        else:
            word = value.strip().lower() if isinstance(value, str) else None
            if word not in BATTERY_MODES:
                raise _fail(target, value)
            payload = expected_text = word
    elif kind is SetterKind.VEHICLE:
        if _is_empty_word(value):
            payload, expected_text = RESET_WORD, ""
        elif isinstance(value, str) and value.strip():
            name = value.strip()
            known = sorted(set(vehicles)) if vehicles is not None else []
            if known and name not in known:
                raise ValidationError(
                    f"{own}: evcc has no vehicle {name!r}; "
                    f"its vehicles are {', '.join(known)} (or null for a guest)"
                )
            payload = expected_text = name
        else:
            raise _fail(target, value)
    else:  # pragma: no cover - every kind is handled above
        raise ValidationError(f"{own}: unsupported setter kind {kind}")

    if setter.echo and setter.echo[0].startswith("loadpoints/*/"):
        leaf = setter.echo[0].split("/", 2)[2]
        expected = {f"loadpoints/{n}/{leaf}": expected_text for n in sorted(set(loadpoints or ()))}
    else:
        expected = {f"{device}/{key}": expected_text for key in setter.echo_keys}
    return SetCommand(target, payload, expected)


# --------------------------------------------------------------------------------------------------
# evcc's own parsers (what evcc accepts on /set) — used by the simulator


class EvccParseError(ValueError):
    """evcc would log ``set <topic>/set: <error>`` and publish nothing."""


_GO_INT = re.compile(r"[+-]?\d+")


def _go_atoi(text: str) -> int:
    if not _GO_INT.fullmatch(text):
        raise EvccParseError(f'strconv.Atoi: parsing "{text}": invalid syntax')
    return int(text)


def _go_parse_float(text: str) -> float:
    if text != text.strip() or not text:
        raise EvccParseError(f'strconv.ParseFloat: parsing "{text}": invalid syntax')
    try:
        number = float(text)
    except ValueError:
        raise EvccParseError(f'strconv.ParseFloat: parsing "{text}": invalid syntax') from None
    if math.isnan(number) or math.isinf(number):
        raise EvccParseError(f"invalid float value: {text}")
    return number


def _go_parse_bool(text: str) -> bool:
    if text in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if text in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise EvccParseError(f'strconv.ParseBool: parsing "{text}": invalid syntax')


def _go_time(text: object) -> datetime | None:
    if not isinstance(text, str):
        raise EvccParseError("parsing time: not a string")
    if text == ZERO_TIME:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise EvccParseError(f'parsing time "{text}" as RFC3339') from None
    if moment.tzinfo is None:
        raise EvccParseError(f'parsing time "{text}" as RFC3339: missing zone')
    return moment.astimezone(UTC)


def evcc_parse(setter: Setter, payload: str) -> Any:
    """Parse a ``/set`` payload exactly as evcc would; raises :class:`EvccParseError`.

    Returns a float / int / bool / str, ``None`` for a reset, a ``(value, time|None)`` tuple for
    plans, or a ``{"continuous": bool, "precondition": int}`` dict for plan strategies.
    """
    kind = setter.kind
    empty = payload.strip().lower() in EMPTY_WORDS
    if kind is SetterKind.FLOAT:
        return _go_parse_float(payload)
    if kind is SetterKind.FLOAT_OR_RESET:
        return None if empty else _go_parse_float(payload)
    if kind in (SetterKind.INT, SetterKind.PHASES):
        return _go_atoi(payload)
    if kind is SetterKind.DURATION:
        return _go_atoi(payload)
    if kind is SetterKind.BOOL:
        return _go_parse_bool(payload)
    if kind is SetterKind.MODE:
        if payload.lower() not in MODES:
            raise EvccParseError(f"invalid value: {payload}")
        return payload.lower()
    if kind is SetterKind.BATTERY_MODE:
        if empty:
            return None
        if payload.lower() not in BATTERY_MODES:
            raise EvccParseError(f"{payload} does not belong to BatteryMode values")
        return payload.lower()
    if kind is SetterKind.VEHICLE:
        return None if empty else payload
    try:
        document = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise EvccParseError(f"invalid character in JSON: {exc.msg}") from None
    if not isinstance(document, dict):
        raise EvccParseError("json: cannot unmarshal into struct")
    if kind is SetterKind.PLAN_STRATEGY:
        continuous = document.get("continuous", False)
        precondition = document.get("precondition", 0)
        if (
            not isinstance(continuous, bool)
            or not isinstance(precondition, int)
            or isinstance(precondition, bool)
        ):
            raise EvccParseError("json: cannot unmarshal plan strategy")
        return {"continuous": continuous, "precondition": precondition}
    amount = document.get("value", 0)
    if kind is SetterKind.PLAN_SOC:
        if not isinstance(amount, int) or isinstance(amount, bool):
            raise EvccParseError("json: cannot unmarshal number into Go struct field .value of type int")
    elif not isinstance(amount, int | float) or isinstance(amount, bool):
        raise EvccParseError("json: cannot unmarshal into Go struct field .value of type float64")
    return amount, _go_time(document.get("time", ZERO_TIME))


__all__ = [
    "BATTERY_MODES",
    "LOADPOINT_SETTERS",
    "RENAMED",
    "RESET_WORD",
    "SETTERS",
    "SITE_SETTERS",
    "VEHICLE_SETTERS",
    "ZERO_TIME",
    "EvccParseError",
    "SetCommand",
    "Setter",
    "SetterKind",
    "Target",
    "build_command",
    "evcc_parse",
    "format_time",
    "parse_time",
    "plain_float",
    "resolve",
    "writable_paths",
]
