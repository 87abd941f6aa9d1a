"""Easee command messages as they come back: command responses, command bodies, read-back values.

Pure and tolerant: where Easee's AMQP v2 wire form is inferred rather than documented (the casing of
response fields; see :mod:`evkit.easee.commands` for the sources), keys are matched case-folded and
values accepted typed or as text.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

TRUE_WORDS = frozenset({"1", "true", "on", "yes"})
FALSE_WORDS = frozenset({"0", "false", "off", "no"})
_TRUE, _FALSE = TRUE_WORDS, FALSE_WORDS


@dataclass(frozen=True)
class CommandResponse:
    """A parsed command response (``{serial}.CR.{commandId}.{ticks}``)."""

    serial: str
    command_id: int
    ticks: int | None
    was_accepted: bool | None
    result_code: int | None
    comment: str | None
    delivered_at: datetime | None
    timestamp: datetime | None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def expired(self) -> bool:
        """INFERRED: Masterloop's CommandStatus has Expired; we read it from the comment/result text."""
        text = (self.comment or "").lower()
        return self.was_accepted is not True and "expire" in text


def _folded(body: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k).casefold(): v for k, v in body.items()}


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        return True if text in _TRUE else False if text in _FALSE else None
    return None


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value  # ticks need all 18 digits: never through float
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if math.isfinite(number) and number.is_integer() else None


def _as_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # .NET writes 7 fraction digits; Python takes up to 6 (3.11 accepts 7, but be safe).
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_response_key(routing_key: str) -> tuple[str, int, int] | None:
    """``(serial, commandId, ticks)`` of ``{serial}.CR.{commandId}.{ticks}``; None for other keys."""
    parts = routing_key.split(".")
    if len(parts) != 4 or parts[1] != "CR" or not parts[0]:
        return None
    if not (parts[2].isdigit() and parts[3].isdigit()):
        return None
    return parts[0], int(parts[2]), int(parts[3])


def parse_command_response(routing_key: str, body: bytes | str | Mapping[str, Any]) -> CommandResponse | None:
    """The response in ``body`` (any key casing; PascalCase Masterloop or SignalR style with
    ``SerialNumber``/``ID``/``Ticks``); None when this is not a command response at all.

    Routing-key values win over body values for serial, command id and ticks (the key is the
    documented correlation).
    """
    route = parse_response_key(routing_key)
    data: Mapping[str, Any]
    if isinstance(body, Mapping):
        data = body
    else:
        try:
            loaded = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            loaded = None
        data = loaded if isinstance(loaded, dict) else {}
    folded = _folded(data)
    if route is None and not {"wasaccepted", "ticks"} & set(folded):
        return None
    serial = route[0] if route else str(folded.get("serialnumber") or folded.get("mid") or "")
    command_id = route[1] if route else _as_int(folded.get("id")) or 0
    ticks = route[2] if route else _as_int(folded.get("ticks"))
    known = {"id", "serialnumber", "mid", "ticks", "wasaccepted", "resultcode", "comment", "deliveredat",
             "timestamp"}  # fmt: skip
    return CommandResponse(
        serial=serial,
        command_id=command_id,
        ticks=ticks,
        was_accepted=_as_bool(folded.get("wasaccepted")),
        result_code=_as_int(folded.get("resultcode")),
        comment=None if folded.get("comment") in (None, "") else str(folded.get("comment")),
        delivered_at=_as_time(folded.get("deliveredat")),
        timestamp=_as_time(folded.get("timestamp")),
        extra={k: v for k, v in data.items() if str(k).casefold() not in known},
    )


def parse_command_message(routing_key: str, body: bytes | str) -> tuple[str, int, int, dict[str, Any]]:
    """A command as the charger side receives it: ``(serial, commandId, ticks, body)``.

    Raises ValueError when the key or body is not a command (the simulator answers those with a
    rejection).
    """
    parts = routing_key.split(".")
    if len(parts) != 4 or parts[1] != "C" or not (parts[2].isdigit() and parts[3].isdigit()):
        raise ValueError(f"not a command routing key: {routing_key!r}")
    loaded = json.loads(body)
    if not isinstance(loaded, dict):
        raise ValueError("the command body is not a JSON object")
    return parts[0], int(parts[2]), int(parts[3]), loaded


def command_arguments(body: Mapping[str, Any]) -> list[str]:
    """The argument values of a command body, ordered by their ``Id`` (case-tolerant keys)."""
    folded = _folded(body)
    items = folded.get("arguments") or []
    pairs: list[tuple[int, str]] = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, Mapping):
            entry = _folded(item)
            pairs.append((_as_int(entry.get("id")) or 0, str(entry.get("value"))))
    return [value for _, value in sorted(pairs)]


def command_expires_at(body: Mapping[str, Any]) -> datetime | None:
    """``ExpiresAt`` of a command body, if readable."""
    return _as_time(_folded(body).get("expiresat"))


def _number(value: Any) -> float | None:
    """A number from an observation or argument value: ``13``, ``13.0``, ``true``/``false``, ``1``/``0``."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        flag = _as_bool(value)
        if flag is not None and not value.strip().lstrip("-").replace(".", "").isdigit():
            return float(flag)
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def readback_matches(expected: str, value: Any) -> bool:
    """True when an observation value equals the argument sent (numbers as numbers; booleans as 1/0)."""
    want, got = _number(expected), _number(value)
    return want is not None and got is not None and math.isclose(want, got, abs_tol=0.01)


def parse_observation_body(body: bytes | str) -> tuple[Any, datetime | None]:
    """``(value, timestamp)`` of an observation body in any form the decoder knows (Masterloop
    ``Timestamp``/``Value``, SignalR ``timestamp``/``value``; case-tolerant); ``(None, None)`` if
    unreadable."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None, None
    if not isinstance(data, dict):
        return None, None
    folded = _folded(data)
    return folded.get("value"), _as_time(folded.get("timestamp"))


__all__ = [
    "FALSE_WORDS",
    "TRUE_WORDS",
    "CommandResponse",
    "command_arguments",
    "command_expires_at",
    "parse_command_message",
    "parse_command_response",
    "parse_observation_body",
    "parse_response_key",
    "readback_matches",
]
