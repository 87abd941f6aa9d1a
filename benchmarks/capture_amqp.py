"""Benchmark: `evkit capture amqp` against a plain pika drain of an identical queue, in one run.

A fanout exchange feeds two identical queues with N realistic Easee observations (Masterloop form,
``ArrivalTime`` header). Queue A is drained by plain pika (prefetch 2000, ``basic_ack(multiple)``
every 500 messages, nothing written); queue B by ``python -m evkit capture amqp`` as a whole process
(decode + fsynced Parquet + ack after durability). Prints both rates, the ratio and evkit's peak RSS.

Two evkit rates are shown: the consume window (first to last ``received_at`` in the written dataset,
comparable to the pika drain window) and the whole process (interpreter start-up, imports and the
final flush included).

    .venv/bin/python benchmarks/capture_amqp.py --messages 150000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pika
import polars as pl
import psutil

URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
REPO = Path(__file__).resolve().parent.parent

# (observation id, value maker) for a realistic mix: telemetry doubles, integer events, strings.
_MIX = [
    (120, lambda r: round(r.uniform(0, 22), 3)),
    (121, lambda r: round(r.uniform(0, 60), 4)),
    (124, lambda r: round(r.uniform(1000, 30000), 3)),
    (109, lambda r: r.choice([1, 2, 3, 4, 5])),
    (183, lambda r: round(r.uniform(0, 32), 2)),
    (184, lambda r: round(r.uniform(0, 32), 2)),
    (185, lambda r: round(r.uniform(0, 32), 2)),
    (194, lambda r: round(r.uniform(225, 240), 1)),
    (150, lambda r: r.randint(15, 60)),
    (132, lambda r: r.randint(-90, -40)),
    (48, lambda r: float(r.choice([0, 6, 10, 16, 32]))),
    (128, lambda r: f"{r.getrandbits(32):08X}"),
]


def realistic_messages(n: int, seed: int = 7) -> list[tuple[str, bytes, dict[str, str]]]:
    """``n`` (routing key, body, headers) of a 200-charger fleet."""
    rng = random.Random(seed)
    serials = [f"EH{rng.randrange(10**5, 10**6)}" for _ in range(200)]
    start = datetime(2026, 11, 21, 8, tzinfo=UTC)
    out = []
    for i in range(n):
        obs_id, make = _MIX[i % len(_MIX)]
        observed = start + timedelta(milliseconds=37 * i)
        arrived = observed + timedelta(milliseconds=rng.randint(80, 900))
        body = json.dumps(
            {
                "Timestamp": observed.isoformat(timespec="microseconds").replace("+00:00", "Z"),
                "Value": make(rng),
            }
        ).encode()
        header = arrived.isoformat(timespec="microseconds").replace("+00:00", "Z")
        out.append((f"{rng.choice(serials)}.O.{obs_id}", body, {"ArrivalTime": header}))
    return out


def publish(exchange: str, messages: list[tuple[str, bytes, dict[str, str]]]) -> float:
    conn = pika.BlockingConnection(pika.URLParameters(URL))
    channel = conn.channel()
    started = time.perf_counter()
    for key, body, headers in messages:
        channel.basic_publish(
            exchange, key, body, pika.BasicProperties(headers=headers, content_type="application/json")
        )
    conn.close()
    return time.perf_counter() - started


def wait_for_depth(queue: str, n: int, timeout: float = 120.0) -> None:
    conn = pika.BlockingConnection(pika.URLParameters(URL))
    channel = conn.channel()
    deadline = time.monotonic() + timeout
    while channel.queue_declare(queue, passive=True).method.message_count < n:
        if time.monotonic() > deadline:
            raise SystemExit(f"{queue} never reached {n} messages")
        time.sleep(0.2)
    conn.close()


#: CPU seconds (user + system) of the last drains: load-independent, unlike the rates.
CPU_SECONDS: dict[str, float] = {}


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def drain_plain_pika(queue: str, n: int) -> float:
    """Consume ``n`` messages with prefetch 2000 and a multiple-ack every 500; returns seconds."""
    conn = pika.BlockingConnection(pika.URLParameters(URL))
    channel = conn.channel()
    channel.basic_qos(prefetch_count=2000)
    count = 0

    def on_message(ch: object, method: pika.spec.Basic.Deliver, props: object, body: bytes) -> None:
        nonlocal count
        count += 1
        if count % 500 == 0 or count == n:
            channel.basic_ack(method.delivery_tag, multiple=True)
        if count == n:
            channel.stop_consuming()

    channel.basic_consume(queue, on_message, auto_ack=False)
    started, cpu = time.perf_counter(), _cpu(resource.RUSAGE_SELF)
    channel.start_consuming()
    elapsed = time.perf_counter() - started
    CPU_SECONDS["pika"] = _cpu(resource.RUSAGE_SELF) - cpu
    conn.close()
    return elapsed


def drain_evkit(queue: str, n: int, out: Path) -> tuple[float, float, int]:
    """Run ``evkit capture amqp`` as a process; returns (wall seconds, consume-window seconds, peak RSS)."""
    cmd = [sys.executable, "-m", "evkit", "capture", "amqp", "--url", URL, "--queue", queue]
    cmd += ["--out", str(out), "--idle-exit", "3", "--max-messages", str(n), "--quiet"]
    peak = 0
    cpu = _cpu(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO)
    ps = psutil.Process(proc.pid)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            try:
                tree = [ps, *ps.children(recursive=True)]
            except psutil.Error:
                return
            total = 0
            for member in tree:
                with contextlib.suppress(psutil.Error):  # a process that just ended
                    total += member.memory_info().rss
            peak = max(peak, total)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = proc.wait()
    wall = time.perf_counter() - started
    CPU_SECONDS["evkit"] = _cpu(resource.RUSAGE_CHILDREN) - cpu  # capture + its writer process
    done.set()
    sampler.join()
    if code != 0:
        raise SystemExit(f"evkit capture exited {code}")
    frame = (
        pl.scan_parquet(f"{out}/**/*.parquet")
        .select(
            pl.len().alias("rows"),
            pl.col("received_at").min().alias("a"),
            pl.col("received_at").max().alias("b"),
        )
        .collect()
    )
    if frame["rows"][0] != n:
        raise SystemExit(f"evkit wrote {frame['rows'][0]} rows, expected {n}")
    window = (frame["b"][0] - frame["a"][0]).total_seconds()
    return wall, window, peak


def one_round(n: int, evkit_first: bool = False) -> dict[str, float]:
    """Publish ``n`` to two queues via fanout, drain one with pika and one with evkit."""
    tag = uuid.uuid4().hex[:8]
    exchange, queue_a, queue_b = f"evkit-bench-{tag}", f"evkit-bench-{tag}-pika", f"evkit-bench-{tag}-evkit"
    conn = pika.BlockingConnection(pika.URLParameters(URL))
    channel = conn.channel()
    channel.exchange_declare(exchange, "fanout", auto_delete=False)
    for q in (queue_a, queue_b):
        channel.queue_declare(q, durable=False)
        channel.queue_bind(q, exchange)
    try:
        messages = realistic_messages(n)
        size = sum(len(b) for _, b, _ in messages) / n
        print(f"publishing {n:,} messages (mean body {size:.0f} B) to {exchange} -> 2 queues ...")
        seconds = publish(exchange, messages)
        print(f"  published at {n / seconds:,.0f} msg/s")
        del messages
        wait_for_depth(queue_a, n)
        wait_for_depth(queue_b, n)
        load = os.getloadavg()[0]
        with tempfile.TemporaryDirectory() as tmp:
            # Alternate who goes first, so a machine getting busier or quieter favours neither.
            if evkit_first:
                wall_s, window_s, peak = drain_evkit(queue_b, n, Path(tmp) / "dataset")
                pika_s = drain_plain_pika(queue_a, n)
            else:
                pika_s = drain_plain_pika(queue_a, n)
                wall_s, window_s, peak = drain_evkit(queue_b, n, Path(tmp) / "dataset")
            parts = len(list(Path(tmp).rglob("*.parquet")))
            disk = sum(p.stat().st_size for p in Path(tmp).rglob("*.parquet"))
    finally:
        for q in (queue_a, queue_b):
            channel.queue_delete(q)
        channel.exchange_delete(exchange)
        conn.close()
    result = {"pika": n / pika_s, "window": n / window_s, "wall": n / wall_s, "peak_mib": peak / 2**20}
    result["pika_cpu_us"] = CPU_SECONDS["pika"] / n * 1e6
    result["evkit_cpu_us"] = CPU_SECONDS["evkit"] / n * 1e6
    rows = [
        ("plain pika drain (prefetch 2000, ack every 500)", result["pika"], pika_s),
        ("evkit capture, consume window", result["window"], window_s),
        ("evkit capture, whole process incl. start-up", result["wall"], wall_s),
    ]
    for label, rate, secs in rows:
        print(f"  {label:<50} {rate:>9,.0f} msg/s  ({secs:.2f} s)")
    print(
        f"  ratio evkit/pika: consume window {result['window'] / result['pika']:.2f}, "
        f"whole process {result['wall'] / result['pika']:.2f}"
    )
    print(f"  evkit peak RSS (capture + writer process): {result['peak_mib']:.0f} MiB")
    print(
        f"  CPU per message: pika {result['pika_cpu_us']:.1f} µs, evkit {result['evkit_cpu_us']:.1f} µs "
        "(capture + writer process, start-up included)"
    )
    print(f"  dataset: {parts} parts, {disk / 2**20:.1f} MiB on disk ({disk / n:.1f} B/row)")
    print(f"  1-min load average before the drains: {load:.1f} (2 cores; other work skews both rates)")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=150_000)
    parser.add_argument(
        "--rounds", type=int, default=1, help="repeat publish + both drains (a busy machine is noisy)"
    )
    args = parser.parse_args()
    results = [one_round(args.messages, evkit_first=bool(i % 2)) for i in range(args.rounds)]
    ratios = sorted(r["window"] / r["pika"] for r in results)
    whole = sorted(r["wall"] / r["pika"] for r in results)
    print(f"\n{args.rounds} round(s) of {args.messages:,} messages:")
    print(
        f"ratio evkit/pika, consume window: median {statistics.median(ratios):.2f} (all: "
        f"{', '.join(f'{x:.2f}' for x in ratios)})   goal >= 0.95"
    )
    print(f"ratio evkit/pika, whole process:  median {statistics.median(whole):.2f}")
    print(f"evkit peak RSS: {max(r['peak_mib'] for r in results):.0f} MiB   goal <= 250 MiB")
    pika_cpu = statistics.median(r["pika_cpu_us"] for r in results)
    evkit_cpu = statistics.median(r["evkit_cpu_us"] for r in results)
    print(f"CPU per message (median): pika {pika_cpu:.1f} µs, evkit {evkit_cpu:.1f} µs")


if __name__ == "__main__":
    main()
