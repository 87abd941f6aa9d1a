"""evcc's published state: topic layout, value encoding, and the type and unit of each known key.

Pure knowledge, no I/O. Used by the MQTT capture (decoding and units), the evcc controller (reading
current values back) and the evcc simulator (publishing the way evcc does).

Facts (from evcc's ``server/mqtt.go``, see ``shared/reference/evcc-and-goe.md`` A.1-A.3):

- every state value is retained plain text, never JSON-quoted; floats ``%.3f`` with trailing zeros
  stripped (``1.5``, ``2``), ints/bools ``%v`` (``42``, ``true``), times as Unix seconds, durations as
  whole seconds; nil (and an evcc restart's cleanup) is an **empty payload**: "no value", never a value
- ``<root>/loadpoints/<n>/<key>`` (1-based), ``<root>/vehicles/<name>/<field>``, ``<root>/site/<key>``,
  ``<root>/status`` (``online``/``offline``), ``<root>/updated`` (Unix seconds, at most once per second)
- units in the code differ from the docs: ``sessionEnergy`` Wh, ``chargeTotalImport`` kWh,
  durations seconds
- structs become one subtopic per field, and a zero field tagged ``omitempty`` is published as an empty
  payload (``server/mqtt.go:141-142``). Where evcc's struct says the field is a plain number, that empty
  payload means **0** (``StateKey.empty_is_zero``): the vehicle fields ``capacity``, ``phases``,
  ``minSoc``, ``limitSoc``, ``minCurrent``, ``maxCurrent``, ``priority`` (``core/site_vehicles.go:23-30``),
  ``site/battery/energy`` and ``site/battery/capacity`` (``core/types/types.go:60-61``) and
  ``site/grid/excessDCPower`` (``types.go:19``). Pointer fields (``grid/energy``) and slices stay "no value".
  evcc's cleanup of retained topics at start and shutdown also sends empty payloads; on these fields they
  read as 0 too (evcc re-publishes the real values right after its start)
- slices other than 3 phase values become a **count** on ``<key>`` and the items on ``<key>/1..n``
  (``server/mqtt.go:112-120``): ``site/grid/currents`` = ``3``, ``site/grid/currents/1`` = ``7.1`` A.
  Counts are :attr:`Kind.COUNT` (no unit); a ``<n>`` in a key below stands for the item number
- a vehicle's ``plan`` is "" when it has none (``Plan *planStruct`` omitempty, ``site_vehicles.go:32``);
  evcc then leaves the retained ``plan/soc`` and ``plan/time`` as they were: they are stale
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

DEFAULT_PREFIX = "evcc"

#: Words evcc's nullable setters accept as "no value" (``isEmpty`` in ``server/mqtt_setter.go``).
EMPTY_WORDS = ("-", "nil", "null", "none")

#: Charge modes (``api.ChargeMode``).
MODES = ("off", "now", "minpv", "pv")

Scope = Literal["root", "site", "loadpoint", "vehicle"]


class Kind(StrEnum):
    """How a state payload is encoded."""

    FLOAT = "float"
    INT = "int"
    BOOL = "bool"
    STRING = "string"
    TIME = "time"  # Unix seconds; empty = none
    DURATION = "duration"  # whole seconds
    JSON = "json"  # a JSON document inside the text (plan rates, forecasts)
    COUNT = "count"  # number of items of a slice; the items follow on <key>/1..n


@dataclass(frozen=True)
class StateKey:
    """Type and unit of one evcc state key."""

    kind: Kind
    unit: str | None = None
    description: str = ""
    #: an ``omitempty`` number: evcc publishes its 0 as an empty payload
    empty_is_zero: bool = False


_F, _I, _B, _S, _T, _D, _J = Kind.FLOAT, Kind.INT, Kind.BOOL, Kind.STRING, Kind.TIME, Kind.DURATION, Kind.JSON
_N = Kind.COUNT
_COUNT = "number of items; each on <key>/1..n"

#: Loadpoint keys (``<root>/loadpoints/<n>/<key>``).
LOADPOINT_KEYS: dict[str, StateKey] = {
    "mode": StateKey(_S, None, "charge mode: off / now / minpv / pv"),
    "title": StateKey(_S),
    "enabled": StateKey(_B, None, "charger enabled by evcc"),
    "connected": StateKey(_B, None, "vehicle connected"),
    "charging": StateKey(_B, None, "vehicle charging"),
    "chargePower": StateKey(_F, "W"),
    "chargeCurrents": StateKey(_F, "A", "sum of the phase currents"),
    "chargeCurrents/l1": StateKey(_F, "A"),
    "chargeCurrents/l2": StateKey(_F, "A"),
    "chargeCurrents/l3": StateKey(_F, "A"),
    "chargeVoltages": StateKey(_F, "V", "sum of the phase voltages (no physical meaning)"),
    "chargeVoltages/l1": StateKey(_F, "V"),
    "chargeVoltages/l2": StateKey(_F, "V"),
    "chargeVoltages/l3": StateKey(_F, "V"),
    "offeredCurrent": StateKey(_F, "A"),
    "phasesActive": StateKey(_I, None, "phases expected to be used"),
    "phasesConfigured": StateKey(_I, None, "0 auto / 1 / 3"),
    "chargerPhases1p3p": StateKey(_B),
    "chargerSinglePhase": StateKey(_B),
    "minCurrent": StateKey(_F, "A"),
    "maxCurrent": StateKey(_F, "A"),
    "effectiveMinCurrent": StateKey(_F, "A"),
    "effectiveMaxCurrent": StateKey(_F, "A"),
    "chargedEnergy": StateKey(_F, "Wh", "deprecated; same as sessionEnergy"),
    "sessionEnergy": StateKey(_F, "Wh"),
    "sessionSolarPercentage": StateKey(_F, "%"),
    "sessionPrice": StateKey(_F, "currency"),
    "sessionPricePerKWh": StateKey(_F, "currency/kWh"),
    "sessionCo2PerKWh": StateKey(_F, "g/kWh"),
    "chargeDuration": StateKey(_D, "s"),
    "connectedDuration": StateKey(_D, "s"),
    "chargeRemainingDuration": StateKey(_D, "s"),
    "pvRemaining": StateKey(_D, "s"),
    "phaseRemaining": StateKey(_D, "s"),
    "planOverrun": StateKey(_D, "s"),
    "chargeRemainingEnergy": StateKey(_F, "Wh"),
    "chargeTotalImport": StateKey(_F, "kWh", "charger meter reading"),
    "todayEnergy": StateKey(_F, "Wh"),
    "last24hEnergy": StateKey(_F, "Wh"),
    "last7dEnergy": StateKey(_F, "Wh"),
    "limitSoc": StateKey(_I, "%"),
    "minSoc": StateKey(_I, "%"),
    "effectiveLimitSoc": StateKey(_I, "%"),
    "effectiveMinSoc": StateKey(_I, "%"),
    "effectivePlanSoc": StateKey(_I, "%"),
    "limitEnergy": StateKey(_F, "kWh"),
    "planEnergy": StateKey(_F, "kWh"),
    "planTime": StateKey(_T, "s"),
    "effectivePlanTime": StateKey(_T, "s"),
    "planProjectedStart": StateKey(_T, "s"),
    "planProjectedEnd": StateKey(_T, "s"),
    "smartCostNextStart": StateKey(_T, "s"),
    "smartFeedInPriorityNextStart": StateKey(_T, "s"),
    "planActive": StateKey(_B),
    "smartCostActive": StateKey(_B),
    "smartFeedInPriorityActive": StateKey(_B),
    "minSocNotReached": StateKey(_B),
    "batteryBoost": StateKey(_B),
    "batteryBoostLimit": StateKey(_I, "%"),
    "vehicleDetectionActive": StateKey(_B),
    "vehicleWelcomeActive": StateKey(_B),
    "vehicleClimaterActive": StateKey(_B),
    "dimmed": StateKey(_B),
    "plan": StateKey(_J, None, "planned charging slots (JSON rates)"),
    "planStrategy/continuous": StateKey(_B),
    "planStrategy/precondition": StateKey(_D, "s"),
    "smartCostLimit": StateKey(_F, "currency/kWh"),
    "smartFeedInPriorityLimit": StateKey(_F, "currency/kWh"),
    "enableThreshold": StateKey(_F, "W"),
    "disableThreshold": StateKey(_F, "W"),
    "enableDelay": StateKey(_D, "s"),
    "disableDelay": StateKey(_D, "s"),
    "priority": StateKey(_I),
    "effectivePriority": StateKey(_I),
    "vehicleSoc": StateKey(_F, "%"),
    "vehicleRange": StateKey(_F, "km"),
    "vehicleOdometer": StateKey(_F, "km"),
    "vehicleLimitSoc": StateKey(_I, "%"),
    "vehicleName": StateKey(_S),
    "vehicleTitle": StateKey(_S),
    "pvAction": StateKey(_S),
    "phaseAction": StateKey(_S),
    "chargerStatusReason": StateKey(_S),
}

#: Site keys (``<root>/site/<key>``).
SITE_KEYS: dict[str, StateKey] = {
    "homePower": StateKey(_F, "W"),
    "pvPower": StateKey(_F, "W"),
    "auxPower": StateKey(_F, "W"),
    "pvEnergy": StateKey(_F, "kWh"),
    "grid/power": StateKey(_F, "W", "positive = import"),
    "grid/energy": StateKey(_F, "kWh"),
    "grid/returnEnergy": StateKey(_F, "kWh"),
    "gridConfigured": StateKey(_B),
    "battery/power": StateKey(_F, "W", "positive = discharging"),
    "battery/soc": StateKey(_F, "%"),
    "battery/capacity": StateKey(_F, "kWh", empty_is_zero=True),
    "battery/energy": StateKey(_F, "kWh", empty_is_zero=True),
    "battery/devices": StateKey(_N, None, _COUNT),
    "battery/devices/<n>/power": StateKey(_F, "W"),
    "battery/devices/<n>/soc": StateKey(_F, "%"),
    "battery/devices/<n>/capacity": StateKey(_F, "kWh"),
    "battery/devices/<n>/energy": StateKey(_F, "kWh"),
    "grid/powers": StateKey(_N, None, _COUNT),
    "grid/powers/<n>": StateKey(_F, "W", "power of phase <n>"),
    "grid/currents": StateKey(_N, None, _COUNT),
    "grid/currents/<n>": StateKey(_F, "A", "current of phase <n>"),
    "grid/excessDCPower": StateKey(_F, "W", empty_is_zero=True),
    "pv": StateKey(_N, None, _COUNT),
    "pv/<n>/power": StateKey(_F, "W"),
    "pv/<n>/energy": StateKey(_F, "kWh"),
    "batteryMode": StateKey(_S),
    "batteryModeExternal": StateKey(_S),
    "residualPower": StateKey(_F, "W"),
    "gridExportLimit": StateKey(_F, "W"),
    "bufferSoc": StateKey(_F, "%"),
    "bufferStartSoc": StateKey(_F, "%"),
    "prioritySoc": StateKey(_F, "%"),
    "batteryDischargeControl": StateKey(_B),
    "batteryGridDischarge": StateKey(_B),
    "batteryGridChargeActive": StateKey(_B),
    "batteryGridChargeLimit": StateKey(_F, "currency/kWh"),
    "solarAdjusted": StateKey(_B),
    "smartCostAvailable": StateKey(_B),
    "smartFeedInPriorityAvailable": StateKey(_B),
    "greenShareHome": StateKey(_F, "1"),
    "greenShareLoadpoints": StateKey(_F, "1"),
    "tariffGrid": StateKey(_F, "currency/kWh"),
    "tariffFeedIn": StateKey(_F, "currency/kWh"),
    "tariffSolar": StateKey(_F, "currency/kWh"),
    "tariffPriceHome": StateKey(_F, "currency/kWh"),
    "tariffPriceLoadpoints": StateKey(_F, "currency/kWh"),
    "tariffCo2": StateKey(_F, "g/kWh"),
    "tariffCo2Home": StateKey(_F, "g/kWh"),
    "tariffCo2Loadpoints": StateKey(_F, "g/kWh"),
    "tariffTemperature": StateKey(_F, "°C"),
    "currency": StateKey(_S),
    "siteTitle": StateKey(_S),
    "smartCostType": StateKey(_S),
    "version": StateKey(_S),
}

#: Vehicle fields (``<root>/vehicles/<name>/<field>``).
VEHICLE_KEYS: dict[str, StateKey] = {
    "title": StateKey(_S),
    "icon": StateKey(_S),
    "capacity": StateKey(_F, "kWh", empty_is_zero=True),
    "phases": StateKey(_I, None, empty_is_zero=True),
    "mode": StateKey(_S),
    "minSoc": StateKey(_I, "%", empty_is_zero=True),
    "limitSoc": StateKey(_I, "%", empty_is_zero=True),
    "minCurrent": StateKey(_F, "A", empty_is_zero=True),
    "maxCurrent": StateKey(_F, "A", empty_is_zero=True),
    "priority": StateKey(_I, None, empty_is_zero=True),
    "plan": StateKey(_S, None, '"" = no plan (then plan/soc and plan/time are stale)'),
    "plan/soc": StateKey(_I, "%"),
    "plan/time": StateKey(_T, "s"),
    "features": StateKey(_N, None, _COUNT),
    "features/<n>": StateKey(_S),
    "repeatingPlans": StateKey(_N, None, _COUNT),
    "repeatingPlans/<n>/soc": StateKey(_I, "%"),
    "repeatingPlans/<n>/time": StateKey(_S, None, "HH:MM"),
    "repeatingPlans/<n>/tz": StateKey(_S),
    "repeatingPlans/<n>/active": StateKey(_B),
    "repeatingPlans/<n>/weekdays": StateKey(_N, None, _COUNT),
    "repeatingPlans/<n>/weekdays/<n>": StateKey(_I, None, "0 Sunday .. 6 Saturday"),
    "planStrategy/continuous": StateKey(_B),
    "planStrategy/precondition": StateKey(_D, "s"),
}

#: Root keys (``<root>/<key>``).
ROOT_KEYS: dict[str, StateKey] = {
    "status": StateKey(_S, None, "online / offline (evcc's last will)"),
    "updated": StateKey(_T, "s", "heartbeat: Unix seconds of the last publish"),
    "loadpoints": StateKey(_I, None, "number of loadpoints"),
    "vehicles": StateKey(_I, None, "number of vehicles"),
}

_KEYS_BY_SCOPE: dict[Scope, dict[str, StateKey]] = {
    "root": ROOT_KEYS,
    "site": SITE_KEYS,
    "loadpoint": LOADPOINT_KEYS,
    "vehicle": VEHICLE_KEYS,
}


@dataclass(frozen=True)
class EvccTopic:
    """Where a topic sits in evcc's tree.

    ``device_id`` is ``"site"``, ``"loadpoints/1"``, ``"vehicles/db:3"`` or ``None`` (root keys);
    ``key`` is the rest (``"mode"``, ``"chargeCurrents/l1"``, ``"grid/power"``); ``is_set`` marks a
    ``.../set`` command topic (someone's command, not state).
    """

    scope: Scope
    device_id: str | None
    key: str
    is_set: bool = False

    @property
    def path(self) -> str:
        """The topic below the prefix without ``/set``: ``loadpoints/1/mode``."""
        return f"{self.device_id}/{self.key}" if self.device_id else self.key


def parse_topic(topic: str, prefix: str = DEFAULT_PREFIX) -> EvccTopic | None:
    """Split an evcc topic; ``None`` when it is not below ``prefix`` or is the bare prefix."""
    prefix = prefix.strip("/")
    if not topic.startswith(prefix + "/"):
        return None
    parts = topic[len(prefix) + 1 :].split("/")
    is_set = len(parts) > 1 and parts[-1] == "set"
    if is_set:
        parts = parts[:-1]
    if not parts or not parts[0]:
        return None
    head = parts[0]
    if head == "loadpoints" and len(parts) >= 3:
        return EvccTopic("loadpoint", f"loadpoints/{parts[1]}", "/".join(parts[2:]), is_set)
    if head == "vehicles" and len(parts) >= 3:
        return EvccTopic("vehicle", f"vehicles/{parts[1]}", "/".join(parts[2:]), is_set)
    if head == "site" and len(parts) >= 2:
        return EvccTopic("site", "site", "/".join(parts[1:]), is_set)
    return EvccTopic("root", None, "/".join(parts), is_set)


def state_key(scope: Scope, key: str) -> StateKey | None:
    """Type and unit of ``key`` in ``scope`` (item numbers match ``<n>``); ``None`` for unknown keys."""
    table = _KEYS_BY_SCOPE[scope]
    known = table.get(key)
    if known is None and any(part.isdigit() for part in key.split("/")):
        known = table.get("/".join("<n>" if part.isdigit() else part for part in key.split("/")))
    return known


def unit_of(topic: str, prefix: str = DEFAULT_PREFIX) -> str | None:
    """The unit of an evcc state topic (``"W"``, ``"Wh"``, ``"kWh"``, ``"s"``, ...), if known."""
    parsed = parse_topic(topic, prefix)
    if parsed is None:
        return None
    known = state_key(parsed.scope, parsed.key)
    return known.unit if known else None


@dataclass(frozen=True)
class Decoded:
    """A decoded evcc payload: ``value`` numeric (bools 1.0/0.0, times Unix seconds) or None,
    ``text`` the payload as sent (None for an empty payload = no value), ``error`` why a payload
    that should be numeric is not (the row is still kept)."""

    value: float | None
    text: str | None
    error: str | None = None


def _parse_number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number


def decode_payload(payload: bytes, kind: Kind | None = None, *, empty_is_zero: bool = False) -> Decoded:
    """Decode one evcc state payload.

    Without ``kind`` (unknown keys) numbers and booleans are recognised by their text. An empty
    payload is "no value" (nil, or evcc's cleanup of retained topics), never zero, except for an
    ``omitempty`` number (``empty_is_zero``), where evcc publishes 0 that way.
    """
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Decoded(None, payload.decode("utf-8", errors="replace"), f"not UTF-8: {exc.reason}")
    if text == "":
        return Decoded(0.0, None) if empty_is_zero else Decoded(None, None)
    if kind is Kind.BOOL or (kind is None and text in ("true", "false")):
        if text in ("true", "false"):
            return Decoded(1.0 if text == "true" else 0.0, text)
        return Decoded(None, text, f"expected true/false, got {text!r}")
    if kind in (Kind.STRING, Kind.JSON):
        return Decoded(None, text)
    number = _parse_number(text)
    if kind is None:
        return Decoded(number, text)
    if number is None:
        return Decoded(None, text, f"expected a {kind.value} number, got {text!r}")
    return Decoded(number, text)


def decode(topic: str, payload: bytes, prefix: str = DEFAULT_PREFIX) -> Decoded:
    """Decode ``payload`` using what is known about ``topic``'s key."""
    parsed = parse_topic(topic, prefix)
    known = state_key(parsed.scope, parsed.key) if parsed else None
    if parsed is None or known is None:
        return decode_payload(payload)
    return decode_payload(payload, known.kind, empty_is_zero=known.empty_is_zero and not parsed.is_set)


def encode_state(value: object) -> str:
    """Encode a value exactly as evcc publishes it (``server/mqtt.go`` ``encode``).

    ``None`` -> ``""``; bool -> ``true``/``false``; int -> ``42``; float -> ``%.3f`` with trailing
    zeros stripped (``2``, ``1.5``), ``NaN``/``+Inf``/``-Inf``; datetime -> Unix seconds; str as is.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "+Inf" if value > 0 else "-Inf"
        text = f"{value:.3f}".rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    if isinstance(value, datetime):
        return str(int(value.astimezone(UTC).timestamp()))
    return str(value)


__all__ = [
    "DEFAULT_PREFIX",
    "EMPTY_WORDS",
    "LOADPOINT_KEYS",
    "MODES",
    "ROOT_KEYS",
    "SITE_KEYS",
    "VEHICLE_KEYS",
    "Decoded",
    "EvccTopic",
    "Kind",
    "Scope",
    "StateKey",
    "decode",
    "decode_payload",
    "encode_state",
    "parse_topic",
    "state_key",
    "unit_of",
]
