"""Reading what a go-e charger publishes: topic layout, JSON payloads and the ``nrg`` array.

Pure functions, no I/O. MQTT capture, the controller and the simulator share them.

Topics are ``<prefix>/<serial>/<key>`` (default prefix ``go-eCharger``; older firmware used a leading
``/``). Payloads are always JSON: ``16``, ``true``, ``"name"``, ``null``, arrays and objects.
API v2 gives SI units directly in ``nrg`` (V, A, W, %); the v1 scaling (0.1 A, 0.01 kW) does not apply.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_PREFIX = "go-eCharger"

#: Suffixes of command topics: ``<key>/set`` (ours) and ``<key>/result`` (the charger's answer).
SET_SUFFIX = "set"
RESULT_SUFFIX = "result"


@dataclass(frozen=True)
class NrgField:
    """One position of the 16-value ``nrg`` array."""

    index: int
    name: str
    unit: str
    description: str


#: The ``nrg`` layout of API v2 (16 values).
NRG_FIELDS: tuple[NrgField, ...] = (
    NrgField(0, "voltage_l1", "V", "voltage L1"),
    NrgField(1, "voltage_l2", "V", "voltage L2"),
    NrgField(2, "voltage_l3", "V", "voltage L3"),
    NrgField(3, "voltage_n", "V", "voltage N"),
    NrgField(4, "current_l1", "A", "current L1"),
    NrgField(5, "current_l2", "A", "current L2"),
    NrgField(6, "current_l3", "A", "current L3"),
    NrgField(7, "power_l1", "W", "power L1"),
    NrgField(8, "power_l2", "W", "power L2"),
    NrgField(9, "power_l3", "W", "power L3"),
    NrgField(10, "power_n", "W", "power N"),
    NrgField(11, "power_total", "W", "total power"),
    NrgField(12, "pf_l1", "%", "power factor L1"),
    NrgField(13, "pf_l2", "%", "power factor L2"),
    NrgField(14, "pf_l3", "%", "power factor L3"),
    NrgField(15, "pf_n", "%", "power factor N"),
)
NRG_LENGTH = len(NRG_FIELDS)
NRG_NAMES: tuple[str, ...] = tuple(f.name for f in NRG_FIELDS)
NRG_UNITS: Mapping[str, str] = {f.name: f.unit for f in NRG_FIELDS}
NRG_TOTAL_POWER_INDEX = 11


def decode_nrg(values: Sequence[Any] | None) -> dict[str, float | None]:
    """Name each ``nrg`` value (``power_total`` etc.); missing or non-numeric entries become ``None``.

    A shorter array (older hardware) fills the rest with ``None``; extra values are ignored.
    """
    decoded: dict[str, float | None] = {}
    for nrg_field in NRG_FIELDS:
        raw = values[nrg_field.index] if values is not None and nrg_field.index < len(values) else None
        decoded[nrg_field.name] = _as_float(raw)
    return decoded


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class GoeTopic:
    """A go-e topic split into its parts. ``kind`` is ``state``, ``set`` or ``result``."""

    prefix: str
    serial: str
    key: str
    kind: str

    @property
    def leading_slash(self) -> bool:
        """True for the old ``/go-eCharger/...`` form."""
        return self.prefix.startswith("/")


def state_topic(serial: str, key: str, prefix: str = DEFAULT_PREFIX) -> str:
    """``<prefix>/<serial>/<key>``."""
    return f"{prefix.rstrip('/')}/{serial}/{key}"


def set_topic(serial: str, key: str, prefix: str = DEFAULT_PREFIX) -> str:
    """``<prefix>/<serial>/<key>/set``: where a command is published (QoS 1, never retained)."""
    return f"{state_topic(serial, key, prefix)}/{SET_SUFFIX}"


def result_topic(serial: str, key: str, prefix: str = DEFAULT_PREFIX) -> str:
    """``<prefix>/<serial>/<key>/result``: where the charger answers ``success`` or an error."""
    return f"{state_topic(serial, key, prefix)}/{RESULT_SUFFIX}"


def parse_topic(topic: str, prefix: str = DEFAULT_PREFIX) -> GoeTopic | None:
    """Split a go-e topic under ``prefix`` (with or without a leading ``/``); ``None`` if not one.

    >>> parse_topic("go-eCharger/012345/amp")
    GoeTopic(prefix='go-eCharger', serial='012345', key='amp', kind='state')
    """
    clean_prefix = prefix.strip("/")
    for candidate in (clean_prefix, "/" + clean_prefix):
        head = candidate + "/"
        if not topic.startswith(head):
            continue
        rest = topic[len(head) :].split("/")
        if len(rest) == 2 and all(rest):
            return GoeTopic(candidate, rest[0], rest[1], "state")
        if len(rest) == 3 and all(rest) and rest[2] in (SET_SUFFIX, RESULT_SUFFIX):
            return GoeTopic(candidate, rest[0], rest[1], rest[2])
    return None


class PayloadError(ValueError):
    """A payload that is not valid JSON (kept raw by capture, with this message as its error)."""


def parse_payload(payload: bytes | str) -> Any:
    """Decode a go-e JSON payload; raises :class:`PayloadError` for bad UTF-8 or JSON.

    An empty payload (a deleted retained message) decodes to ``None``.
    """
    if isinstance(payload, bytes):
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PayloadError(f"payload is not UTF-8: {exc}") from exc
    else:
        text = payload
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PayloadError(f"payload is not JSON: {exc.msg} at position {exc.pos}") from exc


def encode_json(value: Any) -> str:
    """Compact JSON, the way the charger expects values (``16``, ``"name"``, ``null``, ``{"a":1}``)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


__all__ = [
    "DEFAULT_PREFIX",
    "NRG_FIELDS",
    "NRG_LENGTH",
    "NRG_NAMES",
    "NRG_TOTAL_POWER_INDEX",
    "NRG_UNITS",
    "RESULT_SUFFIX",
    "SET_SUFFIX",
    "GoeTopic",
    "NrgField",
    "PayloadError",
    "decode_nrg",
    "encode_json",
    "parse_payload",
    "parse_topic",
    "result_topic",
    "set_topic",
    "state_topic",
]
