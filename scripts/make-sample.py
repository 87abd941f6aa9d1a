"""Re-record the bundled sample dataset ``data/sample-session/`` through the real capture path.

A seeded simulated fleet (``evkit.sim.easee``: 4 chargers, 2 days from a fixed start) is published to
a temporary queue on the local RabbitMQ, then ``evkit capture amqp`` (the real command, as a process)
records that queue into a fresh directory that replaces ``data/sample-session/``. The queue and its
exchange are deleted afterwards. Needs RabbitMQ on 127.0.0.1:5672 (``make test`` starts it).

    .venv/bin/python scripts/make-sample.py [--chargers 4] [--days 2] [--seed 42]

The observations (values, device and ArrivalTime stamps) are identical on every run with the same
options; ``received_at`` is the wall clock of the recording, as in any real capture.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pika
import polars as pl

import evkit
from evkit.sim.easee import SIM_EXCHANGE, EaseeFleet, publish

REPO = Path(__file__).resolve().parent.parent
URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
START = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday: two working days


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chargers", type=int, default=4)
    parser.add_argument("--days", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=REPO / "data" / "sample-session")
    parser.add_argument("--url", default=URL)
    args = parser.parse_args()

    queue = f"evkit-sample-{uuid.uuid4().hex[:8]}"
    fleet = EaseeFleet(args.chargers, seed=args.seed, start=START)
    connection = pika.BlockingConnection(pika.URLParameters(args.url))
    channel = connection.channel()
    channel.queue_declare(queue, durable=False)
    try:
        stats = publish(
            fleet, args.url, duration=timedelta(days=args.days), queue=queue, speed=0, progress=True
        )
        print(f"published {stats.messages:,} messages of {args.chargers} chargers over {args.days:g} days")
        with tempfile.TemporaryDirectory(dir=args.out.parent if args.out.parent.exists() else None) as tmp:
            staging = Path(tmp) / "sample-session"
            capture = ["capture", "amqp", "--url", args.url, "--queue", queue, "--out", str(staging)]
            subprocess.run(
                [sys.executable, "-m", "evkit", *capture, "--idle-exit", "3", "--prefetch", "20000"],
                check=True,
                cwd=REPO,
            )
            frame = evkit.scan(staging).collect()
            if frame.height != stats.messages:
                raise SystemExit(f"captured {frame.height} rows, published {stats.messages}")
            errors = frame.filter(pl.col("error").is_not_null()).height
            _describe(staging, args, stats.messages, errors)
            if args.out.exists():
                shutil.rmtree(args.out)
            shutil.copytree(staging, args.out, ignore=shutil.ignore_patterns(".*"))
    finally:
        channel.queue_delete(queue)
        channel.exchange_delete(f"{SIM_EXCHANGE}.{queue}")
        connection.close()
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"wrote {args.out} ({size / 2**20:.1f} MiB)")
    return 0


def _describe(root: Path, args: argparse.Namespace, messages: int, errors: int) -> None:
    """A README next to the data saying what it is and how it was made."""
    text = f"""# Sample Easee session (simulated)

{messages:,} AMQP messages of {args.chargers} simulated Easee chargers over {args.days:g} days of device
time from {START:%Y-%m-%d %H:%M} UTC (seed {args.seed}), recorded by `evkit capture amqp` from the local
RabbitMQ. {errors} rows carry a decode error. Re-create with `.venv/bin/python scripts/make-sample.py`.

Read it with `evkit.scan("data/sample-session")`. Device times (`observed_at`) and cloud arrival
(`arrival_time`) span the simulated days; `received_at` is when the recording ran (the simulator
published the days as fast as possible), so cloud-to-capture latency is not meaningful here.
"""
    (root / "README.md").write_text(text)
    json.loads((root / "manifest.json").read_text())  # the capture wrote a valid manifest


if __name__ == "__main__":
    sys.exit(main())
