"""Benchmark: ``evkit sessions`` against the minimal Polars floor, careful pandas and DuckDB.

Every contender runs as its own process, timed whole (interpreter start, imports, reading, work,
output) with its peak RSS from ``wait4``; contenders are interleaved and repeated, and the medians are
compared. Datasets (``benchmarks/_dataset.py``): a month of a simulated Easee fleet in two shapes,
``arrival`` (daily partitions in arrival order with ~1 % redelivered copies, what a capture writes)
and ``sorted`` (required columns, sorted by charger). Contenders:

- ``cli``: ``evkit sessions DIR --format json --out FILE`` (what a user runs);
- ``library``: ``evkit.analysis.sessions(evkit.scan(DIR)).collect()``;
- ``floor``: the minimal Polars sessioniser (scan, filter 109/121, sort, cum_sum over charger,
  group_by): the hardware floor we measure ourselves against;
- ``pandas``: a careful pandas version (4 columns, filter 109/121, drop duplicates, sort, one
  ``itertuples`` pass);
- ``duckdb``: the same sessionisation as SQL window functions.

Usage: ``python benchmarks/analysis.py --dir .bench-data/5m [--chargers 500] [--days 30]
[--shape arrival sorted] [--repeat 3] [--contenders cli floor pandas]`` (data generated when absent).
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CONTENDERS = ("cli", "library", "floor", "pandas", "duckdb")


def _files(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*.parquet"))


def floor_sessions(root: Path) -> int:
    """The minimal Polars sessioniser (no gaps, no energy cross-checks)."""
    import polars as pl

    oid, value = pl.col("observation_id"), pl.col("value")
    rows = (
        pl.scan_parquet(_files(root), hive_partitioning=False)
        .select("charger_id", "observation_id", "observed_at", "value")
        .filter(oid.is_in([109, 121]))
        .sort("charger_id", "observed_at")
    )
    mode = pl.when(oid == 109).then(value).forward_fill().over("charger_id")
    rows = rows.with_columns((mode.fill_null(1) != 1).alias("connected"))
    start = pl.col("connected") & pl.col("connected").shift(1).over("charger_id").fill_null(False).not_()
    rows = rows.with_columns(start.alias("start")).with_columns(
        pl.col("start").cast(pl.Int32).cum_sum().over("charger_id").alias("seq")
    )
    out = (
        rows.filter(pl.col("seq") > 0)
        .group_by("charger_id", "seq")
        .agg(
            pl.col("observed_at").filter("start").first().alias("started_at"),
            pl.col("observed_at").filter(pl.col("connected").not_()).first().alias("ended_at"),
            value.filter((oid == 121) & pl.col("connected")).max().alias("energy_kwh"),
        )
        .collect()
    )
    return out.height


def pandas_sessions(root: Path) -> int:
    """A careful pandas version: only the needed columns and ids, one pass with itertuples."""
    import pandas as pd

    cols = ["charger_id", "observation_id", "observed_at", "value"]
    df = pd.concat([pd.read_parquet(f, columns=cols) for f in _files(root)], ignore_index=True)
    df = df[df["observation_id"].isin([109, 121])].drop_duplicates()
    df = df.sort_values(["charger_id", "observed_at"])
    out: list[dict[str, Any]] = []
    for charger, group in df.groupby("charger_id", sort=False):
        current: dict[str, Any] | None = None
        for row in group.itertuples(index=False):
            if row.observation_id == 109:
                if current is None and row.value != 1:
                    current = {"charger_id": charger, "started_at": row.observed_at, "energy_kwh": 0.0}
                elif current is not None and row.value == 1:
                    current["ended_at"] = row.observed_at
                    out.append(current)
                    current = None
            elif current is not None and row.value > 0:
                current["energy_kwh"] = max(current["energy_kwh"], row.value)
        if current is not None:
            current["ended_at"] = None
            out.append(current)
    return len(pd.DataFrame(out))


DUCKDB_SQL = """
with r as (
  select distinct charger_id, observation_id, observed_at, value
  from read_parquet($files, union_by_name = true)
  where observation_id in (109, 121)
), m as (
  select *, coalesce(last_value(case when observation_id = 109 then value end ignore nulls) over w, 1) <> 1
         as connected
  from r window w as (partition by charger_id order by observed_at rows unbounded preceding)
), s as (
  select *, connected and not coalesce(lag(connected) over w, false) as start
  from m window w as (partition by charger_id order by observed_at)
), q as (
  select *, sum(start::int) over (partition by charger_id order by observed_at
                                  rows unbounded preceding) as seq
  from s
)
select charger_id, seq, min(observed_at) filter (where start) as started_at,
       min(observed_at) filter (where not connected) as ended_at,
       max(value) filter (where observation_id = 121 and connected) as energy_kwh
from q where seq > 0 group by charger_id, seq
"""


def duckdb_sessions(root: Path) -> int:
    import duckdb

    con = duckdb.connect()
    return len(con.execute(DUCKDB_SQL, {"files": _files(root)}).fetchall())


def library_sessions(root: Path) -> int:
    from evkit import scan
    from evkit.analysis import sessions

    return sessions(scan(root)).collect().height


#: ``--checkout NAME=PATH``: the CLI of another checkout, run as contender ``cli@NAME`` (PYTHONPATH=PATH).
CHECKOUTS: dict[str, str] = {}


def as_installed(*checkouts: str | Path) -> None:
    """Compile the bytecode of each checkout's ``evkit`` as ``pip install`` does: a checkout run in
    place with ``PYTHONDONTWRITEBYTECODE`` set (as here) would compile every module on every start
    (~0.04 s a run that no installed evkit pays)."""
    for root in checkouts:
        if (Path(root) / "evkit").is_dir():
            compileall.compile_dir(str(Path(root) / "evkit"), quiet=1)


def _env(kind: str) -> dict[str, str] | None:
    if kind == "cli":
        return {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    if not kind.startswith("cli@"):
        return None
    return {**os.environ, "PYTHONPATH": CHECKOUTS[kind.removeprefix("cli@")]}


def _cmd(kind: str, root: Path, out: Path) -> list[str]:
    if kind == "cli" or kind.startswith("cli@"):
        # -P: the current directory (this checkout) must not shadow the PYTHONPATH of cli@NAME
        command = ["-P", "-m", "evkit", "sessions", str(root), "--format", "json", "--out", str(out)]
        return [sys.executable, *command]
    return [sys.executable, str(Path(__file__).resolve()), "--run", kind, "--dir", str(root)]


def run_process(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """Wall, CPU and peak RSS (MB) of ``cmd`` run to completion as a child process."""
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - t0
    err = child.stderr.read().decode() if child.stderr else ""
    if status != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({status}): {err[-2000:]}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024}


def load_avg() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def rows_of(root: Path) -> int:
    import polars as pl

    return int(pl.scan_parquet(_files(root), hive_partitioning=False).select(pl.len()).collect().item())


def bench(
    roots: dict[str, Path], contenders: list[str], repeat: int, out: Path
) -> dict[str, dict[str, list[dict[str, float]]]]:
    """Interleaved runs: round r runs every contender on every shape once."""
    results: dict[str, dict[str, list[dict[str, float]]]] = {s: {c: [] for c in contenders} for s in roots}
    for r in range(repeat):
        for shape, root in roots.items():
            for kind in contenders:
                res = run_process(_cmd(kind, root, out), _env(kind))
                results[shape][kind].append(res)
                print(
                    f"  round {r + 1} {shape:7s} {kind:8s} {res['wall']:6.2f} s wall {res['cpu']:6.2f} s CPU "
                    f"{res['rss_mb']:7,.0f} MB  load {load_avg()}",
                    flush=True,
                )
    return results


def summarise(results: dict[str, dict[str, list[dict[str, float]]]], rows: dict[str, int]) -> None:
    for shape, by_kind in results.items():
        print(f"\n{shape}: {rows[shape]:,} rows (medians)")
        med = {
            k: {m: statistics.median(r[m] for r in runs) for m in ("wall", "cpu", "rss_mb")}
            for k, runs in by_kind.items()
        }
        for kind, m in med.items():
            rate = rows[shape] / m["wall"] / 1e6
            print(
                f"  {kind:8s} {m['wall']:6.2f} s wall {m['cpu']:6.2f} s CPU {m['rss_mb']:7,.0f} MB  "
                f"{rate:5.1f} M rows/s"
            )
        for name in [k for k in med if k == "cli" or k.startswith("cli@")]:
            cli = med[name]["wall"]
            for other in ("floor", "pandas", "duckdb"):
                if other in med:
                    print(
                        f"  {name} / {other}: {cli / med[other]['wall']:.2f}x  "
                        f"({other} / {name}: {med[other]['wall'] / cli:.2f}x); CPU: {name} / {other} "
                        f"{med[name]['cpu'] / med[other]['cpu']:.2f}x"
                    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dir", type=Path, default=HERE.parent / ".bench-data" / "5m")
    parser.add_argument("--chargers", type=int, default=500)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--shape", nargs="+", default=["arrival", "sorted"], choices=("arrival", "sorted"))
    parser.add_argument("--contenders", nargs="+", default=list(CONTENDERS), choices=CONTENDERS)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--varied", action="store_true", help="latencies per message (log-normal), below DIR/varied"
    )
    parser.add_argument(
        "--checkout",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="also run the CLI of the checkout at PATH as contender cli@NAME (before/after in one run)",
    )
    parser.add_argument("--run", help=argparse.SUPPRESS)
    args = parser.parse_args()
    for item in args.checkout:
        name, _, path = item.partition("=")
        CHECKOUTS[name] = str(Path(path).resolve())
        args.contenders.append(f"cli@{name}")
    if args.run:
        func = {
            "library": library_sessions,
            "floor": floor_sessions,
            "pandas": pandas_sessions,
            "duckdb": duckdb_sessions,
        }[args.run]
        print(func(args.dir))
        return 0

    sys.path.insert(0, str(HERE))
    from _dataset import ensure

    roots = {s: ensure(args.dir, s, args.chargers, args.days, varied=args.varied) for s in args.shape}
    rows = {s: rows_of(r) for s, r in roots.items()}
    as_installed(HERE.parent, *CHECKOUTS.values())
    print(f"{os.cpu_count()} CPUs, load before {load_avg()}")
    results = bench(roots, args.contenders, args.repeat, args.dir / "sessions.json")
    print(f"load after {load_avg()}")
    summarise(results, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
