"""evcc MQTT payload -> dataset rows (pure; no I/O).

The knowledge of evcc's topics, types and units lives in :mod:`evkit.evcc.state`; this module only
turns one received message into the row fields the capture stores:

- ``device_id`` is the topic path of the thing the value belongs to, root included:
  ``evcc/loadpoints/1``, ``evcc/vehicles/db:3``, ``evcc/site``; root keys (``updated``, ``status``)
  belong to the root itself (``evcc``).
- ``key`` is the rest of the topic: ``sessionEnergy``, ``chargeCurrents/l1``, ``grid/power``; a
  command someone published keeps its ``/set`` suffix (``mode/set``).
- ``value`` is numeric (booleans 1.0/0.0, times Unix seconds, durations seconds); ``unit`` says in
  what (``W``, ``Wh``, ``kWh``, ``s``, ``%``...), exactly as evcc sends it: nothing is rescaled.
- An **empty payload** means "no value" (nil, or evcc's cleanup of its retained topics on restart):
  ``value`` null and ``value_text`` ``""``, never zero, except on the ``omitempty`` numbers listed in
  :mod:`evkit.evcc.state` (vehicle ``limitSoc``, ``minSoc``...), where it is evcc's way to publish 0:
  ``value`` 0. ``NaN``/``+Inf`` keep their text, value null.
- A slice's count (``site/grid/currents`` = 3 before ``grid/currents/1..3``) gets ``label`` ``count``
  and no unit; the items get their unit (A, W).
- ``updated`` carries a device time, so its row gets ``observed_at``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

from evkit.evcc.state import DEFAULT_PREFIX, Kind, StateKey, decode_payload, parse_topic, state_key

#: Keys whose value is the time the message describes (becomes ``observed_at``).
OBSERVED_AT_KEYS = frozenset({"updated"})


class Reading(NamedTuple):
    """One decoded row's device-specific fields (the capture adds time, topic, raw bytes...)."""

    key: str
    value: float | None
    value_text: str | None
    label: str | None
    unit: str | None
    observed_at_us: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class EvccRoute:
    """Where an evcc topic belongs; computed once per distinct topic and cached by the capture."""

    device_id: str
    key: str
    kind: Kind | None
    unit: str | None
    observed_at: bool = False
    empty_is_zero: bool = False


def route(topic: str, root: str = DEFAULT_PREFIX) -> EvccRoute | None:
    """The device, key, type and unit of an evcc topic below ``root``; ``None`` when not evcc's."""
    root = root.strip("/")
    parsed = parse_topic(topic, root)
    if parsed is None:
        return None
    known: StateKey | None = state_key(parsed.scope, parsed.key)
    device_id = f"{root}/{parsed.device_id}" if parsed.device_id else root
    key = f"{parsed.key}/set" if parsed.is_set else parsed.key
    return EvccRoute(
        device_id=device_id,
        key=key,
        kind=known.kind if known else None,
        unit=known.unit if known else None,
        observed_at=parsed.scope == "root" and parsed.key in OBSERVED_AT_KEYS and not parsed.is_set,
        empty_is_zero=known.empty_is_zero and not parsed.is_set if known else False,
    )


def decode(where: EvccRoute, payload: bytes) -> Reading:
    """Decode one evcc payload (never raises; a payload that does not fit its key gets ``error``)."""
    decoded = decode_payload(payload, where.kind, empty_is_zero=where.empty_is_zero)
    value = decoded.value
    if value is not None and not math.isfinite(value):
        value = None  # NaN / +Inf: kept as text, not as a number that poisons sums
    text = "" if decoded.text is None and not payload else decoded.text
    observed_at_us = None
    if where.observed_at and value is not None and abs(value) < 1e11:
        observed_at_us = round(value * 1_000_000)
    label = "count" if where.kind is Kind.COUNT else None
    return Reading(where.key, value, text, label, where.unit, observed_at_us, decoded.error)


def decode_topic(topic: str, payload: bytes, root: str = DEFAULT_PREFIX) -> tuple[str, Reading] | None:
    """``(device_id, reading)`` for an evcc message, or ``None`` if ``topic`` is not below ``root``."""
    where = route(topic, root)
    if where is None:
        return None
    return where.device_id, decode(where, payload)


__all__ = ["OBSERVED_AT_KEYS", "EvccRoute", "Reading", "decode", "decode_topic", "route"]
