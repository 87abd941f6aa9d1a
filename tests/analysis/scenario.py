"""A small scenario builder: simulated Easee chargers emitting contract-shaped rows with known truth.

A charger follows a plan of ``(minute, op_mode, power_kw)`` steps. Minute by minute it emits what a real
Easee charger would: op mode (109) on change, output phase (110) when charging starts, total power (120)
every minute while charging and once when it stops, the session counter (121) every 5 minutes while
connected, the lifetime meter (124) on every full hour, and a temperature heartbeat (150) every 15
minutes. The truth (energy per session, boundaries) is computed from the plan, independently of evkit.
Quirks are separate, explicit transformations of the rows.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import polars as pl

from evkit.store.schema import EASEE_SCHEMA

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)

NAMES = {
    80: "SoftwareRelease",
    89: "RebootReason",
    108: "UserIDTokenReversed",
    109: "ChargerOpMode",
    110: "OutputPhase",
    120: "TotalPower",
    121: "SessionEnergy",
    122: "EnergyPerHour",
    124: "LifetimeEnergy",
    128: "UserIDToken",
    130: "CellRSSI",
    132: "WiFiRSSI",
    150: "TempMax",
    250: "connectedToCloud",
    251: "cloudDisconnectReason",
}


@dataclass
class Truth:
    """What really happened in one session."""

    charger_id: str
    started_at: datetime
    ended_at: datetime | None
    energy_kwh: float
    charge_minutes: int
    peak_kw: float
    phases: int


@dataclass
class Row:
    charger_id: str
    observation_id: int
    observed_at: datetime
    value: float | None
    value_text: str | None
    device_delay_s: float = 0.8
    capture_delay_s: float = 0.15
    error: str | None = None
    kind: str = "observation"
    redelivered: bool = False
    observation: str | None = None
    arrival_known: bool = True

    def record(self) -> dict[str, object]:
        arrival = self.observed_at + timedelta(seconds=self.device_delay_s)
        received = arrival + timedelta(seconds=self.capture_delay_s)
        body = {"Timestamp": self.observed_at.isoformat(), "Value": self.value_text}
        name = self.observation if self.observation is not None else NAMES.get(self.observation_id)
        return {
            "received_at": received,
            "arrival_time": arrival if self.arrival_known else None,
            "observed_at": self.observed_at,
            "charger_id": self.charger_id,
            "observation_id": self.observation_id,
            "observation": name,
            "value": self.value,
            "value_text": self.value_text,
            "kind": self.kind,
            "routing_key": f"{self.charger_id}.O.{self.observation_id}",
            "redelivered": self.redelivered,
            "raw": json.dumps(body).encode(),
            "error": self.error,
            "data_type": "Double",
            "label": None,
            "value_reversed": self.value_text[::-1]
            if self.observation_id == 108 and self.value_text
            else None,
            "headers": "{}",
            "arrival_time_raw": arrival.isoformat() if self.arrival_known else None,
            "conn_epoch": 1,
        }


def _num(obs_id: int, at: datetime, value: float, charger: str) -> Row:
    return Row(charger, obs_id, at, float(value), f"{value:g}")


@dataclass
class Charger:
    """A simulated charger following ``plan`` = [(minute, op_mode, power_kw), ...] from ``start``."""

    charger_id: str
    plan: list[tuple[int, int, float]]
    minutes: int
    start: datetime = T0
    meter_kwh: float = 1000.0
    phase_code: int = 30  # 3-phase TN
    token: str | None = None
    initial_session_kwh: float = 0.0  # counter already reached when the data starts mid-session
    rows: list[Row] = field(default_factory=list)
    truths: list[Truth] = field(default_factory=list)

    def run(self) -> Charger:
        steps = {m: (mode, p) for m, mode, p in self.plan}
        mode, power = -1, 0.0
        session_kwh = 0.0
        meter = self.meter_kwh
        current: Truth | None = None
        cid = self.charger_id
        for minute in range(self.minutes + 1):
            at = self.start + timedelta(minutes=minute)
            # energy of the previous minute at the power then in force
            if minute > 0 and power > 0:
                session_kwh += power / 60.0
                meter += power / 60.0
                if current is not None:
                    current.energy_kwh += power / 60.0
                    current.charge_minutes += 1
            if minute in steps:
                new_mode, new_power = steps[minute]
                if new_mode != mode:
                    if mode in (-1, 1) and new_mode != 1:
                        if mode == 1 and session_kwh > 0:
                            # the charger still shows the last session's counter as the car plugs in
                            self.rows.append(_num(121, at, round(session_kwh, 4), cid))
                        session_kwh = 0.0 if mode == 1 else self.initial_session_kwh
                        current = Truth(cid, at, None, session_kwh, 0, 0.0, 0)
                        self.truths.append(current)
                        if self.token:
                            self.rows.append(Row(cid, 128, at + timedelta(seconds=20), None, self.token))
                    if new_mode == 1 and current is not None:
                        current.ended_at = at
                        current = None
                    self.rows.append(_num(109, at, new_mode, cid))
                    if mode != -1:  # the charger reports its counter on every state change
                        self.rows.append(_num(121, at, round(session_kwh, 4), cid))
                    if new_mode == 3:
                        self.rows.append(_num(110, at, self.phase_code, cid))
                        if current is not None:
                            current.phases = self.phase_code // 10
                if power > 0 and new_power == 0:
                    self.rows.append(_num(120, at, 0.0, cid))
                mode, power = new_mode, new_power
                if current is not None:
                    current.peak_kw = max(current.peak_kw, power)
            if power > 0:
                self.rows.append(_num(120, at, power, cid))
            if mode not in (1, -1) and minute % 5 == 0:
                self.rows.append(_num(121, at, round(session_kwh, 4), cid))
            if at.minute == 0:
                self.rows.append(_num(124, at, round(meter, 4), cid))
            if minute % 15 == 7:
                self.rows.append(_num(150, at, 21.0, cid))
        return self


def frame(rows: list[Row]) -> pl.DataFrame:
    """Rows as a frame with the Easee dataset schema."""
    return pl.DataFrame([r.record() for r in rows], schema=EASEE_SCHEMA)


# ---- quirks: each returns a new list of rows -----------------------------------------------------------


def duplicate(rows: list[Row], every: int = 7) -> list[Row]:
    """Redeliver every ``every``-th row again, later."""
    extra = [
        Row(**{**r.__dict__, "redelivered": True, "capture_delay_s": r.capture_delay_s + 30})
        for r in rows[::every]
    ]
    return rows + extra


def shuffle(rows: list[Row], seed: int = 7) -> list[Row]:
    """Arrival order unrelated to device time (and jittered capture delays)."""
    rng = random.Random(seed)
    out = [Row(**{**r.__dict__, "capture_delay_s": r.capture_delay_s + rng.random() * 90}) for r in rows]
    rng.shuffle(out)
    return out


def drop_window(rows: list[Row], charger_id: str, start: datetime, end: datetime) -> list[Row]:
    """A capture hole: nothing from ``charger_id`` with device time in [start, end)."""
    return [r for r in rows if not (r.charger_id == charger_id and start <= r.observed_at < end)]


def spurious_zero(rows: list[Row], charger_id: str, at: datetime) -> list[Row]:
    """The charger's session counter briefly reads 0 at ``at``."""
    return [*rows, Row(charger_id, 121, at, 0.0, "0")]


def evcc_session(plugged_at_minute: int, kwh_per_hour: float = 11.0) -> pl.DataFrame:
    """evcc MQTT rows of loadpoint 1 (``evcc/loadpoints/1``): unplugged from ``T0``, plugged in at
    ``plugged_at_minute``, charging for an hour at ``kwh_per_hour`` (``sessionEnergy`` in Wh), then
    unplugged (what a mixed Easee + evcc store holds)."""
    from evkit.store.schema import MQTT_SCHEMA

    def reading(minute: int, key: str, value: float) -> dict[str, object]:
        at = T0 + timedelta(minutes=minute)
        return {
            "received_at": at,
            "observed_at": at,
            "charger_id": "evcc/loadpoints/1",
            "value": value,
            "value_text": f"{value:g}",
            "kind": "mqtt",
            "topic": f"evcc/loadpoints/1/{key}",
            "source": "evcc",
            "device_id": "evcc/loadpoints/1",
            "key": key,
            "raw": f"{value:g}".encode(),
        }

    start = plugged_at_minute
    rows = [reading(m, "connected", 0.0) for m in range(start)]
    rows += [reading(start, "connected", 1.0), reading(start + 1, "charging", 1.0)]
    rows += [
        reading(m, "sessionEnergy", (m - start - 1) * kwh_per_hour * 1000 / 60)
        for m in range(start + 2, start + 62)
    ]
    rows += [reading(start + 61, "charging", 0.0), reading(start + 62, "connected", 0.0)]
    return pl.DataFrame(rows, schema={k: v for k, v in MQTT_SCHEMA.items() if k in rows[0]})
