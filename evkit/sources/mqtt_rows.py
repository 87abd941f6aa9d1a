"""MQTT rows: which topic is evcc's or go-e's, and the decoded Parquet rows of a batch (pure, no I/O).

Rows: every required column of the dataset contract plus ``topic``, ``retained``, ``qos``,
``source`` (evcc / go-e / other), ``device_id``, ``key``, ``conn_epoch``, ``label`` and ``unit``.
``observation`` repeats ``key``; ``charger_id`` repeats ``device_id``; ``redelivered`` is MQTT's DUP
flag. Values are stored as sent, in the ``unit`` given (evcc ``sessionEnergy`` Wh,
``chargeTotalImport`` kWh, go-e ``eto`` Wh...). An empty payload (a deleted retained value) has a
null ``value`` and ``value_text`` ``""``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import polars as pl

from evkit.evcc import decode as evcc_decode
from evkit.evcc.decode import Reading
from evkit.goe import decode as goe_decode
from evkit.goe.keys import FIRMWARE_DEPENDENT_KEYS
from evkit.store import MQTT_SCHEMA
from evkit.store.schema import REPLAY_MARK, UTC_US

#: Columns of a captured MQTT row: the contract's MQTT schema plus label and unit.
CAPTURE_SCHEMA: dict[str, pl.DataType] = MQTT_SCHEMA

_NUMBER = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")
_ROUTE_CACHE_LIMIT = 200_000
_DECODED_CACHE_LIMIT = 100_000
_CACHED_PAYLOAD_BYTES = 48
#: go-e keys whose rows depend on more than topic and payload (the charger's firmware).
_FIRMWARE_DEPENDENT = FIRMWARE_DEPENDENT_KEYS


#: What the connection thread keeps of one delivery (decoded later, in batches): received_at (epoch
#: microseconds), topic, payload, retained, qos, dup, conn_epoch, replayed (MQTT 5 user property
#: ``evkit-replay``, set by ``evkit replay``). A plain tuple on the hot path.
MessageTuple = tuple[int, str, bytes, bool, int, bool, int, bool]


class Message(NamedTuple):
    """A :data:`MessageTuple` with names (tests and notebooks)."""

    received_us: int
    topic: str
    payload: bytes
    retained: bool
    qos: int
    dup: bool
    epoch: int
    replayed: bool = False


def is_replay(properties: Any) -> bool:
    """Whether MQTT 5 ``properties`` carry the mark of ``evkit replay`` (user property
    :data:`evkit.store.schema.REPLAY_MARK`)."""
    return any(key == REPLAY_MARK for key, _ in getattr(properties, "UserProperty", None) or ())


@dataclass(frozen=True)
class TopicRules:
    """Which topic trees are evcc's and which are go-e's (everything else is stored raw as ``other``)."""

    evcc_roots: tuple[str, ...] = ("evcc",)
    goe_prefixes: tuple[str, ...] = ("go-eCharger",)


def decode_other(payload: bytes) -> Reading:
    """An unknown topic: text kept when it is UTF-8, a number recognised, bytes always in ``raw``."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return Reading("", None, None, None, None, None, None)
    value: float | None = None
    stripped = text.strip()
    if _NUMBER.match(text):
        number = float(text)
        value = number if math.isfinite(number) else None
    elif stripped in ("true", "false"):
        value = 1.0 if stripped == "true" else 0.0
    return Reading("", value, text, None, None, None, None)


@dataclass
class _Route:
    source: str
    device_id: str | None
    key: str
    evcc: evcc_decode.EvccRoute | None = None
    goe: goe_decode.GoeRoute | None = None


class RowBuilder:
    """Turns buffered messages into a frame with :data:`CAPTURE_SCHEMA` (pure, no I/O).

    Remembers per-topic routing and each go-e charger's firmware (``fwv``, for its ``err`` labels).
    Every message gives at least one row; ``nrg`` gives one per field. Nothing raises.
    """

    def __init__(self, rules: TopicRules | None = None) -> None:
        self.rules = rules or TopicRules()
        self._routes: dict[str, _Route] = {}
        self._firmware: dict[str, str] = {}
        # evcc re-publishes every value each cycle and most do not change: short payloads decode once.
        self._decoded: dict[tuple[str, bytes], tuple[_Route, list[Reading]]] = {}

    def route(self, topic: str) -> _Route:
        """Source, device and key of ``topic`` (cached)."""
        found = self._routes.get(topic)
        if found is not None:
            return found
        found = self._classify(topic)
        if len(self._routes) >= _ROUTE_CACHE_LIMIT:
            self._routes.clear()
        self._routes[topic] = found
        return found

    def _classify(self, topic: str) -> _Route:
        for root in self.rules.evcc_roots:
            evcc_route = evcc_decode.route(topic, root)
            if evcc_route is not None:
                return _Route("evcc", evcc_route.device_id, evcc_route.key, evcc=evcc_route)
        for prefix in self.rules.goe_prefixes:
            goe_route = goe_decode.route(topic, prefix)
            if goe_route is not None:
                return _Route("go-e", goe_route.serial, goe_route.key, goe=goe_route)
        return _Route("other", None, topic)

    def readings(self, topic: str, payload: bytes) -> tuple[_Route, list[Reading]]:
        """The route and decoded rows of one message (never raises). Do not mutate the result."""
        if len(payload) <= _CACHED_PAYLOAD_BYTES:
            known = self._decoded.get((topic, payload))
            if known is not None:
                return known
            decoded = self._readings(topic, payload)
            goe = decoded[0].goe
            if goe is None or goe.api_key not in _FIRMWARE_DEPENDENT:
                if len(self._decoded) >= _DECODED_CACHE_LIMIT:
                    self._decoded.clear()
                self._decoded[(topic, payload)] = decoded
            return decoded
        return self._readings(topic, payload)

    def _readings(self, topic: str, payload: bytes) -> tuple[_Route, list[Reading]]:
        where = self.route(topic)
        try:
            if where.evcc is not None:
                return where, [evcc_decode.decode(where.evcc, payload)]
            if where.goe is not None:
                rows = goe_decode.decode(where.goe, payload, self._firmware.get(where.goe.serial))
                if where.goe.api_key == "fwv" and where.goe.kind == "state" and rows[0].value_text:
                    self._firmware[where.goe.serial] = rows[0].value_text
                return where, rows
            other = decode_other(payload)
            return where, [other._replace(key=where.key)]
        except Exception as exc:  # a decoder bug must never lose the message
            text = payload.decode("utf-8", errors="replace")
            error = f"decoder failed: {type(exc).__name__}: {exc}"
            return where, [Reading(where.key, None, text, None, None, None, error)]

    def frame(self, messages: Sequence[MessageTuple]) -> pl.DataFrame:
        """One frame for a batch of messages.

        Per message only the decoding runs in Python; message-level columns are built once and
        repeated for messages that gave several rows (``nrg``) with a vectorised gather.
        """
        readings: list[Reading] = []
        sources: list[str] = []
        devices: list[str | None] = []
        index: list[int] = []
        expanded = False
        for position, message in enumerate(messages):
            where, rows = self.readings(message[1], message[2])
            sources.append(where.source)
            devices.append(where.device_id)
            if len(rows) == 1:
                readings.append(rows[0])
                index.append(position)
            else:
                readings.extend(rows)
                index.extend([position] * len(rows))
                expanded = True
        height = len(readings)
        if height:
            keys, values, texts, labels, units, observed, errors = zip(*readings, strict=True)
        else:
            keys = values = texts = labels = units = observed = errors = ()
        received, topics, raws, retained, qos, dups, epochs, replays = (
            zip(*messages, strict=True) if messages else ((),) * 8
        )
        per_message = pl.DataFrame(
            [
                pl.Series("received_at", received, dtype=pl.Int64).cast(UTC_US),
                pl.Series("topic", topics, dtype=pl.String),
                pl.Series("raw", raws, dtype=pl.Binary),
                pl.Series("retained", retained, dtype=pl.Boolean),
                pl.Series("qos", qos, dtype=pl.Int8),
                pl.Series("redelivered", dups, dtype=pl.Boolean),
                pl.Series("conn_epoch", epochs, dtype=pl.Int32),
                pl.Series("replayed", replays, dtype=pl.Boolean),
                pl.Series("source", sources, dtype=pl.String),
                pl.Series("device_id", devices, dtype=pl.String),
            ]
        )
        if expanded:  # repeat message-level values for each of their rows (vectorised gather)
            per_message = per_message[pl.Series(index, dtype=pl.UInt32)]
        nulls = pl.repeat(None, height, eager=True)
        columns: dict[str, pl.Series] = {
            "received_at": per_message["received_at"],
            "arrival_time": nulls.cast(UTC_US),
            "observed_at": pl.Series(observed, dtype=pl.Int64).cast(UTC_US),
            "charger_id": per_message["device_id"].alias("charger_id"),
            "observation_id": nulls.cast(pl.Int32),
            "observation": pl.Series(keys, dtype=pl.String),
            "value": pl.Series(values, dtype=pl.Float64),
            "value_text": pl.Series(texts, dtype=pl.String),
            "kind": pl.repeat("mqtt", height, dtype=pl.String, eager=True),
            "routing_key": nulls.cast(pl.String),
            "redelivered": per_message["redelivered"],
            "raw": per_message["raw"],
            "error": pl.Series(errors, dtype=pl.String),
            "topic": per_message["topic"],
            "retained": per_message["retained"],
            "qos": per_message["qos"],
            "source": per_message["source"],
            "device_id": per_message["device_id"],
            "key": pl.Series(keys, dtype=pl.String),
            "conn_epoch": per_message["conn_epoch"],
            "label": pl.Series(labels, dtype=pl.String),
            "unit": pl.Series(units, dtype=pl.String),
            "replayed": per_message["replayed"],
        }
        return pl.DataFrame({name: series.alias(name) for name, series in columns.items()})


#: The writer process's row builder, kept across batches (route cache, go-e firmware per serial).
_CHILD_BUILDERS: dict[TopicRules, RowBuilder] = {}


def decode_batch(items: Sequence[Any]) -> pl.DataFrame:
    """Decoder of the writer process: ``items`` is ``[TopicRules, Message, ...]`` (rules travel with
    every batch so one child serves one capture's settings; routes and firmware stay cached)."""
    rules, messages = items[0], items[1:]
    builder = _CHILD_BUILDERS.get(rules)
    if builder is None:
        builder = _CHILD_BUILDERS[rules] = RowBuilder(rules)
    return builder.frame(messages)


__all__ = [
    "CAPTURE_SCHEMA",
    "Message",
    "MessageTuple",
    "RowBuilder",
    "TopicRules",
    "decode_batch",
    "decode_other",
    "is_replay",
]
