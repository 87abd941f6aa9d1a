"""Change evcc settings over its MQTT API: validated, never retained, confirmed by the state echo, audited.

>>> from evkit.control.evcc import EvccClient                        # doctest: +SKIP
>>> with EvccClient(host="127.0.0.1", audit="data") as evcc:         # doctest: +SKIP
...     evcc.loadpoints, evcc.vehicles
...     print(evcc.set("loadpoints/1/mode", "pv").summary())

How a command goes (rules from evcc's code, ``evkit.evcc.setters``):

1. the path and value are validated against the setter catalog and the known state (minCurrent <=
   maxCurrent, buffer/priority SoC, phases, battery boost needs pv/minpv, plan time in the future);
   invalid -> ``ValidationError`` and nothing is sent
2. the exact payload is published to ``<prefix>/<path>/set`` with QoS 1, **never retained** (a value
   equal to the current state is still sent: evcc decides)
3. the result: ``confirmed`` when the state topic(s) show the new value; ``unchanged`` when they
   already did (evcc publishes nothing then); otherwise ``no_answer`` after the timeout, with the hint
   that evcc only logs setter errors. Every result goes to the audit log.

The client subscribes to ``<prefix>/#`` to keep the current state, but never stores or re-publishes a
``/set`` topic (bridges that echo ``/set`` back make evcc loop on ``null``).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from evkit.control.audit import AuditLog
from evkit.control.base import (
    CommandResult,
    Listeners,
    MqttMessage,
    MqttTransport,
    Outcome,
    Subscription,
    utc_now,
)
from evkit.errors import SourceError, StoreError
from evkit.evcc.setters import SetCommand, Target, build_command, resolve
from evkit.evcc.state import DEFAULT_PREFIX

log = logging.getLogger(__name__)

NO_ECHO_HINT = "evcc logs setter errors only — check its log for 'set {topic}: …'"

StateListener = Callable[[str, str | None], None]


def same_state(expected: str, published: str) -> bool:
    """True when evcc's published text shows ``expected`` (floats to evcc's 3 decimals)."""
    if expected == published:
        return True
    if expected == "" or published == "":
        return False
    try:
        a, b = float(expected), float(published)
    except ValueError:
        return expected.lower() == published.lower()
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0005 + 1e-9)  # evcc rounds to 3 decimals


class _Pending:
    """One command waiting for its echo."""

    def __init__(self, expected: dict[str, str]) -> None:
        self.expected = expected
        self.echoed: set[str] = set()
        self.done = threading.Event()


class EvccClient:
    """A connection to evcc's MQTT API with the current state and careful setters.

    Give ``transport`` (any :class:`~evkit.control.base.MqttTransport`, e.g. a ``MemoryBroker``'s) or
    broker details (``host``, ``port``, ``username``, ``password``, ``tls``); the client then owns a
    :class:`~evkit.sources.mqtt_transport.PahoTransport` and closes it. ``audit`` is an
    :class:`AuditLog` or a store directory (``None`` = no audit). ``settle_s`` is how long to gather
    the retained state at start (it stops early once messages pause).
    """

    def __init__(
        self,
        transport: MqttTransport | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 1883,
        prefix: str = DEFAULT_PREFIX,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        audit: AuditLog | Path | str | None = None,
        timeout: float = 5.0,
        settle_s: float = 1.5,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.prefix = prefix.strip("/")
        self.timeout = timeout
        self.clock = clock
        self.audit = AuditLog(audit) if isinstance(audit, Path | str) else audit
        if self.audit is not None:
            self.audit.ensure_writable()  # fail before anything is sent, not after
        self._owns_transport = transport is None
        if transport is None:
            from evkit.sources.mqtt_transport import PahoTransport

            transport = PahoTransport(
                host, port, username=username, password=password, tls=tls, timeout=max(timeout, 3.0)
            )
        self.transport = transport
        self._state: dict[str, str] = {}
        self._lock = threading.Lock()
        self._pending: list[_Pending] = []
        self._listeners: Listeners[StateListener] = Listeners("evcc state")
        self._last_message = time.monotonic()
        self._subscription: Subscription = transport.subscribe(f"{self.prefix}/#", self._on_message, qos=1)
        self._settle(settle_s)

    # ------------------------------------------------------------------ state

    def _settle(self, limit_s: float) -> None:
        """Wait for the retained burst: stop when messages pause for 0.2 s, or after ``limit_s``."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            with self._lock:
                quiet = time.monotonic() - self._last_message
                have_state = bool(self._state)
            if have_state and quiet > 0.2:
                return
            time.sleep(0.05)

    def _on_message(self, message: MqttMessage) -> None:
        if not message.topic.startswith(self.prefix + "/"):
            return
        path = message.topic[len(self.prefix) + 1 :]
        if path == "set" or path.endswith("/set"):
            return  # someone's command, not state: never stored, never re-published
        text = message.text
        with self._lock:
            self._last_message = time.monotonic()
            if text == "":
                self._state.pop(path, None)
            else:
                self._state[path] = text
            for pending in self._pending:
                wanted = pending.expected.get(path)
                if wanted is not None and same_state(wanted, text):
                    pending.echoed.add(path)
                    if self._complete(pending):
                        pending.done.set()
        self._listeners.notify(path, text or None)

    def _complete(self, pending: _Pending) -> bool:
        """Every expected key echoed after sending, or already showed the value before it."""
        return all(
            key in pending.echoed or same_state(text, self._state.get(key, ""))
            for key, text in pending.expected.items()
        )

    @property
    def state(self) -> dict[str, str]:
        """A copy of the current state: path below the prefix -> evcc's published text."""
        with self._lock:
            return dict(self._state)

    def value(self, path: str) -> str | None:
        """The current text of ``path`` (``loadpoints/1/mode``), or None if unknown."""
        with self._lock:
            return self._state.get(path.strip("/"))

    @property
    def loadpoints(self) -> list[int]:
        """Loadpoint ids evcc published (1-based)."""
        state = self.state
        ids = {
            int(p.split("/")[1]) for p in state if p.startswith("loadpoints/") and p.split("/")[1].isdigit()
        }
        count = state.get("loadpoints", "")
        if count.isdigit():
            ids |= set(range(1, int(count) + 1))
        return sorted(ids)

    @property
    def vehicles(self) -> list[str]:
        """Vehicle names evcc published (yaml names, or ``db:<id>`` for vehicles made in the UI)."""
        return sorted(
            {p.split("/")[1] for p in self.state if p.startswith("vehicles/") and p.count("/") >= 2}
        )

    @property
    def online(self) -> bool | None:
        """evcc's ``status`` topic: True online, False offline, None never seen."""
        status = self.value("status")
        return None if status is None else status == "online"

    def on_change(self, listener: StateListener) -> Callable[[], None]:
        """Call ``listener(path, text_or_None)`` on every state message; returns a function to stop."""
        return self._listeners.add(listener)

    # ------------------------------------------------------------------ commands

    def resolve(self, path: str) -> Target:
        """Resolve a path against the discovered loadpoints and vehicles (``ValidationError``)."""
        return resolve(path, prefix=self.prefix, loadpoints=self.loadpoints, vehicles=self.vehicles)

    def prepare(self, path: str, value: object) -> SetCommand:
        """Validate and encode without sending: the exact payload and the expected echo."""
        return build_command(
            self.resolve(path),
            value,
            self.state,
            now=self.clock(),
            vehicles=self.vehicles,
            loadpoints=self.loadpoints,
        )

    def topic(self, command: SetCommand) -> str:
        """The topic a command is published to."""
        return command.topic(self.prefix)

    def set(
        self, path: str, value: object, *, timeout: float | None = None, dry_run: bool = False
    ) -> CommandResult:
        """Validate, send (QoS 1, not retained), wait for the echo, audit; returns the result.

        Raises ``ValidationError`` (nothing sent). A broker failure while publishing returns a
        ``no_answer`` result that says so.
        """
        command = self.prepare(path, value)
        return self.send(command, timeout=timeout, dry_run=dry_run)

    def send(
        self, command: SetCommand, *, timeout: float | None = None, dry_run: bool = False
    ) -> CommandResult:
        """Send an already prepared command (see :meth:`prepare`)."""
        topic = self.topic(command)
        wait_s = self.timeout if timeout is None else timeout
        note = command.target.setter.note
        started_at = self.clock()
        if dry_run:
            return self._finish(
                command,
                topic,
                started_at,
                outcome=Outcome.DRY_RUN,
                detail="dry run: nothing sent",
                latency=None,
            )

        pending = _Pending(command.expected)
        with self._lock:
            before = {key: self._state.get(key, "") for key in command.expected}
            unchanged = bool(command.expected) and all(
                same_state(text, before[key]) for key, text in command.expected.items()
            )
            self._pending.append(pending)
        started = time.monotonic()
        try:
            try:
                self.transport.publish(topic, command.payload, qos=1, retain=False)
            except SourceError as exc:
                return self._finish(
                    command,
                    topic,
                    started_at,
                    outcome=Outcome.NO_ANSWER,
                    detail=f"not sent: {exc}",
                    latency=None,
                )
            if unchanged:
                shown = ", ".join(f"{k}={v or 'none'}" for k, v in before.items())
                detail = f"already {shown}: evcc sends no echo for an unchanged value"
                return self._finish(
                    command,
                    topic,
                    started_at,
                    outcome=Outcome.UNCHANGED,
                    detail=_join(detail, note),
                    latency=None,
                )
            if not command.expected:
                return self._finish(
                    command,
                    topic,
                    started_at,
                    outcome=Outcome.ACCEPTED,
                    detail="sent; nothing to confirm it by",
                    latency=None,
                )
            confirmed = pending.done.wait(wait_s)
            latency = time.monotonic() - started
        finally:
            with self._lock:
                self._pending.remove(pending)
        if confirmed:
            shown = ", ".join(f"{k}={v or 'none'}" for k, v in command.expected.items())
            return self._finish(
                command,
                topic,
                started_at,
                outcome=Outcome.CONFIRMED,
                detail=_join(shown, note),
                latency=latency,
            )
        detail = f"no echo within {wait_s:g} s: " + NO_ECHO_HINT.format(topic=topic)
        if self.online is False:
            detail += f"; evcc's status topic says offline ({self.prefix}/status)"
        elif self.online is None and not self.state:
            detail += f"; nothing is published under {self.prefix}/ — is the prefix right and evcc running?"
        return self._finish(
            command, topic, started_at, outcome=Outcome.NO_ANSWER, detail=detail, latency=None
        )

    def _finish(
        self,
        command: SetCommand,
        topic: str,
        started_at: datetime,
        *,
        outcome: Outcome,
        detail: str,
        latency: float | None,
    ) -> CommandResult:
        result = CommandResult(
            time=started_at,
            target="evcc",
            transport="mqtt",
            topic_or_url=topic,
            payload=command.payload,
            outcome=outcome,
            detail=detail,
            latency_s=latency,
            setting=command.path,
        )
        if self.audit is not None:
            try:
                self.audit.record(result)
            except StoreError as exc:  # the command went out: report it, and say the audit failed
                log.error("audit log not written: %s", exc)
                result = replace(result, detail=_join(result.detail, f"audit log NOT written: {exc}"))
        log.debug("evcc %s", result.summary())
        return result

    # ------------------------------------------------------------------ lifetime

    def close(self) -> None:
        """Stop listening; closes the transport if the client created it."""
        self._subscription.cancel()
        if self._owns_transport:
            self.transport.close()

    def __enter__(self) -> EvccClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.state.items())

    def __repr__(self) -> str:
        return f"EvccClient(prefix={self.prefix!r}, loadpoints={self.loadpoints}, vehicles={self.vehicles})"


def _join(first: str, second: str) -> str:
    return f"{first}; {second}" if first and second else first or second


def describe_state(client: EvccClient, device_id: str) -> dict[str, Any]:
    """The current values below ``device_id`` (``loadpoints/1``, ``site``, ``vehicles/x``) as a dict."""
    prefix = device_id.strip("/") + "/"
    return {
        path[len(prefix) :]: text for path, text in sorted(client.state.items()) if path.startswith(prefix)
    }


__all__ = ["NO_ECHO_HINT", "EvccClient", "describe_state", "same_state"]
