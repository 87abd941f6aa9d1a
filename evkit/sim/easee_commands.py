"""The simulated Easee cloud's command side: commands in, command responses and read-backs out.

:class:`CommandHandler` is pure: it applies a command (routing key + body, see
``evkit.easee.commands``) to the simulated chargers' settings and returns the messages the cloud would
send back on the operator queue: the command response ``{serial}.CR.{commandId}.{ticks}`` (Masterloop
``CommandResponse`` fields) and the read-back observations (48 for SetDynamicChargerCurrent, 31 for
SetEnabled, ...; ``evkit.easee.commands.READBACK``). The fleet model asks it for the power cap
(:meth:`CommandHandler.cap_power`): a dynamic current of 0 A (pause) or a disabled charger draws no
power, a dynamic current caps it, and when the TTL runs out the prior limit returns (with a read-back).

Misbehaviour on request, per serial: ``reject`` answers ``WasAccepted: false`` (ResultCode 1, a
comment), ``ignore`` never answers, ``expire`` holds the command until its ``ExpiresAt`` and then answers
``WasAccepted: false`` with ``DeliveredAt: null`` and the comment ``Expired`` -- INFERRED: Masterloop's
CommandStatus has Expired, how Easee's v2 reports it is unpublished.

The I/O around it (a pika listener, a threaded simulator, an in-process cloud) is in
:mod:`evkit.sim.easee_cloud`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from evkit.easee.catalog import Obs
from evkit.easee.commands import (
    COMMANDS,
    READBACK,
    command_arguments,
    command_expires_at,
    encode_argument,
    parse_command_message,
)
from evkit.easee.encode import encode_command_response, encode_observation

log = logging.getLogger(__name__)

NOMINAL_VOLTAGE = 230.0
#: A message the simulated cloud sends back: routing key and body.
Reply = tuple[str, bytes]


@dataclass
class ChargerSettings:
    """The settings a command can change on one simulated charger."""

    max_current: float = 32.0  # 47 (flash)
    dynamic_current: float | None = None  # 48; None = no dynamic limit (reads back as max_current)
    dynamic_until: float | None = None  # epoch seconds when the 48 TTL ends
    enabled: bool = True  # 31
    cable_locked: bool = False  # 30
    smart_charging: bool = False  # 102
    circuit_dynamic: tuple[float, float, float] | None = None  # 111-113
    circuit_until: float | None = None
    offline_fallback: tuple[float, float, float] = (32.0, 32.0, 32.0)  # 50-52
    circuit_max: tuple[float, float, float] = (32.0, 32.0, 32.0)  # 22-24

    def limit_amps(self, now: float) -> float:
        """The current the charger may offer now (lowest applicable limit wins, DOC-LIMITS)."""
        if not self.enabled:
            return 0.0
        limit = min(self.max_current, *self.circuit_max)
        if self.dynamic_current is not None and (self.dynamic_until is None or now < self.dynamic_until):
            limit = min(limit, self.dynamic_current)
        if self.circuit_dynamic is not None and (self.circuit_until is None or now < self.circuit_until):
            limit = min(limit, max(self.circuit_dynamic))
        return limit


@dataclass
class HandlerStats:
    """What a handler did."""

    commands: int = 0
    accepted: int = 0
    rejected: int = 0
    ignored: int = 0
    expired: int = 0
    by_command: dict[int, int] = field(default_factory=dict)


class CommandHandler:
    """Applies commands to simulated chargers (pure and thread-safe; times are epoch seconds)."""

    def __init__(
        self,
        serials: Iterable[str],
        *,
        reject: Iterable[str] = (),
        ignore: Iterable[str] = (),
        expire: Iterable[str] = (),
    ) -> None:
        self.settings: dict[str, ChargerSettings] = {s: ChargerSettings() for s in serials}
        self.reject = set(reject)
        self.ignore = set(ignore)
        self.expire = set(expire)
        self.stats = HandlerStats()
        self._pending: list[tuple[float, str, int, int]] = []  # expiries to report: (at, serial, cid, ticks)
        self._lock = threading.Lock()

    # ----------------------------------------------------------------------------- fleet model hook
    def cap_power(self, serial: str, now: float, power_kw: float, three_phase: bool) -> float:
        """``power_kw`` capped by the charger's current limit at ``now`` (0 when paused/disabled)."""
        settings = self.settings.get(serial)
        if settings is None:
            return power_kw
        with self._lock:
            amps = settings.limit_amps(now)
        cap = amps * NOMINAL_VOLTAGE * (3 if three_phase else 1) / 1000.0
        return min(power_kw, cap)

    def held_reason(self, serial: str, now: float) -> int | None:
        """Why a command holds ``serial`` at 0 A now (96 ReasonForNoCurrent: 53 ChargerDisabled, 52
        MaxDynamicChargerCurrentTooLow), or None when it may draw current. The charger then sits in op
        mode 2 AwaitingStart, "waiting for load balancer or remote authorization" (DOC-ENUM; evcc's
        easee.go:557-571 expects a charger-side pause there)."""
        settings = self.settings.get(serial)
        if settings is None:
            return None
        with self._lock:
            if not settings.enabled:
                return 53
            return 52 if settings.limit_amps(now) <= 0 else None

    # ------------------------------------------------------------------------------------ commands
    def handle(self, routing_key: str, body: bytes, now: float) -> list[Reply]:
        """The replies to one command message (empty for an ignored charger)."""
        try:
            serial, command_id, ticks, data = parse_command_message(routing_key, body)
        except ValueError as exc:
            log.warning("not a command: %s (%s)", routing_key, exc)
            return []
        with self._lock:
            self.stats.commands += 1
            self.stats.by_command[command_id] = self.stats.by_command.get(command_id, 0) + 1
            if serial in self.ignore:
                self.stats.ignored += 1
                return []
            if serial in self.expire:
                expires = command_expires_at(data)
                at = expires.timestamp() if expires is not None else now
                self._pending.append((at, serial, command_id, ticks))
                return []

            def refuse(code: int, comment: str) -> list[Reply]:
                self.stats.rejected += 1
                return [
                    self._response(serial, command_id, ticks, now, accepted=False, code=code, comment=comment)
                ]

            if serial in self.reject:
                return refuse(1, "rejected by the simulator")
            settings = self.settings.get(serial)
            if settings is None:
                return refuse(2, "unknown charger")
            spec = COMMANDS.get(command_id)
            arguments = command_arguments(data)
            if spec is None or len(arguments) != len(spec.args):
                return refuse(3, "unknown command or arguments")
            try:
                values = [encode_argument(a, v) for a, v in zip(spec.args, arguments, strict=True)]
            except Exception as exc:  # ValidationError: the charger refuses what evkit would refuse
                self.stats.rejected += 1
                return [
                    self._response(serial, command_id, ticks, now, accepted=False, code=4, comment=str(exc))
                ]
            readings = self._apply(settings, command_id, values, now)
            self.stats.accepted += 1
        replies = [self._response(serial, command_id, ticks, now, accepted=True, code=0, comment=None)]
        # The read-back follows the response (the charger reports its new setting).
        replies += [self._observation(serial, obs, value, now + 0.05) for obs, value in readings]
        return replies

    def due(self, now: float) -> list[Reply]:
        """Replies that fall due by ``now``: TTL expiries (read-backs) and expired commands."""
        replies: list[Reply] = []
        with self._lock:
            for serial, settings in self.settings.items():
                if settings.dynamic_until is not None and now >= settings.dynamic_until:
                    settings.dynamic_current, settings.dynamic_until = None, None
                    replies.append(
                        self._observation(serial, Obs.DYNAMIC_CHARGER_CURRENT, settings.max_current, now)
                    )
                if settings.circuit_until is not None and now >= settings.circuit_until:
                    settings.circuit_dynamic, settings.circuit_until = None, None
                    for index, obs in enumerate((111, 112, 113)):
                        replies.append(self._observation(serial, obs, settings.circuit_max[index], now))
            still: list[tuple[float, str, int, int]] = []
            for item in self._pending:
                at, serial, command_id, ticks = item
                if now >= at:
                    self.stats.expired += 1
                    expired = self._response(
                        serial, command_id, ticks, now, accepted=False, code=None, comment="Expired",
                        delivered=False,
                    )  # fmt: skip
                    replies.append(expired)
                else:
                    still.append(item)
            self._pending = still
        return replies

    def _apply(
        self, s: ChargerSettings, command_id: int, values: list[str], now: float
    ) -> list[tuple[int, Any]]:
        """Change the settings; returns the read-back observations ``(id, value)``."""
        if command_id == 48:
            s.dynamic_current, s.dynamic_until = float(values[0]), now + int(values[1]) * 60.0
        elif command_id == 47:
            s.max_current = float(values[0])
        elif command_id == 29:
            s.enabled = values[0] == "1"
        elif command_id == 30:
            s.cable_locked = values[0] == "1"
        elif command_id == 11:
            s.smart_charging = values[0] == "1"
        elif command_id == 22:
            s.circuit_dynamic = (float(values[0]), float(values[1]), float(values[2]))
            s.circuit_until = now + int(values[3]) * 60.0
        elif command_id == 21:
            s.offline_fallback = (float(values[0]), float(values[1]), float(values[2]))
        elif command_id == 24:
            s.circuit_max = (float(values[0]), float(values[1]), float(values[2]))
        readings: list[tuple[int, Any]] = []
        for obs, arg in READBACK.get(command_id, ()):
            value: Any = values[arg]
            readings.append((obs, value == "1" if obs in (30, 31, 102) else float(value)))
        return readings

    @staticmethod
    def _response(
        serial: str,
        command_id: int,
        ticks: int,
        now: float,
        *,
        accepted: bool,
        code: int | None,
        comment: str | None,
        delivered: bool = True,
    ) -> Reply:
        at = datetime.fromtimestamp(now, UTC)
        key, body = encode_command_response(
            serial, command_id, ticks, accepted=accepted, at=at, result_code=code, comment=comment
        )
        if not delivered:  # never reached the charger: DeliveredAt is null (Masterloop: DateTime?)
            data = json.loads(body)
            data["DeliveredAt"] = None
            body = json.dumps(data, separators=(",", ":")).encode()
        return key, body

    @staticmethod
    def _observation(serial: str, obs: int, value: Any, now: float) -> Reply:
        return encode_observation(serial, obs, value, datetime.fromtimestamp(now, UTC))


__all__ = ["ChargerSettings", "CommandHandler", "HandlerStats", "Reply"]
