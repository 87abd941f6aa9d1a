"""Times a person types (``--from``, ``--start``, parameters cells): ISO 8601, UTC when no zone is given;
and the time zone times are shown in (``--tz``, a notebook's ``TZ``), always labelled."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl


class OutOfRange(ValueError):
    """A valid date or time that falls outside the years 1 to 9999 once in UTC."""


def as_utc(value: Any) -> Any:
    """A datetime as an aware UTC one (naive values are UTC, as the store's columns are); any other
    value (None) as it is."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


def _in_utc(value: datetime, text: str) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00-05:00
        raise OutOfRange(f"{text!r} falls outside the years 1 to 9999 in UTC") from None


def parse_utc(text: str) -> datetime:
    """An ISO 8601 date or date-time (``Z``, an offset, or no zone = UTC) as an aware UTC datetime.

    Raises ``ValueError`` for anything else (``OutOfRange`` for a time beyond the years 1 to 9999 in
    UTC); callers turn it into their own error message.
    """
    value = datetime.fromisoformat(text.strip().replace("z", "Z").replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else _in_utc(value, text)


# ---------------------------------------------------------------------------------------- time zones
# Stored data stays UTC; a zone only changes what a person is shown (tables, figures, statements) and
# where a local day or month begins. Zone names are IANA names (Europe/Oslo), from the tzdata the
# standard library's zoneinfo reads (the ``tzdata`` package where the system has none).

UTC_NAME = "UTC"


def machine_zone_name() -> str:
    """The machine's zone: ``$TZ`` if it names a zone, else the target of ``/etc/localtime``, else UTC."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        target = os.path.realpath("/etc/localtime")
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    except OSError:  # pragma: no cover - no /etc/localtime
        pass
    for name in candidates:
        if name and _zone_or_none(name) is not None:
            return _canonical(name)
    return UTC_NAME


def _canonical(name: str) -> str:
    return UTC_NAME if name in {"Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Zulu"} else name


def _zone_or_none(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def resolve_zone(name: str | None) -> str:
    """An IANA zone name checked to exist (``None``: the machine's zone); ValueError naming it otherwise."""
    if name is None:
        return machine_zone_name()
    text = name.strip()
    if text.upper() in {"UTC", "Z"}:
        return UTC_NAME
    if not text or _zone_or_none(text) is None:
        raise ValueError(f"{name!r} is not a time zone name (use an IANA name such as Europe/Oslo, or UTC)")
    return _canonical(text)


def zone_label(zone: str) -> str:
    """How a column of times in ``zone`` is labelled: ``(Europe/Oslo)`` / ``(UTC)``."""
    return f"({zone})"


def to_zone(expr: pl.Expr, zone: str) -> pl.Expr:
    """A UTC time column shown in ``zone`` (aware; the instant is unchanged)."""
    return expr.dt.convert_time_zone(zone)


def local_datetime(value: datetime, zone: str) -> datetime:
    """An aware datetime in ``zone`` (naive values are taken as UTC)."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(ZoneInfo(zone))


def parse_local(text: str, zone: str) -> datetime:
    """An ISO 8601 date or date-time typed by a person in ``zone`` (an explicit offset or Z wins), as
    an aware UTC datetime. A date is local midnight; on a day whose midnight is skipped by a DST change
    the first existing instant counts (zoneinfo's ``fold=0``). ValueError otherwise."""
    value = datetime.fromisoformat(text.strip().replace("z", "Z").replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(zone))
    return _in_utc(value, text)
