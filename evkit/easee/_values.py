"""Fields of an Easee message as the decoder reads them: clean text, observation ids, times (ISO
text, .NET ticks, epoch numbers) and values by data type. Pure functions, used by
:mod:`evkit.easee.decode` (the public ones are re-exported there).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from evkit.easee.catalog import DataType

_encode_text = json.encoder.encode_basestring
_fromisoformat = datetime.fromisoformat
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_TICKS_AT_EPOCH = 621_355_968_000_000_000  # .NET DateTime.Ticks of 1970-01-01T00:00:00Z
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_EXACT = 2**53  # integers a float holds exactly

_TYPE_BY_NAME: dict[str, DataType] = {member.title.lower(): member for member in DataType}
_TYPE_BY_NAME.update({"bool": DataType.BOOLEAN, "int": DataType.INTEGER, "float": DataType.DOUBLE})
_TYPE_BY_CODE: dict[int, DataType] = {member.value: member for member in DataType}
_TYPE_TITLES: dict[DataType | None, str | None] = {member: member.title for member in DataType}
_TYPE_TITLES[None] = None

_TRUE_TEXTS = frozenset({"true", "1", "on", "yes"})
_FALSE_TEXTS = frozenset({"false", "0", "off", "no"})
_PLAIN_NUMBER_TYPES = frozenset({DataType.DOUBLE, DataType.INTEGER, None})
_NON_NUMERIC_TYPES = frozenset({DataType.STRING, DataType.BINARY, DataType.POSITION, DataType.STATISTICS})


def _to_obs_id(raw: Any) -> tuple[int | None, str | None]:
    """An observation id as Int32, or an error text."""
    if isinstance(raw, bool):
        return None, f"observation id {raw!r} is not an integer"
    if isinstance(raw, int):
        number = raw
    elif isinstance(raw, float) and raw.is_integer():
        number = int(raw)
    elif isinstance(raw, str):
        try:
            number = int(raw.strip())
        except ValueError:
            return None, f"observation id {_short(raw)!r} is not an integer"
    else:
        return None, f"observation id {_short(raw)!r} is not an integer"
    if not _INT32_MIN <= number <= _INT32_MAX:
        return None, f"observation id {number} is out of range"
    return number, None


def _short(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = _clean_text(text) or ""
    return text if len(text) <= limit else text[:limit] + "…"


def _clean_text(text: str) -> str:
    """``text`` as valid UTF-8 (lone surrogates from JSON escapes are backslash-escaped)."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


# ---------------------------------------------------------------------------------------------- time


def parse_timestamp_us(raw: Any) -> int:
    """Epoch microseconds (UTC) of a body timestamp or an ``ArrivalTime`` header; ``ValueError`` if not one.

    Accepts ISO 8601 text with 0-7+ fractional digits, ``Z``/``z``, ``+00:00`` or any offset, or no zone
    (= UTC); ``bytes`` of such text; a ``datetime`` (naive = UTC, as pika gives AMQP timestamps); or a
    number: epoch seconds, milliseconds, microseconds or .NET ticks, told apart by magnitude.
    """
    if isinstance(raw, str):
        text = raw.strip()
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            if text.endswith("z"):
                parsed = datetime.fromisoformat(text[:-1] + "Z")
            elif text.lstrip("-").isdigit():
                return _epoch_number_us(int(text))
            else:
                raise ValueError(f"{_short(raw)!r} is not an ISO 8601 time") from None
        return _datetime_us(parsed)
    if isinstance(raw, datetime):
        return _datetime_us(raw)
    if isinstance(raw, bool):
        raise ValueError(f"{raw!r} is not a time")
    if isinstance(raw, int | float | Decimal):
        return _epoch_number_us(raw)
    if isinstance(raw, bytes | bytearray | memoryview):
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("time bytes are not UTF-8") from None
        return parse_timestamp_us(text)
    raise ValueError(f"{_short(raw)!r} is not a time")


def _datetime_us(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // _ONE_US


def _epoch_number_us(raw: float | Decimal) -> int:
    """Epoch µs from seconds / ms / µs / .NET ticks, by magnitude (valid for years 1973-5138)."""
    if isinstance(raw, Decimal | float) and not math.isfinite(raw):
        raise ValueError(f"{raw!r} is not a time")
    number: float = int(raw) if isinstance(raw, Decimal) and raw == raw.to_integral_value() else float(raw)
    if isinstance(raw, int):
        number = raw
    size = abs(number)
    if size >= 10**17:  # .NET ticks (100 ns since 0001-01-01): ~6.4e17 today
        micros = (int(number) - _TICKS_AT_EPOCH) // 10
    elif size >= 10**14:  # epoch microseconds: ~1.7e15 today
        micros = int(number)
    elif size >= 10**11:  # epoch milliseconds: ~1.7e12 today
        micros = round(number * 1000)
    else:  # epoch seconds: ~1.7e9 today
        micros = round(number * 1_000_000)
    # Keep within what Polars and Parquet readers handle comfortably (years 1..9999).
    if not -62_135_596_800_000_000 <= micros <= 253_402_300_799_999_999:
        raise ValueError(f"{number!r} is out of the supported time range")
    return int(micros)


# --------------------------------------------------------------------------------------------- value


def _value_text(value: Any) -> str | None:
    """The value as sent: a JSON string's text, else the JSON literal."""
    if isinstance(value, str):
        return _clean_text(value)
    if value is None:
        return None
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    return _clean_text(json.dumps(value, separators=(",", ":"), ensure_ascii=False))


def decode_value(value: Any, data_type: DataType | None) -> tuple[float | None, str | None]:
    """``(numeric value, error)`` of a JSON value read as ``data_type`` (``None`` = unknown type).

    Booleans become 1.0/0.0; strings of non-numeric types give ``None``; unknown types give a number
    when the value parses as one, else ``None`` (text only, never an error).
    """
    if value is None:
        return None, None
    if data_type is None:
        return _loose_number(value), None
    if data_type in _NON_NUMERIC_TYPES:
        return None, None
    if data_type is DataType.BOOLEAN:
        return _boolean(value)
    return _number(value, data_type)


def _boolean(value: Any) -> tuple[float | None, str | None]:
    if value is True or value is False:
        return (1.0 if value else 0.0), None
    if isinstance(value, int | float) and value in (0, 1):
        return float(value), None
    if isinstance(value, str):
        folded = value.strip().lower()
        if folded in _TRUE_TEXTS:
            return 1.0, None
        if folded in _FALSE_TEXTS:
            return 0.0, None
    return None, f"value {_short(value)!r} is not a Boolean"


def _number(value: Any, data_type: DataType) -> tuple[float | None, str | None]:
    if isinstance(value, float):
        return value, None
    if isinstance(value, int):  # bool included: true/false read as 1/0
        try:
            return float(value), None
        except OverflowError:
            return None, f"value {_short(value)!r} is too large for a {data_type.title}"
    if isinstance(value, str):
        try:
            return float(value.strip()), None
        except ValueError:
            pass
    return None, f"value {_short(value)!r} is not a number ({data_type.title})"


def _loose_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        try:
            return float(value)
        except OverflowError:
            return None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _message_type(raw: Any) -> DataType | None:
    """The data type a message declares (code 1..7 or a name), or ``None``."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return _TYPE_BY_CODE.get(raw)
    if isinstance(raw, str):
        text = raw.strip().lower()
        if text.isdigit():
            return _TYPE_BY_CODE.get(int(text))
        return _TYPE_BY_NAME.get(text)
    return None
