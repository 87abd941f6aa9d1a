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

The connection loop, reconnects and acks are in :mod:`evkit.sources.amqp_connection`; connection
details (``resolve_details``) in :mod:`evkit.sources.easee_details`. The public names stay importable
from here.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from evkit import __version__
from evkit.errors import ConfigError, EvkitError, StoreError
from evkit.sources.amqp_connection import (
    BACKOFF_INITIAL,
    BACKOFF_MAX,
    AmqpConnection,
    backoff_delays,
)
from evkit.sources.easee_details import DEFAULT_STREAMS_URL, AmqpDetails, resolve_details
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


#: The decoder the writer process runs (see ``evkit.sources.writer_process``).
DECODER = "evkit.sources.amqp:decode_tuples"


def decode_tuples(items: Sequence[tuple[Any, ...]]) -> pl.DataFrame:
    """Rows of captured deliveries given as plain tuples in ``Delivery`` field order."""
    from evkit.easee.decode import decode_deliveries

    return decode_deliveries(items)  # type: ignore[arg-type]  # plain tuples in Delivery field order are accepted


def _utc_iso(epoch_s: float | None) -> str | None:
    return None if epoch_s is None else datetime.fromtimestamp(epoch_s, UTC).isoformat()


class AmqpCapture(AmqpConnection):
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


__all__ = [
    "BACKOFF_INITIAL",
    "BACKOFF_MAX",
    "AmqpCapture",
    "backoff_delays",
    "record_amqp",
    "resolve_details",
]
