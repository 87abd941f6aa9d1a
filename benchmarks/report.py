"""Benchmark: ``evkit report DIR`` (whole process: wall, CPU, peak RSS, page size) against the careful
pandas sessionisation of the same files, each in its own process, interleaved and repeated.

Usage: ``python benchmarks/report.py --dir .bench-data/5m [--shape arrival sorted] [--repeat 3]
[--checkout before=PATH]`` (datasets from ``benchmarks/_dataset.py``, generated when absent; each
``--checkout`` adds the report of the checkout at PATH as contender ``report@NAME``: before/after in
one run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from analysis import as_installed, load_avg, rows_of, run_process  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dir", type=Path, default=HERE.parent / ".bench-data" / "5m")
    parser.add_argument("--chargers", type=int, default=500)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--shape", nargs="+", default=["arrival", "sorted"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--varied", action="store_true", help="latencies per message (log-normal), below DIR/varied"
    )
    parser.add_argument("--no-pandas", action="store_true", help="time the report only")
    parser.add_argument("--checkout", action="append", default=[], metavar="NAME=PATH")
    args = parser.parse_args()
    checkouts = {
        name: str(Path(path).resolve()) for name, _, path in (c.partition("=") for c in args.checkout)
    }
    from _dataset import ensure

    roots = {s: ensure(args.dir, s, args.chargers, args.days, varied=args.varied) for s in args.shape}
    as_installed(HERE.parent, *checkouts.values())
    print(f"load before {load_avg()}")
    page = args.dir / "report.html"
    runs: dict[tuple[str, str], list[dict[str, float]]] = {}
    for r in range(args.repeat):
        for shape, root in roots.items():
            # -P: the current directory must not shadow the PYTHONPATH of report@NAME
            report = [
                sys.executable,
                "-P",
                "-m",
                "evkit",
                "report",
                str(root),
                "--out",
                str(page),
                "--no-progress",
            ]
            contenders = {"report": report, **{f"report@{name}": report for name in checkouts}}
            if not args.no_pandas:
                contenders["pandas"] = [
                    sys.executable,
                    str(HERE / "analysis.py"),
                    "--run",
                    "pandas",
                    "--dir",
                    str(root),
                ]
            for name, cmd in contenders.items():
                checkout = checkouts.get(name.partition("@")[2], str(HERE.parent))
                res = run_process(
                    cmd, {**os.environ, "PYTHONPATH": checkout} if "pandas" not in name else None
                )
                if name.startswith("report"):
                    res["page_mb"] = page.stat().st_size / 1e6
                runs.setdefault((shape, name), []).append(res)
                extra = f" page {res['page_mb']:.1f} MB" if "page_mb" in res else ""
                print(
                    f"  round {r + 1} {shape:9s} {name:14s} {res['wall']:6.2f} s wall "
                    f"{res['cpu']:6.2f} s CPU "
                    f"{res['rss_mb']:7,.0f} MB{extra}  load {load_avg()}",
                    flush=True,
                )
    print(f"load after {load_avg()}")
    for shape, root in roots.items():
        rows = rows_of(root)
        med = {
            name: {m: statistics.median(r[m] for r in runs[(shape, name)]) for m in runs[(shape, name)][0]}
            for name in ("report", *[f"report@{n}" for n in checkouts], "pandas")
            if (shape, name) in runs
        }
        for name, rep in med.items():
            if name == "pandas":
                continue
            line = f"{shape}: {rows:,} rows; {name} {rep['wall']:.2f} s wall, {rep['cpu']:.2f} s CPU, "
            line += f"{rep['rss_mb']:,.0f} MB, page {rep['page_mb']:.1f} MB, "
            line += f"{rows / rep['wall'] / 1e6:.2f} M rows/s"
            if "pandas" in med:
                pandas = med["pandas"]["wall"]
                line += f"; careful pandas {pandas:.2f} s -> {name} / pandas {rep['wall'] / pandas:.2f}x"
                line += f" wall, {rep['cpu'] / med['pandas']['cpu']:.2f}x CPU"
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
