"""Easee wire encoding: the inverse of ``evkit.easee.decode``, for simulators and tests.

The three body forms the decoder accepts are produced here (and only here):

* ``masterloop``: ``{"Timestamp": ..., "Value": <typed JSON>}`` (the Masterloop convention);
* ``signalr``: ``{"mid", "dataType", "id", "value": <text>, "timestamp"}`` (values as text);
* ``flat``: ``{"ChargerId", "ObservationId", "Value", "Timestamp", "DataType"}``.

All go to routing key ``{serial}.O.{obsId}``. Times are written like .NET does: 7 fractional digits and ``Z``.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any, Literal

from evkit.easee.catalog import OBSERVATIONS, DataType

WireForm = Literal["masterloop", "signalr", "flat"]
WIRE_FORMS: tuple[WireForm, ...] = ("masterloop", "signalr", "flat")

_TICKS_AT_EPOCH = 621_355_968_000_000_000


def format_timestamp(moment: datetime) -> str:
    """``moment`` as .NET writes a UTC DateTime: ``2024-05-01T12:34:56.1234560Z`` (naive = UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}0Z"


def arrival_time_header(moment: datetime) -> str:
    """The ``ArrivalTime`` header value for ``moment``: ISO text, 7 fractional digits and ``Z``."""
    return format_timestamp(moment)


def dotnet_ticks(moment: datetime) -> int:
    """.NET ``DateTime.Ticks`` (100 ns units since 0001-01-01 UTC) of ``moment`` (naive = UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return _TICKS_AT_EPOCH + micros * 10


def observation_routing_key(serial: str, obs_id: int) -> str:
    """``{serial}.O.{obsId}``."""
    return f"{serial}.O.{int(obs_id)}"


def _data_type(obs_id: int, value: Any, data_type: DataType | None) -> DataType:
    if data_type is not None:
        return data_type
    info = OBSERVATIONS.get(obs_id)
    if info is not None and info.data_type is not None:
        return info.data_type
    if isinstance(value, bool):
        return DataType.BOOLEAN
    if isinstance(value, int):
        return DataType.INTEGER
    if isinstance(value, float):
        return DataType.DOUBLE
    if isinstance(value, dict | list):
        return DataType.POSITION if isinstance(value, dict) else DataType.STATISTICS
    return DataType.STRING


def typed_value(value: Any, data_type: DataType) -> Any:
    """``value`` as the JSON value of ``data_type`` (Boolean -> bool, Double -> float, Integer -> int).

    ``None`` stays ``None`` (JSON null).
    """
    if value is None:
        return None
    if data_type is DataType.BOOLEAN:
        if isinstance(value, str):
            return value.strip().lower() in {"1", "true", "on", "yes"}
        return bool(value)
    if data_type is DataType.DOUBLE:
        return float(value)
    if data_type is DataType.INTEGER:
        number = float(value)
        return int(number) if number.is_integer() else number
    if data_type is DataType.STRING:
        return value if isinstance(value, str) else str(value)
    return value


def text_value(value: Any, data_type: DataType) -> str | None:
    """``value`` as SignalR sends it: always text, booleans ``"1"``/``"0"``, objects as JSON."""
    typed = typed_value(value, data_type)
    if typed is None:
        return None
    if isinstance(typed, bool):
        return "1" if typed else "0"
    if isinstance(typed, str):
        return typed
    if isinstance(typed, float) and math.isfinite(typed):
        return repr(typed)
    return json.dumps(typed, separators=(",", ":"))


def encode_observation(
    serial: str,
    obs_id: int,
    value: Any,
    observed_at: datetime,
    form: WireForm = "masterloop",
    *,
    data_type: DataType | None = None,
) -> tuple[str, bytes]:
    """``(routing_key, body)`` of one observation in wire ``form``.

    The value is written with the observation's catalog type (or ``data_type``), the way the device
    would: booleans as JSON booleans (Masterloop, flat) or ``"1"``/``"0"`` (SignalR).
    """
    kind = _data_type(obs_id, value, data_type)
    stamp = format_timestamp(observed_at)
    body: dict[str, Any]
    if form == "masterloop":
        body = {"Timestamp": stamp, "Value": typed_value(value, kind)}
    elif form == "signalr":
        body = {
            "mid": serial,
            "dataType": kind.value,
            "id": int(obs_id),
            "value": text_value(value, kind),
            "timestamp": stamp,
        }
    elif form == "flat":
        body = {
            "ChargerId": serial,
            "ObservationId": int(obs_id),
            "Value": typed_value(value, kind),
            "Timestamp": stamp,
            "DataType": kind.title,
        }
    else:
        raise ValueError(f"unknown wire form {form!r}; use one of {', '.join(WIRE_FORMS)}")
    return observation_routing_key(serial, obs_id), _dumps(body)


def encode_command_response(
    serial: str,
    command_id: int,
    ticks: int,
    *,
    accepted: bool,
    at: datetime,
    result_code: int | None = 0,
    comment: str | None = None,
) -> tuple[str, bytes]:
    """``(routing_key, body)`` of a command response ``{serial}.CR.{commandId}.{ticks}`` (Masterloop form)."""
    body = {
        "Id": int(command_id),
        "Timestamp": format_timestamp(at),
        "DeliveredAt": format_timestamp(at),
        "WasAccepted": bool(accepted),
        "ResultCode": result_code,
        "Comment": comment,
    }
    return f"{serial}.CR.{int(command_id)}.{int(ticks)}", _dumps(body)


def encode_pulse(serial: str, at: datetime) -> tuple[str, bytes]:
    """``(routing_key, body)`` of a device pulse ``{serial}.P``."""
    return f"{serial}.P", _dumps({"Timestamp": format_timestamp(at)})


def _dumps(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


__all__ = [
    "WIRE_FORMS",
    "WireForm",
    "arrival_time_header",
    "dotnet_ticks",
    "encode_command_response",
    "encode_observation",
    "encode_pulse",
    "format_timestamp",
    "observation_routing_key",
    "text_value",
    "typed_value",
]
