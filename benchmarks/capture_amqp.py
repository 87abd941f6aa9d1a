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
import psutil
from _dataset import written_window

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


#: Peak sums over the capture and its writer process of the last drain, in bytes (see ``drain_evkit``).
MEMORY: dict[str, int] = {}


def _rollup(pid: int) -> tuple[int, int]:
    """(PSS, anonymous) bytes of a process from ``/proc/PID/smaps_rollup`` (0, 0 when unreadable)."""
    fields = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
            name, _, value = line.partition(":")
            fields[name] = int(value.split()[0]) * 1024
    return fields.get("Pss", 0), fields.get("Anonymous", 0)


#: CPU seconds (user + system) of the last drains: load-independent, unlike the rates.
CPU_SECONDS: dict[str, float] = {}
#: Last sampled CPU seconds per process of the running evkit capture (consumer vs writer process).
CPU_BY_PID: dict[int, float] = {}


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


def parse_variant(spec: str) -> tuple[str, dict[str, str], list[str]]:
    """``"name: ENV=VALUE --option value"`` -> (name, environment, extra CLI arguments)."""
    name, _, rest = spec.partition(":")
    env: dict[str, str] = {}
    args: list[str] = []
    for token in rest.split():
        key, eq, value = token.partition("=")
        if eq and key.isupper() and not args:
            env[key] = value
        else:
            args.append(token)
    return name.strip() or "evkit", env, args


def drain_evkit(
    queue: str, n: int, out: Path, env: dict[str, str] | None = None, extra: list[str] | None = None
) -> tuple[float, float, int]:
    """Run ``evkit capture amqp`` as a process; returns (wall seconds, consume-window seconds, peak RSS).

    Peak RSS sums both processes' resident pages, so the pages of the shared libraries both map
    (Polars' is the largest) count twice; ``MEMORY`` also keeps the peak sums of PSS (shared pages
    split between the processes that map them) and of anonymous memory (heap: batches, frames)."""
    cmd = [sys.executable, "-m", "evkit", "capture", "amqp", "--url", URL, "--queue", queue]
    cmd += ["--out", str(out), "--idle-exit", "3", "--max-messages", str(n), "--quiet", *(extra or [])]
    peak = peak_pss = peak_anon = 0
    CPU_BY_PID.clear()
    cpu = _cpu(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, **(env or {})})
    ps = psutil.Process(proc.pid)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak, peak_pss, peak_anon
        while not done.is_set():
            try:
                tree = [ps, *ps.children(recursive=True)]
            except psutil.Error:
                return
            total = pss = anon = 0
            for member in tree:
                with contextlib.suppress(psutil.Error):  # a process that just ended
                    total += member.memory_info().rss
                    times = member.cpu_times()
                    CPU_BY_PID[member.pid] = times.user + times.system
                    member_pss, member_anon = _rollup(member.pid)
                    pss, anon = pss + member_pss, anon + member_anon
            peak = max(peak, total)
            peak_pss, peak_anon = max(peak_pss, pss), max(peak_anon, anon)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = proc.wait()
    wall = time.perf_counter() - started
    CPU_SECONDS["evkit"] = _cpu(resource.RUSAGE_CHILDREN) - cpu  # capture + its writer process
    done.set()
    sampler.join()
    # Sampled every 20 ms, so slightly low; the split is what matters.
    CPU_SECONDS["evkit-consumer"] = CPU_BY_PID.pop(proc.pid, 0.0)
    CPU_SECONDS["evkit-writer"] = sum(CPU_BY_PID.values())
    if code != 0:
        raise SystemExit(f"evkit capture exited {code}")
    rows, first, last = written_window(out)
    if rows != n:
        raise SystemExit(f"evkit wrote {rows} rows, expected {n}")
    window = (last - first).total_seconds()
    MEMORY.update(pss=peak_pss, anon=peak_anon)
    return wall, window, peak


def one_round(n: int, variants: list[str], turn: int = 0) -> dict[str, dict[str, float]]:
    """Publish ``n`` to one queue per contender via fanout; drain one with pika, the others with
    evkit (one per variant). The order of the drains rotates with ``turn``."""
    tag = uuid.uuid4().hex[:8]
    exchange = f"evkit-bench-{tag}"
    names = ["pika", *(parse_variant(v)[0] for v in variants)]
    queues = {name: f"{exchange}-{i}" for i, name in enumerate(names)}
    conn = pika.BlockingConnection(pika.URLParameters(URL))
    channel = conn.channel()
    channel.exchange_declare(exchange, "fanout", auto_delete=False)
    for q in queues.values():
        channel.queue_declare(q, durable=False)
        channel.queue_bind(q, exchange)
    results: dict[str, dict[str, float]] = {}
    try:
        messages = realistic_messages(n)
        size = sum(len(b) for _, b, _ in messages) / n
        print(f"publishing {n:,} messages (mean body {size:.0f} B) to {exchange} -> {len(queues)} queues ...")
        seconds = publish(exchange, messages)
        print(f"  published at {n / seconds:,.0f} msg/s")
        del messages
        for q in queues.values():
            wait_for_depth(q, n)
        load = os.getloadavg()[0]
        # Rotate who goes first, so a machine getting busier or quieter favours no one.
        order = names[turn % len(names) :] + names[: turn % len(names)]
        with tempfile.TemporaryDirectory() as tmp:
            for name in order:
                if name == "pika":
                    pika_s = drain_plain_pika(queues["pika"], n)
                    results["pika"] = {
                        "rate": n / pika_s,
                        "secs": pika_s,
                        "cpu_us": CPU_SECONDS["pika"] / n * 1e6,
                    }
                    continue
                spec = variants[names.index(name) - 1]
                _, env, extra = parse_variant(spec)
                out = Path(tmp) / name
                wall_s, window_s, peak = drain_evkit(queues[name], n, out, env, extra)
                parts = list(out.rglob("*.parquet"))
                results[name] = {
                    "window": n / window_s,
                    "wall": n / wall_s,
                    "peak_mib": peak / 2**20,
                    "pss_mib": MEMORY["pss"] / 2**20,
                    "anon_mib": MEMORY["anon"] / 2**20,
                    "cpu_us": CPU_SECONDS["evkit"] / n * 1e6,
                    "consumer_us": CPU_SECONDS["evkit-consumer"] / n * 1e6,
                    "writer_us": CPU_SECONDS["evkit-writer"] / n * 1e6,
                    "parts": len(parts),
                    "bytes_per_row": sum(p.stat().st_size for p in parts) / n,
                }
    finally:
        for q in queues.values():
            channel.queue_delete(q)
        channel.exchange_delete(exchange)
        conn.close()
    pika_rate = results["pika"]["rate"]
    print(
        f"  {'plain pika drain (prefetch 2000, ack every 500)':<50} {pika_rate:>9,.0f} msg/s  "
        f"CPU {results['pika']['cpu_us']:.1f} µs/msg"
    )
    for name in names[1:]:
        r = results[name]
        print(
            f"  evkit [{name}]: consume window {r['window']:,.0f} msg/s "
            f"(ratio {r['window'] / pika_rate:.2f}), "
            f"whole process {r['wall']:,.0f} msg/s (ratio {r['wall'] / pika_rate:.2f}), "
            f"CPU {r['cpu_us']:.1f} µs/msg (consumer ~{r['consumer_us']:.1f}, writer process "
            f"~{r['writer_us']:.1f}), peak RSS {r['peak_mib']:.0f} MiB (PSS {r['pss_mib']:.0f}, anonymous "
            f"{r['anon_mib']:.0f}), {r['parts']:.0f} parts, "
            f"{r['bytes_per_row']:.1f} B/row"
        )
    print(f"  1-min load average before the drains: {load:.1f} (2 cores; other work skews all rates)")
    for r in results.values():
        r["load"] = load
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=150_000)
    parser.add_argument(
        "--rounds", type=int, default=1, help="repeat publish + all drains (a busy machine is noisy)"
    )
    parser.add_argument(
        "--variant",
        action="append",
        help="an evkit contender 'NAME: [ENV=VALUE ...] [--capture-option ...]' (repeatable; A/B in one "
        "run, e.g. 'python-decode: EVKIT_EASEE_FASTPATH=0' or 'prefetch2000: --prefetch 2000'); "
        "default: one evkit with its defaults",
    )
    args = parser.parse_args()
    variants = args.variant or ["evkit:"]
    results = [one_round(args.messages, variants, turn=i) for i in range(args.rounds)]
    print(f"\n{args.rounds} round(s) of {args.messages:,} messages:")
    for spec in variants:
        name = parse_variant(spec)[0]
        ratios = sorted(r[name]["window"] / r["pika"]["rate"] for r in results)
        whole = sorted(r[name]["wall"] / r["pika"]["rate"] for r in results)
        cpu = statistics.median(r[name]["cpu_us"] for r in results)
        consumer = statistics.median(r[name]["consumer_us"] for r in results)
        writer = statistics.median(r[name]["writer_us"] for r in results)
        peak = max(r[name]["peak_mib"] for r in results)
        pss = max(r[name]["pss_mib"] for r in results)
        anon = max(r[name]["anon_mib"] for r in results)
        print(
            f"[{name}] ratio evkit/pika, consume window: median {statistics.median(ratios):.2f} "
            f"(all: {', '.join(f'{x:.2f}' for x in ratios)}; goal >= 0.95); whole process: median "
            f"{statistics.median(whole):.2f}; CPU {cpu:.1f} µs/msg (consumer ~{consumer:.1f}, writer "
            f"~{writer:.1f}); peak RSS {peak:.0f} MiB (goal <= 250; PSS {pss:.0f}, "
            f"anonymous {anon:.0f})"
        )
    pika_cpu = statistics.median(r["pika"]["cpu_us"] for r in results)
    print(f"[pika] CPU {pika_cpu:.1f} µs/msg")


if __name__ == "__main__":
    main()
