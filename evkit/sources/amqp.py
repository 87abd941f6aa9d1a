"""Lossless capture of an Easee AMQP observation stream into a Parquet dataset.

How it stays fast and loses nothing (see ``evkit.sources.pipeline``):

* pika ``SelectConnection`` (its callbacks run straight from the I/O loop: about 2 µs per message
  less than ``BlockingConnection``), ``basic_qos(prefetch)``, manual ack. The on-message callback only
  appends a plain tuple in :class:`~evkit.easee.decode.Delivery` field order (our receive time in
  epoch µs) and remembers the delivery tag.
* A writer -- by default a child process (``evkit.sources.writer_process``), so decoding never
  competes with pika for the GIL -- decodes each batch (``decode_deliveries``), writes it as closed,
  fsynced Parquet parts (``PartWriter``), and only then is ``basic_ack(tag, multiple=True)`` scheduled
  back on the I/O loop (``add_callback_threadsafe``). The loop keeps turning (heartbeats, more
  deliveries) while a batch is written.
* A batch is flushed once half the prefetch window is buffered (the broker never stalls waiting for
  acks), at ``flush_rows``, or after ``flush_interval`` seconds. The default window of 5,000 makes
  parts of 2,500 rows while draining a backlog: decoding (vectorised, ``evkit.easee._fastpath``) and
  writing a part have a fixed cost per batch, so at 1,000 rows per part the writer needed about
  twice the CPU per message. A live stream flushes on the timer and is unaffected.
* On connection loss it reconnects with capped exponential backoff and jitter, bumping ``conn_epoch``.
  ``reconnects`` counts successful reconnections (not failed attempts); ``idle_exit`` counts only time
  connected (the broker may be holding messages for us while we are away).
  Acks of a dead connection are dropped: the broker redelivers those messages, rows already written
  stay and ``evkit.scan`` removes the duplicates.
* The queue is the operator's: it is declared passively, never created or deleted.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from evkit import __version__, urls
from evkit.errors import AuthError, ConfigError, EvkitError, SourceError, StoreError
from evkit.sources.easee_details import (
    DEFAULT_STREAMS_URL,
    AmqpDetails,
    fetch_details,
    parse_url,
    read_details_file,
)
from evkit.sources.idle import ConnectedIdleClock
from evkit.sources.pipeline import CapturePipeline, CaptureStats, WriteResult
from evkit.sources.progress import BackgroundCapture, TerminalProgress
from evkit.sources.writer_process import WriterProcess, explain_write_failure
from evkit.store.manifest import upsert_capture
from evkit.store.writer import Writer, ensure_writable, new_capture_id, open_writer, store_root

log = logging.getLogger(__name__)

#: Unacked window. Larger than Easee's example (1,000): fewer, larger parts (see the module docs).
DEFAULT_PREFETCH = 5000
DEFAULT_FLUSH_INTERVAL = 5.0
DEFAULT_FLUSH_ROWS = 50_000
#: Reconnect backoff: never sooner than 5 s, never later than 5 min. Easee asked integrators not to retry
#: at short intervals (pyeasee PR #88: a fleet of clients reconnecting every few seconds after an outage
#: is "a big challenge" for their servers); pyeasee itself backs off to 300 s.
BACKOFF_INITIAL = 5.0
BACKOFF_MAX = 300.0
#: A connection that lasted this long resets the reconnect backoff.
STABLE_SESSION_S = 60.0
#: How long a stopping capture waits for its last batches to be written and acknowledged.
DRAIN_TIMEOUT_S = 120.0


#: The decoder the writer process runs (see ``evkit.sources.writer_process``).
DECODER = "evkit.sources.amqp:decode_tuples"


def decode_tuples(items: Sequence[tuple[Any, ...]]) -> pl.DataFrame:
    """Rows of captured deliveries given as plain tuples in ``Delivery`` field order."""
    from evkit.easee.decode import decode_deliveries

    return decode_deliveries(items)  # type: ignore[arg-type]  # plain tuples in Delivery field order are accepted


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


def _utc_iso(epoch_s: float | None) -> str | None:
    return None if epoch_s is None else datetime.fromtimestamp(epoch_s, UTC).isoformat()


def _describe_error(exc: BaseException) -> str:
    """A readable one-line reason (pika's connection errors often have an empty ``str``)."""
    text = str(exc) or ", ".join(repr(a) for a in exc.args) or "no details"
    return f"{type(exc).__name__}: {text}"


def _is_auth_failure(exc: BaseException) -> bool:
    import pika.exceptions as pe

    if isinstance(exc, pe.ProbableAuthenticationError | pe.AuthenticationError):
        return True
    return isinstance(exc, pe.ConnectionClosedByBroker) and exc.reply_code == 403


class AmqpCapture:
    """One capture process: consume ``queue`` and write every message as one row below ``out``.

    ``refresh_details`` (token-based captures) is called to fetch fresh credentials when the broker
    refuses the current ones. ``run()`` returns a summary dict or raises an ``EvkitError``.
    """

    def __init__(
        self,
        details: AmqpDetails,
        out: Path | str,
        *,
        queue: str | None = None,
        prefetch: int = DEFAULT_PREFETCH,
        flush_rows: int = DEFAULT_FLUSH_ROWS,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        max_messages: int | None = None,
        idle_exit: float | None = None,
        duration: float | None = None,
        insecure: bool = False,
        heartbeat: int = 30,
        refresh_details: Callable[[], AmqpDetails] | None = None,
        progress: bool = False,
        backoff_initial: float = BACKOFF_INITIAL,
        backoff_max: float = BACKOFF_MAX,
        writer: str = "process",
        secret_env: Sequence[str | None] = (),
    ) -> None:
        """``secret_env``: environment variables holding secrets (``--url-env``, ``--token-env``); the
        writer process starts without them (and without any other secret, see ``scrubbed_environ``)."""
        self.details = details
        self.secret_env = tuple(secret_env)
        self.queue = queue or details.queue
        if not self.queue:
            raise ConfigError("no queue given: pass --queue (or a details file / token with queueName)")
        if not 1 <= prefetch <= 65535:
            raise ConfigError("--prefetch must be 1 to 65535 (AMQP's prefetch count is 16 bits)")
        if flush_rows < 1:
            raise ConfigError("--flush-rows must be at least 1")
        if not (math.isfinite(flush_interval) and flush_interval > 0):
            raise ConfigError("--flush-interval must be a positive number of seconds")
        for option, seconds in (("--idle-exit", idle_exit), ("--duration", duration)):
            if seconds is not None and not (math.isfinite(seconds) and seconds > 0):
                raise ConfigError(f"{option} must be a positive, finite number of seconds")
        if max_messages is not None and max_messages < 1:
            raise ConfigError("--max-messages must be at least 1")
        backoff_delays(backoff_initial, backoff_max)  # ConfigError for impossible bounds
        self.out = store_root(out)
        self.prefetch = prefetch
        # Flush before the broker's window fills, or it stops delivering until the timer fires.
        self.flush_rows = max(1, min(flush_rows, prefetch // 2 or 1))
        self.flush_interval = flush_interval
        self.max_messages = max_messages
        self.idle_exit = idle_exit
        self.duration = duration
        self.insecure = insecure
        self.heartbeat = heartbeat
        self.refresh_details = refresh_details
        self.progress = progress
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stats = CaptureStats()
        if writer not in ("process", "thread"):
            raise ConfigError(f"writer must be 'process' or 'thread', got {writer!r}")
        self.writer_mode = writer
        self.writer: Writer | None = None
        self._process: WriterProcess | None = None
        self.capture_id: str | None = None
        self._stop = threading.Event()
        self._stop_reason = ""
        # Connection-thread state.
        self._ioloop: Any = None
        self._channel: Any = None
        self._epoch = 0
        self._accepting = True
        self._count = 0
        self._last_tag = 0
        self._last_us: int | None = None
        self._acks_pending = 0
        self._acks_lock = threading.Lock()
        self._connected_this_epoch = False
        self._consumed_before = False  # a later consuming connection is a reconnect
        self._idle = ConnectedIdleClock()  # --idle-exit counts only time connected
        self._session_started = time.monotonic()
        self._started_mono = time.monotonic()
        #: Called with (routing_key, body, headers) of each message as it is buffered (before it is
        #: durable): ``set easee`` and the Easee panel find command responses this way.
        self._observers: tuple[Callable[[str, bytes, Any], None], ...] = ()

    # -- public ------------------------------------------------------------------------------

    def add_observer(self, callback: Callable[[str, bytes, Any], None]) -> Callable[[], None]:
        """Also hand each message to ``callback`` (on the connection thread: be quick; errors are
        logged, never break the capture). Returns a function that removes it."""
        self._observers = (*self._observers, callback)

        def remove() -> None:
            self._observers = tuple(o for o in self._observers if o is not callback)

        return remove

    @property
    def consuming(self) -> bool:
        """True while a connection is open and the queue is being consumed."""
        return self._connected_this_epoch and self._channel is not None

    def request_stop(self, reason: str = "stop requested") -> None:
        """Ask the capture to flush, acknowledge and exit (safe from signal handlers and threads)."""
        if not self._stop.is_set():
            self._stop_reason = reason
        self._stop.set()

    def run(self) -> dict[str, Any]:
        """Capture until a stop condition; returns the summary (also in ``manifest.json``)."""
        ensure_writable(self.out)
        self.capture_id = new_capture_id()
        write_batch: Callable[[Sequence[Any]], WriteResult]
        if self.writer_mode == "process":
            self._process = WriterProcess(
                DECODER,
                self.out,
                self.capture_id,
                secret_names=self.secret_env,
                secret_values=(self.details.password,),
            )
            write_batch = self._process.write
        else:
            self.writer = writer = open_writer(self.out, capture_id=self.capture_id)

            def write_batch(items: Sequence[Any]) -> WriteResult:
                frame = decode_tuples(items)
                writer.write(frame)
                return frame.height, frame.height - frame.get_column("error").null_count()

        self.stats = CaptureStats()
        pipeline: CapturePipeline[Any] = CapturePipeline(
            write_batch,
            self._acknowledge,
            flush_rows=self.flush_rows,
            flush_interval=self.flush_interval,
            stats=self.stats,
            name="evkit-amqp-writer",
        )
        self._started_mono = time.monotonic()
        self._record(status="running")
        bar = TerminalProgress(self.stats, f"capture {self.queue}") if self.progress else None
        status = "failed"
        error: BaseException | None = None
        try:
            if self._process is not None:
                self._process.wait_ready()
            self._consume_with_reconnects(pipeline, bar)
            status = "finished"
        except BaseException as exc:
            error = exc
            # Close now: the broker requeues what was not acknowledged (nothing unwritten is acked).
            self._drop_connection()
            raise
        finally:
            pipeline.close(timeout=60)
            if self._process is not None:
                self._process.close()
            if self.writer is not None:
                self.writer.close()  # release its day leases (evkit.store.lease)
            self.stats.ended_at = time.time()
            if bar is not None:
                bar.close()
            summary = self._record(status=status, error=error)
        return summary

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

    # -- bookkeeping ---------------------------------------------------------------------------

    def _store_error(self, exc: BaseException) -> EvkitError:
        if isinstance(exc, EvkitError) and not isinstance(exc, StoreError):
            return exc
        # A StoreError too: PartWriter reports a full disk as one, without saying the disk is full.
        return StoreError(explain_write_failure(self.out, exc))

    def _record(self, status: str, error: BaseException | None = None) -> dict[str, Any]:
        self.stats.messages = self._count
        snap = self.stats.snapshot()
        writer = self.writer or self._process
        record: dict[str, Any] = {
            "capture_id": self.capture_id,
            "source": "easee-amqp",
            "status": status,
            "machine": socket.gethostname(),
            "pid": os.getpid(),
            **self.details.manifest_fields(),
            "queue": self.queue,
            "started_at": _utc_iso(self.stats.started_at),
            "ended_at": _utc_iso(self.stats.ended_at),
            "stop_reason": self._stop_reason or None,
            "messages": snap["messages"],
            "rows_written": snap["rows_written"],
            "parts_written": writer.parts_written if writer else 0,
            "decode_errors": snap["decode_errors"],
            "reconnects": snap["reconnects"],
            "prefetch": self.prefetch,
            "flush_rows": self.flush_rows,
            "flush_interval_s": self.flush_interval,
            "evkit_version": __version__,
        }
        if error is not None:
            record["error"] = f"{type(error).__name__}: {error}"
        if self.capture_id is not None:
            with contextlib.suppress(OSError):
                upsert_capture(self.out, record)
        return record


def resolve_details(
    url: str | None = None,
    details: Path | str | None = None,
    token_env: str | None = None,
    streams_url: str = DEFAULT_STREAMS_URL,
    *,
    environ: Mapping[str, str] | None = None,
    url_env: str | None = None,
) -> tuple[AmqpDetails, Callable[[], AmqpDetails] | None]:
    """Connection details from exactly one of ``url`` / ``url_env`` / ``details`` / ``token_env``, plus
    a refresher (token captures only) that fetches fresh credentials."""
    sources = (("url", url), ("url_env", url_env), ("details", details), ("token_env", token_env))
    if len([name for name, value in sources if value]) != 1:
        raise ConfigError("give exactly one of --url, --url-env, --details or --token-env")
    env = os.environ if environ is None else environ
    if url:
        return parse_url(url), None
    if url_env:
        from_env = env.get(url_env)
        if not from_env:
            raise ConfigError(f"environment variable {url_env} is empty or unset (it should hold the URL)")
        try:
            return parse_url(from_env), None
        except ConfigError as exc:
            raise ConfigError(f"environment variable {url_env}: {exc}") from None
    if details:
        return read_details_file(details), None
    assert token_env is not None
    urls.parse_url(streams_url, ("https", "http"), what="streams URL")  # refused before any request
    token = env.get(token_env)
    if not token:
        raise ConfigError(f"environment variable {token_env} is empty or unset (it should hold the token)")

    def refresh() -> AmqpDetails:
        return fetch_details(token, streams_url)

    return refresh(), refresh


def record_amqp(
    url: str | None = None,
    *,
    out: Path | str,
    queue: str | None = None,
    details: Path | str | None = None,
    token_env: str | None = None,
    streams_url: str = DEFAULT_STREAMS_URL,
    prefetch: int = DEFAULT_PREFETCH,
    flush_rows: int = DEFAULT_FLUSH_ROWS,
    flush_interval: float = DEFAULT_FLUSH_INTERVAL,
    max_messages: int | None = None,
    idle_exit: float | None = None,
    duration: float | None = None,
    insecure: bool = False,
    backoff_initial: float = BACKOFF_INITIAL,
    backoff_max: float = BACKOFF_MAX,
) -> BackgroundCapture:
    """Record an Easee AMQP queue into ``out`` in the background (for notebooks).

    Connect with ``url`` (``amqp[s]://user:pass@host:port/vhost``), a streams ``details`` file, or a
    token in the environment variable ``token_env``. Returns a handle: display it for live counters,
    ``.stats`` for a snapshot, ``.stop()`` to flush, acknowledge and finish, ``.wait()`` to wait for a
    stop condition (``max_messages``, ``idle_exit``, ``duration``). ``backoff_initial`` /
    ``backoff_max``: seconds between reconnect attempts (see :func:`backoff_delays`).
    """
    resolved, refresh = resolve_details(url, details, token_env, streams_url)
    capture = AmqpCapture(
        resolved,
        out,
        queue=queue,
        prefetch=prefetch,
        flush_rows=flush_rows,
        flush_interval=flush_interval,
        max_messages=max_messages,
        idle_exit=idle_exit,
        duration=duration,
        insecure=insecure,
        refresh_details=refresh,
        backoff_initial=backoff_initial,
        backoff_max=backoff_max,
        secret_env=(token_env,),
    )
    return BackgroundCapture(capture, f"evkit capture {capture.queue} → {capture.out}")


__all__ = ["AmqpCapture", "backoff_delays", "record_amqp", "resolve_details"]
