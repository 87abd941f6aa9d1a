"""The durable-then-ack capture pipeline shared by every streaming source (AMQP, MQTT).

The connection thread does the least possible work per message: it appends an item to
``pipeline.buffer`` (a plain list, so ``buffer.append`` is the whole per-message cost) and, when
:meth:`CapturePipeline.should_flush` says so, calls :meth:`CapturePipeline.flush` with an *ack token*
(whatever the source needs to acknowledge exactly the items flushed so far: an AMQP delivery tag, a
list of MQTT message ids, ...).

A writer thread takes flushed batches, merges whatever has queued up meanwhile (a slow disk makes
bigger files instead of a backlog), calls ``write_batch(items)`` -- which must make the rows durable
(closed, fsynced Parquet) or raise -- and only then calls ``acknowledge(tokens)`` with the tokens of
the merged batches, oldest first. ``acknowledge`` runs on the writer thread; a source whose client is
not thread-safe schedules the real ack on its connection thread (pika:
``connection.add_callback_threadsafe``).

If ``write_batch`` raises, nothing of that batch (or any later one) is acknowledged: the pipeline
records the error in :attr:`CapturePipeline.error`, stops writing, and the source is expected to
stop and close its connection so the broker keeps (and redelivers) the messages.

Counters live in :class:`CaptureStats`, a snapshot-able object shared with progress displays.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")

#: What ``write_batch`` returns: rows it wrote and how many of them carry a decode error.
WriteResult = tuple[int, int]


@dataclass
class CaptureStats:
    """Live counters of one capture. Plain ints updated under the GIL; read them with :meth:`snapshot`."""

    started_at: float = field(default_factory=time.time)
    messages: int = 0  # accepted from the broker (buffered)
    rows_written: int = 0  # durable in Parquet
    batches_written: int = 0
    acked: int = 0  # rows whose ack was handed to the source
    decode_errors: int = 0  # rows written with a non-null ``error``
    reconnects: int = 0  # successful reconnections (not failed attempts)
    session_lost: int = 0  # reconnects that found no broker session (MQTT): messages may be missing
    last_message_at: float | None = None  # epoch seconds of the newest message
    ended_at: float | None = None

    def snapshot(self) -> dict[str, Any]:
        """A consistent-enough copy with derived figures (rate, last-message age)."""
        data = asdict(self)
        now = self.ended_at or time.time()
        elapsed = max(now - self.started_at, 1e-9)
        data["elapsed_s"] = elapsed
        data["rate_msg_s"] = self.messages / elapsed
        data["last_message_age_s"] = None if self.last_message_at is None else now - self.last_message_at
        return data


@dataclass
class _Batch(Generic[T]):
    items: list[T]
    token: Any


_STOP = object()


class CapturePipeline(Generic[T]):
    """Buffer on the connection thread, durable write on a writer thread, then acknowledge.

    ``flush_rows`` and ``flush_interval`` decide when :meth:`should_flush` is true; a source with a
    broker-side window (AMQP prefetch) passes ``flush_rows`` below that window so the broker never
    stalls waiting for acks.
    """

    def __init__(
        self,
        write_batch: Callable[[Sequence[T]], WriteResult],
        acknowledge: Callable[[list[Any]], None],
        *,
        flush_rows: int,
        flush_interval: float,
        stats: CaptureStats | None = None,
        name: str = "evkit-writer",
    ) -> None:
        if flush_rows < 1:
            raise ValueError("flush_rows must be >= 1")
        self._write_batch = write_batch
        self._acknowledge = acknowledge
        self.flush_rows = flush_rows
        self.flush_interval = flush_interval
        self.stats = stats or CaptureStats()
        #: Items not yet handed to the writer. The connection thread appends here directly (the list
        #: object never changes, so binding ``buffer.append`` once is safe).
        self.buffer: list[T] = []
        self.error: BaseException | None = None
        self._first_buffered_at: float | None = None
        self._queue: queue.Queue[Any] = queue.Queue()
        self._pending = 0  # batches queued or being written
        self._pending_lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # -- connection thread -------------------------------------------------------------------

    def should_flush(self, now: float | None = None) -> bool:
        """True when the buffer is full enough or its oldest item waited ``flush_interval``."""
        size = len(self.buffer)
        if size == 0:
            self._first_buffered_at = None
            return False
        if size >= self.flush_rows:
            return True
        now = time.monotonic() if now is None else now
        if self._first_buffered_at is None:
            self._first_buffered_at = now
            return False
        return now - self._first_buffered_at >= self.flush_interval

    def flush(self, token: Any) -> None:
        """Hand the buffer to the writer; ``token`` acknowledges exactly these (and earlier) items."""
        if not self.buffer:
            return
        # Copy and clear (not rebind): the connection thread keeps a bound ``buffer.append``.
        items = self.buffer.copy()
        self.buffer.clear()
        self._first_buffered_at = None
        if self.error is not None:
            return  # a failed pipeline writes (and acks) nothing more
        with self._pending_lock:
            self._pending += 1
            self._idle.clear()
        self._queue.put(_Batch(items, token))

    def discard_buffer(self) -> int:
        """Drop buffered items without writing (their messages stay with the broker); returns count."""
        dropped = len(self.buffer)
        self.buffer.clear()
        self._first_buffered_at = None
        return dropped

    @property
    def idle(self) -> bool:
        """No batch is queued or being written."""
        return self._idle.is_set()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every flushed batch is written (or failed); False on timeout."""
        return self._idle.wait(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Stop the writer thread after it finished the queued batches (does not flush the buffer)."""
        self._queue.put(_STOP)
        self._thread.join(timeout)

    # -- writer thread -----------------------------------------------------------------------

    def _take_queued(self, first: _Batch[T]) -> tuple[list[_Batch[T]], bool]:
        batches = [first]
        stop = False
        while True:
            try:
                more = self._queue.get_nowait()
            except queue.Empty:
                return batches, stop
            if more is _STOP:
                stop = True
            else:
                batches.append(more)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batches, stop = self._take_queued(first)
            try:
                if self.error is None:
                    self._write(batches)
            finally:
                with self._pending_lock:
                    self._pending -= len(batches)
                    if self._pending == 0:
                        self._idle.set()
            if stop:
                return

    def _write(self, batches: list[_Batch[T]]) -> None:
        items: list[T] = batches[0].items if len(batches) == 1 else [i for b in batches for i in b.items]
        try:
            rows, errors = self._write_batch(items)
        except BaseException as exc:  # anything: the rows are not durable, so nothing is acked
            self.error = exc
            return
        self.stats.rows_written += rows
        self.stats.decode_errors += errors
        self.stats.batches_written += 1
        try:
            self._acknowledge([b.token for b in batches])
        except Exception as exc:  # a lost connection: the broker redelivers, rows stay written
            del exc
            return
        self.stats.acked += len(items)
