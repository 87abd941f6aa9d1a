"""Decode Easee AMQP deliveries into rows of the dataset contract (``evkit.store.schema.EASEE_SCHEMA``).

The real v2 body is not public, so every plausible wire form is accepted (keys case-insensitive):

* Masterloop: routing key ``{serial}.O.{obsId}``, body ``{"Timestamp": ..., "Value": ...}``;
* SignalR-like: ``{"mid", "dataType", "id", "value", "timestamp"}``;
* flat: ``{"ChargerId", "ObservationId", "Value", "Timestamp", "DataType"}``.

Messages of Equalizers (serials ``QP…``) are read with the Equalizer table
(``evkit.easee.equalizer``): the same ids mean other things there.

``decode_deliveries`` never raises: a message it cannot make sense of still becomes one row, with the
exact body in ``raw``, our receive time, the routing key and an ``error`` saying why.

Speed matters (capture shares the GIL with the pika I/O thread): one ``json.loads`` per message,
cached routing-key parsing, rows gathered as tuples, one DataFrame built per batch.

Reading the fields (times, values, types) is in :mod:`evkit.easee._values`, the envelope (routing
key, headers, body) in :mod:`evkit.easee._envelope`; the public names stay importable from here.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC
from typing import Any, NamedTuple

import polars as pl

from evkit.easee import _fastpath
from evkit.easee._envelope import (
    _arrival_header,
    _body_fields,
    _load_body,
    _raw_header_text,
    headers_json,
    parse_routing_key,
)
from evkit.easee._values import (
    _EPOCH,
    _EXACT,
    _INT32_MAX,
    _INT32_MIN,
    _ONE_US,
    _PLAIN_NUMBER_TYPES,
    _TYPE_TITLES,
    _boolean,
    _clean_text,
    _encode_text,
    _fromisoformat,
    _message_type,
    _short,
    _to_obs_id,
    _value_text,
    decode_value,
    parse_timestamp_us,
)
from evkit.easee.catalog import ENUM_LABELS, OBSERVATIONS, DataType, Obs
from evkit.easee.equalizer import EQUALIZER_ENUM_LABELS, EQUALIZER_OBSERVATIONS, EQUALIZER_SERIAL_PREFIX
from evkit.store.schema import EASEE_SCHEMA


class Delivery(NamedTuple):
    """One AMQP delivery as the capture hands it to the decoder."""

    routing_key: str
    body: bytes
    headers: Mapping[str, Any] | None  # pika BasicProperties.headers as delivered
    redelivered: bool
    received_at_us: int  # our wall clock, epoch microseconds UTC
    conn_epoch: int = 0


#: Column order of the rows built here (== EASEE_SCHEMA).
COLUMNS: tuple[str, ...] = tuple(EASEE_SCHEMA)

# Catalog facts looked up per message, flattened to plain dicts for speed.
_NAMES: dict[int, str] = {obs_id: info.name for obs_id, info in OBSERVATIONS.items()}
_CATALOG_TYPES: dict[int, DataType] = {
    obs_id: info.data_type for obs_id, info in OBSERVATIONS.items() if info.data_type is not None
}
_LABELS: dict[int, Mapping[int, str]] = dict(ENUM_LABELS)
# Ids typed Boolean by one source and String by another: a text that is no Boolean is kept, no error.
_TEXT_TOLERANT = frozenset(obs_id for obs_id, info in OBSERVATIONS.items() if info.text_tolerant)
# The same lookups for Equalizers.
_EQ_NAMES: dict[int, str] = {obs_id: info.name for obs_id, info in EQUALIZER_OBSERVATIONS.items()}
_EQ_TYPES: dict[int, DataType] = {
    obs_id: info.data_type for obs_id, info in EQUALIZER_OBSERVATIONS.items() if info.data_type is not None
}
_EQ_LABELS: dict[int, Mapping[int, str]] = dict(EQUALIZER_ENUM_LABELS)
_REVERSED_ID = int(Obs.USER_ID_TOKEN_REVERSED)

_Row = tuple[Any, ...]


def _decode_one(delivery: Delivery) -> _Row:
    if len(delivery) == 6:
        routing_key, body, headers, redelivered, received_at_us, conn_epoch = delivery
    else:  # a plain 5-tuple without conn_epoch
        routing_key, body, headers, redelivered, received_at_us = delivery
        conn_epoch = 0
    errors: list[str] = []
    routing_key = _clean_text(routing_key) if isinstance(routing_key, str) else _short(routing_key)
    kind, charger_id, obs_id, route_error = parse_routing_key(routing_key)

    # Headers: ArrivalTime (parsed and as sent) and everything as JSON.
    arrival_us: int | None = None
    arrival_raw: str | None = None
    headers_text: str | None = None
    arrival: Any = None
    if headers:
        if len(headers) == 1 and type(arrival := headers.get("ArrivalTime")) is str and arrival.isascii():
            # The usual case: a single ISO text header.
            headers_text = '{"ArrivalTime":' + _encode_text(arrival) + "}"
            arrival_raw = arrival
            try:
                parsed = _fromisoformat(arrival)
                if parsed.tzinfo is None:
                    parsed = parsed.replace(tzinfo=UTC)
                arrival_us = (parsed - _EPOCH) // _ONE_US
            except ValueError:
                try:
                    arrival_us = parse_timestamp_us(arrival)
                except (ValueError, OverflowError) as exc:
                    errors.append(f"ArrivalTime header: {exc}")
        else:
            headers_text = headers_json(headers)
            arrival = _arrival_header(headers)
    if arrival_raw is None and arrival is not None:
        arrival_raw = _raw_header_text(arrival)
        try:
            arrival_us = parse_timestamp_us(arrival)
        except (ValueError, OverflowError) as exc:
            errors.append(f"ArrivalTime header: {exc}")

    observed_us: int | None = None
    value: float | None = None
    value_text: str | None = None
    data_type: DataType | None = None
    type_title: str | None = None
    label: str | None = None
    value_reversed: str | None = None

    message, body_error = _load_body(body)
    if body_error is not None and (body or kind != "pulse"):
        errors.append(body_error)

    if isinstance(message, dict):
        if len(message) == 2 and "Timestamp" in message and "Value" in message:
            # The Masterloop form in its usual casing: no key folding needed.
            ts_raw = message["Timestamp"]
            raw_value = message["Value"]
            has_value = True
            folded = None
        else:
            folded = _body_fields(message)
            ts_raw = folded.get("timestamp")
            has_value = "value" in folded
            raw_value = folded.get("value")

        if folded is not None:
            body_charger = folded.get("chargerid", folded.get("mid", folded.get("serialnumber")))
            if body_charger is not None:
                charger_id = _clean_text(str(body_charger))
            body_obs = folded.get("observationid")
            if body_obs is None and kind != "command_response":
                body_obs = folded.get("id")
            if body_obs is not None:
                obs_id, obs_error = _to_obs_id(body_obs)
                if obs_error is not None:
                    errors.append(obs_error)
                route_error = None  # the body names the id
                if kind == "unknown" and has_value:
                    kind = "observation"
            declared = folded.get("datatype")
            if declared is not None:
                data_type = _message_type(declared)

        if ts_raw is not None:
            try:
                if type(ts_raw) is str:  # fast path for the usual ISO text
                    try:
                        parsed = _fromisoformat(ts_raw)
                        if parsed.tzinfo is None:
                            parsed = parsed.replace(tzinfo=UTC)
                        observed_us = (parsed - _EPOCH) // _ONE_US
                    except ValueError:
                        observed_us = parse_timestamp_us(ts_raw)
                else:
                    observed_us = parse_timestamp_us(ts_raw)
            except (ValueError, OverflowError) as exc:
                errors.append(f"Timestamp: {exc}")
        elif kind in ("observation", "command_response"):
            errors.append("missing Timestamp")

        if kind == "command_response":
            response = folded if folded is not None else _body_fields(message)
            accepted = response.get("wasaccepted")
            value, _ = _boolean(accepted) if accepted is not None else (None, None)
            label = None if value is None else ("accepted" if value else "rejected")
            comment = response.get("comment", response.get("resultcode"))
            value_text = _value_text(comment)
            type_title = "CommandResponse"
            obs_id = None
        elif kind == "pulse":
            type_title = "Pulse"
        else:
            if route_error is not None:
                errors.append(route_error)
            elif obs_id is None:
                errors.append("no observation id in the routing key or body")
            if not has_value:
                errors.append("missing Value")
            equalizer = charger_id is not None and charger_id.startswith(EQUALIZER_SERIAL_PREFIX)
            if equalizer:
                catalog_types, enum_labels = _EQ_TYPES, _EQ_LABELS
            else:
                catalog_types, enum_labels = _CATALOG_TYPES, _LABELS
            if data_type is None and obs_id is not None:
                data_type = catalog_types.get(obs_id)
            value_type = type(raw_value)
            if value_type is float and data_type in _PLAIN_NUMBER_TYPES and math.isfinite(raw_value):
                value, value_text = raw_value, repr(raw_value)  # fast path: a typed JSON number
            elif value_type is int and data_type in _PLAIN_NUMBER_TYPES and -_EXACT < raw_value < _EXACT:
                value, value_text = float(raw_value), str(raw_value)
            else:
                value_text = _value_text(raw_value)
                value, value_error = decode_value(raw_value, data_type)
                tolerated = value_type is str and obs_id in _TEXT_TOLERANT and not equalizer
                if value_error is not None and not tolerated:
                    errors.append(value_error)
            type_title = _TYPE_TITLES[data_type]
            if obs_id is not None:
                labels = enum_labels.get(obs_id)
                if labels is not None and value is not None and value.is_integer():
                    label = labels.get(int(value))
                if obs_id == _REVERSED_ID and value_text is not None and not equalizer:
                    value_reversed = value_text[::-1]
    elif message is not None:
        errors.append(f"body is JSON {type(message).__name__}, not an object")
        value_text = _value_text(message)
    if not isinstance(message, dict) and route_error is not None:
        errors.append(route_error)
    return (
        received_at_us,
        arrival_us,
        observed_us,
        charger_id,
        obs_id,
        _name(obs_id, charger_id),
        value,
        value_text,
        kind,
        routing_key,
        bool(redelivered),
        bytes(body),
        "; ".join(errors) if errors else None,
        type_title,
        label,
        value_reversed,
        headers_text,
        arrival_raw,
        conn_epoch,
    )


def _name(obs_id: int | None, charger_id: str | None) -> str | None:
    if obs_id is None:
        return None
    if charger_id is not None and charger_id.startswith(EQUALIZER_SERIAL_PREFIX):
        return _EQ_NAMES.get(obs_id)
    return _NAMES.get(obs_id)


def _salvage(delivery: Any, exc: BaseException) -> _Row:
    """The row of a delivery the decoder could not handle at all: raw, times, key, and why."""

    def pick(index: int, kinds: type | tuple[type, ...]) -> Any:
        try:
            item = delivery[index]
        except Exception:  # any shape of input
            return None
        return item if isinstance(item, kinds) else None

    body = pick(1, (bytes, bytearray, memoryview))
    routing_key = pick(0, str)
    received = pick(4, int)
    epoch = pick(5, int)
    return (
        received,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        "unknown",
        _clean_text(routing_key) if routing_key is not None else None,
        bool(pick(3, (bool, int))),
        bytes(body) if body is not None else b"",
        f"decoder failed: {type(exc).__name__}: {_short(str(exc), 200)}",
        None,
        None,
        None,
        None,
        None,
        epoch if epoch is not None and _INT32_MIN <= epoch <= _INT32_MAX else 0,
    )


def decode_delivery(delivery: Delivery) -> _Row:
    """One row (a tuple in ``COLUMNS`` order) for one delivery; never raises."""
    try:
        return _decode_one(delivery)
    except Exception as exc:  # the contract: never raise, keep the message
        return _salvage(delivery, exc)


_DATETIME_COLUMNS = ("received_at", "arrival_time", "observed_at")
# Rows carry epoch microseconds; the frame is built with Int64 there and cast once.
_ROW_SCHEMA = {
    name: (pl.Int64() if name in _DATETIME_COLUMNS else dtype) for name, dtype in EASEE_SCHEMA.items()
}
_TO_DATETIME = [pl.col(name).cast(EASEE_SCHEMA[name]) for name in _DATETIME_COLUMNS]


#: ``EVKIT_EASEE_FASTPATH=0`` decodes everything in Python (for A/B benchmarks; same rows either way).
_FAST_PATH = os.environ.get("EVKIT_EASEE_FASTPATH", "1") != "0"
_CHUNK = 4096  # rows transposed at a time: small enough to stay in cache


def rows_to_frame(rows: Sequence[_Row]) -> pl.DataFrame:
    """A frame with exactly ``EASEE_SCHEMA`` from rows in ``COLUMNS`` order."""
    if not rows:
        return pl.DataFrame(schema=EASEE_SCHEMA)
    frames = []
    for start in range(0, len(rows), _CHUNK):
        columns = zip(*rows[start : start + _CHUNK], strict=True)
        frames.append(
            pl.DataFrame(
                [
                    pl.Series(name, values, dtype=dtype)
                    for (name, dtype), values in zip(_ROW_SCHEMA.items(), columns, strict=True)
                ]
            )
        )
    frame = frames[0] if len(frames) == 1 else pl.concat(frames, rechunk=False)
    return frame.with_columns(_TO_DATETIME)


def decode_deliveries(deliveries: Sequence[Delivery]) -> pl.DataFrame:
    """One row per delivery with exactly ``evkit.store.schema.EASEE_SCHEMA`` (names, order, dtypes).

    ``deliveries`` may also be plain tuples in ``Delivery`` field order (``conn_epoch`` optional).
    Never raises for any input; a malformed message becomes a row with ``raw`` and ``error``.

    Batches go through the vectorised fast path (``evkit.easee._fastpath``) first; the rows it does
    not take (anything but the common Masterloop shape) are decoded here in Python.
    """
    if len(deliveries) >= _fastpath.MIN_BATCH and _FAST_PATH:
        try:
            frame = _fastpath.delivery_frame(deliveries)
        except Exception:  # input that is not column-shaped (odd types): all in Python, exactly
            return decode_deliveries_python(deliveries)
        return decode_delivery_frame(frame, deliveries.__getitem__)
    return decode_deliveries_python(deliveries)


def decode_delivery_frame(frame: pl.DataFrame, delivery_at: Callable[[int], Delivery]) -> pl.DataFrame:
    """:func:`decode_deliveries` of deliveries given as columns (see ``_fastpath.delivery_frame``);
    ``delivery_at(i)`` gives delivery ``i`` as a tuple for the rows the fast path leaves to Python."""
    try:
        fast, rest = _fastpath.decode_frame(frame)
    except Exception:  # never lose a batch to the fast path: Python decodes it all
        return decode_deliveries_python([delivery_at(i) for i in range(frame.height)])
    if not rest:
        return fast.drop("_index")
    slow = decode_deliveries_python([delivery_at(i) for i in rest])
    if len(rest) == frame.height:
        return slow
    slow = slow.select(pl.Series("_index", rest, dtype=fast.schema["_index"]), pl.all())
    return pl.concat([fast, slow]).sort("_index").drop("_index")


def decode_deliveries_python(deliveries: Sequence[Delivery]) -> pl.DataFrame:
    """:func:`decode_deliveries` without the fast path: every row decoded by the Python code here
    (the reference the fast path is tested against)."""
    decode = _decode_one
    rows: list[_Row] = []
    append = rows.append
    for delivery in deliveries:
        try:
            append(decode(delivery))
        except Exception as exc:  # the contract: never raise, keep the message
            append(_salvage(delivery, exc))
    try:
        return rows_to_frame(rows)
    except Exception:  # a value Polars refused: rebuild row by row so one bad row cannot sink a batch
        return _frame_row_by_row(deliveries, rows)


def _frame_row_by_row(deliveries: Sequence[Delivery], rows: list[_Row]) -> pl.DataFrame:
    safe: list[_Row] = []
    for delivery, row in zip(deliveries, rows, strict=True):
        try:
            rows_to_frame([row])
        except Exception as exc:
            safe.append(_salvage(delivery, exc))
        else:
            safe.append(row)
    return rows_to_frame(safe)


__all__ = [
    "COLUMNS",
    "Delivery",
    "decode_deliveries",
    "decode_deliveries_python",
    "decode_delivery",
    "decode_delivery_frame",
    "decode_value",
    "headers_json",
    "parse_routing_key",
    "parse_timestamp_us",
    "rows_to_frame",
]
