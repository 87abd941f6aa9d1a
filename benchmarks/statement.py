"""Benchmark: ``evkit statement`` of a month for a fleet, priced at an hourly tariff.

Generates the fleet of ``benchmarks/analysis.py`` (500 chargers x 30 days, ~5.9M observations written
with PartWriter as a capture would), adds an RFID token (128) to 90 % of the sessions (a pool of 2,000
cards; the rest charge without a card) and writes an hourly day-ahead-like tariff (CSV, 744 rows).
Then, each as a fresh subprocess (wall time and peak RSS from ``wait4``):

- ``evkit sessions DIR --format parquet`` (the baseline: sessions without cost);
- ``evkit sessions DIR --tariff prices.csv --format parquet`` (cost per session added);
- ``evkit statement DIR --tariff prices.csv --from 2026-02-01 --to 2026-03-01 --tz Europe/Oslo
  --by token --format parquet`` (and ``--format xlsx``).

Usage: ``python benchmarks/statement.py [--chargers 500] [--days 30] [--dir DIR] [--repeat 3]``
(a given DIR is reused when it already holds the data).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analysis import START, generate

from evkit.store.schema import EASEE_SCHEMA
from evkit.store.writer import PartWriter

CARDS = 2_000


def add_tokens(root: Path, seed: int = 7) -> int:
    """A 128 UserIdToken 20 s after 90 % of the plug-ins (op mode 109 -> 2), from a pool of cards."""
    plugs = (
        pl.scan_parquet(root / "**/*.parquet")
        .filter((pl.col("observation_id") == 109) & (pl.col("value") == 2))
        .select("charger_id", "observed_at")
        .unique()
        .collect()
    )
    rng = np.random.default_rng(seed)
    with_card = plugs.filter(pl.Series(rng.random(plugs.height) < 0.9))
    cards = [f"{i:08X}" for i in rng.integers(0, 2**32, CARDS)]
    tokens = pl.Series(cards)[rng.integers(0, CARDS, with_card.height)]
    at = pl.col("observed_at") + timedelta(seconds=20)
    frame = with_card.with_columns(tokens.alias("value_text")).select(
        (at + timedelta(seconds=1)).alias("received_at"),
        at.alias("arrival_time"),
        at.alias("observed_at"),
        "charger_id",
        pl.lit(128).alias("observation_id"),
        pl.lit("UserIdToken").alias("observation"),
        pl.lit(None, pl.Float64).alias("value"),
        "value_text",
        pl.lit("observation").alias("kind"),
        pl.format("{}.O.128", pl.col("charger_id")).alias("routing_key"),
        pl.lit(False).alias("redelivered"),
        pl.lit(b"{}").alias("raw"),
        pl.lit(None, pl.String).alias("error"),
    )
    frame = frame.cast({k: v for k, v in EASEE_SCHEMA.items() if k in frame.columns}).sort("received_at")
    writer = PartWriter(root, capture_id="bench-tokens")
    writer.write(frame)
    return frame.height


def write_tariff(path: Path, days: int, seed: int = 3) -> int:
    """Hourly prices (a daily curve plus noise, some negative hours) from START for ``days`` + 2 days."""
    hours = (days + 2) * 24
    rng = np.random.default_rng(seed)
    t = [START + timedelta(hours=h) for h in range(hours)]
    daily = 0.25 + 0.12 * np.sin((np.arange(hours) % 24 - 6) / 24 * 2 * np.pi)
    price = np.round(daily + rng.normal(0, 0.05, hours), 4)
    co2 = np.round(250 + 80 * rng.random(hours), 1)
    pl.DataFrame(
        {"from": [x.strftime("%Y-%m-%dT%H:%M:%SZ") for x in t], "price": price, "co2": co2}
    ).write_csv(path)
    return hours


def _run(cmd: list[str]) -> dict[str, float]:
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"failed ({status}): {' '.join(cmd)}")
    return {"seconds": seconds, "cpu_s": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024}


def _load(label: str) -> str:
    one, five, fifteen = os.getloadavg()
    return f"{label}: {one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min) on {os.cpu_count()} CPUs"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chargers", type=int, default=500)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--dir", type=Path, help="dataset directory (reused when present)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command (the fastest is kept)")
    args = parser.parse_args()
    tmp = None
    root = args.dir
    if root is None:
        tmp = Path(tempfile.mkdtemp(prefix="evkit-bench-statement-"))
        root = tmp / "data"
    work = root.parent
    tariff = work / "prices.csv"
    try:
        if not (root.exists() and any(root.rglob("*.parquet"))):
            t0 = time.perf_counter()
            rows = generate(root, args.chargers, args.days)
            tokens = add_tokens(root)
            print(
                f"generated {rows + tokens:,} rows ({args.chargers} chargers x {args.days} days, "
                f"{tokens:,} card reads) in {time.perf_counter() - t0:.1f} s -> {root}"
            )
        hours = write_tariff(tariff, args.days)
        rows = pl.scan_parquet(root / "**/*.parquet").select(pl.len()).collect().item()
        print(f"dataset: {rows:,} rows; tariff: {hours} hourly prices; polars {pl.__version__}")
        month = ("--from", "2026-02-01", "--to", "2026-03-01", "--tz", "Europe/Oslo")
        ev = [sys.executable, "-m", "evkit"]
        out = {name: str(work / name) for name in ("s.parquet", "c.parquet", "st.parquet", "st.xlsx")}
        priced = ["--tariff", str(tariff)]
        commands = {
            "evkit sessions (no cost)": [
                *ev,
                "sessions",
                str(root),
                "--format",
                "parquet",
                "--out",
                out["s.parquet"],
            ],
            "evkit sessions --tariff (cost per session)": [
                *ev,
                "sessions",
                str(root),
                *priced,
                "--format",
                "parquet",
                "--out",
                out["c.parquet"],
            ],
            "evkit statement --by token (parquet)": [
                *ev,
                "statement",
                str(root),
                *priced,
                *month,
                "--format",
                "parquet",
                "--out",
                out["st.parquet"],
            ],
            "evkit statement --by token (xlsx)": [
                *ev,
                "statement",
                str(root),
                *priced,
                *month,
                "--format",
                "xlsx",
                "--out",
                out["st.xlsx"],
            ],
        }
        print(_load("load average before"))
        for name, cmd in commands.items():
            best = min((_run(cmd) for _ in range(args.repeat)), key=lambda r: r["seconds"])
            print(
                f"{name:45s} {best['seconds']:7.2f} s wall {best['cpu_s']:7.2f} s CPU  "
                f"peak RSS {best['rss_mb']:7,.0f} MB"
            )
        print(_load("load average after "))
        statement = pl.read_parquet(work / "st.parquet")
        costed = pl.read_parquet(work / "c.parquet")
        print(
            f"statement: {statement.height:,} rows (cards + no card), {int(statement['sessions'].sum()):,} "
            f"sessions, {statement['energy_kwh'].sum():,.0f} kWh, cost {statement['cost'].sum():,.2f}; "
            f"sessions priced {costed['cost'].is_not_null().sum():,} of {costed.height:,}, "
            f"profiles {dict(costed['cost_profile'].value_counts().iter_rows())}"
        )
        return 0
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
