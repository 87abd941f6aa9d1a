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
3. the result: ``confirmed`` when the state topic(s) show the new value as evcc really publishes it
   (``evkit.evcc.echo``: a deleted vehicle plan is ``vehicles/<n>/plan`` = "", a released battery mode
   ``unknown``, a zero vehicle SoC an empty payload); ``unchanged`` when they already did (evcc
   publishes nothing then); otherwise ``no_answer`` after the timeout, naming evcc's silent causes.
   Every result goes to the audit log.

A setter the running evcc lacks (``site/version``, :mod:`evkit.evcc.versions`) is refused before
sending; without a version (waited for briefly) the command goes out with a note that it was not
checked. When evcc deletes a vehicle plan the client drops that vehicle's stale ``plan/*`` state.

The client subscribes to ``<prefix>/#`` to keep the current state, but never stores or re-publishes a
``/set`` topic (bridges that echo ``/set`` back make evcc loop on ``null``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from evkit.control.audit import AuditLog, given_audit
from evkit.control.base import (
    CommandResult,
    Listeners,
    MqttMessage,
    MqttTransport,
    Outcome,
    Subscription,
    utc_now,
)
from evkit.errors import SourceError, StoreError, ValidationError
from evkit.evcc.echo import EchoWatch, plan_deleted, same_state
from evkit.evcc.setters import SetCommand, Target, build_command, resolve
from evkit.evcc.state import DEFAULT_PREFIX
from evkit.evcc.versions import check_setter

log = logging.getLogger(__name__)

NO_ECHO_HINT = (
    "evcc drops a command without a word when the topic is not subscribed in this evcc version, the "
    "vehicle was added after evcc started (it subscribes vehicle topics only at start), or the battery "
    "is not controllable; a value evcc refused is in its log as 'set {topic}: …'"
)

StateListener = Callable[[str, str | None], None]

#: How long a command naming a loadpoint or vehicle not seen yet waits for it to be published.
DISCOVERY_WAIT_S = 1.0


class _Pending:
    """One command waiting for its echo."""

    def __init__(self, watch: EchoWatch) -> None:
        self.watch = watch
        self.done = threading.Event()


class EvccClient:
    """A connection to evcc's MQTT API with the current state and careful setters.

    Give ``transport`` (any :class:`~evkit.control.base.MqttTransport`, e.g. a ``MemoryBroker``'s) or
    broker details (``host``, ``port``, ``username``, ``password``, ``tls``); the client then owns a
    :class:`~evkit.sources.mqtt_transport.PahoTransport` and closes it. ``audit`` is an
    :class:`AuditLog` or a store directory (``None`` = no audit). ``settle_s`` is how long to gather
    the retained state at start (it stops early once messages pause); ``version_wait_s`` how long the
    first command waits for ``site/version`` when the retained state did not hold it.
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
        version_wait_s: float = 1.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.prefix = prefix.strip("/")
        self.timeout = timeout
        self.version_wait_s = version_wait_s
        self._version_seen = threading.Event()
        self._version_waited = False
        self.clock = clock
        self.audit, self._made_audit = given_audit(audit)
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
        dropped: list[str] = []
        with self._lock:
            self._last_message = time.monotonic()
            if text == "":
                self._state.pop(path, None)
            else:
                self._state[path] = text
            if plan_deleted(path, text):  # evcc leaves plan/soc and plan/time retained but stale
                dropped = [key for key in self._state if key.startswith(path + "/")]
                for key in dropped:
                    del self._state[key]
            if path == "site/version" and text:
                self._version_seen.set()
            for pending in self._pending:
                if pending.watch.see(path, text):
                    pending.done.set()
        self._listeners.notify(path, text or None)
        for key in dropped:
            self._listeners.notify(key, None)

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
        """Resolve a path against the discovered loadpoints and vehicles (``ValidationError``).

        A loadpoint or vehicle not seen yet may still be on its way: evcc's retained burst can pause
        longer than the settling allows on a busy machine or network. Such a path is refused only when
        it is still unknown after up to ``min(timeout, DISCOVERY_WAIT_S)`` more seconds."""
        resolve(path, prefix=self.prefix)  # the path itself (syntax, setter) is refused at once
        deadline = time.monotonic() + min(self.timeout, DISCOVERY_WAIT_S)
        while True:
            try:  # now only its loadpoint or vehicle can be unknown
                return resolve(path, prefix=self.prefix, loadpoints=self.loadpoints, vehicles=self.vehicles)
            except ValidationError:
                if time.monotonic() >= deadline:
                    raise
            time.sleep(0.05)

    @property
    def version(self) -> str | None:
        """evcc's ``site/version`` (``0.313.2``, ``0.313.0 (b29b49e30)`` for a nightly), None if unknown."""
        return self.value("site/version")

    def evcc_version(self) -> str | None:
        """``site/version``; the first call waits up to ``version_wait_s`` for it if it is missing."""
        if not self._version_seen.is_set() and not self._version_waited:
            self._version_waited = True
            self._version_seen.wait(self.version_wait_s)
        return self.version

    def check_version(self, target: Target) -> str:
        """Refuse a setter this evcc lacks (``ValidationError``); else a note ("" when checked)."""
        return check_setter(target.path, target.setter.scope, target.setter.name, self.evcc_version())

    def prepare(self, path: str, value: object) -> SetCommand:
        """Validate and encode without sending: the exact payload and the expected echo.

        Raises ``ValidationError`` also for a setter the running evcc version does not have.
        """
        target = self.resolve(path)
        command = build_command(
            target,
            value,
            self.state,
            now=self.clock(),
            vehicles=self.vehicles,
            loadpoints=self.loadpoints,
        )
        note = _join(self.check_version(target), self._late_vehicle_note(target))
        return replace(command, note=_join(command.note, note)) if note else command

    def _late_vehicle_note(self, target: Target) -> str:
        """evcc subscribes vehicle setters only at start, and publishes its vehicle count only then: more
        vehicles than that count means some were added since, and they take no command until a restart."""
        count = self.value("vehicles") or ""
        vehicles = self.vehicles
        if target.setter.scope != "vehicle" or not count.isdigit() or len(vehicles) <= int(count):
            return ""
        return (
            f"evcc started with {count} vehicle(s) and now publishes {len(vehicles)}: a vehicle added "
            "since evcc started takes no command until evcc restarts"
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
        note = _join(command.target.setter.note, command.note)
        started_at = self.clock()
        if dry_run:
            return self._finish(
                command,
                topic,
                started_at,
                outcome=Outcome.DRY_RUN,
                detail=_join("dry run: nothing sent", command.note),
                latency=None,
            )

        with self._lock:
            watch = EchoWatch(command, self._state)
            before = watch.before
            unchanged = watch.unchanged
            pending = _Pending(watch)
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
        if command.note:
            detail = _join(detail, command.note)
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
        """Stop listening; closes the transport and the audit log if the client created them."""
        self._subscription.cancel()
        if self._owns_transport:
            self.transport.close()
        if self._made_audit is not None:
            self._made_audit.close()

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
