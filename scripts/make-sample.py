"""Re-record the bundled sample dataset ``data/sample-session/`` through the real capture path.

A seeded simulated fleet (``evkit.sim.easee``: 4 chargers, 2 days from a fixed start) is published to
a temporary queue on the local RabbitMQ, then ``evkit capture amqp`` (the real command, as a process)
records that queue into a fresh directory that replaces ``data/sample-session/``. The queue and its
exchange are deleted afterwards. Needs RabbitMQ on 127.0.0.1:5672 (``make test`` starts it).

    .venv/bin/python scripts/make-sample.py [--chargers 4] [--days 2] [--seed 42]

The observations (values, device and ArrivalTime stamps) are identical on every run with the same
options.

Re-timing: the simulator publishes two days in seconds, so the wall clock the capture stamps into
``received_at`` is the recording time, days after the simulated ``arrival_time``: the sample would show
a cloud-to-capture latency of weeks. After recording, each row's ``received_at`` is set to its
``arrival_time`` plus a simulated capture delay (seeded lognormal around 60 ms, a small share of slow
rows of one to several seconds, never earlier than the row delivered before it: a queue is FIFO) and
the parts are rewritten by ``PartWriter``, hive-partitioned by the new date. Every other column stays
exactly as captured; ``manifest.json`` (``retimed``) and the README say so.
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

import numpy as np
import pika
import polars as pl

import evkit
from evkit.sim.easee import SIM_EXCHANGE, EaseeFleet, publish
from evkit.store import PartWriter, read_manifest
from evkit.store.manifest import MANIFEST_NAME

REPO = Path(__file__).resolve().parent.parent
URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
START = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday: two working days

# The simulated capture delay (cloud arrival -> our consumer): lognormal, median 60 ms (p95 ~ 160 ms),
# plus a slow tail on 0.5 % of rows (consumer pauses, network hiccups: median 1.5 s, up to ~10 s).
DELAY_MEDIAN_S = 0.060
DELAY_SIGMA = 0.6
SLOW_SHARE = 0.005
SLOW_MEDIAN_S = 1.5
SLOW_SIGMA = 0.7
# Rows without ArrivalTime get the device timestamp plus a typical device-to-cloud delay first.
DEVICE_TO_CLOUD_S = 0.3
PART_ROWS = 10_000  # as the capture flushes (--flush-rows default)


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
            retimed = Path(tmp) / "retimed"
            note = retime(staging, retimed, seed=args.seed)
            _describe(retimed, args, stats.messages, errors, note)
            if args.out.exists():
                shutil.rmtree(args.out)
            shutil.copytree(retimed, args.out, ignore=shutil.ignore_patterns(".*"))
    finally:
        channel.queue_delete(queue)
        channel.exchange_delete(f"{SIM_EXCHANGE}.{queue}")
        connection.close()
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"wrote {args.out} ({size / 2**20:.1f} MiB)")
    return 0


def _delivery_order(captured: Path) -> pl.DataFrame:
    """Every captured row (duplicates included) in the order the consumer received them."""
    files = sorted(p for p in captured.rglob("*.parquet") if not p.name.startswith("."))
    frames = [pl.read_parquet(f).with_columns(pl.lit(i).alias("__file")) for i, f in enumerate(files)]
    frame = pl.concat(frames, how="vertical").with_row_index("__row")
    # Within one capture the received_at clock is monotone; part sequence and row break ties.
    return frame.sort("received_at", "__file", "__row", maintain_order=True).drop("__file", "__row")


def simulated_received_at(frame: pl.DataFrame, seed: int) -> pl.Series:
    """``received_at`` as a live capture would have stamped it (see the module docs)."""
    rng = np.random.default_rng(seed)
    n = frame.height
    delay_s = rng.lognormal(np.log(DELAY_MEDIAN_S), DELAY_SIGMA, n)
    slow = rng.random(n) < SLOW_SHARE
    delay_s[slow] += rng.lognormal(np.log(SLOW_MEDIAN_S), SLOW_SIGMA, int(slow.sum()))
    delay = pl.Series("delay_us", np.round(delay_s * 1e6).astype(np.int64)).cast(pl.Duration("us"))
    cloud = pl.coalesce(
        pl.col("arrival_time"),
        pl.col("observed_at") + pl.duration(milliseconds=round(DEVICE_TO_CLOUD_S * 1000)),
    )
    return (
        frame.select(cloud.alias("cloud"))
        .with_columns(delay)
        .select(
            # FIFO: a row is never received before the one delivered ahead of it; a row with
            # neither stamp was received right after its predecessor (or before its successor).
            (pl.col("cloud") + pl.col("delay_us"))
            .cum_max()
            .forward_fill()
            .backward_fill()
            .alias("received_at")
        )
        .to_series()
    )


def retime(captured: Path, out: Path, seed: int) -> dict[str, object]:
    """Rewrite the capture in ``captured`` to ``out`` with simulated ``received_at`` (see the docs).

    Rows, their order and every other column are kept exactly; returns the manifest note.
    """
    frame = _delivery_order(captured)
    manifest = read_manifest(captured)
    (record,) = manifest["captures"]
    new_received = simulated_received_at(frame, seed)
    if new_received.null_count():
        raise SystemExit("some rows have no time at all: cannot re-time them")
    retimed = frame.with_columns(new_received)
    writer = PartWriter(out, capture_id=record["capture_id"])
    for offset in range(0, retimed.height, PART_ROWS):
        writer.write(retimed.slice(offset, PART_ROWS))
    back = _delivery_order(out)
    others = [c for c in frame.columns if c != "received_at"]
    if back.height != frame.height or not back.select(others).equals(frame.select(others)):
        raise SystemExit("re-timing changed a column other than received_at")
    hop = (back["received_at"] - back["arrival_time"]).dt.total_microseconds() / 1e6
    note: dict[str, object] = {
        "what": (
            "received_at re-timed to arrival_time + simulated capture delay; every other column "
            "as captured (the simulator published the simulated days faster than real time)"
        ),
        "delay": {
            "distribution": "lognormal",
            "median_s": DELAY_MEDIAN_S,
            "sigma": DELAY_SIGMA,
            "slow_share": SLOW_SHARE,
            "slow_median_s": SLOW_MEDIAN_S,
            "slow_sigma": SLOW_SIGMA,
            "fifo": True,
            "without_arrival_time": f"observed_at + {DEVICE_TO_CLOUD_S} s + delay",
            "seed": seed,
        },
        "recorded_received_at": [str(frame["received_at"].min()), str(frame["received_at"].max())],
        "received_at": [str(back["received_at"].min()), str(back["received_at"].max())],
        "cloud_to_capture_s": {
            "p50": round(float(hop.quantile(0.5, "linear") or 0), 3),
            "p99": round(float(hop.quantile(0.99, "linear") or 0), 3),
            "max": round(float(hop.max() or 0), 3),  # type: ignore[arg-type]
        },
        "rows": back.height,
        "parts_written": writer.parts_written,
    }
    manifest["retimed"] = note
    (out / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    return note


def _describe(
    root: Path, args: argparse.Namespace, messages: int, errors: int, note: dict[str, object]
) -> None:
    """A README next to the data saying what it is and how it was made."""
    hop = note["cloud_to_capture_s"]
    assert isinstance(hop, dict)
    text = f"""# Sample Easee session (simulated)

{messages:,} AMQP messages of {args.chargers} simulated Easee chargers over {args.days:g} days of device
time from {START:%Y-%m-%d %H:%M} UTC (seed {args.seed}), recorded by `evkit capture amqp` from the local
RabbitMQ. {errors} rows carry a decode error. Re-create with `.venv/bin/python scripts/make-sample.py`.

Read it with `evkit.scan("data/sample-session")`. Device times (`observed_at`) and cloud arrival
(`arrival_time`) span the simulated days, with the simulator's device-to-cloud delays and the live
chargers' schedule: 122 EnergyPerHour stamped on the hour and arriving ~3.4 min later (0 for idle hours),
124 LifetimeEnergy 2-10 min after each hour and at plug-in, 121 SessionEnergy every 10-20 min while
charging and at unplug; schedule pauses are op mode 2 (AwaitingStart, ReasonForNoCurrent 54/76).

**`received_at` is re-timed.** The simulator published the days as fast as possible, so the capture's
wall clock was the recording time, days after the simulated arrivals. After recording,
`scripts/make-sample.py` set each row's `received_at` to its `arrival_time` plus a simulated capture
delay (seeded lognormal, median {DELAY_MEDIAN_S * 1000:.0f} ms; {SLOW_SHARE:.1%} of rows slow, median
{SLOW_MEDIAN_S:g} s; never before the row delivered ahead of it, as a FIFO queue delivers) and rewrote the
parts by the new date. Cloud-to-capture latency of the sample: p50 {hop["p50"]} s, p99 {hop["p99"]} s,
max {hop["max"]} s. Every other column (values, raw bodies, headers, device and arrival stamps) is
exactly as captured; `manifest.json` keeps the real capture record and describes this step under
`retimed`.
"""
    (root / "README.md").write_text(text)


if __name__ == "__main__":
    sys.exit(main())
