"""go-e MQTT payload -> dataset rows (pure; no I/O).

go-e knowledge (topic layout, ``nrg`` layout, key table, enum labels) lives in :mod:`evkit.goe.status`
and :mod:`evkit.goe.keys`; this module turns one received message into row fields:

- ``device_id`` is the charger serial; ``key`` the API key (``amp``), with ``/set`` for a command
  someone published and ``/result`` for the charger's answer to it.
- State payloads are JSON: numbers -> ``value``; booleans 1.0/0.0; strings -> ``value_text`` only;
  ``null`` -> value null, ``value_text`` ``"null"``; arrays/objects -> their JSON text.
- ``nrg`` becomes one row per field (``nrg.voltage_l1`` ... ``nrg.pf_n``) with its unit, each row
  keeping the whole raw payload.
- ``car``, ``err`` and ``modelStatus`` (and the other enum keys) get a ``label``; unknown codes keep
  their value with a null label.
- ``utc`` (the charger's clock) gives ``observed_at``.
- ``/result`` payloads are plain text (``success`` or an error message), not JSON.
- Anything that does not parse is kept: ``value_text`` holds the text, ``error`` says why.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from evkit.evcc.decode import Reading
from evkit.goe.keys import key_spec, label
from evkit.goe.status import (
    DEFAULT_PREFIX,
    NRG_FIELDS,
    NRG_LENGTH,
    RESULT_SUFFIX,
    SET_SUFFIX,
    parse_topic,
)

NRG_KEY = "nrg"
#: The row keys ``nrg`` expands into, in array order.
NRG_ROW_KEYS: tuple[str, ...] = tuple(f"{NRG_KEY}.{f.name}" for f in NRG_FIELDS)


@dataclass(frozen=True, slots=True)
class GoeRoute:
    """Where a go-e topic belongs; computed once per distinct topic and cached by the capture."""

    serial: str
    api_key: str  # the API key without suffix
    kind: str  # state / set / result
    unit: str | None

    @property
    def key(self) -> str:
        """The row key: ``amp``, ``amp/set``, ``amp/result``."""
        return self.api_key if self.kind == "state" else f"{self.api_key}/{self.kind}"


def route(topic: str, prefix: str = DEFAULT_PREFIX) -> GoeRoute | None:
    """Serial, key and unit of a go-e topic below ``prefix`` (with or without a leading ``/``)."""
    parsed = parse_topic(topic, prefix)
    if parsed is None:
        return None
    spec = key_spec(parsed.key)
    unit = spec.unit if spec is not None and spec.unit else None
    return GoeRoute(serial=parsed.serial, api_key=parsed.key, kind=parsed.kind, unit=unit)


def _text(payload: bytes) -> tuple[str, str | None]:
    try:
        return payload.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return payload.decode("utf-8", errors="replace"), f"payload is not UTF-8: {exc.reason}"


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # a huge JSON integer
            return None
        return number if math.isfinite(number) else None
    return None


def _literal(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is int:
        return str(value)
    if kind is float and math.isfinite(value):
        return repr(value)  # the shortest round-trip text, as json.dumps writes it
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _utc_micros(text: str) -> int | None:
    """The charger's ``utc`` clock text (``2026-11-21T12:00:00.123``, UTC) as epoch microseconds."""
    try:
        stamp = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return round(stamp.timestamp() * 1_000_000)


#: (row key, unit) of each nrg position, in array order.
_NRG_SPECS: tuple[tuple[str, str], ...] = tuple(
    (k, f.unit) for k, f in zip(NRG_ROW_KEYS, NRG_FIELDS, strict=True)
)
_HUGE = 10**300
_new_reading = tuple.__new__  # builds a Reading without the NamedTuple's Python-level __new__ (hot path)


def _nrg_fast(value: list[Any]) -> list[Reading] | None:
    """The usual case, 16 finite numbers, built quickly; ``None`` when anything is unusual."""
    rows: list[Reading] = []
    append = rows.append
    for (row_key, unit), item in zip(_NRG_SPECS, value, strict=True):
        kind = type(item)
        if kind is int and -_HUGE < item < _HUGE:  # larger ints would overflow float()
            append(_new_reading(Reading, (row_key, float(item), str(item), None, unit, None, None)))
        elif kind is float and math.isfinite(item):
            append(_new_reading(Reading, (row_key, item, repr(item), None, unit, None, None)))
        else:
            return None
    return rows


def _nrg_rows(where: GoeRoute, value: Any) -> list[Reading]:
    if not isinstance(value, list):
        text = _literal(value)
        error = None if value is None else f"nrg should be an array of {NRG_LENGTH} numbers, got {text[:80]}"
        return [Reading(NRG_KEY, None, text, None, None, None, error)]
    if len(value) == NRG_LENGTH:
        fast = _nrg_fast(value)
        if fast is not None:
            return fast
    error = None
    if len(value) != NRG_LENGTH:
        error = f"nrg has {len(value)} values, expected {NRG_LENGTH}"
    rows = []
    for nrg_field, row_key in zip(NRG_FIELDS, NRG_ROW_KEYS, strict=True):
        if nrg_field.index >= len(value):
            rows.append(Reading(row_key, None, None, None, nrg_field.unit, None, error))
            continue
        item = value[nrg_field.index]
        number = _number(item) if not isinstance(item, bool) else None
        item_error = error
        if number is None and item is not None and item_error is None:
            item_error = f"nrg[{nrg_field.index}] is not a number"
        rows.append(Reading(row_key, number, _literal(item), None, nrg_field.unit, None, item_error))
    return rows


def decode(where: GoeRoute, payload: bytes, firmware: str | None = None) -> list[Reading]:
    """Rows for one go-e message (one, or one per field for ``nrg``); never raises.

    ``firmware`` (the charger's ``fwv``, when known) picks the right ``err`` label table.
    """
    key = where.key
    text, error = _text(payload)
    if where.kind == RESULT_SUFFIX:  # the charger's answer: plain text, not JSON
        return [Reading(key, None, text, None, None, None, error)]
    if error is not None:
        return [Reading(key, None, text, None, where.unit, None, error)]
    if not text.strip():  # a deleted retained message
        return [Reading(key, None, "", None, where.unit, None, None)]
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        return [Reading(key, None, text, None, where.unit, None, f"payload is not JSON: {reason}")]
    if where.api_key == NRG_KEY and where.kind != SET_SUFFIX:
        return _nrg_rows(where, value)
    number = _number(value)
    value_text = text.strip() if isinstance(value, list | dict) else _literal(value)
    enum_label = label(where.api_key, value, firmware=firmware) if number is not None else None
    observed_at_us = _utc_micros(value) if where.api_key == "utc" and isinstance(value, str) else None
    return [Reading(key, number, value_text, enum_label, where.unit, observed_at_us, None)]


def decode_topic(
    topic: str, payload: bytes, prefix: str = DEFAULT_PREFIX, firmware: str | None = None
) -> tuple[str, list[Reading]] | None:
    """``(serial, rows)`` for a go-e message, or ``None`` if ``topic`` is not a go-e topic."""
    where = route(topic, prefix)
    if where is None:
        return None
    return where.serial, decode(where, payload, firmware)


__all__ = ["NRG_KEY", "NRG_ROW_KEYS", "GoeRoute", "decode", "decode_topic", "route"]
