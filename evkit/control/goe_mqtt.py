"""Confirming a go-e MQTT command: its ``/result`` answer, or the new value on the state topic.

The part of :class:`evkit.control.goe.GoeController` that waits after an MQTT ``/set``: firmware 051.5
and later answers ``success`` or an error on ``<key>/result`` (mqtt-de.md:79) and then publishes the
new value; older firmware publishes only the value, so the state topic is its only confirmation and
without it the outcome is ``sent``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from evkit.control.base import CommandResult, MqttMessage, MqttTransport, Outcome
from evkit.control.goe_commands import Command, expected_value, sends_result, shown_text
from evkit.errors import SourceError
from evkit.goe.status import parse_topic
from evkit.goe.values import values_equal

NO_RESULT_HINT = (
    "MQTT writes may be disabled on the charger: mcr (MQTT read-only) is true, or firmware 051.5 and "
    "later with MQTT writes not enabled (allow them in the go-e app, or over HTTP: /api/set?mcr=false)"
)
#: How long a state that already shows the new value still waits for the ``/result`` text.
_RESULT_GRACE_S = 1.0
_NOTHING: Any = object()  # "watch no value" (None is a value: dwo=null)


class _ResultWaiter:
    """Collects ``/result`` answers for one key while a command waits."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.text: str | None = None
        self.at: float | None = None


class MqttConfirmation:
    """Mixin: sending one MQTT command and confirming it. The controller provides the state and
    :meth:`_result`."""

    _mqtt: MqttTransport | None
    _lock: threading.Lock
    _state: dict[str, Any]
    _state_changed: threading.Condition
    _waiters: dict[str, list[_ResultWaiter]]
    prefix: str
    serial: str

    def _result(
        self, command: Command, outcome: Outcome, detail: str, latency: float | None
    ) -> CommandResult:
        raise NotImplementedError

    def _on_result(self, message: MqttMessage) -> None:
        topic = parse_topic(message.topic, self.prefix)
        if topic is None or topic.kind != "result":
            return
        with self._lock:
            waiters = list(self._waiters.get(topic.key, ()))
        for waiter in waiters:
            if waiter.text is None:
                waiter.text = message.text.strip()
                waiter.at = time.monotonic()
                waiter.event.set()
        with self._state_changed:
            self._state_changed.notify_all()  # a command may wait for its /result or its new value

    def _send_mqtt(self, command: Command, wait: float) -> CommandResult:
        assert self._mqtt is not None
        key = command.setting.key
        expected = expected_value(command.setting)
        with self._lock:
            already = key in self._state and values_equal(self._state[key], expected)
            seen_charger = bool(self._state)
            firmware = self._state.get("fwv")
        answers = sends_result(firmware)
        waiter = _ResultWaiter()
        with self._lock:
            self._waiters.setdefault(key, []).append(waiter)
        started = time.monotonic()
        try:
            try:
                self._mqtt.publish(command.target, command.setting.payload, qos=1, retain=False)
            except SourceError as exc:
                return self._result(command, Outcome.NO_ANSWER, f"not sent: {exc}", None)
            if answers is False:
                return self._without_result_topic(command, expected, already, str(firmware), started + wait)
            watched = _NOTHING if already else expected
            seen_at = self._wait_for_result_or_value(waiter, key, watched, started + wait)
            if seen_at is not None and waiter.text is None:  # the new value came first: the text may follow
                grace = min(started + wait, seen_at + _RESULT_GRACE_S)
                self._wait_for_result_or_value(waiter, key, _NOTHING, grace)
        finally:
            with self._lock:
                self._waiters[key].remove(waiter)
        if waiter.text is None:
            if seen_at is not None:
                return self._result(
                    command,
                    Outcome.CONFIRMED,
                    "the state shows the new value (no /result seen)",
                    seen_at - started,
                )
            detail = f"no /result from the charger within {wait:g} s; {NO_RESULT_HINT}"
            if answers is None:
                detail += "; firmware before 051.5 sends no /result at all (fwv not seen)"
            if not seen_charger:
                detail += (
                    f". Also, nothing was seen under {self.prefix}/{self.serial}/: check the serial, "
                    "the prefix (mtp) and that the charger uses this broker"
                )
            return self._result(command, Outcome.NO_ANSWER, detail, None)
        latency = (waiter.at or time.monotonic()) - started
        answer = waiter.text
        if answer.lower() != "success":
            return self._result(
                command, Outcome.REJECTED, f"the charger answered: {shown_text(answer)}", latency
            )
        if already:
            return self._result(command, Outcome.UNCHANGED, f"{key} already was {command.payload}", latency)
        deadline = started + max(wait, latency)
        if seen_at is not None or self._wait_for_value(key, expected, deadline):
            return self._result(command, Outcome.CONFIRMED, "", latency)
        return self._result(
            command,
            Outcome.ACCEPTED,
            f"the charger answered success; {key} not yet published with the new value",
            latency,
        )

    def _without_result_topic(
        self, command: Command, expected: Any, already: bool, firmware: str, deadline: float
    ) -> CommandResult:
        """Firmware before 051.5: no ``/result``; the state topic is the only confirmation."""
        key = command.setting.key
        why = f"firmware {shown_text(firmware, 40)} sends no /result (only 051.5 and later do)"
        if already:
            return self._result(command, Outcome.SENT, f"{key} already was {command.payload}; {why}", None)
        started = time.monotonic()
        if self._wait_for_value(key, expected, deadline):
            return self._result(
                command,
                Outcome.CONFIRMED,
                f"the state shows the new value; {why}",
                time.monotonic() - started,
            )
        return self._result(
            command,
            Outcome.SENT,
            f"{why}, and {key} did not show the new value in time; MQTT writes may be off (mcr)",
            None,
        )

    def _wait_for_result_or_value(
        self, waiter: _ResultWaiter, key: str, value: Any, deadline: float
    ) -> float | None:
        """Wait until ``/result`` arrives or (unless ``value`` is ``_NOTHING``) the state shows ``value``;
        returns when the state showed it, else ``None``."""
        with self._state_changed:
            while waiter.text is None:
                if value is not _NOTHING and key in self._state and values_equal(self._state[key], value):
                    return time.monotonic()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._state_changed.wait(remaining)
        return None

    def _wait_for_value(self, key: str, value: Any, deadline: float) -> bool:
        with self._state_changed:
            while True:
                if key in self._state and values_equal(self._state[key], value):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._state_changed.wait(remaining)

    # ------------------------------------------------------------------ HTTP


__all__ = ["NO_RESULT_HINT", "MqttConfirmation"]
