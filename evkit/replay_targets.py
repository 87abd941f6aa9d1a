"""Where ``evkit replay`` publishes: an MQTT broker or an AMQP exchange (I/O; the scheduling is
:mod:`evkit.replay`).

Both mark what they publish as a replay (unless the message carries no mark): MQTT 5 user property
and AMQP header :data:`evkit.store.schema.REPLAY_MARK`, so a capture of the replay knows it from the
data. The MQTT target speaks MQTT 5 (``version=311`` for old brokers: then no mark travels).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from evkit.errors import AuthError, ConfigError, SourceError
from evkit.secrets import mask_secrets
from evkit.sources.easee_details import AmqpDetails, parse_url
from evkit.store.schema import REPLAY_MARK

if TYPE_CHECKING:
    from evkit.replay import Outgoing

# ------------------------------------------------------------------------------------------------
# Targets


class Target(Protocol):
    """Where a replay publishes."""

    protocol: Literal["mqtt", "amqp"]

    def open(self) -> None: ...

    def publish(self, message: Outgoing) -> None: ...

    def close(self) -> None: ...


@dataclass
class MqttTarget:
    """An MQTT broker; messages keep topic, QoS and retained flag; confirmed before the replay ends."""

    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    client_id: str | None = None
    window: int = 200  # unconfirmed QoS 1 publishes before we wait (paces the broker's queues)
    protocol: Literal["mqtt", "amqp"] = "mqtt"
    version: Literal[5, 311] = 5  # MQTT 5 carries the replay mark; 3.1.1 cannot
    _client: Any = field(default=None, repr=False)
    _pending: list[Any] = field(default_factory=list, repr=False)
    _marked: tuple[str, Any] | None = field(default=None, repr=False)

    def open(self) -> None:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        if self.version not in (5, 311):
            raise ConfigError("the MQTT version of a replay must be 5 or 311")
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id or "",
            protocol=paho.MQTTv5 if self.version == 5 else paho.MQTTv311,
        )
        client.max_inflight_messages_set(self.window)
        client.max_queued_messages_set(0)
        if self.username is not None:
            client.username_pw_set(self.username, self.password)
        if self.tls:
            client.tls_set()
        connected = threading.Event()
        refused: list[str] = []

        def on_connect(client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
            if reason.is_failure:
                refused.append(str(reason))
            connected.set()

        client.on_connect = on_connect
        try:
            client.connect(self.host, self.port)
        except (OSError, ValueError) as exc:
            raise SourceError(f"cannot connect to MQTT broker {self.host}:{self.port}: {exc}") from exc
        client.loop_start()
        if not connected.wait(15) or refused:
            client.loop_stop()
            why = refused[0] if refused else "no answer"
            raise SourceError(f"MQTT broker {self.host}:{self.port} refused the replay: {why}")
        self._client = client

    def publish(self, message: Outgoing) -> None:
        properties = self._properties(message.mark) if self.version == 5 else None
        info = self._client.publish(
            message.name, message.body, qos=message.qos, retain=message.retained, properties=properties
        )
        if message.qos:
            self._pending.append(info)
        if len(self._pending) >= self.window:
            self._confirm()

    def _properties(self, mark: str | None) -> Any:
        """PUBLISH properties with the replay's mark (one object per mark value, reused)."""
        if mark is None:
            return None
        if self._marked is None or self._marked[0] != mark:
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            properties.UserProperty = (REPLAY_MARK, mark)
            self._marked = (mark, properties)
        return self._marked[1]

    def _confirm(self) -> None:
        for info in self._pending:
            info.wait_for_publish(30)
            if not info.is_published():
                raise SourceError(f"MQTT broker {self.host}:{self.port} did not confirm a published message")
        self._pending.clear()

    def close(self) -> None:
        if self._client is None:
            return
        try:
            self._confirm()
        finally:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None


@dataclass
class AmqpTarget:
    """An AMQP exchange; messages keep routing key, body and headers; publisher confirms on."""

    url: str = field(repr=False)  # holds the password
    exchange: str
    declare_type: str | None = None  # declare the exchange (durable) if given, else it must exist
    protocol: Literal["mqtt", "amqp"] = "amqp"
    _connection: Any = field(default=None, repr=False)
    _channel: Any = field(default=None, repr=False)
    _details: AmqpDetails = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._details = parse_url(self.url)  # a malformed URL is a ConfigError that never shows the password

    def open(self) -> None:
        import pika
        import pika.exceptions

        shown = self._details.masked_url()
        try:
            self._connection = pika.BlockingConnection(
                self._details.pika_parameters(connection_name="evkit replay")
            )
        except (pika.exceptions.ProbableAuthenticationError, pika.exceptions.AuthenticationError):
            raise AuthError(f"the broker refused the credentials for {shown}") from None
        except (pika.exceptions.AMQPError, OSError, ValueError) as exc:
            raise SourceError(f"cannot connect to AMQP broker {shown}: {mask_secrets(repr(exc))}") from None
        channel = self._connection.channel()
        if self.exchange:
            try:
                if self.declare_type:
                    channel.exchange_declare(self.exchange, self.declare_type, durable=True)
                else:
                    channel.exchange_declare(self.exchange, passive=True)
            except pika.exceptions.ChannelClosedByBroker as exc:
                self._connection.close()
                raise ConfigError(
                    f"exchange {self.exchange!r} does not exist on {shown} "
                    "(create it, or pass --declare-exchange TYPE)"
                ) from exc
        channel.confirm_delivery()
        self._channel = channel

    def publish(self, message: Outgoing) -> None:
        import pika

        properties = pika.BasicProperties(headers=message.headers, delivery_mode=2)
        try:
            self._channel.basic_publish(
                self.exchange, message.name, message.body, properties, mandatory=False
            )
        except pika.exceptions.AMQPError as exc:
            raise SourceError(f"AMQP publish failed: {exc!r}") from exc

    def close(self) -> None:
        if self._connection is not None and self._connection.is_open:
            self._connection.close()
        self._connection = None


__all__ = ["AmqpTarget", "MqttTarget", "Target"]
