"""Compaction of one large day, on a local store and on S3 (SeaweedFS): time and peak RSS (issue 11).

A fleet's day of millions of rows is sorted a range at a time (``evkit.store.compact.SORT_ROWS``),
so memory follows a range, not the day. The day is made of ``--days`` days of the ``arrival``
dataset of ``--dir`` (each a part), stored under one ``date=`` folder or prefix, as captures leave it;
``evkit compact`` then merges it into one sorted part, each run its own process (``wait4``). Printed:
rows, wall, CPU, peak RSS, and that the merged part holds the same rows as its inputs.

Usage: ``python benchmarks/compact.py --dir .bench-data/50m [--days 3] [--repeat 2]`` (the S3 store is
the test server's, started by ``make s3``; its test identity is used, a bucket is made and removed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from analysis import run_process  # noqa: E402  (one way to time a whole process, with its peak RSS)

DAY = "2026-02-01"


def _day_parts(src: Path, days: int) -> list[Path]:
    found = sorted(p for d in sorted(src.glob("date=*"))[:days] for p in d.glob("*.parquet"))
    if len(found) < 2:
        raise SystemExit(f"{src}: fewer than two parts in the first {days} days")
    return found


def _rows(source: str, env: dict[str, str]) -> int:
    """The rows of the store, read by evkit as a user would."""
    code = (
        "import sys, polars as pl; from evkit.store import scan;"
        "print(scan(sys.argv[1], dedupe=False).select(pl.len()).collect().item())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, source], env=env, capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dir", type=Path, default=HERE.parent / ".bench-data" / "50m")
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    parts = _day_parts(args.dir / "arrival", args.days)
    import obstore
    from obstore.store import S3Store

    from tests.s3fixtures import make_bucket, remove_bucket, s3_environ

    env = {**os.environ, **s3_environ(), "PYTHONPATH": str(HERE.parent)}
    results: dict[str, list[dict[str, float]]] = {"local": [], "s3": []}
    rows: dict[str, int] = {}
    for round_ in range(args.repeat):
        with tempfile.TemporaryDirectory(dir=HERE.parent / ".bench-data") as tmp:
            local = Path(tmp) / "store"
            (local / f"date={DAY}").mkdir(parents=True)
            for n, part in enumerate(parts):
                shutil.copy(part, local / f"date={DAY}" / f"part-bench-{n:04d}.parquet")
            bucket = f"evkit-bench-{uuid.uuid4().hex[:8]}"
            make_bucket(bucket)
            try:
                store = S3Store(
                    bucket,
                    endpoint=env["AWS_ENDPOINT_URL"],
                    access_key_id=env["AWS_ACCESS_KEY_ID"],
                    secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                    region=env["AWS_REGION"],
                    client_options={"allow_http": True},
                )
                for n, part in enumerate(parts):
                    obstore.put(store, f"fleet/date={DAY}/part-bench-{n:04d}.parquet", part.read_bytes())
                sources = {"local": str(local), "s3": f"s3://{bucket}/fleet"}
                for name, source in sources.items():
                    before = _rows(source, env)
                    res = run_process([sys.executable, "-m", "evkit", "compact", source], env)
                    after = _rows(source, env)
                    if before != after:
                        raise SystemExit(f"{name}: {before:,} rows before compaction, {after:,} after")
                    rows[name] = after
                    results[name].append(res)
                    print(
                        f"  round {round_ + 1} {name:5s} {after:,} rows  {res['wall']:6.2f} s wall "
                        f"{res['cpu']:6.2f} s CPU {res['rss_mb']:7,.0f} MB",
                        flush=True,
                    )
            finally:
                remove_bucket(bucket)
    print(f"\none day of {len(parts)} parts (medians)")
    for name, runs in results.items():
        med = {m: statistics.median(r[m] for r in runs) for m in ("wall", "cpu", "rss_mb")}
        print(
            f"  {name:5s} {rows[name]:,} rows  {med['wall']:6.2f} s wall {med['cpu']:6.2f} s CPU "
            f"{med['rss_mb']:7,.0f} MB peak RSS  {rows[name] / med['wall'] / 1e6:4.1f} M rows/s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
