"""AMQP I/O for Easee commands: publish to the operator's command exchange, hear the answers.

:class:`AmqpCommandLink` is the transport behind ``evkit.control.easee.EaseeController``:

* **Publish**: a ``BlockingConnection`` channel in confirm mode; each command is published persistent
  (delivery mode 2), ``content_type=application/json``, ``mandatory=True`` -- the broker's confirm is
  waited for, and a command no queue is bound for comes back as an error instead of vanishing (Easee's
  own example does the same: EX ``MasterloopListenerHost.cs`` ``SendCommand``, ``WaitForConfirmsOrDie``).
* **Hear** responses and read-back observations on the shared operator queue without losing anything
  of it: while the link is open it consumes the queue with the capture itself
  (:class:`evkit.sources.amqp.AmqpCapture`, writer thread): every message it takes is written to the
  store and acknowledged only once durable; a kill leaves the unacknowledged ones with the broker.
* A capture may already consume the same queue into the same store (the broker then splits messages
  between the two consumers): a store watcher reads the Parquet parts written since the link opened,
  so an answer that went to the capture is found there too. The store is a directory or
  ``s3://bucket/prefix`` (the watcher then lists the day prefixes of the bucket).

Listeners get ``(routing_key, body)``; a message may reach them twice (consumer and store): harmless.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from evkit.errors import ConfigError, SourceError
from evkit.sources.easee_details import AmqpDetails
from evkit.store.writer import store_root

log = logging.getLogger(__name__)

MessageListener = Callable[[str, bytes], None]
#: How often the store watcher looks for new parts (seconds).
STORE_POLL_S = 0.25
#: set easee's own consumer: flush often (an answer is durable within this); the capture's window, so a
#: backlog on the shared queue (the answer queues up behind it) drains at the capture's speed.
CONSUMER_FLUSH_S = 0.5
CONSUMER_PREFETCH = 5000


class _Listeners:
    def __init__(self) -> None:
        self._items: tuple[MessageListener, ...] = ()
        self._lock = threading.Lock()

    def add(self, callback: MessageListener) -> Callable[[], None]:
        with self._lock:
            self._items = (*self._items, callback)

        def remove() -> None:
            with self._lock:
                self._items = tuple(c for c in self._items if c is not callback)

        return remove

    def __call__(self, routing_key: str, body: bytes, _headers: Any = None) -> None:
        for callback in self._items:
            try:
                callback(routing_key, body)
            except Exception:
                log.exception("a command listener failed on %s", routing_key)


class StoreWatcher:
    """Calls ``listener(routing_key, raw)`` for command responses and observations in Parquet parts
    that appear below ``store`` (today's and the start day's ``date=`` directories, or prefixes of an
    ``s3://`` store) after it starts."""

    def __init__(self, store: Path | str, listener: MessageListener, *, poll: float = STORE_POLL_S) -> None:
        self.store = store_root(store)
        self.listener = listener
        self.poll = poll
        self._seen: set[Path | str] = set()
        self._started = datetime.now(UTC)
        # Parts already there are old news; only parts written from now on are read.
        for path in self._candidates():
            self._seen.add(path)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="evkit-store-watcher", daemon=True)

    def start(self) -> StoreWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _candidates(self) -> list[Path | str]:
        days = {(self._started - timedelta(minutes=5)).date(), self._started.date(), datetime.now(UTC).date()}
        found: list[Path | str] = []
        if isinstance(self.store, str):
            from evkit.store.s3parts import day_parts

            for day in days:
                found.extend(day_parts(self.store, day.isoformat()))
            return found
        for day in days:
            directory = self.store / f"date={day.isoformat()}"
            if directory.is_dir():
                found.extend(p for p in directory.glob("part-*.parquet"))
        return found

    def scan_once(self) -> int:
        """Read new parts now; returns how many messages were handed on."""
        import polars as pl

        handed = 0
        for path in sorted(set(self._candidates()) - self._seen):
            self._seen.add(path)
            try:
                frame = read_part(path, ["routing_key", "raw", "kind"])
            except Exception as exc:  # a part being replaced by compaction: skip it
                log.debug("cannot read %s: %s", path, exc)
                continue
            wanted = frame.filter(pl.col("kind").is_in(["command_response", "observation"]))
            for key, raw in zip(wanted.get_column("routing_key"), wanted.get_column("raw"), strict=True):
                if key is not None and raw is not None:
                    self.listener(key, bytes(raw))
                    handed += 1
        return handed

    def _run(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                self.scan_once()
            except Exception:
                log.exception("store watcher failed")


def read_part(part: Path | str, columns: list[str]) -> Any:
    """The ``columns`` of one part file or ``s3://`` part."""
    import polars as pl

    if isinstance(part, str):
        from evkit.store.objstore import polars_options

        return pl.read_parquet(part, columns=columns, **polars_options())
    return pl.read_parquet(part, columns=columns)


class AmqpCommandLink:
    """Publish Easee commands and hear their answers (see the module docs).

    ``out``: the store every consumed message is written to (``None``: do not consume; answers are
    then only found through ``watch`` -- a capture into that store). ``watch``: a store to watch for
    answers a capture wrote (default ``out``).
    """

    def __init__(
        self,
        details: AmqpDetails,
        *,
        exchange: str | None = None,
        queue: str | None = None,
        out: Path | str | None = None,
        watch: Path | str | None = None,
        insecure: bool = False,
        confirm_timeout: float = 10.0,
    ) -> None:
        self.details = details
        self.exchange = exchange or details.exchange or ""
        self.queue = queue or details.queue or ""
        if not self.exchange:
            raise ConfigError("no command exchange: pass --exchange (or a details file with exchangeName)")
        self.out = store_root(out) if out is not None else None
        if self.out is not None and not self.queue:
            raise ConfigError("no operator queue: pass --queue (or a details file with queueName)")
        self.watch = store_root(watch) if watch is not None else self.out
        self.insecure = insecure
        self.confirm_timeout = confirm_timeout
        self.listeners = _Listeners()
        self.capture: Any = None
        self.capture_summary: dict[str, Any] | None = None
        self.capture_error: BaseException | None = None
        self.other_consumers = 0
        self.backlog = 0  # messages waiting in the queue when the link opened
        self._capture_thread: threading.Thread | None = None
        self._watcher: StoreWatcher | None = None
        self._connection: Any = None
        self._channel: Any = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------- lifecycle
    def open(self) -> AmqpCommandLink:
        """Connect, check the exchange (and queue) exist, start consuming and watching."""
        self._connect()
        if self.watch is not None:
            if isinstance(self.watch, Path):
                self.watch.mkdir(parents=True, exist_ok=True)
            self._watcher = StoreWatcher(self.watch, self.listeners).start()
        if self.out is not None:
            self._start_capture()
        return self

    def __enter__(self) -> AmqpCommandLink:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop consuming (the last messages are written and acknowledged first), then disconnect."""
        if self.capture is not None and self._capture_thread is not None:
            self.capture.request_stop("command finished")
            self._capture_thread.join(150)
        if self._watcher is not None:
            self._watcher.scan_once()
            self._watcher.stop()
        with self._lock:
            if self._connection is not None and self._connection.is_open:
                with contextlib.suppress(Exception):
                    self._connection.close()
            self._connection = self._channel = None

    def subscribe(self, callback: MessageListener) -> Callable[[], None]:
        """Hand every message heard to ``callback(routing_key, body)``; returns the remover."""
        return self.listeners.add(callback)

    # --------------------------------------------------------------------------------- publish
    def publish(self, routing_key: str, body: bytes) -> None:
        """Publish one command and wait for the broker's confirm; SourceError if it was not taken."""
        import pika
        import pika.exceptions as pe

        properties = pika.BasicProperties(content_type="application/json", delivery_mode=2)
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._channel is None or not self._channel.is_open:
                        self._connect_locked()
                    self._channel.basic_publish(
                        self.exchange, routing_key, body, properties=properties, mandatory=True
                    )
                    return
                except pe.UnroutableError:
                    raise SourceError(
                        f"the broker could not route {routing_key} on exchange {self.exchange!r}: no queue "
                        "is bound for it (is the Easee cloud / simulator listening?); nothing was delivered"
                    ) from None
                except pe.NackError:
                    raise SourceError(f"the broker refused (nack) the command {routing_key}") from None
                except (pe.AMQPConnectionError, pe.ChannelClosed, pe.ConnectionClosed, OSError) as exc:
                    self._channel = None
                    if attempt == 2:
                        raise SourceError(
                            f"publishing to {self.details.masked_url()} failed: {type(exc).__name__}: {exc}"
                        ) from None

    def poll(self, seconds: float) -> None:
        """Wait up to ``seconds``, keeping the publishing connection alive (heartbeats)."""
        with self._lock:
            connection = self._connection
            if connection is not None and connection.is_open:
                with contextlib.suppress(Exception):
                    connection.process_data_events(seconds)
                    return
        time.sleep(seconds)

    def listen_to(self, capture: Any) -> Callable[[], None]:
        """Hear what a running capture (``AmqpCapture``) consumes; returns the remover."""
        remover: Callable[[], None] = capture.add_observer(self.listeners)
        return remover

    # -------------------------------------------------------------------------------- internals
    def _connect(self) -> None:
        with self._lock:
            self._connect_locked(check=True)

    def _connect_locked(self, *, check: bool = False) -> None:
        import pika
        import pika.exceptions as pe

        old = self._connection
        if old is not None and old.is_open:  # a broken channel: start over on a fresh connection
            with contextlib.suppress(Exception):
                old.close()
        self._connection = self._channel = None
        try:
            connection = pika.BlockingConnection(
                self.details.pika_parameters(insecure=self.insecure, connection_name="evkit set easee")
            )
        except (pe.AMQPError, OSError) as exc:
            raise SourceError(
                f"cannot connect to {self.details.masked_url()}: {type(exc).__name__}: {exc}"
            ) from exc
        channel = connection.channel()
        if check:
            try:
                channel.exchange_declare(self.exchange, passive=True)
            except pe.ChannelClosedByBroker as exc:
                connection.close()
                raise ConfigError(
                    f"the command exchange {self.exchange!r} does not exist on {self.details.masked_url()} "
                    f"({exc.reply_text}); nothing was sent"
                ) from None
            if self.queue:
                try:
                    declared = channel.queue_declare(self.queue, passive=True)
                except pe.ChannelClosedByBroker as exc:
                    connection.close()
                    raise ConfigError(
                        f"the operator queue {self.queue!r} does not exist ({exc.reply_text}); "
                        "nothing was sent"
                    ) from None
                self.other_consumers = int(declared.method.consumer_count)
                self.backlog = int(declared.method.message_count)
        channel.confirm_delivery()
        self._connection, self._channel = connection, channel

    def _start_capture(self) -> None:
        from evkit.sources.amqp import AmqpCapture

        assert self.out is not None
        capture = AmqpCapture(
            self.details,
            self.out,
            queue=self.queue,
            prefetch=CONSUMER_PREFETCH,
            flush_interval=CONSUMER_FLUSH_S,
            insecure=self.insecure,
            writer="thread",
        )
        capture.add_observer(self.listeners)
        self.capture = capture

        def run() -> None:
            try:
                self.capture_summary = capture.run()
            except BaseException as exc:
                self.capture_error = exc
                log.error("consuming %s failed: %s", self.queue, exc)

        self._capture_thread = threading.Thread(target=run, name="evkit-set-easee-consumer", daemon=True)
        self._capture_thread.start()
        deadline = time.monotonic() + 15
        while not capture.consuming and time.monotonic() < deadline and self._capture_thread.is_alive():
            time.sleep(0.02)
        if self.capture_error is not None:
            raise SourceError(f"cannot consume {self.queue!r}: {self.capture_error}")


__all__ = ["AmqpCommandLink", "MessageListener", "StoreWatcher"]
