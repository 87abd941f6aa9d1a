"""A real MQTT connection for controllers and simulators (paho-mqtt v2), behind ``MqttTransport``.

Connects at construction (raises ``SourceError``/``AuthError`` with a clear message), publishes with
QoS 1 and waits until the broker has the message, confirms subscriptions (SUBACK) before returning,
and re-subscribes after an automatic reconnect. The password is kept only inside paho's client and
never appears in ``repr``, logs or errors.
"""

from __future__ import annotations

import logging
import ssl
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from evkit.control.base import MessageCallback, MqttMessage, topic_matches
from evkit.errors import AuthError, SourceError

log = logging.getLogger(__name__)

#: CONNACK reason codes that mean "your credentials are wrong" (MQTT 3.1.1 codes 4/5 map to these).
_AUTH_FAILURES = frozenset({134, 135})


@dataclass
class _PahoSubscription:
    transport: PahoTransport
    pattern: str
    callback: MessageCallback
    active: bool = True

    def cancel(self) -> None:
        if self.active:
            self.active = False
            self.transport._remove(self)


class PahoTransport:
    """An :class:`~evkit.control.base.MqttTransport` on a real broker.

    >>> transport = PahoTransport("127.0.0.1", 1883)   # doctest: +SKIP
    >>> transport.publish("evcc/loadpoints/1/mode/set", "pv")  # doctest: +SKIP
    >>> transport.close()  # doctest: +SKIP
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1883,
        *,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        ca_certs: str | None = None,
        client_id: str | None = None,
        timeout: float = 10.0,
        keepalive: int = 30,
        will: tuple[str, str] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.client_id = client_id or f"evkit-{uuid.uuid4().hex[:12]}"
        self._subscriptions: list[_PahoSubscription] = []
        self._lock = threading.RLock()
        self._connected = threading.Event()
        self._connect_error: Exception | None = None
        self._suback: dict[int, threading.Event] = {}
        self._closed = False

        client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=paho.MQTTv311,
            clean_session=True,
        )
        if username is not None:
            client.username_pw_set(username, password)
        if will is not None:  # (topic, payload): published retained by the broker if we vanish
            client.will_set(will[0], will[1], qos=1, retain=True)
        if tls:
            context = ssl.create_default_context(cafile=ca_certs)
            client.tls_set_context(context)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.connect_timeout = timeout  # TCP connect to an unreachable host must not hang for minutes
        self._client = client
        try:
            client.connect(host, port, keepalive=keepalive)
        except (OSError, ValueError) as exc:
            raise SourceError(f"cannot connect to MQTT broker {host}:{port}: {exc}") from exc
        client.loop_start()
        if not self._connected.wait(timeout):
            self._shutdown()
            raise SourceError(f"MQTT broker {host}:{port} did not answer within {timeout:g} s")
        if self._connect_error is not None:
            self._shutdown()
            raise self._connect_error

    # ------------------------------------------------------------------ paho callbacks (network thread)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        del client, userdata, flags, properties
        if reason.is_failure:
            where = f"MQTT broker {self.host}:{self.port}"
            if int(reason.value) in _AUTH_FAILURES:
                self._connect_error = AuthError(f"{where} refused the credentials ({reason})")
            else:
                self._connect_error = SourceError(f"{where} refused the connection ({reason})")
            self._connected.set()
            return
        self._connect_error = None
        with self._lock:
            patterns = sorted({s.pattern for s in self._subscriptions})
        for pattern in patterns:  # clean session: a reconnect forgets subscriptions
            self._client.subscribe(pattern, qos=1)
        if self._connected.is_set() and patterns:
            log.info("reconnected to %s:%s, re-subscribed %d pattern(s)", self.host, self.port, len(patterns))
        self._connected.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        del client, userdata, flags, properties
        if not self._closed:
            log.warning("MQTT connection to %s:%s lost (%s); reconnecting", self.host, self.port, reason)

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
        del client, userdata, reasons, properties
        with self._lock:
            event = self._suback.pop(mid, None)
        if event is not None:
            event.set()

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        del client, userdata
        delivered = MqttMessage(message.topic, bytes(message.payload), bool(message.retain), int(message.qos))
        with self._lock:
            targets = [s for s in self._subscriptions if s.active and topic_matches(s.pattern, message.topic)]
        for subscription in targets:
            try:
                subscription.callback(delivered)
            except Exception:  # a subscriber's bug must not kill the network thread
                log.exception("MQTT callback for %s failed on %s", subscription.pattern, message.topic)

    # ------------------------------------------------------------------ MqttTransport

    def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> None:
        """Publish; for QoS >= 1 return once the broker acknowledged it. Raises ``SourceError``."""
        self._check_open()
        if not self._client.is_connected():
            # paho would queue it and send it after a reconnect, long after we reported failure
            raise SourceError(f"not connected to MQTT broker {self.host}:{self.port}; {topic} not sent")
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise SourceError(f"publish to {topic} failed: {paho.error_string(info.rc)}")
        if threading.current_thread() is getattr(self._client, "_thread", None):
            return  # called from a message callback: waiting here would block the loop that acks it
        try:
            info.wait_for_publish(self.timeout)
        except (RuntimeError, ValueError) as exc:
            raise SourceError(f"publish to {topic} failed: {exc}") from exc
        if not info.is_published():
            raise SourceError(
                f"MQTT broker {self.host}:{self.port} did not acknowledge {topic} within {self.timeout:g} s"
            )

    def subscribe(self, pattern: str, callback: MessageCallback, qos: int = 1) -> _PahoSubscription:
        """Subscribe and wait for the broker's SUBACK; retained messages then arrive on the callback."""
        self._check_open()
        subscription = _PahoSubscription(self, pattern, callback)
        event = threading.Event()
        with self._lock:
            self._subscriptions.append(subscription)
            result, mid = self._client.subscribe(pattern, qos=qos)
            if result == paho.MQTT_ERR_SUCCESS and mid is not None:
                self._suback[mid] = event
        if result != paho.MQTT_ERR_SUCCESS:
            subscription.cancel()
            raise SourceError(f"subscribe to {pattern} failed: {paho.error_string(result)}")
        if not event.wait(self.timeout):
            subscription.cancel()
            raise SourceError(f"MQTT broker {self.host}:{self.port} did not confirm subscription {pattern}")
        return subscription

    def close(self) -> None:
        """Disconnect cleanly (idempotent)."""
        if self._closed:
            return
        self._shutdown()

    def __enter__(self) -> PahoTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PahoTransport({self.host!r}, {self.port}, client_id={self.client_id!r})"

    # ------------------------------------------------------------------ internals

    def _remove(self, subscription: _PahoSubscription) -> None:
        with self._lock:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)
            still_used = any(s.pattern == subscription.pattern for s in self._subscriptions)
        if not still_used and not self._closed:
            self._client.unsubscribe(subscription.pattern)

    def _shutdown(self) -> None:
        self._closed = True
        try:
            self._client.disconnect()
        finally:
            self._client.loop_stop()

    def _check_open(self) -> None:
        if self._closed:
            raise SourceError("the MQTT transport is closed")


__all__ = ["PahoTransport"]
