"""What the store's duplicate view costs (issue 11): ``evkit.scan(DIR, dedupe=True)`` against
``dedupe=False``, both collecting the columns ``evkit sessions`` reads.

Two stores of the arrival shape (500 chargers x 30 days, ~6M rows): ``arrival`` with 1 % redelivered
copies spread over every day, and ``arrival-copies-1day`` holding only one day's copies (what a
crash or a reconnect leaves in real life). Each measurement is its own process, in interleaved
rounds; printed: the medians of CPU and wall of scan + collect, the extra CPU of the duplicate view,
and the 1-minute load.

Usage: ``python benchmarks/dedupe.py --dir .bench-data/5m [--repeat 3] [--checkouts BEFORE AFTER]``;
each child runs ``import evkit`` in a checkout (default: the current directory), rounds interleaved.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _dataset import ensure

COLUMNS = ["charger_id", "observation_id", "observed_at", "value", "value_text", "kind"]
_CHILD = """
import json, sys, time
import evkit
t0, c0 = time.perf_counter(), time.process_time()
frame = evkit.scan(sys.argv[1], dedupe=sys.argv[2] == "1").select(json.loads(sys.argv[3])).collect()
print(json.dumps([time.perf_counter() - t0, time.process_time() - c0, frame.height]))
"""


def one_day_of_copies(arrival: Path, out: Path, keep_day: str) -> Path:
    """``arrival`` with the redelivered copies of every day but ``keep_day`` left out."""
    if any(out.rglob("*.parquet")):
        return out
    for day in sorted(arrival.glob("date=*")):
        frame = pl.read_parquet(sorted(day.glob("*.parquet")), hive_partitioning=False)
        if day.name != f"date={keep_day}":
            frame = frame.filter(pl.col("redelivered").fill_null(False).not_())
        (out / day.name).mkdir(parents=True, exist_ok=True)
        frame.write_parquet(out / day.name / "part-bench.parquet", compression="zstd")
    return out


def _child(store: Path, dedupe: bool, checkout: Path) -> tuple[float, float, int]:
    argv = [sys.executable, "-c", _CHILD, str(store), "1" if dedupe else "0", json.dumps(COLUMNS)]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=checkout, env=env)
    wall, cpu, rows = json.loads(done.stdout.strip().splitlines()[-1])
    return wall, cpu, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, default=Path(".bench-data/5m"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--day", default="2026-02-15", help="the day whose copies the second store keeps")
    parser.add_argument(
        "--checkouts",
        nargs="+",
        type=Path,
        default=[Path.cwd()],
        help="evkit checkouts to compare (rounds interleaved)",
    )
    args = parser.parse_args()
    arrival = ensure(args.dir, "arrival", 500, 30)
    stores = {
        "arrival": arrival,
        "arrival-copies-1day": one_day_of_copies(arrival, args.dir / "arrival-copies-1day", args.day),
    }
    print(f"load {os.getloadavg()[0]:.1f}")
    for name, store in stores.items():
        runs: dict[tuple[Path, bool], list[tuple[float, float, int]]] = {}
        loads = []
        for _ in range(args.repeat):
            for checkout in args.checkouts:
                for dedupe in (False, True):
                    runs.setdefault((checkout, dedupe), []).append(_child(store, dedupe, checkout.resolve()))
                    loads.append(f"{os.getloadavg()[0]:.1f}")
        for checkout in args.checkouts:
            med = {
                d: (
                    statistics.median(r[0] for r in runs[checkout, d]),
                    statistics.median(r[1] for r in runs[checkout, d]),
                )
                for d in (False, True)
            }
            rows = {d: runs[checkout, d][0][2] for d in (False, True)}
            print(
                f"{name} [{checkout}]: plain {med[False][1]:.2f} s CPU ({med[False][0]:.2f} s wall, "
                f"{rows[False]:,} rows); dedupe {med[True][1]:.2f} s CPU ({med[True][0]:.2f} s wall, "
                f"{rows[True]:,} rows); duplicate view +{med[True][1] - med[False][1]:.2f} s CPU"
            )
        print(f"  (load {', '.join(loads)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
