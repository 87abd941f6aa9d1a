"""The model of one simulated Easee charger (used by :class:`evkit.sim.easee.EaseeFleet`): its boot
reports, plug-in cycle, charging physics, pauses and periodic reports, with the timing of live
chargers described in the module docs of :mod:`evkit.sim.easee`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from evkit.easee.catalog import Obs, OpMode

#: Physics step of the charger model, in simulated seconds.
STEP_S = 10.0
#: 122 EnergyPerHour: stamped hh:00:00, delivered about 3.4 min later (evcc #10428: received 17:03:24
#: for 17:00:00). The model spreads it over this range (seconds after the hour).
ENERGY_PER_HOUR_DELAY_S = (180.0, 230.0)
#: 124 LifetimeEnergy's hourly reading: 2-10 min past the hour (easee_hass #174).
LIFETIME_ENERGY_AFTER_HOUR_S = (120.0, 600.0)
#: 121 SessionEnergy while charging: every 10-20 min (evcc #9884: 14:36:10, 14:56:10, 15:10:00).
SESSION_ENERGY_EVERY_S = (600.0, 1200.0)
NOMINAL_VOLTAGE = 230.0


class Reading(NamedTuple):
    """One reading of a charger, in device time."""

    at: float  # epoch seconds, simulated device time
    obs_id: int
    value: Any
    delay: float = -1.0  # device -> cloud delay when fixed by a schedule; < 0: transport delay


@dataclass
class ChargerModel:
    """State of one simulated charger. ``run`` yields its readings in device-time order."""

    serial: str
    rng: random.Random
    start: float
    three_phase: bool
    wifi: bool
    lifetime_kwh: float
    max_current: float = 32.0
    op_mode: int = OpMode.DISCONNECTED
    power_kw: float = 0.0
    session_kwh: float = 0.0
    hour_kwh: float = 0.0
    temp_c: float = 20.0
    now: float = 0.0  # the model's clock: no later reading is observed before it
    reason: int = -1  # last ReasonForNoCurrent sent
    pause_kind_toggle: bool = False  # pauses alternate: the car stops (6) / a schedule pauses (2)
    controls: Any = None  # evkit.sim.easee_commands.CommandHandler: commands cap the power
    out: list[Reading] = field(default_factory=list)

    # ---------------------------------------------------------------------------------------- helpers
    def emit(self, at: float, obs_id: int, value: Any, delay: float = -1.0) -> None:
        self.out.append(Reading(at, obs_id, value, delay))

    def jitter(self, at: float) -> float:
        return at + self.rng.random() * STEP_S * 0.5  # stop events of a step come at +0.6 step

    def boot(self, at: float, *, first: bool = True) -> None:
        """What a charger reports when it (re)starts."""
        rng = self.rng
        self.emit(at, Obs.SOFTWARE_RELEASE, 322 + rng.randrange(3))
        self.emit(at + 0.1, Obs.REBOOT_REASON, rng.choice([0, 1, 4, 8]))
        self.emit(at + 0.2, Obs.DETECTED_POWER_GRID_TYPE, 1 if self.three_phase else 3)
        self.emit(at + 0.3, Obs.CONNECTED_TO_CLOUD, True)
        self.emit(at + 0.4, Obs.CHARGER_RAT, 1 if self.wifi else 0)
        self.emit(at + 0.5, 146, 1)  # LocalNodeType: master
        self.emit(at + 0.6, Obs.IS_ENABLED, True)
        self.emit(at + 0.7, Obs.MAX_CHARGER_CURRENT, self.max_current)
        self.emit(at + 0.8, Obs.DYNAMIC_CHARGER_CURRENT, self.max_current)
        self.emit(at + 0.9, Obs.SMART_CHARGING, False)
        self.emit(at + 1.0, Obs.OP_MODE, self.op_mode)
        self.emit(at + 1.1, Obs.OUTPUT_PHASE, 0)
        if first:  # later reports keep to the hourly rhythm
            self.emit(at + 1.2, Obs.LIFETIME_ENERGY, round(self.lifetime_kwh, 3))

    def set_mode(self, at: float, mode: int, reason: int | None = None) -> None:
        """Op mode 109, then (when it changes) why no current flows: 96 ReasonForNoCurrent."""
        self.op_mode = mode
        self.emit(at, Obs.OP_MODE, int(mode))
        reason = _REASON_BY_MODE.get(mode) if reason is None else reason
        if reason is not None and reason != self.reason:
            self.reason = reason
            self.emit(at + 0.05, Obs.REASON_FOR_NO_CURRENT, reason)

    def held(self, now: float) -> int | None:
        """The ReasonForNoCurrent while a command holds this charger at 0 A (pause, disable), else None."""
        return None if self.controls is None else self.controls.held_reason(self.serial, now)

    def report_power(self, at: float) -> None:
        self.emit(at, Obs.TOTAL_POWER, round(self.power_kw, 3))
        phases = 3 if self.three_phase else 1
        amps = self.power_kw * 1000.0 / (NOMINAL_VOLTAGE * phases)
        rng = self.rng
        neutral = round(abs(rng.gauss(0.0, 0.15)) if self.power_kw > 0 else 0.0, 2)
        self.emit(at + 0.01, Obs.CURRENT_T2, neutral)
        for index, obs_id in enumerate((Obs.CURRENT_T3, Obs.CURRENT_T4, Obs.CURRENT_T5)):
            on_phase = index < phases
            current = amps * (1.0 + rng.gauss(0.0, 0.01)) if on_phase and amps > 0 else 0.0
            self.emit(at + 0.02 + index * 0.01, obs_id, round(max(current, 0.0), 2))

    def report_session_energy(self, at: float) -> None:
        spurious = self.rng.random() < 0.01  # the real chargers now and then send a bogus 0
        self.emit(at, Obs.SESSION_ENERGY, 0.0 if spurious else round(self.session_kwh, 3))

    def report_voltages(self, at: float) -> None:
        sag = 2.5 if self.power_kw > 0 else 0.0
        rng = self.rng
        self.emit(at, Obs.VOLT_T1_T2, round(abs(rng.gauss(0.8, 0.3)), 1))
        for offset, obs_id in enumerate(
            (Obs.VOLT_T1_T3, Obs.VOLT_T1_T4, Obs.VOLT_T1_T5, Obs.VOLT_T2_T3, Obs.VOLT_T2_T4, Obs.VOLT_T2_T5)
        ):
            self.emit(at + 0.01 * (offset + 1), obs_id, round(rng.gauss(NOMINAL_VOLTAGE + 2 - sag, 1.5), 1))

    def report_health(self, at: float) -> None:
        rng = self.rng
        target = 24.0 + (18.0 if self.power_kw > 0 else 0.0)
        self.temp_c += (target - self.temp_c) * 0.5 + rng.gauss(0.0, 0.5)
        self.emit(at, Obs.TEMP_MAX, round(self.temp_c))
        if self.wifi:
            self.emit(at + 0.05, Obs.WIFI_RSSI, round(rng.gauss(-58.0, 6.0)))
        else:
            self.emit(at + 0.05, Obs.CELL_RSSI, round(rng.gauss(-77.0, 6.0)))

    # ------------------------------------------------------------------------------------- the model
    def run(self, until: float) -> Iterator[list[Reading]]:
        """Readings per physics step, each batch sorted by device time."""
        rng = self.rng
        now = self.now = self.start
        self.boot(now)
        next_plug = now + rng.uniform(60.0, 3600.0)
        next_health = now + rng.uniform(0.0, 900.0)
        next_voltage = now + rng.uniform(0.0, 600.0)
        next_hour = (math.floor(now / 3600.0) + 1) * 3600.0
        next_meter = math.inf  # the hourly lifetime meter reading, once the hour has passed
        next_energy_report = math.inf
        next_cloud_blip = now + rng.expovariate(1 / (5 * 86400.0))
        next_reboot = now + rng.expovariate(1 / (4 * 86400.0))
        phase_deadline = math.inf  # when the current plug-in phase ends
        pause_at = math.inf
        need_kwh = 0.0
        car_kw = 0.0
        ramp = 0.0
        last_power_report = now
        yield self._flush()

        while now < until:
            now += STEP_S
            self.now = now
            # Plug-in cycle ---------------------------------------------------------------------
            if self.op_mode == OpMode.DISCONNECTED and now >= next_plug:
                need_kwh = rng.uniform(4.0, 40.0)
                car_kw = rng.choice([11.0, 11.0, 7.4, 3.7]) if self.three_phase else rng.choice([7.4, 3.7])
                if not self.three_phase:
                    car_kw = min(car_kw, 7.4)
                self.session_kwh = 0.0
                self.emit(self.jitter(now), Obs.CABLE_LOCKED, True)
                self.emit(now + 0.5, Obs.SESSION_ENERGY, 0.0)  # a real session start
                self.emit(now + 1.5, Obs.LIFETIME_ENERGY, round(self.lifetime_kwh, 3))  # evcc #15556
                if rng.random() < 0.25:
                    self.set_mode(now + 0.6, OpMode.AWAITING_AUTHENTICATION)
                    token = "".join(rng.choice("0123456789ABCDEF") for _ in range(8))
                    self.emit(now + 5.0, Obs.USER_ID_TOKEN, token)
                    self.emit(now + 5.1, Obs.USER_ID_TOKEN_REVERSED, token[::-1])
                    self.set_mode(now + 6.0, OpMode.AWAITING_START)
                else:
                    self.set_mode(now + 0.6, OpMode.AWAITING_START)
                phase_deadline = now + rng.uniform(10.0, 60.0)
                pause_at = need_kwh * rng.uniform(0.2, 0.8) if rng.random() < 0.35 else math.inf
            elif self.op_mode == OpMode.AWAITING_START and now >= phase_deadline and not self.held(now):
                self.set_mode(now, OpMode.CHARGING)
                self.emit(now + 0.1, Obs.OUTPUT_PHASE, 30 if self.three_phase else 10)
                ramp = 0.0
                next_energy_report = now + rng.uniform(*SESSION_ENERGY_EVERY_S)
            elif self.op_mode == OpMode.AWAITING_START and now >= phase_deadline and self.held(now):
                reason = self.held(now)  # held by a command: say why no current flows, once
                if reason != self.reason:
                    self.reason = reason or 0
                    self.emit(now, Obs.REASON_FOR_NO_CURRENT, reason)
            elif self.op_mode == OpMode.CHARGING and self.held(now):
                # Paused or disabled by a command: a charger-side pause is 2 AwaitingStart with 96 =
                # 52/53, not 4 Completed; the AwaitingStart branch resumes once the hold is lifted.
                self.power_kw = 0.0
                self.report_power(self.jitter(now))
                self.emit(now + 0.3, Obs.OUTPUT_PHASE, 0)
                self.set_mode(now + 0.5, OpMode.AWAITING_START, reason=self.held(now))
                phase_deadline = now
            elif self.op_mode == OpMode.CHARGING:
                ramp = min(1.0, ramp + STEP_S / 90.0)
                taper = 1.0
                if self.session_kwh > 0.85 * need_kwh:
                    taper = max(0.15, (need_kwh - self.session_kwh) / (0.15 * need_kwh))
                self.power_kw = max(0.0, car_kw * ramp * taper * (1.0 + rng.gauss(0.0, 0.01)))
                if self.controls is not None:  # paused / capped / disabled by a command
                    self.power_kw = self.controls.cap_power(self.serial, now, self.power_kw, self.three_phase)
                delivered = self.power_kw * STEP_S / 3600.0
                self.session_kwh += delivered
                self.hour_kwh += delivered
                self.lifetime_kwh += delivered
                if now - last_power_report >= 30.0 or ramp < 1.0:
                    self.report_power(self.jitter(now))
                    last_power_report = now
                if now >= next_energy_report:
                    self.report_session_energy(self.jitter(now))
                    next_energy_report = now + rng.uniform(*SESSION_ENERGY_EVERY_S)
                stop = now + STEP_S * 0.6  # after this step's jittered reports
                if self.session_kwh >= pause_at:
                    pause_at = math.inf
                    self.power_kw = 0.0
                    self.report_power(stop + 0.2)
                    self.emit(stop + 0.3, Obs.OUTPUT_PHASE, 0)
                    # 6 (SuspendedEV): the car stopped drawing; 2 (SuspendedEVSE): the charger holds
                    # back, by schedule (96 = 54 pending schedule, 76 limited by schedule).
                    car_paused = self.pause_kind_toggle = not self.pause_kind_toggle  # alternate kinds
                    if car_paused:
                        self.set_mode(stop + 0.5, OpMode.READY_TO_CHARGE)
                    else:
                        reason = rng.choice(_SCHEDULE_REASONS)
                        self.set_mode(stop + 0.5, OpMode.AWAITING_START, reason=reason)
                    phase_deadline = now + rng.uniform(300.0, 2400.0)
                elif self.session_kwh >= need_kwh:
                    self.power_kw = 0.0
                    self.report_power(stop + 0.2)
                    self.emit(stop + 0.4, Obs.OUTPUT_PHASE, 0)
                    self.set_mode(stop + 0.5, OpMode.COMPLETED)
                    pause_at = -1.0  # marks "finished": the next deadline unplugs
                    phase_deadline = now + rng.uniform(600.0, 6 * 3600.0)
            elif self.op_mode in (OpMode.READY_TO_CHARGE, OpMode.COMPLETED) and now >= phase_deadline:
                if pause_at == -1.0:  # finished session: unplug
                    self.emit(now, Obs.CABLE_LOCKED, False)
                    self.set_mode(now + 0.5, OpMode.DISCONNECTED)
                    self.report_session_energy(now + 1.0)  # the final value comes at unplug
                    next_plug = now + rng.expovariate(1 / (3 * 3600.0)) + 600.0
                    pause_at = math.inf
                else:  # pause over: charge again
                    self.set_mode(now, OpMode.CHARGING)
                    self.emit(now + 0.1, Obs.OUTPUT_PHASE, 30 if self.three_phase else 10)
                    ramp = 0.0

            # Periodic reports ------------------------------------------------------------------
            if now >= next_health:
                self.report_health(self.jitter(now))
                next_health = now + rng.uniform(840.0, 960.0)
            if now >= next_voltage:
                self.report_voltages(self.jitter(now))
                next_voltage = now + (120.0 if self.power_kw > 0 else 900.0) * rng.uniform(0.9, 1.1)
            if now >= next_hour:  # the hour's energy, stamped on the hour, 0 for idle hours too
                delay = rng.uniform(*ENERGY_PER_HOUR_DELAY_S)
                self.emit(next_hour, Obs.ENERGY_PER_HOUR, round(self.hour_kwh, 3), delay=delay)
                self.hour_kwh = 0.0
                next_meter = next_hour + rng.uniform(*LIFETIME_ENERGY_AFTER_HOUR_S)
                next_hour += 3600.0
            if now >= next_meter:
                self.emit(next_meter, Obs.LIFETIME_ENERGY, round(self.lifetime_kwh, 3))
                next_meter = math.inf
            if now >= next_cloud_blip:
                self.emit(now, Obs.CLOUD_DISCONNECT_REASON, rng.choice(["KeepAliveTimeout", "NetworkLost"]))
                self.emit(now + 0.1, Obs.CONNECTED_TO_CLOUD, False)
                self.emit(now + rng.uniform(30.0, 300.0), Obs.CONNECTED_TO_CLOUD, True)
                next_cloud_blip = now + rng.expovariate(1 / (5 * 86400.0))
            if now >= next_reboot and self.op_mode == OpMode.DISCONNECTED:
                # A reboot (firmware update, power cut): cloud link drops, boot reports follow.
                self.emit(now, Obs.CONNECTED_TO_CLOUD, False)
                self.boot(now + rng.uniform(60.0, 180.0), first=False)
                next_reboot = now + rng.expovariate(1 / (4 * 86400.0))
            yield self._flush()

    def _flush(self) -> list[Reading]:
        batch = sorted(self.out)
        self.out = []
        return batch


# ReasonForNoCurrent (96) the model reports with each op mode; a charger-side (schedule) pause says 54
# PendingScheduledCharging or 76 LimitedBySchedule.
_SCHEDULE_REASONS = (54, 76)
_REASON_BY_MODE: dict[int, int] = {
    OpMode.DISCONNECTED: 50,  # no car requesting current
    OpMode.AWAITING_AUTHENTICATION: 55,  # pending authorization
    OpMode.AWAITING_START: 0,
    OpMode.CHARGING: 0,
    OpMode.READY_TO_CHARGE: 79,  # the car is not charging
    OpMode.COMPLETED: 79,
}


__all__ = ["STEP_S", "ChargerModel", "Reading"]
