"""Contract-shaped frames with known content for figure and report tests (no broker needed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from evkit.store.schema import EASEE_SCHEMA

T0 = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
CHARGERS = ("EHTEST01", "EHTEST02")
NAMES = {109: "ChargerOpMode", 120: "TotalPower", 121: "SessionEnergy", 124: "LifetimeEnergy",
         130: "CellRSSI", 132: "WiFiRSSI", 182: "InCurrent_T2", 183: "InCurrent_T3", 184: "InCurrent_T4",
         185: "InCurrent_T5", 250: "connectedToCloud", 80: "SoftwareRelease", 89: "RebootReason"}  # fmt: skip


def at(minutes: float) -> datetime:
    """``T0`` plus ``minutes``."""
    return T0 + timedelta(minutes=minutes)


class Builder:
    """Collects observation rows; ``skew_s`` puts a charger's clock ahead (negative latency)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, charger: str, obs_id: int, minute: float, value: float, skew_s: float = 0.0) -> None:
        observed = at(minute) + timedelta(seconds=skew_s)
        arrival = at(minute) + timedelta(seconds=0.4 + (minute % 7) * 0.05)
        received = arrival + timedelta(seconds=0.05 + (minute % 3) * 0.01)
        body = {"id": obs_id, "value": value, "timestamp": observed.isoformat()}
        self.rows.append(
            {
                "received_at": received,
                "arrival_time": arrival,
                "observed_at": observed,
                "charger_id": charger,
                "observation_id": obs_id,
                "observation": NAMES.get(obs_id),
                "value": float(value),
                "value_text": str(value),
                "kind": "observation",
                "routing_key": f"{charger}.O.{obs_id}",
                "redelivered": False,
                "raw": json.dumps(body).encode(),
                "error": None,
                "label": None,
                "data_type": "Double",
            }
        )

    def frame(self) -> pl.DataFrame:
        """All rows, in the Easee dataset schema."""
        return pl.DataFrame(self.rows, schema=EASEE_SCHEMA, strict=False)


def scenario() -> pl.DataFrame:
    """Two chargers over a day: one complete session with a pause on EHTEST01, a session that began
    before the data and is still open at the end on EHTEST02 (whose clock runs 2 s ahead), RSSI,
    a cloud disconnect and a reboot."""
    b = Builder()
    one, two = CHARGERS
    # EHTEST01: idle, plug in at 60, charge 62–120, pause 120–140, charge 140–180, done, unplug at 210.
    for minute, mode in ((0, 1), (60, 2), (62, 3), (120, 4), (140, 3), (180, 4), (210, 1)):
        b.add(one, 109, minute, mode)
    for minute in range(62, 181):
        charging = minute < 120 or minute >= 140
        b.add(one, 120, minute, 11.0 if charging else 0.0)
        for obs_id in (183, 184, 185):
            b.add(one, obs_id, minute, 16.0 if charging else 0.0)
    for minute in range(0, 24 * 60, 60):
        b.add(one, 124, minute, 1000.0 + (11.0 * 98 / 60 if minute >= 240 else 0.0))
    b.add(one, 121, 180, 11.0 * 98 / 60)
    # EHTEST02: already charging when the data starts; still connected at the end.
    for minute, mode in ((5, 3), (300, 4), (400, 3)):
        b.add(two, 109, minute, mode, skew_s=2.0)
    for minute in range(5, 24 * 60, 15):
        b.add(two, 120, minute, 7.2 if minute < 300 or minute >= 400 else 0.0, skew_s=2.0)
    # Signal, cloud connection, a reboot.
    for charger in CHARGERS:
        for minute in range(0, 24 * 60, 15):
            b.add(charger, 132, minute, -60.0 - (minute // 15) % 9)
    b.add(one, 250, 0, 1)
    b.add(one, 250, 720, 0)
    b.add(one, 250, 750, 1)
    b.add(one, 80, 751, 102)
    b.add(one, 89, 751, 4)
    b.add(two, 250, 1, 1, skew_s=2.0)
    return b.frame()
