"""Times a person types (``--from``, ``--start``, parameters cells): ISO 8601, UTC when no zone is given."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_utc(text: str) -> datetime:
    """An ISO 8601 date or date-time (``Z``, an offset, or no zone = UTC) as an aware UTC datetime.

    Raises ``ValueError`` for anything else; callers turn it into their own error message.
    """
    value = datetime.fromisoformat(text.strip().replace("z", "Z").replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
