"""evcc's own parsers for ``/set`` payloads: what evcc accepts, exactly (used by the simulator).

``server/mqtt_setter.go`` (evcc-io/evcc b29b49e3): ``strconv.Atoi`` for ints (``80.0`` is refused),
``strconv.ParseFloat`` without NaN/Inf (``server/helper.go:23-29``), ``cast.ToBoolE`` = ``strconv.ParseBool``,
``isEmpty`` an exact match of ``-``, ``nil``, ``null``, ``none`` (``mqtt_setter.go:19-21``), JSON plans and
plan strategies via ``encoding/json``. A refused payload raises :class:`EvccParseError`; evcc only logs it.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from typing import Any

from evkit.evcc.catalog import BATTERY_MODES, BATTERY_RELEASED, ZERO_TIME, Setter, SetterKind
from evkit.evcc.state import EMPTY_WORDS, MODES

# --------------------------------------------------------------------------------------------------
# evcc's own parsers (what evcc accepts on /set) — used by the simulator


class EvccParseError(ValueError):
    """evcc would log ``set <topic>/set: <error>`` and publish nothing."""


_GO_INT = re.compile(r"[+-]?[0-9]+")  # ASCII digits only, as strconv.Atoi


def _go_atoi(text: str) -> int:
    if not _GO_INT.fullmatch(text):
        raise EvccParseError(f'strconv.Atoi: parsing "{text}": invalid syntax')
    number = int(text)
    if not -(2**63) <= number < 2**63:  # Go's int is 64 bits on evcc's platforms
        raise EvccParseError(f'strconv.Atoi: parsing "{text}": value out of range')
    return number


def _go_parse_float(text: str) -> float:
    # ASCII only and no "_" (Python's float() takes both; Go's ParseFloat does not)
    if text != text.strip() or not text or not text.isascii() or "_" in text:
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


_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:[0-9]{2})"
)


def _go_time(text: object) -> datetime | None:
    if not isinstance(text, str):
        raise EvccParseError("parsing time: not a string")
    if text == ZERO_TIME:
        return None
    if not _RFC3339.fullmatch(text):  # time.Time's UnmarshalJSON: RFC 3339 exactly, no space, seconds
        raise EvccParseError(f'parsing time "{text}" as RFC3339')
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
    empty = payload in EMPTY_WORDS  # isEmpty: an exact match, no trimming, no case folding
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
        # ptrSetter(api.BatteryModeString): the name exactly or lowercased; "unknown" is a name too, and
        # a failed parse of an empty word is nil; both release control (server/mqtt.go:234-239)
        word = payload if payload in (*BATTERY_MODES, BATTERY_RELEASED) else payload.lower()
        if word == BATTERY_RELEASED:
            return None
        if word in BATTERY_MODES:
            return word
        if empty:
            return None
        raise EvccParseError(f"{payload} does not belong to BatteryMode values")
    if kind is SetterKind.VEHICLE:
        return None if empty else payload
    try:
        document = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise EvccParseError(f"invalid character in JSON: {exc.msg}") from None
    if not isinstance(document, dict):
        raise EvccParseError("json: cannot unmarshal into struct")
    # encoding/json: keys match struct fields case-insensitively, unknown keys are ignored, and a null
    # leaves the field at its zero value
    fields = {"continuous", "precondition"} if kind is SetterKind.PLAN_STRATEGY else {"value", "time"}
    document = {key.lower(): v for key, v in document.items() if key.lower() in fields and v is not None}
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


__all__ = ["EvccParseError", "evcc_parse"]
