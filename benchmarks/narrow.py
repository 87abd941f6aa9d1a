"""Narrow questions read narrow data (issue 11): one charger over a month against the whole fleet.

On a store compacted by ``evkit compact`` (each finished day sorted by charger and device time, row
groups with statistics), every contender runs as its own whole process (start-up included), in
interleaved rounds:

- ``sessions``: ``evkit sessions DIR --format json`` against the same with ``--charger ID``;
- ``latency``: ``evkit latency DIR --format json`` against ``--charger ID --from T --to T``
  (the month of the data).

Bytes are what each run brings from disk: the store's files are evicted from the page cache
(``posix_fadvise(DONTNEED)``), the command runs once, and ``fincore`` counts the store's pages now
cached. That counts the kernel's readahead and memory-mapped reads alike (a count of the bytes
requested by ``read``/``pread`` calls, used before, showed 10 MB where the kernel read 37 MB). The
whole fleet's run is counted the same way. Printed: wall and CPU (medians), peak RSS, bytes, the
ratios, and the 1-minute load.

Usage: ``python benchmarks/narrow.py --dir .bench-data/5m [--charger EH000123] [--repeat 3]``
(the compacted store is made from ``DIR/arrival`` once, in ``DIR/compacted-rg<rows>-max<groups>``; ``--store``
names another). The commands run ``python -m evkit`` in the current directory: run it from a
checkout to measure that checkout.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _dataset import compacted_copy, ensure
from analysis import as_installed

from evkit.store.compact import MAX_ROW_GROUPS, ROW_GROUP_ROWS

COMMANDS = ("sessions", "latency")


def _argv(command: str, store: Path, charger: str | None, window: tuple[str, str]) -> list[str]:
    argv = [sys.executable, "-m", "evkit", command, str(store), "--format", "json"]
    if charger:
        argv += ["--charger", charger]
        if command == "latency":
            argv += ["--from", window[0], "--to", window[1]]
    return argv


def _run(argv: list[str]) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MB) of one whole process, measured by the kernel."""
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # child
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.execv(argv[0], argv)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{' '.join(argv)} failed (exit {os.waitstatus_to_exitcode(status)})")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def _parts(store: Path) -> list[Path]:
    return sorted(store.rglob("*.parquet"))


def _bytes_from_disk(argv: list[str], store: Path) -> int:
    """Bytes of the store's files that one run of ``argv`` brings into the page cache (evicted first)."""
    parts = _parts(store)
    for part in parts:
        fd = os.open(part, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cached = subprocess.run(
        ["fincore", "--bytes", "--noheadings", "--output", "RES", *map(str, parts)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return sum(int(n) for n in cached)


def _load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, default=Path(".bench-data/5m"))
    parser.add_argument("--chargers", type=int, default=500)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--charger", default="EH000123")
    parser.add_argument("--from", dest="start", default="2026-02-01")
    parser.add_argument("--to", dest="end", default="2026-03-03")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--store", type=Path, help="an existing compacted store instead (e.g. older layouts)")
    parser.add_argument("--commands", nargs="+", default=["sessions", "latency"], choices=COMMANDS)
    args = parser.parse_args()

    arrival = ensure(args.dir, "arrival", args.chargers, args.days)
    store = args.store or args.dir / f"compacted-rg{ROW_GROUP_ROWS}-max{MAX_ROW_GROUPS}"
    if not any(store.rglob("part-compacted-*.parquet")):
        shutil.rmtree(store, ignore_errors=True)
        print(f"compacting a copy of {arrival} into {store} ...", flush=True)
        compacted_copy(arrival, store)
    window = (args.start, args.end)
    as_installed(Path.cwd())
    rows = pq.read_metadata(next(store.rglob("*.parquet"))).row_group(0).num_rows
    print(f"store {store} ({rows}-row groups), charger {args.charger}, evkit in {Path.cwd()}, load {_load()}")

    for command in args.commands:
        whole = _argv(command, store, None, window)
        one = _argv(command, store, args.charger, window)
        read_one = _bytes_from_disk(one, store)
        read_whole = _bytes_from_disk(whole, store)
        files = sum(part.stat().st_size for part in _parts(store))
        runs: dict[str, list[tuple[float, float, float]]] = {"whole": [], "one": []}
        loads = []
        for _ in range(args.repeat):
            for name, argv in (("whole", whole), ("one", one)):
                runs[name].append(_run(argv))
                loads.append(_load())
        med = {k: [statistics.median(r[i] for r in v) for i in range(3)] for k, v in runs.items()}
        print(
            f"\n{command}: whole fleet vs --charger {args.charger}"
            + (" --from/--to" if command == "latency" else "")
        )
        for name in ("whole", "one"):
            wall, cpu, rss = med[name]
            print(f"  {name:5s} wall {wall:6.2f} s  CPU {cpu:6.2f} s  peak RSS {rss:6.0f} MB")
        print(
            f"  bytes from disk: one charger {read_one / 1e6:.2f} MB, whole fleet {read_whole / 1e6:.1f} MB, "
            f"files {files / 1e6:.1f} MB"
        )
        print(
            f"  ratio: bytes {100 * read_one / read_whole:.1f} % of the whole fleet's, "
            f"{100 * read_one / files:.1f} % of the files; "
            f"wall {100 * med['one'][0] / med['whole'][0]:.1f} %, "
            f"CPU {100 * med['one'][1] / med['whole'][1]:.1f} %  (load {', '.join(loads)})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
