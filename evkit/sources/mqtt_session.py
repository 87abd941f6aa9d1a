"""MQTT capture settings and the broker session: client id, persistent session, reconnect timing.

How the broker keeps what we have not acknowledged:

- A stable client id (:func:`default_client_id`: host, port, topics and output directory), so a
  restarted capture resumes the same session and receives what was queued while it was away.
- MQTT 5: ``clean_start`` is off on every connect (the first included, which is what lets a restarted
  capture resume) and the session expiry interval is ``session_expiry`` (default 1 day: a capture
  stopped for a night or a weekend day still gets everything; an abandoned one stops costing the
  broker memory the day after). MQTT 3.1.1: ``clean_session`` off (the broker keeps the session until
  its ``persistent_client_expiration``, forever by default).
- Reconnecting: the first attempt right after the loss, then every ``min_backoff`` doubling up to
  ``max_backoff`` (default 0.5 s), with jitter. A broker that is down refuses a TCP connect at once,
  so polling it costs nothing, and we are back within a fraction of a second of its return: before
  a publisher's backlog (sent the moment the broker is back) overflows the queue the broker keeps for
  us (Mosquitto ``max_queued_messages``).
- A broker that answers a reconnect with ``session present: False`` has lost our session (restarted
  without persistence, the session expired, or it was taken over): what was published while we were
  away is gone. The capture cannot get it back, but says so (log, manifest, summary).
"""

from __future__ import annotations

import hashlib
import logging
import random
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evkit.errors import ConfigError
from evkit.sources.mqtt_rows import TopicRules
from evkit.store import read_manifest

log = logging.getLogger(__name__)

#: Seconds the broker keeps an MQTT 5 session while we are away (``--session-expiry``).
DEFAULT_SESSION_EXPIRY_S = 86_400
#: The largest MQTT 5 session expiry interval (a four-byte integer; this value means "never expires").
MAX_SESSION_EXPIRY_S = 0xFFFFFFFF


def default_client_id(host: str, port: int, topics: Sequence[str], out: Path | str) -> str:
    """A stable client id for this host, port, topic set and output directory (<= 23 characters).

    Stable, so a restarted capture resumes its broker session and receives what was queued.
    """
    seed = "|".join([host, str(port), *sorted(topics), str(Path(out).resolve())])
    return "evkit-" + hashlib.sha1(seed.encode(), usedforsecurity=False).hexdigest()[:16]


class BufferedSocket:
    """The broker socket as paho sees it, read 64 KiB at a time.

    paho asks for one byte (the packet type), then the length bytes one by one, then the body: three
    or more system calls per message, which is most of a capture's cost at high rates. This wrapper
    serves those small reads from one big ``recv`` and reports what it holds through ``pending()``
    (the method paho already checks on TLS sockets), so paho's loop reads it without waiting in
    ``select()``. Everything else is passed to the real socket.
    """

    __slots__ = ("_data", "_inner_pending", "_pos", "_sock")

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._data = b""
        self._pos = 0
        self._inner_pending = getattr(sock, "pending", None)  # TLS sockets buffer too

    def recv(self, size: int) -> bytes:
        """Up to ``size`` bytes: from the buffer, else one big read (raises like ``socket.recv``)."""
        data, pos = self._data, self._pos
        if pos >= len(data):
            data = bytes(self._sock.recv(max(size, 65536)))
            if not data:
                return data  # connection closed
            self._data, pos = data, 0
        end = pos + size
        self._pos = end
        return data[pos:end]

    def pending(self) -> int:
        """Bytes readable without a system call (ours, plus the TLS layer's)."""
        inner = self._inner_pending
        buffered = len(self._data) - self._pos
        return buffered + inner() if inner is not None else buffered

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _buffered_client_class() -> Any:
    import paho.mqtt.client as paho

    class BufferedClient(paho.Client):
        """paho's Client on a :class:`BufferedSocket` (wrapped after every (re)connect)."""

        def reconnect(self) -> Any:
            rc = super().reconnect()
            if self._sock is not None and not isinstance(self._sock, BufferedSocket):
                self._sock = BufferedSocket(self._sock)
            return rc

    return BufferedClient


@dataclass
class MqttSettings:
    """Everything a capture needs. ``password`` is held in memory only, never written anywhere."""

    host: str
    topics: Sequence[str]
    out: Path | str
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    ca_file: str | None = None
    insecure: bool = False
    client_id: str | None = None
    qos: int = 1
    #: 5 (default): the broker honours our Receive Maximum, so acknowledging after the disk write never
    #: throttles it, and the session expires when abandoned. 311: MQTT 3.1.1, for old brokers.
    protocol: int = 5
    session_expiry: int = DEFAULT_SESSION_EXPIRY_S  # seconds the broker keeps our session (MQTT 5)
    keepalive: int = 30
    max_messages: int | None = None
    idle_exit: float | None = None
    duration: float | None = None
    flush_rows: int = 500
    #: MQTT 5 Receive Maximum: unacknowledged messages the broker may send ahead. Bounds our memory
    #: when draining a long backlog, and stays near Mosquitto's per-client queue (1000), which also
    #: counts in-flight messages of a disconnected client.
    receive_maximum: int = 1000
    flush_interval: float = 5.0
    #: Reconnect pauses: at once, then ``min_backoff`` doubling up to ``max_backoff`` (jittered). Small
    #: on purpose: see the module doc (a down broker refuses at once; we must be back before the
    #: publishers' backlog overflows our queue on the broker).
    min_backoff: float = 0.1
    max_backoff: float = 0.5
    connect_timeout: float = 15.0
    rules: TopicRules = field(default_factory=TopicRules)
    #: "process": decode and write in a child process (keeps the GIL for the MQTT client; fastest);
    #: "thread": in this process (no child; simpler to debug).
    writer: str = "process"

    def validate(self) -> None:
        """Raise ConfigError for settings that cannot work."""
        if not self.topics:
            raise ConfigError("give at least one --topic to subscribe to")
        for topic in self.topics:
            if not topic or "\x00" in topic:
                raise ConfigError(f"invalid topic filter {topic!r}")
            levels = topic.split("/")
            if any(("#" in lv and lv != "#") or ("+" in lv and lv != "+") for lv in levels) or (
                "#" in levels[:-1]
            ):
                raise ConfigError(f"invalid topic filter {topic!r}: '#' only as the last level, '+' alone")
        if self.qos not in (0, 1):
            raise ConfigError("--qos must be 0 or 1 (1 keeps data across reconnects)")
        if self.protocol not in (5, 311):
            raise ConfigError("--protocol must be 5 or 311")
        if self.protocol == 5 and not 1 <= self.session_expiry <= MAX_SESSION_EXPIRY_S:
            raise ConfigError(
                f"--session-expiry must be 1..{MAX_SESSION_EXPIRY_S} s (0 would end the session at every "
                "disconnect: what is published while we reconnect would be lost)"
            )
        if not 0 < self.min_backoff <= self.max_backoff:
            raise ConfigError("reconnect backoff: need 0 < min_backoff <= max_backoff")
        if self.max_messages is not None and self.max_messages < 1:
            raise ConfigError("--max-messages must be at least 1")
        if self.flush_rows < 1:
            raise ConfigError("--flush-rows must be at least 1")
        if not 1 <= self.receive_maximum <= 65535:
            raise ConfigError("receive_maximum must be 1..65535")
        if self.flush_interval <= 0:
            raise ConfigError("--flush-interval must be positive")
        if not 0 < self.port < 65536:
            raise ConfigError(f"invalid port {self.port}")
        if self.writer not in ("process", "thread"):
            raise ConfigError(f"writer must be 'process' or 'thread', got {self.writer!r}")


def reconnect_delays(first: float, cap: float, rng: random.Random | None = None) -> Iterator[float]:
    """Pauses before each reconnect attempt: 0 (at once), then ``first`` doubling up to ``cap``, each
    with jitter (x 0.5..1) so many clients of one restarted broker do not all come back together."""
    rng = rng or random.Random()
    yield 0.0
    delay = first
    while True:
        yield delay * rng.uniform(0.5, 1.0)
        delay = min(delay * 2, cap)


def connect_properties(settings: MqttSettings) -> Any:
    """MQTT 5 CONNECT properties (session expiry, receive maximum); None on 3.1.1."""
    if settings.protocol != 5:
        return None
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = settings.session_expiry
    props.ReceiveMaximum = settings.receive_maximum
    return props


def make_client(settings: MqttSettings, client_id: str, *, watcher: bool = False) -> Any:
    """A paho client for a capture: persistent session, manual acks, on a :class:`BufferedSocket`.

    ``watcher=True``: a plain QoS 0 side client with the same credentials and TLS (no session, paho's
    own reconnects), for :class:`evkit.sources.mqtt_drops.DropWatcher`."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    s = settings
    v5 = s.protocol == 5
    protocol = paho.MQTTv5 if v5 else paho.MQTTv311
    if watcher:
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
        client.reconnect_delay_set(1, 30)
    else:
        kwargs: dict[str, Any] = {} if v5 else {"clean_session": False}
        client = _buffered_client_class()(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=protocol,
            manual_ack=True,
            reconnect_on_failure=False,
            **kwargs,
        )
        # Our own memory bound is the flush window; let paho queue whatever the broker sends.
        client.max_inflight_messages_set(65535)
    if s.username is not None:
        client.username_pw_set(s.username, s.password)
    if s.tls:
        context = ssl.create_default_context(cafile=s.ca_file)
        if s.insecure:
            log.warning("TLS certificate verification is OFF (--insecure): the broker is not authenticated")
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        client.tls_set_context(context)
    return client


def settings_record(settings: MqttSettings) -> dict[str, Any]:
    """The settings part of a capture's manifest record (no password)."""
    s = settings
    return {
        "host": s.host,
        "port": s.port,
        "tls": s.tls,
        "username": s.username,
        "topics": list(s.topics),
        "qos": s.qos,
        "protocol": "5" if s.protocol == 5 else "3.1.1",
        "session_expiry_s": s.session_expiry if s.protocol == 5 else None,
        "evcc_roots": list(s.rules.evcc_roots),
        "goe_prefixes": list(s.rules.goe_prefixes),
    }


#: Said wherever a lost session is reported (log, CLI summary).
SESSION_LOST_HINT = (
    "messages published while evkit was away may be lost; keep the session on the broker "
    "(README: 'Broker settings under which nothing is lost')"
)


def warn_session_lost(settings: MqttSettings, client_id: str, *, after_reconnect: bool) -> None:
    """Log that the broker had no session for us (``session present: False``)."""
    log.warning(
        "MQTT broker %s:%s had no session for client id %s %s (session present: False): %s",
        settings.host,
        settings.port,
        client_id,
        "after a reconnect" if after_reconnect else "although an earlier run in this directory used it",
        SESSION_LOST_HINT,
    )


def ran_before(out: Path | str, client_id: str) -> bool:
    """Whether an earlier capture in ``out`` used ``client_id`` (so the broker should have its session)."""
    try:
        captures = read_manifest(out)["captures"]
    except (OSError, ValueError):
        return False
    return any(c.get("source") == "mqtt" and c.get("client_id") == client_id for c in captures)


__all__ = [
    "DEFAULT_SESSION_EXPIRY_S",
    "MAX_SESSION_EXPIRY_S",
    "SESSION_LOST_HINT",
    "BufferedSocket",
    "MqttSettings",
    "connect_properties",
    "default_client_id",
    "make_client",
    "ran_before",
    "reconnect_delays",
    "settings_record",
    "warn_session_lost",
]
