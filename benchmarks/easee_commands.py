"""Benchmark: Easee commands through the real RabbitMQ, with a capture consuming the same queue.

Setup: an operator queue and a command exchange; the simulated cloud (``CommandSim``) answers for
``--chargers`` chargers (command response + read-back observation); a capture (``AmqpCapture``, the
``evkit capture amqp`` engine) consumes the queue into a store; a stream of observations is published
into the queue the whole time (``--stream-rate`` per second). The sender is what ``evkit set easee``
runs (``EaseeController`` over ``AmqpCommandLink``, consuming into the same store and watching it):
``--commands`` commands in fleet rounds of one command per charger.

Prints commands per second, p50/p95 time from publish to confirmation, the outcomes, and how many
streamed observations are missing from the store at the end (must be 0).

    .venv/bin/python benchmarks/easee_commands.py --commands 1000 --chargers 100
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pika
import polars as pl

from evkit.control.base import Outcome
from evkit.control.easee import EaseeController
from evkit.easee.encode import encode_observation
from evkit.sim.easee_cloud import CommandSim, reply_exchange_for
from evkit.sources.amqp import AmqpCapture
from evkit.sources.easee_commands import AmqpCommandLink
from evkit.sources.easee_details import parse_url
from evkit.sources.progress import BackgroundCapture

URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


def _stream(queue: str, rate: float, stop: threading.Event, sent: list[bytes]) -> None:
    """Publish observations into ``queue`` at ``rate`` per second until ``stop``."""
    connection = pika.BlockingConnection(pika.URLParameters(URL))
    channel = connection.channel()
    exchange = reply_exchange_for(queue)
    index = 0
    started = time.monotonic()
    while not stop.is_set():
        due = started + index / rate
        if (wait := due - time.monotonic()) > 0:
            connection.sleep(min(wait, 0.05))
            continue
        key, body = encode_observation(f"EH9{index % 50:05d}", 120, float(index), datetime.now(UTC))
        channel.basic_publish(exchange, key, body, pika.BasicProperties(delivery_mode=2))
        sent.append(body)
        index += 1
    channel.queue_declare(queue, passive=True)  # every publish taken
    connection.close()


def _depth(queue: str) -> int:
    with pika.BlockingConnection(pika.URLParameters(URL)) as connection:
        return int(connection.channel().queue_declare(queue, passive=True).method.message_count)


def run(commands: int, chargers: int, stream_rate: float, timeout: float) -> dict[str, Any]:
    name = f"evkit-bench-{uuid.uuid4().hex[:8]}"
    queue, exchange = f"{name}.Q", f"{name}.C.X"
    serials = [f"EH{i:06d}" for i in range(1, chargers + 1)]
    store = Path(tempfile.mkdtemp(prefix="evkit-bench-easee-"))
    with pika.BlockingConnection(pika.URLParameters(URL)) as connection:
        connection.channel().queue_declare(queue, durable=True)
    details = parse_url(URL)
    stop_stream = threading.Event()
    sent: list[bytes] = []
    try:
        with CommandSim(URL, queue, serials, command_exchange=exchange):
            capture = AmqpCapture(details, store, queue=queue, flush_interval=0.5)
            recorder = BackgroundCapture(capture, "bench capture")
            while not capture.consuming:
                time.sleep(0.05)
            streamer = threading.Thread(
                target=_stream, args=(queue, stream_rate, stop_stream, sent), daemon=True
            )
            streamer.start()
            link = AmqpCommandLink(details, exchange=exchange, queue=queue, out=store)
            link.open()
            controller = EaseeController(link, audit=store, timeout=timeout)
            outcomes: dict[str, int] = {}
            latencies: list[float] = []
            started = time.perf_counter()
            done = 0
            amps = 6
            while done < commands:
                batch = serials[: min(chargers, commands - done)]
                amps = 6 + (amps + 1 - 6) % 27  # 6..32: every round changes the value
                results = controller.send_many(
                    [controller.prepare(s, "SetDynamicChargerCurrent", [str(amps), "5"]) for s in batch]
                )
                for result in results:
                    outcomes[result.outcome.value] = outcomes.get(result.outcome.value, 0) + 1
                    if result.outcome is Outcome.CONFIRMED and result.latency_s is not None:
                        latencies.append(result.latency_s)
                done += len(batch)
            elapsed = time.perf_counter() - started
            link.close()
            stop_stream.set()
            streamer.join(30)
            deadline = time.monotonic() + 60
            while _depth(queue) and time.monotonic() < deadline:
                time.sleep(0.2)
            recorder.stop()
        files = [p for p in store.rglob("part-*.parquet") if "audit" not in p.parts]
        stored = set(
            pl.concat([pl.read_parquet(f, columns=["raw"]) for f in files]).get_column("raw").to_list()
        )
        lost = sum(1 for body in sent if body not in stored)
        quantiles = statistics.quantiles(latencies, n=20) if len(latencies) >= 20 else [float("nan")] * 19
        return {
            "commands": done,
            "chargers": chargers,
            "seconds": elapsed,
            "commands_per_s": done / elapsed,
            "p50_s": statistics.median(latencies) if latencies else float("nan"),
            "p95_s": quantiles[18],
            "outcomes": outcomes,
            "observations_streamed": len(sent),
            "observations_lost": lost,
        }
    finally:
        stop_stream.set()
        with pika.BlockingConnection(pika.URLParameters(URL)) as connection:
            connection.channel().queue_delete(queue)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--commands", type=int, default=1000)
    parser.add_argument("--chargers", type=int, default=100)
    parser.add_argument("--stream-rate", type=float, default=300.0, help="observations per second meanwhile")
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    figures = run(args.commands, args.chargers, args.stream_rate, args.timeout)
    for key, value in figures.items():
        print(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}")
    print(
        f"| easee_commands.py --commands {figures['commands']} --chargers {figures['chargers']} | "
        f"{figures['commands_per_s']:.0f} commands/s; confirmation p50 {figures['p50_s'] * 1000:.0f} ms, "
        f"p95 {figures['p95_s'] * 1000:.0f} ms; observations lost {figures['observations_lost']} of "
        f"{figures['observations_streamed']} |"
    )
    return 0 if figures["observations_lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
