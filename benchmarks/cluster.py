"""Benchmark: evkit's analysis locally vs on a Dask cluster, and capture into s3:// vs local disk.

Part 1 (analysis). A generated fleet (``benchmarks/_dataset.py``'s generator; the defaults, 4,100
chargers x 30 days, are about 49M rows) is analysed three ways, each `sessions` of the whole fleet:

- local: ``evkit.analysis.sessions(evkit.scan(DIR, dedupe=False)).collect()`` in a fresh process;
- a cluster of 2 single-thread workers, and one of 1 worker: ``dask scheduler`` and ``dask worker``
  started as their own processes (so the client process is only the client), the benchmark process
  is the client calling ``evkit.cluster.sessions``.

Measured: wall time, client CPU (the process that asked), peak RSS per worker process, and bytes each
process read (``/proc/<pid>/io`` ``rchar``: from the page cache too). On 2 cores no speed-up is
expected; what matters is that the work and the memory move to the workers, and that each worker's
memory stays bounded by its share of chargers instead of the fleet.

With ``--compacted DIR`` (the same dataset after ``evkit compact``, e.g. ``benchmarks/_dataset.py``'s
``compacted`` shape), each charger-group task of the plan is also run alone on a single-thread worker
on both stores, with the bytes it read: on parts sorted by charger with small row groups, a task's
range predicate skips the row groups of other chargers.

Part 2 (capture, needs RabbitMQ on 127.0.0.1:5672 and an S3 server such as ``scripts/ensure-s3.sh``'s
SeaweedFS): N Easee messages are captured by ``evkit capture amqp`` into a local directory and into
``s3://<fresh bucket>/bench``, one after the other, same run; rates over the consume window. The S3
endpoint and keys come from ``AWS_*``; without them the test server's loopback identity is used.

    .venv/bin/python benchmarks/cluster.py --chargers 450 --days 7 --messages 50000
    .venv/bin/python benchmarks/cluster.py --dir .bench-data/50m/arrival \
        --compacted .bench-data/50m/compacted --skip-capture
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import psutil

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TEST_S3 = {  # scripts/seaweedfs-s3.json: a test-only identity of the loopback server
    "AWS_ENDPOINT_URL": "http://127.0.0.1:8333",
    "AWS_ACCESS_KEY_ID": "evkit-test-access",
    "AWS_SECRET_ACCESS_KEY": "evkit-test-secret-4b1d",
    "AWS_REGION": "us-east-1",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.1f} {five:.1f} {fifteen:.1f} on {os.cpu_count()} CPUs"


# ------------------------------------------------------------------------------------------ analysis


def _local_run(root: Path) -> dict[str, float]:
    """In a fresh process: the local analysis with its own CPU, peak RSS and bytes read."""
    from evkit import scan
    from evkit.analysis import sessions

    t0, c0, r0 = time.perf_counter(), _cpu_s(), psutil.Process().io_counters().read_chars
    n = sessions(scan(root, dedupe=False)).collect().height
    return {
        "seconds": time.perf_counter() - t0,
        "client_cpu_s": _cpu_s() - c0,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "read_mb": (psutil.Process().io_counters().read_chars - r0) / 2**20,
        "sessions": n,
    }


def _worker_stats() -> dict[str, float]:
    """Run on a worker: its peak RSS and bytes read so far."""
    return {
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "read_mb": psutil.Process().io_counters().read_chars / 2**20,
    }


@contextlib.contextmanager
def _cluster(workers: int) -> Iterator[Any]:
    """A client of a scheduler and ``workers`` single-thread workers, each in processes of their own."""
    from distributed import Client

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen(
        [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        env=env,
        **quiet,  # type: ignore[arg-type]
    )
    nannies = subprocess.Popen(
        [str(BIN / "dask"), "worker", address, "--nworkers", str(workers), "--nthreads", "1",
         "--no-dashboard", "--memory-limit", "0"],
        env=env,
        **quiet,  # type: ignore[arg-type]
    )  # fmt: skip
    try:
        client = Client(address, timeout="60s")
        client.wait_for_workers(workers, timeout=120)
        yield client
        client.close()
    finally:
        nannies.terminate()
        scheduler.terminate()
        nannies.wait(60)
        scheduler.wait(60)


def _warm() -> None:
    """Run on a worker before measuring: import what the tasks use (module files count as bytes read)."""
    import evkit.analysis
    import evkit.cluster.tasks
    import evkit.store.reader  # noqa: F401


def _cluster_run(root: Path, workers: int) -> dict[str, Any]:
    """Scheduler and workers in their own processes; this process is the client."""
    from evkit import analysis

    with _cluster(workers) as client:
        client.run(_warm)
        before = client.run(_worker_stats)
        t0, c0 = time.perf_counter(), _cpu_s()
        r0 = psutil.Process().io_counters().read_chars
        n = analysis.sessions(root, client=client).height
        seconds, client_cpu = time.perf_counter() - t0, _cpu_s() - c0
        client_read = (psutil.Process().io_counters().read_chars - r0) / 2**20
        after = client.run(_worker_stats)
    return {
        "seconds": seconds,
        "client_cpu_s": client_cpu,
        "client_read_mb": client_read,
        "worker_peak_rss_mb": sorted(round(w["peak_rss_mb"]) for w in after.values()),
        "worker_read_mb": sorted(round(after[k]["read_mb"] - before[k]["read_mb"]) for k in after),
        "sessions": n,
    }


def _measured_sessions_task(parts: Any, group: Any) -> dict[str, float]:
    """Run on a single-thread worker: one sessions task of ``evkit.cluster``, with the bytes it read."""
    from evkit.cluster import tasks

    process = psutil.Process()
    r0, t0 = process.io_counters().read_chars, time.perf_counter()
    frame = tasks.sessions_task(parts, group, 1200.0)
    return {
        "read_mb": (process.io_counters().read_chars - r0) / 2**20,
        "seconds": time.perf_counter() - t0,
        "chargers": len(group.chargers or ()),
        "sessions": frame.height,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _per_task_run(root: Path, workers: int = 2) -> list[dict[str, float]]:
    """Each charger group's sessions task of ``evkit.cluster.sessions`` (same plan), measured alone."""
    from evkit.cluster import _groups

    with _cluster(workers) as client:
        client.run(_warm)
        parts, groups = _groups(client, root, False, None)
        measured: list[dict[str, float]] = client.gather(
            client.map(_measured_sessions_task, [parts] * len(groups), groups, pure=False)
        )
    return measured


def _print_tasks(name: str, measured: list[dict[str, float]], size_mb: float) -> None:
    reads = sorted(m["read_mb"] for m in measured)
    total = sum(reads)
    chargers = statistics.median(m["chargers"] for m in measured)
    wall = statistics.median(m["seconds"] for m in measured)
    print(
        f"per-task {name:10s} {len(measured)} tasks of ~{chargers:.0f} chargers: read per task median "
        f"{statistics.median(reads):.0f} MiB (min {reads[0]:.0f}, max {reads[-1]:.0f}), all tasks "
        f"{total:,.0f} MiB = {total / size_mb:.2f} x the store's {size_mb:,.0f} MiB; task wall median "
        f"{wall:.1f} s; {sum(int(m['sessions']) for m in measured):,} sessions; {_load()}"
    )


def _size_mb(root: Path) -> float:
    return sum(p.stat().st_size for p in root.rglob("*.parquet")) / 2**20


def _whole_runs(root: Path) -> int:
    """Sessions of the whole fleet: locally, then on 2 and on 1 worker(s); the number of sessions."""
    print(_load())
    done = subprocess.run(
        [sys.executable, __file__, "--run-local", str(root)], check=True, capture_output=True, text=True
    )
    local = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"local                      {local['seconds']:7.1f} s wall, "
        f"client CPU {local['client_cpu_s']:6.1f} s, "
        f"peak RSS {local['peak_rss_mb']:6.0f} MiB, read {local['read_mb']:6.0f} MiB, "
        f"{local['sessions']:,} sessions; {_load()}"
    )
    for workers in (2, 1):
        r = _cluster_run(root, workers)
        print(
            f"LocalCluster {workers} x 1 thread   {r['seconds']:7.1f} s wall, client CPU "
            f"{r['client_cpu_s']:6.1f} s (read {r['client_read_mb']:.0f} MiB), worker peak RSS "
            f"{r['worker_peak_rss_mb']} MiB, worker read {r['worker_read_mb']} MiB, "
            f"{r['sessions']:,} sessions; {_load()}"
        )
        if r["sessions"] != local["sessions"]:
            raise SystemExit("the cluster found another number of sessions than the local run")
    sessions: int = local["sessions"]
    return sessions


def analysis_part(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _dataset import generate  # the fleet generator of the benchmarks

    tmp = Path(tempfile.mkdtemp(prefix="evkit-cluster-bench-"))
    root = args.dir or tmp / "data"
    try:
        if not (root.exists() and any(root.rglob("*.parquet"))):
            t0 = time.perf_counter()
            rows = generate(root, args.chargers, args.days)
            print(f"generated {rows:,} rows ({args.chargers} chargers x {args.days} days) in "
                  f"{time.perf_counter() - t0:.0f} s")  # fmt: skip
        rows = pl.scan_parquet(root / "**/*.parquet").select(pl.len()).collect().item()
        files = len(list(root.rglob("*.parquet")))
        size = sum(p.stat().st_size for p in root.rglob("*.parquet")) / 2**20
        print(f"dataset: {rows:,} rows in {files} parts, {size:,.0f} MiB; {_load()}")
        expected = None if args.tasks_only else _whole_runs(root)
        if args.compacted is not None:
            # Bytes read per charger-group task: parts in arrival order vs compacted (sorted by charger,
            # small row groups with statistics: a task's range predicate prunes the other groups).
            for name, store in (("arrival", root), ("compacted", args.compacted)):
                measured = _per_task_run(store)
                _print_tasks(name, measured, _size_mb(store))
                found = sum(int(m["sessions"]) for m in measured)
                if expected is not None and found != expected:
                    raise SystemExit(f"the {name} store's tasks found another number of sessions")
                expected = found
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------------------------------- capture


def _publish(queue: str, n: int) -> None:
    import pika

    sys.path.insert(0, str(REPO))
    from tests.sources.test_amqp_capture import numbered_messages

    conn = pika.BlockingConnection(pika.URLParameters("amqp://guest:guest@127.0.0.1:5672/%2F"))
    channel = conn.channel()
    channel.queue_declare(queue, durable=True)
    for _key, body, headers in numbered_messages(n):
        channel.basic_publish("", queue, body, pika.BasicProperties(headers=headers, delivery_mode=2))
    conn.close()


def _capture(queue: str, out: str, n: int, env: dict[str, str]) -> dict[str, float]:
    from evkit import scan

    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "evkit", "capture", "amqp", "--url", "amqp://guest:guest@127.0.0.1:5672/%2F",
         "--queue", queue, "--out", out, "--idle-exit", "2", "--quiet"],
        env={**os.environ, **env}, capture_output=True, text=True, check=False, cwd=REPO,
    )  # fmt: skip
    wall = time.perf_counter() - t0 - 2.0  # the idle wait is not capture work
    if done.returncode != 0:
        raise SystemExit(f"capture into {out} failed: {done.stderr.strip()}")
    os.environ.update(env)
    frame = scan(out).select(
        pl.len(), pl.col("received_at").min().alias("a"), pl.col("received_at").max().alias("b")
    )
    rows, first, last = frame.collect().row(0)
    window = max((last - first).total_seconds(), 1e-6)
    if rows != n:
        raise SystemExit(f"capture into {out} stored {rows} of {n} messages")
    return {"rate": rows / window, "process_rate": rows / max(wall, 1e-6)}


def capture_part(args: argparse.Namespace) -> None:
    import httpx

    env = {k: os.environ.get(k, v) for k, v in TEST_S3.items()}
    bucket = f"evkit-bench-{uuid.uuid4().hex[:8]}"
    filer = int(env["AWS_ENDPOINT_URL"].rsplit(":", 1)[1]) + 1002  # scripts/ensure-s3.sh's filer port
    httpx.post(f"http://127.0.0.1:{filer}/buckets/{bucket}/", timeout=30).raise_for_status()
    tmp = Path(tempfile.mkdtemp(prefix="evkit-capture-bench-"))
    try:
        results = {}
        for name, out in (("local disk", str(tmp / "data")), ("s3:// (SeaweedFS)", f"s3://{bucket}/bench")):
            queue = f"evkit-bench-{uuid.uuid4().hex[:8]}"
            _publish(queue, args.messages)
            results[name] = _capture(queue, out, args.messages, env)
            print(
                f"capture into {name:18s} {results[name]['rate']:9,.0f} msg/s (consume window), "
                f"{results[name]['process_rate']:9,.0f} msg/s (whole process)"
            )
        ratio = results["s3:// (SeaweedFS)"]["rate"] / results["local disk"]["rate"]
        print(f"s3:// / local disk: {ratio:.2f}; {_load()}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        httpx.delete(f"http://127.0.0.1:{filer}/buckets/{bucket}/?recursive=true", timeout=60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chargers", type=int, default=4100, help="default 4,100 (x 30 days: ~49M rows)")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--dir", type=Path, help="dataset directory (reused when it holds data)")
    parser.add_argument("--messages", type=int, default=100_000, help="messages per capture (part 2)")
    parser.add_argument(
        "--compacted", type=Path, help="the same dataset compacted: also measure bytes read per task on both"
    )
    parser.add_argument(
        "--tasks-only", action="store_true", help="with --compacted: only the per-task measurement"
    )
    parser.add_argument("--skip-analysis", action="store_true")
    parser.add_argument("--skip-capture", action="store_true")
    parser.add_argument("--run-local", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_local:
        print(json.dumps(_local_run(args.run_local)))
        return 0
    if not args.skip_analysis:
        analysis_part(args)
    if not args.skip_capture:
        capture_part(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
