"""The envelope of an Easee AMQP delivery: the Masterloop routing key, the AMQP headers (``ArrivalTime``)
and the JSON body. Used by :mod:`evkit.easee.decode` (the public names are re-exported there).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from evkit.easee._values import _clean_text, _encode_text, _to_obs_id

_KIND_BY_MARKER = {"O": "observation", "CR": "command_response", "P": "pulse"}

# routing key -> (kind, charger id, observation id from the key, error); keys repeat a lot.
_ROUTE_CACHE: dict[str, tuple[str, str | None, int | None, str | None]] = {}
_ROUTE_CACHE_MAX = 100_000  # ~1,500 chargers x 60 ids; bounded memory


def parse_routing_key(routing_key: str) -> tuple[str, str | None, int | None, str | None]:
    """``(kind, charger_id, observation_id, error)`` from a Masterloop routing key.

    ``{mid}.O.{id}`` -> observation, ``{mid}.CR.{cmd}.{ticks}`` -> command_response, ``{mid}.P[...]`` ->
    pulse, anything else -> unknown (charger id and observation id ``None``).
    """
    cached = _ROUTE_CACHE.get(routing_key)
    if cached is not None:
        return cached
    parts = routing_key.split(".")
    kind = _KIND_BY_MARKER.get(parts[1], "unknown") if len(parts) >= 2 and parts[0] else "unknown"
    charger_id = _clean_text(parts[0]) if kind != "unknown" else None
    obs_id: int | None = None
    error: str | None = None
    if kind == "observation":
        obs_id, error = _to_obs_id(parts[-1]) if len(parts) >= 3 else (None, None)
        if error is not None:
            error = f"routing key {routing_key!r}: {error}"
    result = (kind, charger_id, obs_id, error)
    if kind in ("observation", "pulse"):  # command-response keys carry unique ticks: not worth caching
        if len(_ROUTE_CACHE) >= _ROUTE_CACHE_MAX:
            _ROUTE_CACHE.clear()
        _ROUTE_CACHE[routing_key] = result
    return result


# ------------------------------------------------------------------------------------------- headers


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, Decimal):
        return str(value)
    return repr(value)


def headers_json(headers: Mapping[str, Any] | None) -> str | None:
    """All AMQP headers as JSON text (``None`` when there are none)."""
    if not headers:
        return None
    # Fast path: text keys and text values (the usual ArrivalTime-only case) need no encoder run.
    parts = []
    for key, value in headers.items():
        if type(key) is not str or type(value) is not str:
            break
        parts.append(f"{_encode_text(key)}:{_encode_text(value)}")
    else:
        return _clean_text("{" + ",".join(parts) + "}")
    try:
        text = json.dumps(dict(headers), default=_json_default, ensure_ascii=False)
    except (TypeError, ValueError):  # non-string keys, circular structures
        text = json.dumps({str(key): _json_default(val) for key, val in headers.items()}, ensure_ascii=False)
    return _clean_text(text)


def _raw_header_text(value: Any) -> str:
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, datetime):
        return value.isoformat()
    return _clean_text(str(value))


def _arrival_header(headers: Mapping[str, Any]) -> Any:
    if "ArrivalTime" in headers:
        return headers["ArrivalTime"]
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == "arrivaltime":
            return value
    return None


# ---------------------------------------------------------------------------------------------- rows

_DECODER = json.JSONDecoder()
_SCAN = _DECODER.scan_once  # type: ignore[attr-defined]


def _load_body(body: bytes) -> tuple[Any, str | None]:
    """``(parsed JSON, None)`` or ``(None, why not)``."""
    if type(body) is not bytes:
        body = bytes(body)
    try:
        text = body.decode("utf-8")
        value, end = _SCAN(text, 0)  # fast path: no leading whitespace, nothing after the value
        if end == len(text):
            return value, None
    except (UnicodeDecodeError, StopIteration, ValueError, RecursionError):
        pass
    # Slow path: the standard parser gives the precise reason (and accepts a BOM or UTF-16/32).
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return json.loads(body), None
        except (ValueError, RecursionError):
            return None, "body is not UTF-8"
    try:
        return json.loads(text), None
    except ValueError as exc:
        return None, (f"body is not JSON: {exc}" if body else "empty body")
    except RecursionError:
        return None, "body is nested too deeply"


def _body_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """The body with lower-cased keys (first spelling wins)."""
    folded: dict[str, Any] = {}
    for key, value in body.items():
        folded.setdefault(key.lower(), value)
    return folded
