"""Steering Easee chargers over AMQP: validated, published, confirmed by the charger, audited.

Rules are pure in :mod:`evkit.easee.commands`; the transport is injected (``publish(routing_key,
body)``, ``subscribe(callback)``, ``poll(seconds)``, ``close()``):
:class:`evkit.sources.easee_commands.AmqpCommandLink` on a real broker, or
:class:`evkit.sim.easee_cloud.MemoryEaseeCloud` in-process.

Outcomes (exit codes as ``evkit set evcc|goe``)::

    confirmed   response WasAccepted and every read-back observation shows the value   exit 0
    accepted    response WasAccepted; no read-back within the timeout (or none exists) exit 0
    rejected    WasAccepted false (ResultCode and Comment shown)                       exit 1
    expired     the command expired before the charger took it                          exit 1
    no_answer   no command response within the timeout                                  exit 1

A response is matched to its command by routing key ``{serial}.CR.{commandId}.{ticks}`` (same ticks as
the command). Read-backs count only after the command was sent and only with the value sent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from evkit.control.audit import AuditLog, given_audit
from evkit.control.base import CommandResult, Listeners, Outcome, utc_now
from evkit.easee.commands import (
    CommandResponse,
    EaseeCommand,
    build_command,
    expand_alias,
    parse_command_response,
    parse_observation_body,
    readback_matches,
)
from evkit.errors import SourceError, StoreError

log = logging.getLogger(__name__)

#: How far back the flash-wear warning looks for the same flash command to the same charger.
FLASH_WINDOW = timedelta(hours=24)
#: A read-back must be observed no earlier than this before the command time (device clock slack): an
#: older observation heard late (a capture's part, a backlog) shows the state before the command.
READBACK_SLACK = timedelta(seconds=2)


class EaseeTransport(Protocol):
    """What the controller needs from the AMQP side (see the module docs)."""

    exchange: str

    def publish(self, routing_key: str, body: bytes) -> None:
        """Publish one command; return once the broker took it; ``SourceError`` otherwise."""

    def subscribe(self, callback: Callable[[str, bytes], None]) -> Callable[[], None]:
        """Hand every message heard on the operator queue to ``callback``; returns the remover."""

    def poll(self, seconds: float) -> None:
        """Wait up to ``seconds`` while keeping the connection alive."""

    def close(self) -> None:
        """Disconnect (after writing what was consumed)."""


@dataclass
class _Pending:
    command: EaseeCommand
    sent_mono: float = 0.0
    response: CommandResponse | None = None
    response_mono: float | None = None
    readback_seen: dict[int, Any] = field(default_factory=dict)
    readback_mono: float | None = None
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def readback_complete(self) -> bool:
        return bool(self.command.readback) and all(
            obs in self.readback_seen for obs, _ in self.command.readback
        )

    def settled(self) -> bool:
        response = self.response
        if response is None:
            return False
        if response.was_accepted is not True:
            return True
        return not self.command.readback or self.readback_complete


class EaseeController:
    """Sends commands to Easee chargers through ``transport`` and reports what came of them.

    ``audit`` (an :class:`AuditLog` or a store directory) records every command sent.
    ``expires_in`` (seconds) sets each command's ``ExpiresAt`` (default: 80 % of the timeout, so an
    expiry the cloud reports still arrives before the timeout).
    """

    def __init__(
        self,
        transport: EaseeTransport,
        *,
        audit: AuditLog | Path | str | None = None,
        timeout: float = 30.0,
        expires_in: float | None = None,
        owns_transport: bool = False,
    ) -> None:
        self.transport = transport
        self.audit, self._made_audit = given_audit(audit)
        self.timeout = timeout
        self.expires_in = expires_in
        self.owns_transport = owns_transport
        #: ``callback(result)`` after each command settles (the panel's live log).
        self.results = Listeners[Callable[[CommandResult], None]]("easee result")
        #: ``callback(routing_key, body)`` for every message heard (the panel's fleet table).
        self.messages = Listeners[Callable[[str, bytes], None]]("easee message")
        self._pending: dict[str, _Pending] = {}  # by response routing key
        self._by_serial: dict[str, list[_Pending]] = {}
        self._lock = threading.Lock()
        self._unsubscribe = transport.subscribe(self._on_message)

    # ----------------------------------------------------------------------------------- public
    def prepare(
        self, serial: str, command: str | int, arguments: Sequence[Any] = (), *, ttl: int | None = None
    ) -> EaseeCommand:
        """Validate and build (nothing is sent): raises ``ValidationError`` saying what is allowed."""
        name, values = expand_alias(str(command), [str(a) for a in arguments], ttl)
        expires = self.expires_in if self.expires_in is not None else max(self.timeout * 0.8, 1.0)
        return build_command(serial, name, values, expires_in=expires)

    def send(self, command: EaseeCommand) -> CommandResult:
        """Publish ``command`` and wait for its outcome."""
        return self.send_many([command])[0]

    def send_many(
        self, commands: Iterable[EaseeCommand], timeout: float | None = None
    ) -> list[CommandResult]:
        """Publish every command, then wait (one shared deadline) for all of their outcomes."""
        if self.audit is not None:
            self.audit.ensure_writable()  # a command that cannot be audited is not sent
        items = [_Pending(c) for c in commands]
        results: dict[int, CommandResult] = {}
        with self._lock:
            for item in items:
                self._pending[item.command.response_key] = item
                self._by_serial.setdefault(item.command.serial, []).append(item)
        try:
            for index, item in enumerate(items):
                item.sent_mono = time.monotonic()
                try:
                    self.transport.publish(item.command.routing_key, item.command.body)
                except SourceError as exc:
                    results[index] = self._result(item, Outcome.NO_ANSWER, f"not sent: {exc}")
            deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
            waiting = [i for i in range(len(items)) if i not in results]
            while waiting and time.monotonic() < deadline:
                if all(items[i].settled() for i in waiting):
                    break
                self.transport.poll(min(0.05, max(deadline - time.monotonic(), 0.0)))
            for index in waiting:
                results[index] = self._outcome(items[index])
        finally:
            with self._lock:
                for item in items:
                    self._pending.pop(item.command.response_key, None)
                    group = self._by_serial.get(item.command.serial, [])
                    if item in group:
                        group.remove(item)
        ordered = [results[i] for i in range(len(items))]
        if self.audit is not None:
            try:
                self.audit.record(*ordered)
            except StoreError as exc:
                log.error("the audit log could not be written: %s", exc)
                raise
        for result in ordered:
            self.results.notify(result)
        return ordered

    def flash_warning(self, command: EaseeCommand) -> str | None:
        """A warning when a flash command (24, 47) went to this charger within the last 24 h."""
        if not command.spec.flash or self.audit is None:
            return None
        return flash_warning(self.audit, command)

    def close(self) -> None:
        """Stop listening (and close the transport and the audit log if this controller made them)."""
        self._unsubscribe()
        if self.owns_transport:
            self.transport.close()
        if self._made_audit is not None:
            self._made_audit.close()

    def __enter__(self) -> EaseeController:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------------------------- internals
    def _on_message(self, routing_key: str, body: bytes) -> None:
        self.messages.notify(routing_key, body)
        parts = routing_key.split(".")
        if len(parts) >= 3 and parts[1] == "CR":
            with self._lock:
                item = self._pending.get(routing_key)
            if item is not None and item.response is None:
                item.response = parse_command_response(routing_key, body)
                item.response_mono = time.monotonic()
            return
        if len(parts) == 3 and parts[1] == "O" and parts[2].isdigit():
            obs_id = int(parts[2])
            with self._lock:
                candidates = list(self._by_serial.get(parts[0], ()))
            if not candidates:
                return
            value, observed_at = parse_observation_body(body)
            now = time.monotonic()
            for item in candidates:
                if observed_at is not None and observed_at < item.command.timestamp - READBACK_SLACK:
                    continue  # from before the command
                for wanted_obs, expected in item.command.readback:
                    if wanted_obs == obs_id and item.sent_mono and readback_matches(expected, value):
                        item.readback_seen[obs_id] = value
                        if item.readback_complete and item.readback_mono is None:
                            item.readback_mono = now

    def _outcome(self, item: _Pending) -> CommandResult:
        response = item.response
        if response is None:
            expired = utc_now() >= item.command.expires_at
            hint = (
                "; its ExpiresAt has passed (the cloud should not deliver it any more)"
                if expired
                else " (charger offline?)"
            )
            return self._result(
                item, Outcome.NO_ANSWER, f"no command response within {self.timeout:g} s{hint}"
            )
        latency = (item.response_mono or time.monotonic()) - item.sent_mono
        code = f"ResultCode {response.result_code}" if response.result_code is not None else "no ResultCode"
        comment = f", comment {response.comment!r}" if response.comment else ""
        if response.was_accepted is not True:
            if response.expired:
                return self._result(
                    item, Outcome.EXPIRED, f"expired before the charger took it ({code}{comment})"
                )
            return self._result(item, Outcome.REJECTED, f"rejected by the charger: {code}{comment}", latency)
        if item.readback_complete:
            seen = ", ".join(f"{obs}={item.readback_seen[obs]}" for obs, _ in item.command.readback)
            latency = (item.readback_mono or time.monotonic()) - item.sent_mono
            return self._result(item, Outcome.CONFIRMED, f"read back {seen}", latency)
        if not item.command.readback:
            return self._result(item, Outcome.ACCEPTED, "accepted (this command has no read-back)", latency)
        wanted = ", ".join(str(obs) for obs, _ in item.command.readback)
        return self._result(
            item, Outcome.ACCEPTED, f"accepted; no read-back ({wanted}) within {self.timeout:g} s", latency
        )

    def _result(
        self, item: _Pending, outcome: Outcome, detail: str, latency: float | None = None
    ) -> CommandResult:
        return command_result(item.command, self.transport.exchange, outcome, detail, latency)


def command_result(
    command: EaseeCommand,
    exchange: str,
    outcome: Outcome,
    detail: str,
    latency: float | None = None,
    *,
    time: datetime | None = None,
) -> CommandResult:
    """The result of one Easee command as the audit log, the CLI and the panel show it (``time``:
    default the command's own time; a latency only for an answered command)."""
    return CommandResult(
        time=command.timestamp if time is None else time,
        target="easee",
        transport="amqp",
        topic_or_url=f"{exchange} {command.routing_key}",
        payload=command.body.decode(),
        outcome=outcome,
        detail=detail,
        latency_s=latency if outcome in (Outcome.CONFIRMED, Outcome.ACCEPTED) else None,
        setting=f"{command.serial} {command.spec.name}",
    )


def dry_run_result(command: EaseeCommand, exchange: str) -> CommandResult:
    """The result shown for ``--dry-run`` (nothing sent)."""
    return command_result(command, exchange, Outcome.DRY_RUN, "nothing sent", time=utc_now())


def flash_warning(audit: AuditLog, command: EaseeCommand, now: datetime | None = None) -> str | None:
    """A warning when ``audit`` shows the same flash command to the same charger within 24 h."""
    import polars as pl

    try:
        rows = (
            audit.read()
            .filter(
                (pl.col("target") == "easee") & (pl.col("setting") == f"{command.serial} {command.spec.name}")
            )
            .select("received_at")
            .collect()
        )
    except Exception:  # no audit yet
        return None
    since = (now or utc_now()) - FLASH_WINDOW
    recent = [t for t in rows.get_column("received_at") if t is not None and t >= since]
    if not recent:
        return None
    return (
        f"{command.spec.name} writes the charger's flash memory and was already sent to {command.serial} "
        f"{len(recent)} time(s) in the last 24 h: flash values are for permanent changes only "
        "(use SetDynamicChargerCurrent / SetDynamicCircuitCurrent for frequent changes)"
    )


__all__ = ["EaseeController", "EaseeTransport", "command_result", "dry_run_result", "flash_warning"]
