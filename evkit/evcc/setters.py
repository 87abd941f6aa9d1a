"""Building an evcc command: lenient about what people type, exact about what goes out.

:func:`build_command` takes ``"80.0"``, ``80.0``, ``"2m"``, ``"PV"`` and sends what evcc's strict parsers
accept (int setters ``80``, durations whole seconds, booleans ``true``/``false``, plans JSON with a future
UTC ``Z`` time). Anything invalid raises :class:`~evkit.errors.ValidationError` saying what is allowed,
and nothing is sent. The :class:`SetCommand` also says how evcc will confirm it: the state text evcc
publishes on success (``tests/conformance/evcc_echo.py`` holds evcc's behaviour with file:line):

- a zero on an ``omitempty`` vehicle field (``limitSoc``/``minSoc`` 0) is published as an empty payload
  (``core/site_vehicles.go:26-27``, ``server/mqtt.go:141-142``), and evcc re-publishes the whole vehicle
  map on every vehicle setter, so the empty payload must *arrive* after sending
- deleting a vehicle plan publishes only ``vehicles/<n>/plan`` = "" (``site_vehicles.go:32,50-56``);
  the retained ``plan/soc`` and ``plan/time`` stay as they were
- releasing the battery mode publishes ``site/batteryModeExternal`` = ``unknown`` (``core/site_api.go:
  555-557``, ``api/batterymode_enumer.go``); before any external mode evcc has not published it at all
- ``planEnergy`` 0 deletes the loadpoint plan: evcc zeroes the time (``core/loadpoint_api.go:400-408``)

The catalog (:mod:`evkit.evcc.catalog`) and evcc's own parsers (:mod:`evkit.evcc.parsers`) are
re-exported here, so ``from evkit.evcc.setters import SETTERS, evcc_parse`` keeps working.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from evkit.errors import ValidationError
from evkit.evcc.catalog import (
    BATTERY_MODES,
    BATTERY_RELEASED,
    LOADPOINT_SETTERS,
    RENAMED,
    RESET_WORD,
    SETTERS,
    SITE_SETTERS,
    VEHICLE_SETTERS,
    ZERO_TIME,
    Setter,
    SetterKind,
    Target,
    resolve,
    writable_paths,
)
from evkit.evcc.checks import check_loadpoint, check_site_battery, plain_float
from evkit.evcc.parsers import EvccParseError, evcc_parse
from evkit.evcc.state import EMPTY_WORDS, MODES, encode_state

# --------------------------------------------------------------------------------------------------
# Building a command (lenient input, exact output)


@dataclass(frozen=True)
class SetCommand:
    """A validated command: the exact payload, and the state that will confirm it.

    ``expected`` maps state paths (below the prefix, e.g. ``loadpoints/1/mode``) to the text evcc
    will publish on success (``""`` = an empty payload: nil, a reset, or a zero ``omitempty`` field).
    ``arrival`` names the expected paths that count only when a message *arrives* after sending (evcc
    re-publishes them on every call, e.g. a vehicle's fields; a retained empty payload is no state to
    compare with). ``absent`` says what a path evcc never published stands for (``batteryModeExternal``
    is ``unknown`` until an external mode is set). ``note`` goes with the result (e.g. a version that
    could not be checked).
    """

    target: Target
    payload: str
    expected: dict[str, str] = field(default_factory=dict)
    arrival: frozenset[str] = frozenset()
    absent: dict[str, str] = field(default_factory=dict)
    note: str = ""

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


def _is_zero(value: object) -> bool:
    """A bare 0 (``0``, ``"0"``, ``0.0``) for a plan: the delete, which needs no time."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return value == 0
    if isinstance(value, str):
        try:
            return float(value.strip()) == 0
        except ValueError:
            return False
    return False


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


def _build_plan(target: Target, value: object, now: datetime) -> SetCommand:
    kind = target.setter.kind
    device = target.device_id
    value_key, time_key = (f"{device}/{k}" for k in target.setter.echo_keys)
    delete = json.dumps({"value": 0, "time": ZERO_TIME}, separators=(",", ":"))
    if kind is SetterKind.PLAN_SOC:
        # evcc publishes only vehicles/<n>/plan = "" (Plan *planStruct omitempty, core/site_vehicles.go:32,
        # 50-56); the retained plan/soc and plan/time stay as they were, so only the arrival confirms it
        plan_key = f"{device}/plan"
        cleared = SetCommand(target, delete, {plan_key: ""}, arrival=frozenset({plan_key}))
    else:
        # setPlanEnergy: energy 0 zeroes the time (core/loadpoint_api.go:400-408): planTime ""
        cleared = SetCommand(target, delete, {value_key: "0", time_key: ""})
    if _is_empty_word(value) or _is_zero(value):
        return cleared
    amount_raw, when_raw = _split_plan(target, value)
    if kind is SetterKind.PLAN_SOC:
        amount: float = _to_int(target, amount_raw)
    else:
        amount = _to_float(target, amount_raw)
    _check_bounds(target, amount, amount_raw)
    if amount == 0:  # evcc deletes the plan whatever the time: send the delete itself
        return cleared
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
    site-wide echo of ``smartCostLimit``. A setter evcc re-publishes on every call needs the echo to
    *arrive* (an equal state is then no "unchanged": evcc would publish it anyway).
    """
    command = _build_command(target, value, state, now=now, vehicles=vehicles, loadpoints=loadpoints)
    if target.setter.republished and command.expected:
        return replace(command, arrival=frozenset(command.expected))
    return command


def _build_command(
    target: Target,
    value: object,
    state: Mapping[str, str] | None = None,
    *,
    now: datetime | None = None,
    vehicles: Iterable[str] | None = None,
    loadpoints: Iterable[int] | None = None,
) -> SetCommand:
    """:func:`build_command` without the arrival rule of re-published setters."""
    state = state or {}
    now = (now or datetime.now(UTC)).astimezone(UTC)
    setter = target.setter
    device = target.device_id
    kind = setter.kind
    own = f"{device}/{setter.name}"

    if kind in (SetterKind.PLAN_ENERGY, SetterKind.PLAN_SOC):
        return _build_plan(target, value, now)
    if kind is SetterKind.PLAN_STRATEGY:
        return _build_strategy(target, value)

    if kind is SetterKind.FLOAT_OR_RESET and _is_empty_word(value):
        payload, expected_text = RESET_WORD, ""
    elif kind in (SetterKind.FLOAT, SetterKind.FLOAT_OR_RESET):
        number = _to_float(target, value)
        _check_bounds(target, number, value)
        if device == "site":
            check_site_battery(target, number, state)
        else:
            check_loadpoint(target, number, state)
        payload = expected_text = plain_float(number)
    elif kind in (SetterKind.INT, SetterKind.PHASES):
        whole = _to_int(target, value)
        if kind is SetterKind.PHASES and whole not in (0, 1, 3):
            raise _fail(target, value)
        _check_bounds(target, whole, value)
        if device != "site":
            check_loadpoint(target, whole, state)
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
        if _is_empty_word(value) or (isinstance(value, str) and value.strip().lower() == BATTERY_RELEASED):
            # evcc publishes the released mode as "unknown" (api.BatteryUnknown's String(), server/mqtt.go
            # :75-76), and nothing before any external mode was set: absent means "unknown" too
            key = f"{device}/batteryModeExternal"
            return SetCommand(target, RESET_WORD, {key: BATTERY_RELEASED}, absent={key: BATTERY_RELEASED})
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
    if target.setter.scope == "vehicle" and expected_text == "0":
        # MinSoc/LimitSoc are `omitempty` ints (core/site_vehicles.go:26-27): evcc publishes 0 as an empty
        # payload (server/mqtt.go:141-142), on every call, since it re-publishes the whole vehicle map
        expected = dict.fromkeys(expected, "")
        return SetCommand(target, payload, expected, arrival=frozenset(expected))
    return SetCommand(target, payload, expected)


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
