"""Time zones (evkit.timeutil): names checked, the machine's zone found, local dates across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from evkit.timeutil import local_datetime, machine_zone_name, parse_local, resolve_zone, to_zone, zone_label


def test_zone_names_are_checked() -> None:
    assert resolve_zone("Europe/Oslo") == "Europe/Oslo"
    assert resolve_zone("utc") == "UTC"
    assert resolve_zone("Etc/UTC") == "UTC"
    for bad in ("Mars/Olympus", "", "../../etc/passwd", "CET+1"):
        with pytest.raises(ValueError, match="not a time zone name"):
            resolve_zone(bad)


def test_the_machine_zone_follows_tz(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    assert machine_zone_name() == "America/New_York"
    assert resolve_zone(None) == "America/New_York"
    monkeypatch.setenv("TZ", "Nowhere/Town")  # not a zone: falls back to /etc/localtime or UTC
    assert resolve_zone(machine_zone_name()) == machine_zone_name()


@pytest.mark.parametrize(
    ("text", "zone", "utc"),
    [
        ("2026-11-01", "Europe/Oslo", datetime(2026, 10, 31, 23, tzinfo=UTC)),  # CET, UTC+1
        ("2026-10-01", "Europe/Oslo", datetime(2026, 9, 30, 22, tzinfo=UTC)),  # CEST, UTC+2
        ("2026-10-26", "Europe/Oslo", datetime(2026, 10, 25, 23, tzinfo=UTC)),  # the day after the change
        ("2026-03-29T03:00", "Europe/Oslo", datetime(2026, 3, 29, 1, tzinfo=UTC)),  # first hour of CEST
        ("2026-11-01T00:00Z", "Europe/Oslo", datetime(2026, 11, 1, tzinfo=UTC)),  # an explicit zone wins
        ("2026-11-01", "UTC", datetime(2026, 11, 1, tzinfo=UTC)),
    ],
)
def test_local_times_typed_by_a_person(text: str, zone: str, utc: datetime) -> None:
    assert parse_local(text, zone) == utc


def test_display_conversion_keeps_the_instant_and_labels_the_zone() -> None:
    t = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST, before the clocks go back
    frame = pl.DataFrame({"t": [t]}).with_columns(to_zone(pl.col("t"), "Europe/Oslo"))
    shown = frame["t"][0]
    assert (shown.hour, shown.minute, shown.utcoffset().total_seconds()) == (2, 30, 7200)
    assert shown.timestamp() == t.timestamp()  # (== is False for a repeated local hour, PEP 495)
    assert local_datetime(datetime(2026, 10, 25, 1, 30), "Europe/Oslo").hour == 2  # 01:30 UTC: 02:30 CET
    assert zone_label("Europe/Oslo") == "(Europe/Oslo)"
