"""Record MQTT (evcc, go-e, anything else) into the Parquet store without losing a message.

How nothing is lost:

- QoS 1 subscriptions, a fixed client id and a persistent session (MQTT 5 session expiry, or
  ``clean_session=False`` on 3.1.1): what the broker queues while we reconnect is delivered after.
- Manual acks (paho ``manual_ack=True``): a message is acknowledged only after its row is in a
  closed, fsynced Parquet part (:class:`~evkit.sources.pipeline.CapturePipeline`). Messages we did
  not write (a failed disk, ``--max-messages`` reached) stay unacknowledged, so the broker redelivers
  them to the next session.
- The unacknowledged window is kept small (``flush_rows``): Mosquitto counts unacknowledged
  in-flight messages against a disconnected client's queue limit (``max_queued_messages``, 1000 by
  default) and drops newer messages beyond it.
- MQTT 5 by default, with a Receive Maximum (1000) that bounds the unacknowledged messages (and our
  memory) while draining a backlog. On 3.1.1 a broker keeps only a few unacknowledged QoS 1
  messages in flight (Mosquitto: 20) and waits for acks, so a 3.1.1 capture writes as soon as
  deliveries pause (``IDLE_FLUSH_S``), which means smaller Parquet parts.

One thread owns the paho client: it runs ``client.loop()`` on a socket read 64 KiB at a time
(:class:`BufferedSocket`), buffers each message as a plain tuple (the only per-message work), hands
batches to the pipeline's writer thread, and sends the acks the writer reports back. Decoding
(:mod:`evkit.evcc.decode`, :mod:`evkit.goe.decode`) and the Parquet write happen per batch in a
writer process (``writer="process"``, the default; ``"thread"`` keeps them in this process), so
they do not compete with the MQTT client for the GIL.

Rows: every required column of the dataset contract plus ``topic``, ``retained``, ``qos``,
``source`` (evcc / go-e / other), ``device_id``, ``key``, ``conn_epoch``, ``label`` and ``unit``.
``observation`` repeats ``key``; ``charger_id`` repeats ``device_id``; ``redelivered`` is MQTT's DUP
flag. Values are stored as sent, in the ``unit`` given (evcc ``sessionEnergy`` Wh,
``chargeTotalImport`` kWh, go-e ``eto`` Wh...). An empty payload (a deleted retained value) has a
null ``value`` and ``value_text`` ``""``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import random
import re
import ssl
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import polars as pl

from evkit.errors import AuthError, ConfigError, SourceError, StoreError
from evkit.evcc import decode as evcc_decode
from evkit.evcc.decode import Reading
from evkit.goe import decode as goe_decode
from evkit.sources.pipeline import CapturePipeline, CaptureStats, WriteResult
from evkit.sources.writer_process import WriterProcess
from evkit.store import MQTT_SCHEMA, PartWriter, ensure_writable, new_capture_id, upsert_capture
from evkit.store.schema import UTC_US

log = logging.getLogger(__name__)

#: Columns of a captured MQTT row: the contract's MQTT schema plus label and unit.
CAPTURE_SCHEMA: dict[str, pl.DataType] = MQTT_SCHEMA

_NUMBER = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")
_AUTH_FAILURES = frozenset({134, 135})  # bad user name or password / not authorized
_ROUTE_CACHE_LIMIT = 200_000
_DECODED_CACHE_LIMIT = 100_000
_CACHED_PAYLOAD_BYTES = 48
#: go-e keys whose rows depend on more than topic and payload (the charger's firmware).
_FIRMWARE_DEPENDENT = frozenset({"err", "fwv"})
#: MQTT 3.1.1 has no Receive Maximum: a broker sends only a few unacknowledged QoS 1 messages at a
#: time (Mosquitto: ``max_inflight_messages`` = 20), then waits for our acks. So on 3.1.1 a batch is
#: written (and acknowledged) as soon as deliveries pause this long, instead of after flush_interval.
IDLE_FLUSH_S = 0.02


#: What the connection thread keeps of one delivery (decoded later, in batches): received_at (epoch
#: microseconds), topic, payload, retained, qos, dup, conn_epoch. A plain tuple on the hot path.
MessageTuple = tuple[int, str, bytes, bool, int, bool, int]


class Message(NamedTuple):
    """A :data:`MessageTuple` with names (tests and notebooks)."""

    received_us: int
    topic: str
    payload: bytes
    retained: bool
    qos: int
    dup: bool
    epoch: int


# ------------------------------------------------------------------------------------------------
# Pure part: topic routing and rows


@dataclass(frozen=True)
class TopicRules:
    """Which topic trees are evcc's and which are go-e's (everything else is stored raw as ``other``)."""

    evcc_roots: tuple[str, ...] = ("evcc",)
    goe_prefixes: tuple[str, ...] = ("go-eCharger",)


def decode_other(payload: bytes) -> Reading:
    """An unknown topic: text kept when it is UTF-8, a number recognised, bytes always in ``raw``."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return Reading("", None, None, None, None, None, None)
    value: float | None = None
    stripped = text.strip()
    if _NUMBER.match(text):
        number = float(text)
        value = number if math.isfinite(number) else None
    elif stripped in ("true", "false"):
        value = 1.0 if stripped == "true" else 0.0
    return Reading("", value, text, None, None, None, None)


@dataclass
class _Route:
    source: str
    device_id: str | None
    key: str
    evcc: evcc_decode.EvccRoute | None = None
    goe: goe_decode.GoeRoute | None = None


class RowBuilder:
    """Turns buffered messages into a frame with :data:`CAPTURE_SCHEMA` (pure, no I/O).

    Remembers per-topic routing and each go-e charger's firmware (``fwv``, for its ``err`` labels).
    Every message gives at least one row; ``nrg`` gives one per field. Nothing raises.
    """

    def __init__(self, rules: TopicRules | None = None) -> None:
        self.rules = rules or TopicRules()
        self._routes: dict[str, _Route] = {}
        self._firmware: dict[str, str] = {}
        # evcc re-publishes every value each cycle and most do not change: short payloads decode once.
        self._decoded: dict[tuple[str, bytes], tuple[_Route, list[Reading]]] = {}

    def route(self, topic: str) -> _Route:
        """Source, device and key of ``topic`` (cached)."""
        found = self._routes.get(topic)
        if found is not None:
            return found
        found = self._classify(topic)
        if len(self._routes) >= _ROUTE_CACHE_LIMIT:
            self._routes.clear()
        self._routes[topic] = found
        return found

    def _classify(self, topic: str) -> _Route:
        for root in self.rules.evcc_roots:
            evcc_route = evcc_decode.route(topic, root)
            if evcc_route is not None:
                return _Route("evcc", evcc_route.device_id, evcc_route.key, evcc=evcc_route)
        for prefix in self.rules.goe_prefixes:
            goe_route = goe_decode.route(topic, prefix)
            if goe_route is not None:
                return _Route("go-e", goe_route.serial, goe_route.key, goe=goe_route)
        return _Route("other", None, topic)

    def readings(self, topic: str, payload: bytes) -> tuple[_Route, list[Reading]]:
        """The route and decoded rows of one message (never raises). Do not mutate the result."""
        if len(payload) <= _CACHED_PAYLOAD_BYTES:
            known = self._decoded.get((topic, payload))
            if known is not None:
                return known
            decoded = self._readings(topic, payload)
            goe = decoded[0].goe
            if goe is None or goe.api_key not in _FIRMWARE_DEPENDENT:
                if len(self._decoded) >= _DECODED_CACHE_LIMIT:
                    self._decoded.clear()
                self._decoded[(topic, payload)] = decoded
            return decoded
        return self._readings(topic, payload)

    def _readings(self, topic: str, payload: bytes) -> tuple[_Route, list[Reading]]:
        where = self.route(topic)
        try:
            if where.evcc is not None:
                return where, [evcc_decode.decode(where.evcc, payload)]
            if where.goe is not None:
                rows = goe_decode.decode(where.goe, payload, self._firmware.get(where.goe.serial))
                if where.goe.api_key == "fwv" and where.goe.kind == "state" and rows[0].value_text:
                    self._firmware[where.goe.serial] = rows[0].value_text
                return where, rows
            other = decode_other(payload)
            return where, [other._replace(key=where.key)]
        except Exception as exc:  # a decoder bug must never lose the message
            text = payload.decode("utf-8", errors="replace")
            error = f"decoder failed: {type(exc).__name__}: {exc}"
            return where, [Reading(where.key, None, text, None, None, None, error)]

    def frame(self, messages: Sequence[MessageTuple]) -> pl.DataFrame:
        """One frame for a batch of messages.

        Per message only the decoding runs in Python; message-level columns are built once and
        repeated for messages that gave several rows (``nrg``) with a vectorised gather.
        """
        readings: list[Reading] = []
        sources: list[str] = []
        devices: list[str | None] = []
        index: list[int] = []
        expanded = False
        for position, message in enumerate(messages):
            where, rows = self.readings(message[1], message[2])
            sources.append(where.source)
            devices.append(where.device_id)
            if len(rows) == 1:
                readings.append(rows[0])
                index.append(position)
            else:
                readings.extend(rows)
                index.extend([position] * len(rows))
                expanded = True
        height = len(readings)
        if height:
            keys, values, texts, labels, units, observed, errors = zip(*readings, strict=True)
        else:
            keys = values = texts = labels = units = observed = errors = ()
        received, topics, raws, retained, qos, dups, epochs = (
            zip(*messages, strict=True) if messages else ((),) * 7
        )
        per_message = pl.DataFrame(
            [
                pl.Series("received_at", received, dtype=pl.Int64).cast(UTC_US),
                pl.Series("topic", topics, dtype=pl.String),
                pl.Series("raw", raws, dtype=pl.Binary),
                pl.Series("retained", retained, dtype=pl.Boolean),
                pl.Series("qos", qos, dtype=pl.Int8),
                pl.Series("redelivered", dups, dtype=pl.Boolean),
                pl.Series("conn_epoch", epochs, dtype=pl.Int32),
                pl.Series("source", sources, dtype=pl.String),
                pl.Series("device_id", devices, dtype=pl.String),
            ]
        )
        if expanded:  # repeat message-level values for each of their rows (vectorised gather)
            per_message = per_message[pl.Series(index, dtype=pl.UInt32)]
        nulls = pl.repeat(None, height, eager=True)
        columns: dict[str, pl.Series] = {
            "received_at": per_message["received_at"],
            "arrival_time": nulls.cast(UTC_US),
            "observed_at": pl.Series(observed, dtype=pl.Int64).cast(UTC_US),
            "charger_id": per_message["device_id"].alias("charger_id"),
            "observation_id": nulls.cast(pl.Int32),
            "observation": pl.Series(keys, dtype=pl.String),
            "value": pl.Series(values, dtype=pl.Float64),
            "value_text": pl.Series(texts, dtype=pl.String),
            "kind": pl.repeat("mqtt", height, dtype=pl.String, eager=True),
            "routing_key": nulls.cast(pl.String),
            "redelivered": per_message["redelivered"],
            "raw": per_message["raw"],
            "error": pl.Series(errors, dtype=pl.String),
            "topic": per_message["topic"],
            "retained": per_message["retained"],
            "qos": per_message["qos"],
            "source": per_message["source"],
            "device_id": per_message["device_id"],
            "key": pl.Series(keys, dtype=pl.String),
            "conn_epoch": per_message["conn_epoch"],
            "label": pl.Series(labels, dtype=pl.String),
            "unit": pl.Series(units, dtype=pl.String),
        }
        return pl.DataFrame({name: series.alias(name) for name, series in columns.items()})


#: The writer process's row builder, kept across batches (route cache, go-e firmware per serial).
_CHILD_BUILDERS: dict[TopicRules, RowBuilder] = {}


def decode_batch(items: Sequence[Any]) -> pl.DataFrame:
    """Decoder of the writer process: ``items`` is ``[TopicRules, Message, ...]`` (rules travel with
    every batch so one child serves one capture's settings; routes and firmware stay cached)."""
    rules, messages = items[0], items[1:]
    builder = _CHILD_BUILDERS.get(rules)
    if builder is None:
        builder = _CHILD_BUILDERS[rules] = RowBuilder(rules)
    return builder.frame(messages)


def default_client_id(host: str, port: int, topics: Sequence[str], out: Path | str) -> str:
    """A stable client id for this host, port, topic set and output directory (<= 23 characters).

    Stable, so a restarted capture resumes its broker session and receives what was queued.
    """
    seed = "|".join([host, str(port), *sorted(topics), str(Path(out).resolve())])
    return "evkit-" + hashlib.sha1(seed.encode(), usedforsecurity=False).hexdigest()[:16]


# ------------------------------------------------------------------------------------------------
# Reading the socket in big chunks


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


# ------------------------------------------------------------------------------------------------
# The capture


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
    session_expiry: int = 86_400  # seconds the broker keeps our session (MQTT 5)
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
    min_backoff: float = 1.0
    max_backoff: float = 60.0
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


class MqttCapture:
    """One MQTT capture: ``run()`` blocks until a stop condition or :meth:`request_stop`.

    ``stats`` holds live counters (shared with progress displays). ``run()`` returns a summary dict
    and raises ``SourceError``/``AuthError`` (broker), ``StoreError`` (disk) or ``ConfigError``.
    """

    def __init__(self, settings: MqttSettings, progress: bool = False) -> None:
        settings.validate()
        self.settings = settings
        self.stats = CaptureStats()
        self.client_id = settings.client_id or default_client_id(
            settings.host, settings.port, settings.topics, settings.out
        )
        self.progress = progress
        self.stop_reason: str | None = None
        self._stop = threading.Event()
        self._builder = RowBuilder(settings.rules)
        self._ready: deque[tuple[int, list[int]]] = deque()  # (epoch, mids) the writer made durable
        self._mids: list[int] = []  # QoS 1 message ids buffered in the current epoch
        self._epoch = 0
        self._connected = False
        self._accepting = True
        self._limit = settings.max_messages if settings.max_messages is not None else float("inf")
        # Write before the broker's window (MQTT 5 Receive Maximum) is used up, or it stops sending.
        window = settings.receive_maximum if settings.protocol == 5 else settings.flush_rows
        self._flush_at = max(1, min(settings.flush_rows, window // 2))
        self._fatal: BaseException | None = None
        self._first_connack = threading.Event()
        #: Set once the broker confirmed every subscription (messages published after it are ours).
        self.subscribed = threading.Event()
        self._pipeline: CapturePipeline[MessageTuple] | None = None
        self._writer: PartWriter | None = None
        self._process: WriterProcess | None = None
        self.capture_id: str | None = None
        self._client: Any = None

    # -- public ---------------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Ask the capture to flush, acknowledge and disconnect (thread-safe)."""
        self.stop_reason = self.stop_reason or "stopped"
        self._stop.set()

    def run(self) -> dict[str, Any]:
        """Capture until a stop condition; returns the summary (also written to the manifest)."""
        s = self.settings
        ensure_writable(Path(s.out))
        self.capture_id = new_capture_id()
        write_batch = self._write_batch
        if s.writer == "process":
            self._process = WriterProcess(  # its environment holds no password (scrubbed_environ)
                f"{__name__}:decode_batch", s.out, self.capture_id, secret_values=(s.password,)
            )
            write_batch = self._write_in_child
        else:
            self._writer = PartWriter(s.out, capture_id=self.capture_id)
        self._manifest("running")
        self._pipeline = CapturePipeline(
            write_batch,
            self._acknowledge,
            flush_rows=s.flush_rows,
            flush_interval=s.flush_interval,
            stats=self.stats,
            name="evkit-mqtt-writer",
        )
        bar = None
        status = "failed"
        try:
            # The writer process starts up (imports) while we connect; its first write waits for it.
            self._client = self._make_client()
            self._connect_first()
            if self.progress:
                from evkit.sources.progress import TerminalProgress

                bar = TerminalProgress(self.stats, description=f"mqtt {s.host}")
            self._loop(bar)
            status = "complete"
        finally:
            self._shutdown()
            if self._process is not None:
                self._process.close()
            self.stats.ended_at = time.time()
            if bar is not None:
                bar.close()
            if self._pipeline.error is not None and status == "complete":
                status = "failed"
            self._manifest(status)
        if self._pipeline.error is not None:
            raise StoreError(f"rows could not be written: {self._pipeline.error}") from self._pipeline.error
        return self.summary()

    def summary(self) -> dict[str, Any]:
        """Counters and identity of this capture (no secrets)."""
        snap = self.stats.snapshot()
        return {
            "capture_id": self.capture_id,
            "out": str(self.settings.out),
            "client_id": self.client_id,
            "stop_reason": self.stop_reason,
            **{k: snap[k] for k in ("messages", "rows_written", "acked", "decode_errors", "reconnects")},
            "elapsed_s": snap["elapsed_s"],
            "rate_msg_s": snap["rate_msg_s"],
        }

    # -- connection thread ------------------------------------------------------------------------

    def _make_client(self) -> Any:
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        s = self.settings
        v5 = s.protocol == 5
        kwargs: dict[str, Any] = {} if v5 else {"clean_session": False}
        client = _buffered_client_class()(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
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
                log.warning(
                    "TLS certificate verification is OFF (--insecure): the broker is not authenticated"
                )
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            client.tls_set_context(context)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    def _connect_properties(self) -> Any:
        if self.settings.protocol != 5:
            return None
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.settings.session_expiry
        props.ReceiveMaximum = self.settings.receive_maximum
        return props

    def _connect_first(self) -> None:
        s = self.settings
        kwargs: dict[str, Any] = {}
        if s.protocol == 5:
            kwargs = {"clean_start": False, "properties": self._connect_properties()}
        try:
            self._client.connect(s.host, s.port, keepalive=s.keepalive, **kwargs)
        except (OSError, ValueError) as exc:
            raise SourceError(f"cannot connect to MQTT broker {s.host}:{s.port}: {exc}") from exc
        deadline = time.monotonic() + s.connect_timeout
        while not self._first_connack.is_set():
            rc = self._client.loop(timeout=0.1)
            if self._fatal is not None:
                raise self._fatal
            if rc != 0 and not self._first_connack.is_set():
                raise SourceError(f"MQTT broker {s.host}:{s.port} closed the connection (rc={rc})")
            if time.monotonic() > deadline:
                raise SourceError(
                    f"no answer from MQTT broker {s.host}:{s.port} in {s.connect_timeout:.0f} s"
                )

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            text = f"MQTT broker {self.settings.host}:{self.settings.port} refused the connection: {reason}"
            self._fatal = AuthError(text) if reason.value in _AUTH_FAILURES else SourceError(text)
            return
        if self._pipeline is not None and self._pipeline.buffer:
            self._flush()  # what the old connection delivered keeps its (old) epoch and ids
        self._epoch += 1
        if self._epoch > 1:
            self.stats.reconnects += 1
            log.info(
                "reconnected to %s:%s (session present: %s)",
                self.settings.host,
                self.settings.port,
                flags.session_present,
            )
        self._connected = True
        self._first_connack.set()
        self._subscribe(client, bool(flags.session_present))

    def _subscribe(self, client: Any, session_present: bool) -> None:
        s = self.settings
        if s.protocol == 5:
            from paho.mqtt.subscribeoptions import SubscribeOptions

            # Each run starts with the broker's retained snapshot (retainHandling=0: the current state
            # of every topic, flagged retained); a reconnect within the run resumes its session
            # without it (retainHandling=1: only for a subscription the broker had lost).
            handling = 0 if self._epoch == 1 else 1
            client.subscribe([(t, SubscribeOptions(qos=s.qos, retainHandling=handling)) for t in s.topics])
        elif not session_present or self._epoch == 1:
            # 3.1.1: subscribe when the session is new, and once per run (the topic set may have
            # changed under an explicit --client-id); a resumed session after a reconnect keeps its
            # subscriptions, and re-subscribing would replay every retained value again.
            client.subscribe([(t, s.qos) for t in s.topics])
        else:
            self.subscribed.set()

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
        refused = [t for t, r in zip(self.settings.topics, reasons, strict=False) if r.is_failure]
        if refused:
            self._fatal = SourceError(f"the broker refused the subscription to {', '.join(refused)}")
        else:
            self.subscribed.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self._connected = False

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        # The hot path: a plain tuple per message (decoding happens in the writer, per batch).
        if not self._accepting:
            return  # not buffered and not acknowledged: the broker keeps it for the next session
        now = time.time_ns()
        try:
            topic = message.topic
        except UnicodeDecodeError:
            topic = message._topic.decode("utf-8", errors="replace")
        qos = message.qos
        pipeline = self._pipeline
        assert pipeline is not None
        buffer = pipeline.buffer
        buffer.append((now // 1000, topic, message.payload, message.retain, qos, message.dup, self._epoch))
        if qos:
            self._mids.append(message.mid)
        stats = self.stats
        stats.messages += 1
        stats.last_message_at = now / 1e9
        if stats.messages >= self._limit:
            self._accepting = False
            self.stop_reason = self.stop_reason or "max_messages"
            self._stop.set()
        if len(buffer) >= self._flush_at:
            self._flush()

    def _flush(self) -> None:
        assert self._pipeline is not None
        mids, self._mids = self._mids, []
        self._pipeline.flush((self._epoch, mids))

    def _send_acks(self) -> None:
        ready = self._ready
        while ready:
            epoch, mids = ready.popleft()
            if epoch != self._epoch or not self._connected:
                continue  # an old connection's ids mean nothing now; the broker redelivers those
            ack = self._client.ack
            for mid in mids:
                ack(mid, 1)

    def _stop_due(self, started: float) -> bool:
        s = self.settings
        now = time.monotonic()
        if s.duration is not None and now - started >= s.duration:
            self.stop_reason = self.stop_reason or "duration"
            return True
        if s.idle_exit is not None:
            last = self.stats.last_message_at
            idle = time.time() - last if last is not None else now - started
            if idle >= s.idle_exit:
                self.stop_reason = self.stop_reason or "idle_exit"
                return True
        return self._stop.is_set()

    def _loop(self, bar: Any) -> None:
        pipeline = self._pipeline
        assert pipeline is not None
        client = self._client
        started = time.monotonic()
        next_check = 0.0
        idle_flush = self.settings.protocol != 5
        while True:
            rc = client.loop(timeout=IDLE_FLUSH_S if idle_flush else 0.05)
            sock = client.socket()
            # Packets already buffered need no select(): read them directly (bounded, so acks and
            # stop conditions keep their turn). Size-based flushes happen in _on_message.
            reads = 0
            while rc == 0 and reads < 64 and sock is not None and sock.pending():
                rc = client.loop_read()
                reads += 1
            if self._ready:
                self._send_acks()
            if self._fatal is not None:
                raise self._fatal
            if pipeline.error is not None:
                return
            if rc != 0 or not self._connected:
                self._reconnect(started)
                continue
            if (
                idle_flush
                and pipeline.buffer
                and time.time() - (self.stats.last_message_at or 0.0) >= IDLE_FLUSH_S
            ):
                self._flush()  # the broker may be waiting for our acks (3.1.1 in-flight window)
            now = time.monotonic()
            if now >= next_check:  # time-based flush, stop conditions, progress: a few times a second
                next_check = now + 0.05
                if pipeline.should_flush(now):
                    self._flush()
                if self._stop_due(started):
                    return
                if bar is not None:
                    bar.update()

    def _reconnect(self, started: float) -> None:
        """Reconnect with capped exponential backoff and jitter; returns when connected or stopping."""
        s = self.settings
        self._connected = False
        if self._pipeline is not None and self._pipeline.buffer:
            self._flush()
        delay = s.min_backoff
        while not self._stop_due(started):
            pause = delay * random.uniform(0.5, 1.0)
            log.warning("MQTT connection to %s:%s lost; reconnecting in %.1f s", s.host, s.port, pause)
            if self._stop.wait(pause):
                return
            try:
                self._client.reconnect()
            except (OSError, ValueError) as exc:
                log.info("reconnect failed: %s", exc)
                delay = min(delay * 2, s.max_backoff)
                continue
            deadline = time.monotonic() + s.connect_timeout
            while time.monotonic() < deadline and not self._connected and self._fatal is None:
                if self._client.loop(timeout=0.1) != 0:
                    break
            if self._fatal is not None:
                raise self._fatal
            if self._connected:
                return
            delay = min(delay * 2, s.max_backoff)

    def _shutdown(self) -> None:
        """Flush what is buffered, wait for it to be durable, send its acks, disconnect."""
        self._accepting = False
        pipeline = self._pipeline
        client = self._client
        if pipeline is None:
            return
        if pipeline.buffer and pipeline.error is None:
            self._flush()
        deadline = time.monotonic() + 120
        while not pipeline.wait_idle(0.05) and time.monotonic() < deadline:
            if client is not None and self._connected:
                client.loop(timeout=0.0)  # keep the connection alive while the last part is written
        if client is not None:
            if self._connected:
                self._send_acks()
                for _ in range(20):  # push the acks out before saying goodbye
                    if not client.want_write():
                        break
                    client.loop(timeout=0.05)
            try:
                client.disconnect()
                client.loop(timeout=0.1)
            except Exception as exc:  # the connection may already be gone
                log.debug("disconnect: %s", exc)
        pipeline.close(timeout=30)

    # -- writer thread ---------------------------------------------------------------------------

    def _write_in_child(self, items: Sequence[MessageTuple]) -> WriteResult:
        assert self._process is not None
        return self._process.write([self.settings.rules, *items])

    def _write_batch(self, items: Sequence[MessageTuple]) -> WriteResult:
        assert self._writer is not None
        frame = self._builder.frame(items)
        self._writer.write(frame)
        return frame.height, frame.height - frame.get_column("error").null_count()

    def _acknowledge(self, tokens: list[Any]) -> None:
        self._ready.extend(tokens)  # sent by the connection thread, which owns the socket

    # -- manifest ----------------------------------------------------------------------------------

    def _manifest(self, status: str) -> None:
        try:
            self._write_manifest(status)
        except OSError as exc:  # the parts are the data; a manifest we cannot update must not hide why
            log.warning("could not update %s/manifest.json: %s", self.settings.out, exc)

    def _write_manifest(self, status: str) -> None:
        s = self.settings
        snap = self.stats.snapshot()
        upsert_capture(
            s.out,
            {
                "capture_id": self.capture_id,
                "source": "mqtt",
                "host": s.host,
                "port": s.port,
                "tls": s.tls,
                "username": s.username,
                "topics": list(s.topics),
                "client_id": self.client_id,
                "qos": s.qos,
                "protocol": "5" if s.protocol == 5 else "3.1.1",
                "evcc_roots": list(s.rules.evcc_roots),
                "goe_prefixes": list(s.rules.goe_prefixes),
                "status": status,
                "stop_reason": self.stop_reason,
                "started_at": datetime.fromtimestamp(self.stats.started_at, UTC).isoformat(),
                "ended_at": (
                    datetime.fromtimestamp(self.stats.ended_at, UTC).isoformat()
                    if self.stats.ended_at
                    else None
                ),
                "messages": snap["messages"],
                "rows_written": snap["rows_written"],
                "decode_errors": snap["decode_errors"],
                "reconnects": snap["reconnects"],
            },
        )


def record_mqtt(
    host: str,
    topics: str | Sequence[str],
    out: Path | str,
    *,
    port: int = 1883,
    username: str | None = None,
    password_env: str | None = None,
    password: str | None = None,
    tls: bool = False,
    **options: Any,
) -> Any:
    """Record MQTT in the background (for notebooks); returns a handle with live counters.

    >>> rec = evkit.record_mqtt("127.0.0.1", ["evcc/#", "go-eCharger/#"], "data/home")  # doctest: +SKIP
    >>> rec            # a panel with messages, msg/s, last-message age, reconnects, errors; Stop button
    >>> rec.stop()     # flush, acknowledge, disconnect; returns the summary

    ``password_env`` names an environment variable holding the password (preferred over ``password``,
    so it never sits in a notebook). Other keyword options are :class:`MqttSettings` fields
    (``max_messages``, ``idle_exit``, ``duration``, ``client_id``, ``qos``, ``rules``...).
    """
    from evkit.sources.progress import BackgroundCapture

    if password_env is not None:
        password = os.environ.get(password_env)
        if password is None:
            raise ConfigError(f"environment variable {password_env} is not set")
    topic_list = [topics] if isinstance(topics, str) else list(topics)
    settings = MqttSettings(
        host=host,
        topics=topic_list,
        out=out,
        port=port,
        username=username,
        password=password,
        tls=tls,
        **options,
    )
    capture = MqttCapture(settings)
    return BackgroundCapture(capture, title=f"MQTT {host}:{port} {', '.join(topic_list)} -> {out}")


__all__ = [
    "CAPTURE_SCHEMA",
    "Message",
    "MessageTuple",
    "MqttCapture",
    "MqttSettings",
    "RowBuilder",
    "TopicRules",
    "decode_batch",
    "decode_other",
    "default_client_id",
    "record_mqtt",
]
