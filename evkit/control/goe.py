"""Changing go-e Charger settings over MQTT (``/set`` -> ``/result``) or the local HTTP API v2.

Every command is validated first (:func:`evkit.goe.values.prepare_setting`: nothing is sent when it
fails), sent exactly as the charger expects (compact JSON; MQTT QoS 1, never retained; HTTP
``/api/set?key=<url-encoded JSON>``), confirmed, and recorded in the audit log.

Confirmation:

* MQTT: the charger answers on ``<prefix>/<serial>/<key>/result`` with ``success`` or an error text
  (from firmware 051.5 on, mqtt-de.md:79), then publishes the new value on the state topic. No answer
  within the timeout means writes are probably disabled (``mcr=true``, or MQTT writes not allowed) --
  reported as ``no_answer``, never a hang -- unless the state topic shows the new value, which confirms
  it. Firmware before 051.5 (``fwv``) has no ``/result``: the state topic is the only confirmation, and
  without it the outcome is ``sent`` (exit 0: sent, but this firmware cannot confirm it).
* HTTP: the JSON body (read on 4xx/5xx too) has ``true`` or an error string per key; then the value is
  read back with ``/api/status?filter=<key>``.

Outcomes: ``confirmed`` (the state shows the new value), ``unchanged`` (it already had that value;
still sent), ``accepted`` (the charger said yes but the state does not show it yet, or the key cannot be
read back), ``sent`` (firmware without ``/result`` and no new value seen), ``rejected`` (the charger's
error text), ``no_answer``.

``timeout`` is for the whole command: reading the state first, sending and confirming all end within
it. Secret settings (``mck``, ``ocppck``, ``wifis``...) are sent as given but shown and audited as
``***``. Text the charger sends back (a non-JSON body, an error) is shown escaped and shortened.

>>> goe = GoeController.over_http("http://192.168.0.77")        # doctest: +SKIP
>>> goe.set("amp", 16).summary()                                 # doctest: +SKIP
'confirmed: http://192.168.0.77/api/set?amp=16 <- 16 in 0.31 s'
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from evkit.control.audit import AuditLog, given_audit
from evkit.control.base import (
    CommandResult,
    HttpTransport,
    Listeners,
    MqttMessage,
    MqttTransport,
    Outcome,
    Subscription,
    TransportName,
    mask_secrets,
    utc_now,
)
from evkit.control.goe_commands import (
    RESULT_TOPIC_FROM,
    Command,
    api_url,
    expected_value,
    http_command,
    http_problem,
    json_body,
    mqtt_command,
    normalize_http_url,
    sends_result,
    shown_text,
    state_keys_for,
)
from evkit.control.goe_mqtt import NO_RESULT_HINT, MqttConfirmation
from evkit.errors import ConfigError, SourceError
from evkit.goe.status import DEFAULT_PREFIX, parse_payload, parse_topic
from evkit.goe.values import SECRET_SHOWN, prepare_setting, values_equal

log = logging.getLogger(__name__)

#: ``callback(key, value)`` for :meth:`GoeController.on_change`.
StateCallback = Callable[[str, Any], None]

#: How often the HTTP read-back polls; the charger's logic runs once per second.
READBACK_INTERVAL_S = 0.25


_MISSING: Any = object()


class GoeController(MqttConfirmation):
    """Reads and writes one go-e charger. Build it with :meth:`over_http` or :meth:`over_mqtt`, or give
    it a transport (``http=`` base URL + ``http_transport``, or ``mqtt=`` + ``serial``).

    ``audit`` (an :class:`~evkit.control.audit.AuditLog` or a store directory) records every command.
    """

    def __init__(
        self,
        *,
        http: str | None = None,
        http_transport: HttpTransport | None = None,
        mqtt: MqttTransport | None = None,
        serial: str | None = None,
        prefix: str = DEFAULT_PREFIX,
        audit: AuditLog | Path | str | None = None,
        timeout: float = 5.0,
        owns_transport: bool = False,
    ) -> None:
        if (http is None) == (mqtt is None):
            raise ConfigError("give either an HTTP URL (http=...) or an MQTT transport (mqtt=...), not both")
        if mqtt is not None and not serial:
            raise ConfigError("MQTT needs the charger's serial number (serial=...), e.g. 012345")
        self.timeout = timeout
        self.prefix = prefix.rstrip("/") or DEFAULT_PREFIX
        self.serial = serial or ""
        self.audit, self._made_audit = given_audit(audit)
        if self.audit is not None:
            self.audit.ensure_writable()  # a command that cannot be audited is not sent (as evcc, easee)
        self._state: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._state_changed = threading.Condition(self._lock)
        self._waiters = {}
        self._listeners: Listeners[StateCallback] = Listeners("go-e state")
        self._command_lock = threading.Lock()
        self._subscriptions: list[Subscription] = []
        self._owns_transport = owns_transport
        self._mqtt = mqtt
        self._http_transport: HttpTransport | None = None
        self.base_url = ""
        if http is not None:
            self.base_url = normalize_http_url(http)
            if http_transport is None:
                from evkit.sources.http import HttpxTransport

                http_transport = HttpxTransport()
                self._owns_transport = True
            self._http_transport = http_transport
        if mqtt is not None:
            base = f"{self.prefix}/{self.serial}"
            self._subscriptions.append(mqtt.subscribe(f"{base}/+", self._on_state))
            self._subscriptions.append(mqtt.subscribe(f"{base}/+/result", self._on_result))

    # ------------------------------------------------------------------ construction helpers

    @classmethod
    def over_http(
        cls,
        url: str,
        *,
        audit: AuditLog | Path | str | None = None,
        timeout: float = 5.0,
        http_transport: HttpTransport | None = None,
    ) -> GoeController:
        """A controller for the charger's local HTTP API v2 at ``url`` (``http://192.168.0.77``)."""
        return cls(http=url, http_transport=http_transport, audit=audit, timeout=timeout)

    @classmethod
    def over_mqtt(
        cls,
        host: str = "127.0.0.1",
        port: int = 1883,
        *,
        serial: str,
        prefix: str = DEFAULT_PREFIX,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        audit: AuditLog | Path | str | None = None,
        timeout: float = 5.0,
    ) -> GoeController:
        """Connect to the broker the charger uses; raises ``SourceError`` when it cannot be reached."""
        from evkit.sources.mqtt_transport import PahoTransport

        transport = PahoTransport(host, port, username=username, password=password, tls=tls, timeout=timeout)
        try:
            return cls(
                mqtt=transport,
                serial=serial,
                prefix=prefix,
                audit=audit,
                timeout=timeout,
                owns_transport=True,
            )
        except Exception:
            transport.close()
            raise

    @property
    def transport_name(self) -> TransportName:
        """``"mqtt"`` or ``"http"``."""
        return "mqtt" if self._mqtt is not None else "http"

    @property
    def where(self) -> str:
        """Where the charger is: ``http://…`` or ``go-eCharger/<serial>``."""
        return mask_secrets(self.base_url) if self._mqtt is None else f"{self.prefix}/{self.serial}"

    def close(self) -> None:
        """Stop listening; close the transports and the audit log this controller opened."""
        for subscription in self._subscriptions:
            subscription.cancel()
        self._subscriptions.clear()
        if self._owns_transport:
            if self._mqtt is not None:
                self._mqtt.close()
            closer = getattr(self._http_transport, "close", None)
            if callable(closer):
                closer()
        if self._made_audit is not None:
            self._made_audit.close()

    def __enter__(self) -> GoeController:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ state

    @property
    def state(self) -> dict[str, Any]:
        """The last known value of every key seen (MQTT: as published; HTTP: as last read)."""
        with self._lock:
            return dict(self._state)

    def on_change(self, callback: StateCallback) -> Callable[[], None]:
        """Call ``callback(key, value)`` whenever a key's known value changes (``value`` None when a
        retained topic is deleted). Runs on the transport's thread: keep it quick. Returns a function
        that stops the calls.
        """
        return self._listeners.add(callback)

    def _update_state(self, values: Mapping[str, Any], removed: Iterable[str] = ()) -> None:
        changed: list[tuple[str, Any]] = []
        with self._state_changed:
            for key, value in values.items():
                if key not in self._state or not values_equal(self._state[key], value):
                    changed.append((key, value))
                self._state[key] = value
            for key in removed:
                if self._state.pop(key, None) is not None:
                    changed.append((key, None))
            self._state_changed.notify_all()
        for key, value in changed:
            self._listeners.notify(key, value)

    def wait_for_keys(self, keys: Iterable[str], timeout: float = 1.0) -> bool:
        """Wait until every one of ``keys`` has a known value (MQTT: retained state arriving after
        connecting); True when they all have. Never raises.
        """
        wanted = [key for key in keys if key]
        deadline = time.monotonic() + timeout
        with self._state_changed:
            while not all(key in self._state for key in wanted):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._state_changed.wait(remaining)
        return True

    def refresh(self, keys: Iterable[str] | None = None) -> dict[str, Any]:
        """Read current values. HTTP: ``/api/status?filter=…`` (all keys when ``keys`` is None).
        MQTT: the retained values already received. Raises ``SourceError`` when HTTP fails.
        """
        wanted = list(keys) if keys is not None else None
        if self._http_transport is not None:
            self._update_state(self._read_status(wanted, self.timeout))
        state = self.state
        return state if wanted is None else {key: state[key] for key in wanted if key in state}

    def _read_status(self, keys: list[str] | None, timeout: float) -> dict[str, Any]:
        assert self._http_transport is not None
        if timeout <= 0:
            raise SourceError(f"no time left to read /api/status at {self.where}")
        params = {"filter": ",".join(keys)} if keys else None
        response = self._http_transport.get(api_url(self.base_url, "status"), params, timeout=timeout)
        body = json_body(response)
        if not isinstance(body, dict):
            raise SourceError(http_problem(response, "status"))
        return body

    # ------------------------------------------------------------------ commands

    def prepare(self, key: str, value: Any, *, raw_key: bool = False) -> Command:
        """Validate ``value`` for ``key`` against the known state and build the command (nothing sent).

        Raises :class:`evkit.errors.ValidationError` with what is allowed.
        """
        setting = prepare_setting(key, value, state=self.state, raw_key=raw_key)
        if self._mqtt is not None:
            return mqtt_command(setting, self.serial, self.prefix)
        return http_command(setting, self.base_url)

    def set(
        self,
        key: str,
        value: Any,
        *,
        raw_key: bool = False,
        dry_run: bool = False,
        timeout: float | None = None,
    ) -> CommandResult:
        """Validate, send, confirm and audit one setting. ``value`` may be typed text (``"16"``).

        Raises ``ValidationError`` (nothing sent) for bad input; connection failures come back as a
        ``no_answer`` result with the reason, so they are audited too. ``timeout`` (default: the
        controller's) bounds the whole command: reading the state first, sending and confirming.
        """
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        command = self.prepare(key, value, raw_key=raw_key)  # static rules first: exit 2 even if offline
        if self._http_transport is not None and not dry_run:
            try:
                self._prime_http_state(key, deadline)
            except SourceError as exc:
                result = self._result(command, Outcome.NO_ANSWER, f"not sent: {exc}", None)
                self._record(result)
                return result
            command = self.prepare(key, value, raw_key=raw_key)  # again, with the charger's limits
        if dry_run:
            result = self._result(command, Outcome.DRY_RUN, "nothing sent (dry run)", None)
        else:
            with self._command_lock:  # one command at a time: each /result belongs to its command
                if self._mqtt is not None:
                    result = self._send_mqtt(command, max(0.0, deadline - time.monotonic()))
                else:
                    result = self._send_http(command, deadline)
        self._record(result)
        return result

    def _record(self, result: CommandResult) -> None:
        if self.audit is not None:
            self.audit.record(result)

    def _prime_http_state(self, key: str, deadline: float) -> None:
        # Read the key (and its caps: ama for amp, var/adi for currents) first: enables "unchanged"
        # and the limits. Within the command's deadline.
        keys = state_keys_for(key)
        self._update_state(self._read_status(keys, deadline - time.monotonic()))

    def _result(
        self, command: Command, outcome: Outcome, detail: str, latency: float | None
    ) -> CommandResult:
        return CommandResult(
            time=utc_now(),
            target="go-e",
            transport=command.transport,
            topic_or_url=command.target,
            payload=command.payload,
            outcome=outcome,
            detail=detail,
            latency_s=latency,
            setting=command.setting.key,
        )

    # ------------------------------------------------------------------ MQTT

    def _on_state(self, message: MqttMessage) -> None:
        topic = parse_topic(message.topic, self.prefix)
        if topic is None or topic.kind != "state":
            return
        try:
            value = parse_payload(message.payload)
        except ValueError:
            return  # not JSON: not something the charger published
        if message.payload:
            self._update_state({topic.key: value})
        else:
            self._update_state({}, removed=(topic.key,))

    def _send_http(self, command: Command, deadline: float) -> CommandResult:
        assert self._http_transport is not None
        key = command.setting.key
        expected = expected_value(command.setting)
        with self._lock:
            already = key in self._state and values_equal(self._state[key], expected)
        started = time.monotonic()
        if deadline - started <= 0:
            return self._result(
                command, Outcome.NO_ANSWER, "not sent: the timeout was used up reading the state", None
            )
        try:
            response = self._http_transport.get(
                api_url(self.base_url, "set"), {key: command.setting.payload}, timeout=deadline - started
            )
        except SourceError as exc:
            return self._result(command, Outcome.NO_ANSWER, str(exc), None)
        latency = time.monotonic() - started
        body = json_body(response)
        answer = body.get(key, _MISSING) if isinstance(body, dict) else _MISSING
        if answer is _MISSING:
            return self._result(command, Outcome.REJECTED, http_problem(response, "set"), latency)
        if answer is not True:
            text = answer if isinstance(answer, str) else json.dumps(answer)
            return self._result(
                command, Outcome.REJECTED, f"the charger answered: {shown_text(text)}", latency
            )
        # Accepted: read it back (the charger applies settings within about a second).
        readable = True
        while True:
            try:
                values = self._read_status([key], deadline - time.monotonic())
            except SourceError as exc:
                return self._result(
                    command, Outcome.ACCEPTED, f"the charger said true; read-back failed: {exc}", latency
                )
            if key not in values:
                readable = False
                break
            self._update_state({key: values[key]})
            if values_equal(values[key], expected):
                if already:
                    return self._result(
                        command, Outcome.UNCHANGED, f"{key} already was {command.payload}", latency
                    )
                return self._result(command, Outcome.CONFIRMED, "", time.monotonic() - started)
            if time.monotonic() + READBACK_INTERVAL_S > deadline:
                break
            time.sleep(READBACK_INTERVAL_S)
        if not readable:
            return self._result(
                command, Outcome.ACCEPTED, f"the charger said true; {key} cannot be read back", latency
            )
        shown = SECRET_SHOWN if command.setting.secret else shown_text(json.dumps(self.state.get(key)), 80)
        return self._result(
            command, Outcome.ACCEPTED, f"the charger said true but {key} still reads {shown}", latency
        )


__all__ = [
    "NO_RESULT_HINT",
    "RESULT_TOPIC_FROM",
    "Command",
    "GoeController",
    "http_command",
    "mqtt_command",
    "normalize_http_url",
    "sends_result",
    "shown_text",
    "state_keys_for",
]
