"""Shared pieces of every charger controller (evcc, go-e): outcomes, results, exit codes, transports.

A controller = device rules (pure, in ``evkit.evcc`` / ``evkit.goe``) + an injected transport + an audit
log. Transports are small protocols so a controller runs on the real broker/HTTP client and, in tests or
notebooks, on the in-memory :class:`MemoryBroker` defined here.

Outcomes and exit codes::

    confirmed   the device showed the new value                       exit 0
    accepted    the device said OK (go-e ``true``/``success``)        exit 0
    unchanged   already that value (evcc sends no echo then)          exit 0
    sent        sent; the device cannot confirm it (go-e firmware     exit 0
                before 051.5 has no /result) and no new value seen
    dry_run     nothing was sent on purpose                           exit 0
    rejected    the device answered with an error                     exit 1
    no_answer   no confirmation within the timeout                    exit 1
    expired     (Easee) the command expired before the charger took it exit 1

Validation errors never produce a result: they raise :class:`evkit.errors.ValidationError` before
anything is sent (exit 2).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, Literal, Protocol, TypeVar

from evkit.secrets import mask_secrets

Target = Literal["evcc", "go-e", "easee"]
TransportName = Literal["mqtt", "http", "amqp"]


class Outcome(StrEnum):
    """What happened to one command."""

    CONFIRMED = "confirmed"
    UNCHANGED = "unchanged"
    ACCEPTED = "accepted"
    SENT = "sent"
    REJECTED = "rejected"
    NO_ANSWER = "no_answer"
    EXPIRED = "expired"  # Easee: the command's ExpiresAt passed before the charger took it
    DRY_RUN = "dry_run"

    @property
    def label(self) -> str:
        """Text shown to people: ``no answer``, ``dry run``, ``confirmed`` ..."""
        return self.value.replace("_", " ")

    @property
    def ok(self) -> bool:
        """True when the command needs no attention (exit code 0)."""
        return self in _OK_OUTCOMES


_OK_OUTCOMES = frozenset(
    {Outcome.CONFIRMED, Outcome.UNCHANGED, Outcome.ACCEPTED, Outcome.SENT, Outcome.DRY_RUN}
)

#: Exit code of the CLI for each outcome (validation errors exit 2 and have no outcome).
EXIT_CODES: dict[Outcome, int] = {outcome: 0 if outcome.ok else 1 for outcome in Outcome}


def exit_code(outcome: Outcome) -> int:
    """0 for confirmed / accepted / unchanged / sent / dry run; 1 for rejected / no answer."""
    return EXIT_CODES[outcome]


@dataclass(frozen=True)
class CommandResult:
    """One command as sent and what came of it. Never holds credentials (see :func:`mask_secrets`).

    ``detail`` is the sentence shown to the user, e.g. evcc's "no echo within 5 s: evcc drops a command
    without a word when the topic is not subscribed in this evcc version, ..." (``NO_ECHO_HINT``).
    """

    time: datetime  # when the command was sent (UTC)
    target: Target
    transport: TransportName
    topic_or_url: str  # MQTT topic published to, or the HTTP URL requested (secrets masked)
    payload: str  # the exact payload text sent (or that would be sent, for a dry run)
    outcome: Outcome
    detail: str = ""
    latency_s: float | None = None  # send -> confirmation; None when nothing confirmed
    setting: str = ""  # what was set, e.g. "loadpoints/1/mode" or "amp"

    @property
    def ok(self) -> bool:
        """True for confirmed / accepted / unchanged / dry run."""
        return self.outcome.ok

    @property
    def exit_code(self) -> int:
        """The CLI exit code for this result."""
        return exit_code(self.outcome)

    def summary(self) -> str:
        """One line for logs and the CLI: outcome, where, payload, latency, detail."""
        parts = [f"{self.outcome.label}: {self.topic_or_url} <- {self.payload}"]
        if self.latency_s is not None:
            parts.append(f"in {self.latency_s:.2f} s")
        text = " ".join(parts)
        return f"{text} ({self.detail})" if self.detail else text


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


# --------------------------------------------------------------------------------------------------
# Transports


@dataclass(frozen=True)
class MqttMessage:
    """One MQTT message as delivered to a subscriber."""

    topic: str
    payload: bytes
    retained: bool = False
    qos: int = 0

    @property
    def text(self) -> str:
        """The payload decoded as UTF-8 (undecodable bytes replaced)."""
        return self.payload.decode("utf-8", errors="replace")


MessageCallback = Callable[[MqttMessage], None]


class Subscription(Protocol):
    """Returned by :meth:`MqttTransport.subscribe`; cancel it to stop the callbacks."""

    def cancel(self) -> None:
        """Stop delivering messages to this subscription's callback."""


class MqttTransport(Protocol):
    """What a controller needs from an MQTT connection.

    Callbacks may run on the transport's network thread; they must be quick and must not block.
    Implementations: :class:`evkit.sources.mqtt_transport.PahoTransport` (a real broker) and
    :class:`MemoryTransport` (in-process, for tests and offline notebooks).
    """

    def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> None:
        """Publish and return once the broker has it (QoS >= 1); raises ``SourceError`` on failure."""

    def subscribe(self, pattern: str, callback: MessageCallback, qos: int = 1) -> Subscription:
        """Deliver messages matching ``pattern`` (MQTT wildcards) to ``callback``; retained ones too.

        Returns once the broker confirmed the subscription, so retained messages follow promptly.
        """

    def close(self) -> None:
        """Disconnect; further calls are errors."""


@dataclass(frozen=True)
class HttpResponse:
    """An HTTP answer: status code and body text (read on 4xx/5xx too)."""

    status: int
    text: str
    url: str = ""


class HttpTransport(Protocol):
    """What an HTTP controller (go-e API v2) needs: a GET with query parameters."""

    def get(self, url: str, params: Mapping[str, str] | None = None, timeout: float = 5.0) -> HttpResponse:
        """GET ``url`` with ``params``; returns the response whatever its status.

        Raises ``SourceError`` when the device cannot be reached or the request times out.
        """


def topic_matches(pattern: str, topic: str) -> bool:
    """True when ``topic`` matches the MQTT subscription ``pattern`` (``+`` and ``#`` wildcards)."""
    pattern_parts = pattern.split("/")
    topic_parts = topic.split("/")
    for index, part in enumerate(pattern_parts):
        if part == "#":
            return True  # every earlier level matched; '#' also matches the parent itself
        if index >= len(topic_parts):
            return False
        if part not in ("+", topic_parts[index]):
            return False
    return len(pattern_parts) == len(topic_parts)


@dataclass
class _MemorySubscription:
    broker: MemoryBroker
    pattern: str
    callback: MessageCallback
    active: bool = True

    def cancel(self) -> None:
        self.active = False
        self.broker._remove(self)


@dataclass
class MemoryBroker:
    """An in-process MQTT broker: retained messages, wildcards, and a log of everything published.

    Delivery is synchronous (the publisher's thread runs the callbacks), which keeps tests
    deterministic. ``published`` records every publish with its retain flag, so a test can assert
    that a ``/set`` was never retained.
    """

    retained: dict[str, MqttMessage] = field(default_factory=dict)
    published: list[MqttMessage] = field(default_factory=list)
    _subscriptions: list[_MemorySubscription] = field(default_factory=list)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def transport(self) -> MemoryTransport:
        """A new client connection to this broker."""
        return MemoryTransport(self)

    def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> None:
        """Publish like a real broker: an empty retained payload deletes the retained message."""
        data = payload.encode() if isinstance(payload, str) else bytes(payload)
        with self._lock:
            self.published.append(MqttMessage(topic, data, retain, qos))
            if retain:
                if data:
                    self.retained[topic] = MqttMessage(topic, data, True, qos)
                else:
                    self.retained.pop(topic, None)
            targets = [s for s in self._subscriptions if s.active and topic_matches(s.pattern, topic)]
        for subscription in targets:
            subscription.callback(MqttMessage(topic, data, False, qos))

    def subscribe(self, pattern: str, callback: MessageCallback) -> _MemorySubscription:
        """Subscribe and receive the matching retained messages at once."""
        subscription = _MemorySubscription(self, pattern, callback)
        with self._lock:
            self._subscriptions.append(subscription)
            retained = [m for t, m in self.retained.items() if topic_matches(pattern, t)]
        for message in retained:
            callback(message)
        return subscription

    def _remove(self, subscription: _MemorySubscription) -> None:
        with self._lock:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)


class MemoryTransport:
    """An :class:`MqttTransport` connected to a :class:`MemoryBroker`."""

    def __init__(self, broker: MemoryBroker) -> None:
        self.broker = broker
        self._subscriptions: list[_MemorySubscription] = []
        self.closed = False

    def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> None:
        """Publish to the in-memory broker."""
        self._check_open()
        self.broker.publish(topic, payload, qos=qos, retain=retain)

    def subscribe(self, pattern: str, callback: MessageCallback, qos: int = 1) -> Subscription:
        """Subscribe on the in-memory broker."""
        del qos
        self._check_open()
        subscription = self.broker.subscribe(pattern, callback)
        self._subscriptions.append(subscription)
        return subscription

    def close(self) -> None:
        """Cancel this connection's subscriptions."""
        for subscription in self._subscriptions:
            subscription.cancel()
        self._subscriptions.clear()
        self.closed = True

    def _check_open(self) -> None:
        if self.closed:
            from evkit.errors import SourceError

            raise SourceError("the in-memory MQTT transport is closed")


Callback = TypeVar("Callback", bound=Callable[..., None])


class Listeners(Generic[Callback]):
    """Callbacks on state changes, safe to add and remove from any thread.

    ``notify`` calls each one outside any lock and logs (never raises) what one of them raises: a
    panel's bug must not break the transport thread or the confirmation of a command.
    """

    def __init__(self, what: str) -> None:
        self._what = what
        self._items: list[Callback] = []
        self._lock = threading.Lock()

    def add(self, callback: Callback) -> Callable[[], None]:
        """Register ``callback``; returns a function that unregisters it."""
        with self._lock:
            self._items.append(callback)

        def remove() -> None:
            with self._lock:
                if callback in self._items:
                    self._items.remove(callback)

        return remove

    def notify(self, *args: Any) -> None:
        """Call every callback with ``args``."""
        with self._lock:
            callbacks = list(self._items)
        for callback in callbacks:
            try:
                callback(*args)
            except Exception:
                logging.getLogger(__name__).exception("%s listener failed on %s", self._what, args[:1])


__all__ = [
    "EXIT_CODES",
    "CommandResult",
    "HttpResponse",
    "HttpTransport",
    "Listeners",
    "MemoryBroker",
    "MemoryTransport",
    "MessageCallback",
    "MqttMessage",
    "MqttTransport",
    "Outcome",
    "Subscription",
    "Target",
    "TransportName",
    "exit_code",
    "mask_secrets",
    "topic_matches",
]
