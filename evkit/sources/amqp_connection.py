"""The connection side of :class:`~evkit.sources.amqp.AmqpCapture`: one pika ``SelectConnection`` at
a time, reconnects with capped, jittered backoff, and acknowledgements scheduled back on the I/O loop
once the writer made the rows durable (see the module docs of ``evkit.sources.amqp``).

:class:`AmqpConnection` is a mixin: ``AmqpCapture`` holds the settings and counters it reads.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from evkit.errors import AuthError, ConfigError, EvkitError, SourceError
from evkit.sources.easee_details import AmqpDetails
from evkit.sources.idle import ConnectedIdleClock
from evkit.sources.pipeline import CapturePipeline, CaptureStats
from evkit.sources.progress import TerminalProgress

#: The capture's logger, whichever of its modules logs (``set easee`` quiets it by this name).
log = logging.getLogger("evkit.sources.amqp")

#: Reconnect backoff: never sooner than 5 s, never later than 5 min. Easee asked integrators not to retry
#: at short intervals (pyeasee PR #88: a fleet of clients reconnecting every few seconds after an outage
#: is "a big challenge" for their servers); pyeasee itself backs off to 300 s.
BACKOFF_INITIAL = 5.0
BACKOFF_MAX = 300.0
#: A connection that lasted this long resets the reconnect backoff.
STABLE_SESSION_S = 60.0
#: How long a stopping capture waits for its last batches to be written and acknowledged.
DRAIN_TIMEOUT_S = 120.0


def backoff_delays(initial: float = BACKOFF_INITIAL, cap: float = BACKOFF_MAX) -> Iterator[float]:
    """Endless capped exponential delays with "equal jitter", never below ``initial`` nor above ``cap``.

    Step ``k`` waits a random time in ``[d/2, d]`` with ``d = min(2 * initial * 2**k, cap)``: the first
    retry comes after ``initial`` to ``2 * initial`` seconds, later ones spread over ``[cap/2, cap]``, so
    clients that lost the broker together do not come back together.
    """
    if not (math.isfinite(initial) and math.isfinite(cap)) or initial <= 0 or cap < initial:
        raise ConfigError(
            f"backoff must be finite with 0 < initial <= max (got initial {initial:g} s, max {cap:g} s)"
        )
    return _jittered(initial, cap)


def _jittered(initial: float, cap: float) -> Iterator[float]:
    ceiling = min(2 * initial, cap)
    while True:
        low = min(max(initial, ceiling / 2), ceiling)
        yield random.uniform(low, ceiling)
        ceiling = min(ceiling * 2, cap)


def _describe_error(exc: BaseException) -> str:
    """A readable one-line reason (pika's connection errors often have an empty ``str``)."""
    text = str(exc) or ", ".join(repr(a) for a in exc.args) or "no details"
    return f"{type(exc).__name__}: {text}"


def _is_auth_failure(exc: BaseException) -> bool:
    import pika.exceptions as pe

    if isinstance(exc, pe.ProbableAuthenticationError | pe.AuthenticationError):
        return True
    return isinstance(exc, pe.ConnectionClosedByBroker) and exc.reply_code == 403


class AmqpConnection:
    """Connection thread of an AMQP capture: consume, reconnect, acknowledge (a mixin of ``AmqpCapture``)."""

    # Settings and state kept by AmqpCapture.__init__.
    details: AmqpDetails
    queue: str | None
    prefetch: int
    max_messages: int | None
    idle_exit: float | None
    duration: float | None
    insecure: bool
    heartbeat: int
    refresh_details: Callable[[], AmqpDetails] | None
    backoff_initial: float
    backoff_max: float
    stats: CaptureStats
    capture_id: str | None
    _stop: threading.Event
    _ioloop: Any
    _channel: Any
    _epoch: int
    _accepting: bool
    _count: int
    _last_tag: int
    _last_us: int | None
    _acks_pending: int
    _acks_lock: threading.Lock
    _connected_this_epoch: bool
    _consumed_before: bool
    _idle: ConnectedIdleClock
    _session_started: float
    _started_mono: float
    _observers: tuple[Callable[[str, bytes, Any], None], ...]

    if TYPE_CHECKING:

        def request_stop(self, reason: str = "stop requested") -> None: ...

        def _store_error(self, exc: BaseException) -> EvkitError: ...

    # -- connection loop -----------------------------------------------------------------------

    def _consume_with_reconnects(self, pipeline: CapturePipeline[Any], bar: TerminalProgress | None) -> None:
        import pika.exceptions as pe

        connected_once = False
        refreshed = False  # fresh credentials were fetched since the last good connection
        delays = backoff_delays(self.backoff_initial, self.backoff_max)
        while True:
            self._epoch += 1
            try:
                self._session(pipeline, bar)
                return
            except (pe.AMQPError, OSError) as exc:  # OSError: TLS and socket errors pika lets through
                self._drop_connection()
                self._idle.disconnected(time.time(), self._last_message_s())
                reason = _describe_error(exc)
                # Rows of the dead connection are written (duplicates are harmless) but never acked.
                pipeline.flush(None)
                if self._connected_this_epoch:
                    connected_once, refreshed = True, False
                    if time.monotonic() - self._session_started >= STABLE_SESSION_S:
                        # Only a connection that held starts the backoff afresh: one the broker
                        # drops at once keeps backing off (Easee asked not to be hammered).
                        delays = backoff_delays(self.backoff_initial, self.backoff_max)
                if pipeline.error is not None:
                    raise self._store_error(pipeline.error) from None
                if _is_auth_failure(exc):
                    if self.refresh_details is None or refreshed:
                        raise AuthError(
                            f"the broker refused the credentials for {self.details.masked_url()}"
                        ) from None
                    log.warning("credentials refused; fetching fresh connection details")
                    try:
                        self.details, refreshed = self.refresh_details(), True
                        continue
                    except SourceError as fetch_error:
                        if isinstance(fetch_error, AuthError) or not connected_once:
                            raise
                        reason = f"{reason}; fetching fresh details failed: {fetch_error}"
                if not connected_once:
                    raise SourceError(f"cannot connect to {self.details.masked_url()}: {reason}") from None
                delay = next(delays)
                log.warning("connection lost (%s); reconnecting in %.1f s", reason, delay)
                if self._wait_or_stop(delay, bar):
                    self._drain(pipeline)
                    return

    def _wait_or_stop(self, delay: float, bar: TerminalProgress | None) -> bool:
        """Sleep ``delay`` seconds unless a stop condition comes first; True to stop."""
        end = time.monotonic() + delay
        while (left := end - time.monotonic()) > 0:
            if self._stop.wait(min(left, 0.2)) or self._should_stop(time.monotonic()):
                return True
            if bar is not None:
                bar.update()
        return False

    def _session(self, pipeline: CapturePipeline[Any], bar: TerminalProgress | None) -> None:
        """One connection, from open to close, on pika's ``SelectConnection`` (callbacks, no extra
        dispatch layer: about 2 µs less per message than ``BlockingConnection``).

        Returns after a requested stop (everything written and acked); raises the reason otherwise:
        pika's error for a lost connection (the caller reconnects), or an ``EvkitError``.
        """
        import pika
        import pika.exceptions as pe

        self._connected_this_epoch = False
        epoch = self._epoch
        failures: list[BaseException] = []  # the first is re-raised once the loop has stopped
        closing_by_us = False
        draining = False
        drain_deadline = 0.0
        buffer = pipeline.buffer
        append = buffer.append
        flush_rows = pipeline.flush_rows
        max_messages = self.max_messages
        time_ns = time.time_ns

        def close() -> None:
            nonlocal closing_by_us
            closing_by_us = True
            if conn.is_open:
                conn.close()  # on_closed stops the loop
            elif conn.is_closed:
                ioloop.stop()

        def fail(exc: BaseException) -> None:
            if not failures:
                failures.append(exc)
            close()

        def on_open(_conn: Any) -> None:
            conn.channel(on_open_callback=on_channel)

        def on_open_error(_conn: Any, exc: BaseException) -> None:
            failures.append(exc if isinstance(exc, pe.AMQPError | OSError) else pe.AMQPConnectionError(exc))
            ioloop.stop()

        def on_closed(_conn: Any, reason: BaseException) -> None:
            if not closing_by_us and not failures:
                failures.append(reason)
            ioloop.stop()

        def on_channel(channel: Any) -> None:
            self._channel = channel
            channel.add_on_close_callback(on_channel_closed)
            channel.add_on_cancel_callback(
                lambda _frame: fail(pe.ConsumerCancelled("the broker cancelled us"))
            )
            channel.queue_declare(self.queue, passive=True, callback=lambda _f: on_declared(channel))

        def on_channel_closed(_channel: Any, reason: BaseException) -> None:
            if closing_by_us:
                return
            code = getattr(reason, "reply_code", None)
            if not self._connected_this_epoch and code == 404:
                fail(
                    ConfigError(
                        f"queue {self.queue!r} does not exist on vhost {self.details.vhost!r} "
                        f"({self.details.masked_url()}); evkit never creates the operator's queue"
                    )
                )
            elif not self._connected_this_epoch and code == 403:
                fail(
                    AuthError(f"access to queue {self.queue!r} refused: {getattr(reason, 'reply_text', '')}")
                )
            else:
                fail(reason)

        def on_declared(channel: Any) -> None:
            channel.basic_qos(prefetch_count=self.prefetch, callback=lambda _f: on_qos(channel))

        def on_qos(channel: Any) -> None:
            self._connected_this_epoch = True
            if self._consumed_before:
                self.stats.reconnects += 1  # successful reconnections only, never failed attempts
            self._consumed_before = True
            self._idle.connected(time.time(), self._last_message_s())
            self._last_tag = 0
            channel.basic_consume(self.queue, on_message, auto_ack=False)
            log.info("consuming %s from %s (epoch %d)", self.queue, self.details.masked_url(), epoch)
            ioloop.call_later(0.1, tick)

        def on_message(_ch: Any, method: Any, properties: Any, body: bytes) -> None:
            # Hot path: the least work per message. Later deliveries are left unacked (requeued).
            if not self._accepting:
                return
            now_us = time_ns() // 1000
            # A plain tuple in Delivery's field order: cheapest to build and to pickle.
            append((method.routing_key, body, properties.headers, method.redelivered, now_us, epoch))
            self._last_tag = tag = method.delivery_tag
            self._last_us = now_us
            self._count += 1
            if len(buffer) >= flush_rows:  # before the broker's window fills
                pipeline.flush((epoch, tag))
            if self._count == max_messages:
                self._accepting = False
                self.request_stop("max messages reached")
            if self._observers:
                self._notify(method.routing_key, body, properties.headers)

        def tick() -> None:
            nonlocal draining, drain_deadline
            now = time.monotonic()
            self.stats.messages = self._count
            if self._last_us is not None:
                self.stats.last_message_at = self._last_us / 1e6
            if bar is not None:
                bar.update()
            if pipeline.error is not None:
                self._accepting = False
                pipeline.discard_buffer()
                fail(self._store_error(pipeline.error))
                return
            if not draining:
                if pipeline.should_flush(now):
                    pipeline.flush((epoch, self._last_tag))
                if self._stop.is_set() or self._should_stop(now):
                    draining, drain_deadline = True, now + DRAIN_TIMEOUT_S
                    self._accepting = False
                    pipeline.flush((epoch, self._last_tag))
            if draining and ((pipeline.idle and self._acks_pending == 0) or now > drain_deadline):
                if now > drain_deadline:
                    log.warning("gave up waiting for the writer after %.0f s", DRAIN_TIMEOUT_S)
                close()
                return
            ioloop.call_later(0.02 if draining else 0.1, tick)

        conn = pika.SelectConnection(
            self.details.pika_parameters(
                insecure=self.insecure,
                heartbeat=self.heartbeat,
                connection_name=f"evkit capture {self.capture_id}",
            ),
            on_open_callback=on_open,
            on_open_error_callback=on_open_error,
            on_close_callback=on_closed,
        )
        ioloop = conn.ioloop
        self._ioloop = ioloop
        self._session_started = time.monotonic()
        try:
            ioloop.start()
        finally:
            self._ioloop = None
            self._channel = None
            self._acks_pending = 0
            if not (conn.is_closed or conn.is_closing):
                # Only after an exception escaped a callback: close so the broker requeues at once.
                closing_by_us = True
                with contextlib.suppress(Exception):
                    conn.close()
                    ioloop.call_later(5.0, ioloop.stop)
                    ioloop.start()
            ioloop.close()
        if failures:
            raise failures[0]

    def _notify(self, routing_key: str, body: bytes, headers: Any) -> None:
        for observer in self._observers:
            try:
                observer(routing_key, body, headers)
            except Exception:
                log.exception("a message observer failed on %s", routing_key)

    def _should_stop(self, now: float) -> bool:
        if self.duration is not None and now - self._started_mono >= self.duration:
            self.request_stop("duration reached")
            return True
        # An outage is not idleness: the broker may hold messages for us (only time connected counts).
        if (
            self.idle_exit is not None
            and self._idle.seconds(time.time(), self._last_message_s()) >= self.idle_exit
        ):
            self.request_stop("idle")
            return True
        return False

    def _last_message_s(self) -> float | None:
        return self._last_us / 1e6 if self._last_us is not None else None

    def _drain(self, pipeline: CapturePipeline[Any], timeout: float = DRAIN_TIMEOUT_S) -> None:
        """Without a connection: wait for queued batches to be written (they cannot be acked)."""
        if not pipeline.wait_idle(timeout):
            log.warning("gave up waiting for the writer after %.0f s", timeout)

    # -- acks ----------------------------------------------------------------------------------

    def _acknowledge(self, tokens: list[Any]) -> None:
        """Writer thread: the rows of ``tokens`` are durable; ack them on the connection thread."""
        current = [t for t in tokens if t is not None and t[0] == self._epoch and t[1] > 0]
        ioloop = self._ioloop
        if not current or ioloop is None:
            return
        epoch, tag = max(current, key=lambda t: int(t[1]))
        with self._acks_lock:
            self._acks_pending += 1
        try:
            ioloop.add_callback_threadsafe(lambda: self._ack_now(epoch, tag))
        except Exception:
            with self._acks_lock:
                self._acks_pending -= 1
            raise

    def _ack_now(self, epoch: int, tag: int) -> None:
        try:
            channel = self._channel
            if epoch == self._epoch and channel is not None and channel.is_open:
                channel.basic_ack(delivery_tag=tag, multiple=True)
        finally:
            with self._acks_lock:
                self._acks_pending -= 1

    def _drop_connection(self) -> None:
        """Forget the connection (a session always closes its own before returning or raising)."""
        self._ioloop = None
        self._channel = None
        self._acks_pending = 0


__all__ = ["BACKOFF_INITIAL", "BACKOFF_MAX", "AmqpConnection", "backoff_delays"]
