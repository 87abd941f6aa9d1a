"""The simulated Easee cloud's wiring: a :class:`~evkit.sim.easee_commands.CommandHandler` on RabbitMQ
or in-process.

* :class:`CommandListener`: on a pika ``BlockingConnection`` channel, commands in from the command
  exchange (``*.C.*.*``), responses and read-backs out to the exchange bound to the operator queue;
* :class:`CommandSim`: a listener on its own thread, no observation stream (tests, benchmarks);
* :class:`FleetSim`: a simulated fleet streaming observations and answering commands (notebooks);
* :class:`MemoryEaseeCloud`: in-process, an ``EaseeTransport`` for ``EaseeController`` without a broker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from evkit.sim.easee_commands import CommandHandler, HandlerStats, Reply

COMMAND_BINDING = "*.C.*.*"
TICK_S = 0.2


class CommandListener:
    """Runs a :class:`CommandHandler` on a pika ``BlockingConnection`` channel.

    Declares ``command_exchange`` (topic, auto-delete) and a private queue bound with ``*.C.*.*``;
    replies (with an ``ArrivalTime`` header) go to ``reply_exchange``, the exchange bound to the
    operator queue. ``clock()`` gives the simulated time (epoch seconds).
    """

    def __init__(self, handler: CommandHandler, command_exchange: str) -> None:
        self.handler = handler
        self.command_exchange = command_exchange
        self.stop_event = threading.Event()
        self._channel: Any = None
        self._reply_exchange = ""
        self._clock: Callable[[], float] = time.time

    @property
    def stopped(self) -> bool:
        """True once :meth:`stop` was called."""
        return self.stop_event.is_set()

    def stop(self) -> None:
        """Make :meth:`serve` (and the fleet publisher) return."""
        self.stop_event.set()

    def attach(self, connection: Any, channel: Any, reply_exchange: str, clock: Callable[[], float]) -> None:
        """Start consuming commands on ``channel`` (callbacks run inside ``connection.sleep``)."""
        self._channel, self._reply_exchange, self._clock = channel, reply_exchange, clock
        channel.exchange_declare(self.command_exchange, exchange_type="topic", auto_delete=True)
        queue = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
        channel.queue_bind(queue, self.command_exchange, routing_key=COMMAND_BINDING)
        channel.basic_consume(queue, self._on_command, auto_ack=True)

        def tick() -> None:
            self._send(self.handler.due(self._clock()))
            if not self.stopped:
                connection.call_later(TICK_S, tick)

        connection.call_later(TICK_S, tick)

    def serve(self, connection: Any, seconds: float | None = None) -> None:
        """Answer commands until :meth:`stop` (or ``seconds``)."""
        end = None if seconds is None else time.monotonic() + seconds
        while not self.stopped and (end is None or time.monotonic() < end):
            connection.sleep(TICK_S)

    def _on_command(self, _channel: Any, method: Any, _properties: Any, body: bytes) -> None:
        self._send(self.handler.handle(method.routing_key, body, self._clock()))

    def _send(self, replies: list[Reply]) -> None:
        if not replies:
            return
        import pika

        from evkit.easee.encode import arrival_time_header

        arrival = arrival_time_header(datetime.now(UTC))
        for key, body in replies:
            self._channel.basic_publish(
                self._reply_exchange,
                key,
                body,
                pika.BasicProperties(content_type="application/json", delivery_mode=2,
                                     headers={"ArrivalTime": arrival}),
            )  # fmt: skip


def reply_exchange_for(queue: str) -> str:
    """The topic exchange the simulator binds to ``queue`` with ``#`` (same as ``sim.easee.publish``)."""
    from evkit.sim.easee import SIM_EXCHANGE

    return f"{SIM_EXCHANGE}.{queue}"


class CommandSim:
    """A simulated Easee cloud answering commands for ``serials`` on its own thread (no observation
    stream): ``with CommandSim(url, queue, serials, command_exchange=...) as sim: ...``.

    The operator ``queue`` must exist (or ``declare=True``). ``speed`` = simulated seconds per wall
    second (TTL minutes pass ``speed`` times faster).
    """

    def __init__(
        self,
        url: str,
        queue: str,
        serials: Iterable[str],
        *,
        command_exchange: str,
        reject: Iterable[str] = (),
        ignore: Iterable[str] = (),
        expire: Iterable[str] = (),
        speed: float = 1.0,
        declare: bool = False,
    ) -> None:
        self.url = url
        self.queue = queue
        self.handler = CommandHandler(serials, reject=reject, ignore=ignore, expire=expire)
        self.listener = CommandListener(self.handler, command_exchange)
        self.speed = speed
        self.declare = declare
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="evkit-easee-command-sim", daemon=True)

    @property
    def stats(self) -> HandlerStats:
        """What the simulated chargers did with the commands so far."""
        return self.handler.stats

    def start(self) -> CommandSim:
        """Start answering; returns once the command exchange exists."""
        self._thread.start()
        if not self._ready.wait(15):
            raise RuntimeError("the command simulator did not start within 15 s")
        if self.error is not None:
            raise self.error
        return self

    def stop(self) -> None:
        """Stop answering and close the connection."""
        self.listener.stop()
        self._thread.join(10)

    def __enter__(self) -> CommandSim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        import pika

        try:
            connection = pika.BlockingConnection(pika.URLParameters(self.url))
            channel = connection.channel()
            if self.declare:
                channel.queue_declare(self.queue, durable=False, auto_delete=False)
            else:
                channel.queue_declare(self.queue, passive=True)
            reply = reply_exchange_for(self.queue)
            channel.exchange_declare(reply, exchange_type="topic", auto_delete=True)
            channel.queue_bind(self.queue, reply, routing_key="#")
            origin_wall, origin_mono = time.time(), time.monotonic()

            def clock() -> float:
                return origin_wall + (time.monotonic() - origin_mono) * self.speed

            self.listener.attach(connection, channel, reply, clock)
        except BaseException as exc:
            self.error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            self.listener.serve(connection)
        except BaseException as exc:
            self.error = exc
        finally:
            if connection.is_open:
                connection.close()


def sim_time(origin: datetime, wall_start: float, speed: float) -> Callable[[], float]:
    """A clock for the fleet publisher: simulated epoch seconds from the monotonic wall clock."""
    base = origin.timestamp()

    def clock() -> float:
        return base + (time.monotonic() - wall_start) * (speed or 1.0)

    return clock


class MemoryEaseeCloud:
    """An in-process Easee cloud (an ``EaseeTransport`` for ``EaseeController``): commands go straight
    to a :class:`CommandHandler`, its replies straight back to the subscribers. For tests and offline
    notebooks; ``clock`` gives the simulated time (epoch seconds)."""

    def __init__(
        self,
        handler: CommandHandler,
        *,
        exchange: str = "Operator_0.C.X",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.handler = handler
        self.exchange = exchange
        self.clock = clock
        self.published: list[Reply] = []
        self._subscribers: list[Callable[[str, bytes], None]] = []

    def publish(self, routing_key: str, body: bytes) -> None:
        """Deliver the command to the simulated chargers (replies reach subscribers at once)."""
        self.published.append((routing_key, body))
        self._deliver(self.handler.handle(routing_key, body, self.clock()))

    def subscribe(self, callback: Callable[[str, bytes], None]) -> Callable[[], None]:
        """Receive every reply."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    def poll(self, seconds: float) -> None:
        """Send what fell due (TTL expiries, expired commands), then wait ``seconds``."""
        self._deliver(self.handler.due(self.clock()))
        if seconds > 0:
            time.sleep(seconds)

    def close(self) -> None:
        """Forget the subscribers."""
        self._subscribers.clear()

    def _deliver(self, replies: list[Reply]) -> None:
        for key, body in replies:
            for callback in list(self._subscribers):
                callback(key, body)


class FleetSim:
    """A simulated fleet streaming observations into ``queue`` *and* answering commands on
    ``command_exchange``, on a background thread (notebooks, benchmarks): ``FleetSim(...).start()``.

    ``speed``: simulated seconds per wall second; ``hours``: how long the stream lasts (the command side
    keeps answering until :meth:`stop`).
    """

    def __init__(
        self,
        url: str,
        queue: str,
        *,
        command_exchange: str,
        chargers: int = 3,
        seed: int = 7,
        speed: float = 10.0,
        hours: float = 24.0,
        declare: bool = True,
    ) -> None:
        from evkit.sim.easee import EaseeFleet

        self.url = url
        self.queue = queue
        self.fleet = EaseeFleet(chargers, seed=seed, start=datetime.now(UTC))
        self.handler = CommandHandler(self.fleet.serials)
        self.fleet.controls = self.handler
        self.listener = CommandListener(self.handler, command_exchange)
        self.speed = speed
        self.hours = hours
        self.declare = declare
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="evkit-easee-fleet-sim", daemon=True)

    @property
    def serials(self) -> tuple[str, ...]:
        """The simulated chargers' serials."""
        return self.fleet.serials

    def start(self, wait: float = 15.0) -> FleetSim:
        """Start; returns once the command exchange exists (or raises the simulator's error)."""
        import pika

        self._thread.start()
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and self._thread.is_alive():
            try:
                with pika.BlockingConnection(pika.URLParameters(self.url)) as connection:
                    connection.channel().exchange_declare(self.listener.command_exchange, passive=True)
                return self
            except pika.exceptions.ChannelClosedByBroker:
                time.sleep(0.1)
        if self.error is not None:
            raise self.error
        raise RuntimeError("the fleet simulator did not start")

    def stop(self) -> None:
        """Stop streaming and answering; delete the queue if this simulator declared it."""
        import contextlib

        import pika

        self.listener.stop()
        self._thread.join(15)
        if self.declare:
            with (
                contextlib.suppress(Exception),
                pika.BlockingConnection(pika.URLParameters(self.url)) as conn,
            ):
                conn.channel().queue_delete(self.queue)

    def _run(self) -> None:
        from evkit.sim.easee import publish

        try:
            publish(
                self.fleet,
                self.url,
                duration=self.hours * 3600.0,
                queue=self.queue,
                declare=self.declare,
                speed=self.speed,
                progress=False,
                commands=self.listener,
            )
        except BaseException as exc:
            self.error = exc


__all__ = [
    "COMMAND_BINDING",
    "CommandListener",
    "CommandSim",
    "FleetSim",
    "MemoryEaseeCloud",
    "reply_exchange_for",
    "sim_time",
]
