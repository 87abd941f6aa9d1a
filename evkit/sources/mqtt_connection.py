"""The connection thread's loop of :class:`~evkit.sources.mqtt.MqttCapture`: read packets, send the
acks the writer made possible, flush on time, reconnect (at once, then a capped jittered backoff),
and at the end flush, wait for durability, ack and disconnect.

:class:`MqttConnection` is a mixin: ``MqttCapture`` holds the settings, client and counters it reads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from evkit.sources.idle import ConnectedIdleClock
from evkit.sources.mqtt_rows import MessageTuple
from evkit.sources.mqtt_session import MqttSettings, reconnect_delays
from evkit.sources.pipeline import CapturePipeline, CaptureStats

#: The capture's logger, whichever of its modules logs.
log = logging.getLogger("evkit.sources.mqtt")

#: MQTT 3.1.1 has no Receive Maximum: a broker sends only a few unacknowledged QoS 1 messages at a
#: time (Mosquitto: ``max_inflight_messages`` = 20), then waits for our acks. So on 3.1.1 a batch is
#: written (and acknowledged) as soon as deliveries pause this long, instead of after flush_interval.
IDLE_FLUSH_S = 0.02
#: While the broker stays away, a warning this often (each attempt is logged at debug level only).
RECONNECT_WARN_EVERY_S = 30.0


class MqttConnection:
    """Loop, reconnects, acks and shutdown of an MQTT capture (a mixin of ``MqttCapture``)."""

    # Settings and state kept by MqttCapture.__init__.
    settings: MqttSettings
    stats: CaptureStats
    stop_reason: str | None
    _stop: threading.Event
    _ready: deque[tuple[int, list[int]]]
    _epoch: int
    _connected: bool
    _accepting: bool
    _fatal: BaseException | None
    _pipeline: CapturePipeline[MessageTuple] | None
    _client: Any
    _idle: ConnectedIdleClock

    if TYPE_CHECKING:

        def _flush(self) -> None: ...

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
        # --idle-exit counts only time connected: an outage is not idleness
        if (
            s.idle_exit is not None
            and self._idle.seconds(time.time(), self.stats.last_message_at) >= s.idle_exit
        ):
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
                if not self._connected:
                    return  # a stop condition (Ctrl-C, --duration) came while the broker was away
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
        """Reconnect (at once, then a capped jittered backoff); returns when connected or stopping."""
        s = self.settings
        self._connected = False
        self._idle.disconnected(time.time(), self.stats.last_message_at)
        if self._pipeline is not None and self._pipeline.buffer:
            self._flush()
        lost_at = time.monotonic()
        warn_at = lost_at + RECONNECT_WARN_EVERY_S
        log.warning("MQTT connection to %s:%s lost; reconnecting", s.host, s.port)
        for attempt, pause in enumerate(reconnect_delays(s.min_backoff, s.max_backoff), start=1):
            if self._stop_due(started) or self._stop.wait(pause):
                return
            if self._try_reconnect():
                log.info("connection back after %.1f s (%d attempts)", time.monotonic() - lost_at, attempt)
                return
            if time.monotonic() >= warn_at:
                warn_at += RECONNECT_WARN_EVERY_S
                log.warning(
                    "still no connection to %s:%s after %.0f s (%d attempts); retrying",
                    s.host,
                    s.port,
                    time.monotonic() - lost_at,
                    attempt,
                )

    def _try_reconnect(self) -> bool:
        """One reconnect attempt: True once the broker's CONNACK accepted us."""
        try:
            self._client.reconnect()
        except (OSError, ValueError) as exc:
            log.debug("reconnect failed: %s", exc)
            return False
        deadline = time.monotonic() + self.settings.connect_timeout
        while time.monotonic() < deadline and not self._connected and self._fatal is None:
            if self._client.loop(timeout=0.1) != 0:
                break
        if self._fatal is not None:
            raise self._fatal
        return self._connected

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


__all__ = ["IDLE_FLUSH_S", "MqttConnection"]
