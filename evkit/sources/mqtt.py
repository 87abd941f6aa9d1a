"""Record MQTT (evcc, go-e, anything else) into the Parquet store without losing a message.

How nothing is lost:

- QoS 1 subscriptions, a fixed client id and a persistent session (MQTT 5 session expiry, or
  ``clean_session=False`` on 3.1.1): what the broker queues while we reconnect is delivered after.
  Reconnects, and lost sessions (reported): :mod:`evkit.sources.mqtt_session`.
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
(``BufferedSocket``), buffers each message as a plain tuple (the only per-message work), hands
batches to the pipeline's writer thread, and sends the acks the writer reports back. Decoding
(:mod:`evkit.evcc.decode`, :mod:`evkit.goe.decode`) and the Parquet write happen per batch in a
writer process (``writer="process"``, the default; ``"thread"`` keeps them in this process), so
they do not compete with the MQTT client for the GIL.

Rows are built in :mod:`evkit.sources.mqtt_rows`; ``record_mqtt`` (notebooks) is in
:mod:`evkit.sources.mqtt_recorder`; the loop, reconnects, acks and shutdown in
:mod:`evkit.sources.mqtt_connection`. The public names stay importable from here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from evkit.errors import AuthError, SourceError, StoreError
from evkit.sources.idle import ConnectedIdleClock
from evkit.sources.mqtt_connection import MqttConnection
from evkit.sources.mqtt_drops import DropWatcher
from evkit.sources.mqtt_recorder import record_mqtt
from evkit.sources.mqtt_rows import (
    CAPTURE_SCHEMA,
    Message,
    MessageTuple,
    RowBuilder,
    TopicRules,
    decode_batch,
    decode_other,
    is_replay,
)
from evkit.sources.mqtt_session import (
    MqttSettings,
    connect_properties,
    default_client_id,
    make_client,
    ran_before,
    settings_record,
    warn_session_lost,
)
from evkit.sources.pipeline import CapturePipeline, CaptureStats, WriteResult
from evkit.sources.writer_process import WriterProcess
from evkit.store import ensure_writable, new_capture_id, open_writer, store_root, upsert_capture
from evkit.store.writer import Writer

log = logging.getLogger(__name__)

_AUTH_FAILURES = frozenset({134, 135})  # bad user name or password / not authorized


class MqttCapture(MqttConnection):
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
        self._writer: Writer | None = None
        self._process: WriterProcess | None = None
        self.capture_id: str | None = None
        self._client: Any = None
        self._idle = ConnectedIdleClock()
        self._resuming = False  # an earlier run used our client id: the broker should have a session
        #: When a (re)connect found no session on the broker (ISO times, UTC): messages may be lost.
        self.session_lost_at: list[str] = []
        self._drops: DropWatcher | None = None  # the broker's own count of dropped messages

    # -- public ---------------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Ask the capture to flush, acknowledge and disconnect (thread-safe)."""
        self.stop_reason = self.stop_reason or "stopped"
        self._stop.set()

    def run(self) -> dict[str, Any]:
        """Capture until a stop condition; returns the summary (also written to the manifest)."""
        s = self.settings
        ensure_writable(store_root(s.out))
        self._resuming = ran_before(s.out, self.client_id)
        self.capture_id = new_capture_id()
        write_batch = self._write_batch
        if s.writer == "process":
            self._process = WriterProcess(  # its environment holds no password (scrubbed_environ)
                "evkit.sources.mqtt_rows:decode_batch", s.out, self.capture_id, secret_values=(s.password,)
            )
            write_batch = self._write_in_child
        else:
            self._writer = open_writer(s.out, capture_id=self.capture_id)
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
            self._drops = DropWatcher(
                make_client(s, f"{self.client_id}-drops", watcher=True), s.host, s.port, s.keepalive
            )
            self._drops.start()
            if self.progress:
                from evkit.sources.progress import TerminalProgress

                bar = TerminalProgress(self.stats, description=f"mqtt {s.host}")
            self._loop(bar)
            status = "complete"
        finally:
            self._shutdown()
            if self._drops is not None:
                self._drops.stop()
            if self._process is not None:
                self._process.close()
            if self._writer is not None:
                self._writer.close()  # release its day leases (evkit.store.lease)
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
            "session_lost": len(self.session_lost_at),
            "session_lost_at": list(self.session_lost_at),
            "broker_dropped": self.broker_dropped,
            "elapsed_s": snap["elapsed_s"],
            "rate_msg_s": snap["rate_msg_s"],
        }

    @property
    def broker_dropped(self) -> int:
        """Messages the broker counted as dropped while we ran (Mosquitto's ``$SYS``; broker-wide)."""
        return self._drops.dropped if self._drops is not None else 0

    # -- connection thread ------------------------------------------------------------------------

    def _make_client(self) -> Any:
        client = make_client(self.settings, self.client_id)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    def _connect_first(self) -> None:
        s = self.settings
        kwargs: dict[str, Any] = {}
        if s.protocol == 5:
            # clean_start off on every connect, the first included: a restarted capture resumes its session
            kwargs = {"clean_start": False, "properties": connect_properties(s)}
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
        present = bool(flags.session_present)
        if self._epoch > 1:
            self.stats.reconnects += 1  # successful reconnections only, never failed attempts
            log.info(
                "reconnected to %s:%s (session present: %s)", self.settings.host, self.settings.port, present
            )
        if not present and (self._epoch > 1 or self._resuming):
            self._session_lost()
        self._connected = True
        self._idle.connected(time.time(), self.stats.last_message_at)
        self._first_connack.set()
        self._subscribe(client, present)

    def _session_lost(self) -> None:
        self.session_lost_at.append(datetime.now(UTC).isoformat())
        self.stats.session_lost += 1
        warn_session_lost(self.settings, self.client_id, after_reconnect=self._epoch > 1)
        if self._epoch > 1:  # tell the manifest now: the capture may run on for days
            self._manifest("running")

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
        self._idle.disconnected(time.time(), self.stats.last_message_at)

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
        props = message.properties  # MQTT 5 only: a replay's mark (evkit.store.schema.REPLAY_MARK)
        replayed = props is not None and is_replay(props)
        buffer.append(
            (now // 1000, topic, message.payload, message.retain, qos, message.dup, self._epoch, replayed)
        )
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
        snap = self.stats.snapshot()
        upsert_capture(
            self.settings.out,
            {
                "capture_id": self.capture_id,
                "source": "mqtt",
                **settings_record(self.settings),
                "client_id": self.client_id,
                "status": status,
                "stop_reason": self.stop_reason,
                "started_at": _iso(self.stats.started_at),
                "ended_at": _iso(self.stats.ended_at),
                **{k: snap[k] for k in ("messages", "rows_written", "decode_errors", "reconnects")},
                "session_lost": len(self.session_lost_at),
                "session_lost_at": list(self.session_lost_at),
                "broker_dropped": self.broker_dropped,
            },
        )


def _iso(epoch: float | None) -> str | None:
    return datetime.fromtimestamp(epoch, UTC).isoformat() if epoch else None


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
