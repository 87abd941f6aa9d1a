"""Narrow questions read narrow data (issue 11): one charger over a month against the whole fleet.

On a store compacted by ``evkit compact`` (each finished day sorted by charger and device time, row
groups with statistics), every contender runs as its own whole process (start-up included), in
interleaved rounds:

- ``sessions``: ``evkit sessions DIR --format json`` against the same with ``--charger ID``;
- ``latency``: ``evkit latency DIR --format json`` against ``--charger ID --from T --to T``
  (the month of the data).

Bytes read are counted with ``strace`` (``read``/``pread64``/``preadv`` on the store's files; a run
that memory-maps a store file is flagged, since its mapped pages escape the count). The whole fleet's
Polars run maps the files, so its denominator is the **least any whole-fleet read needs**: the column
chunks of the columns the narrow run read (found from the offsets it read at) in every row group,
plus the footers, beside the files' total size. Printed: wall and CPU (medians), peak RSS, bytes,
the ratios, and the 1-minute load.

Usage: ``python benchmarks/narrow.py --dir .bench-data/5m [--charger EH000123] [--repeat 3]``
(the compacted store is made from ``DIR/arrival`` once, in ``DIR/compacted-rg<rows>-max<groups>``; ``--store``
names another). The commands run ``python -m evkit`` in the current directory: run it from a
checkout to measure that checkout.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _dataset import compacted_copy, ensure
from analysis import as_installed

from evkit.store.compact import MAX_ROW_GROUPS, ROW_GROUP_ROWS

COMMANDS = ("sessions", "latency")
_IO = re.compile(r"^\d+\s+(read|pread64|preadv)\((\d+)<([^>]*)>.*\)\s+=\s+(\d+)")
_AT = re.compile(r", (\d+), (\d+)\)\s+=\s+\d+$")
_MAP = re.compile(r"^\d+\s+mmap\(.*<([^>]*)>")


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


def _bytes_read(argv: list[str], store: Path) -> tuple[int, int, set[str]]:
    """(bytes read from the store's files by syscalls, store files memory-mapped, the columns whose
    chunks were read) under strace."""
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "trace"
        subprocess.run(
            ["strace", "-f", "-y", "-e", "trace=read,pread64,preadv,mmap", "-o", str(log), *argv],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        total, mapped = 0, 0
        prefix = str(store.resolve())
        columns: set[str] = set()
        for line in log.read_text(errors="replace").splitlines():
            if (m := _IO.match(line)) and m.group(3).startswith(prefix):
                total += int(m.group(4))
                if at := _AT.search(line):
                    columns |= _columns_at(m.group(3), int(at.group(2)), int(at.group(1)))
            elif (m := _MAP.match(line)) and m.group(1).startswith(prefix):
                mapped += 1
    return total, mapped, columns


@functools.cache
def _metadata(part: str) -> pq.FileMetaData:
    """A part's footer, read once (a 60M-row store is read by thousands of syscalls)."""
    return pq.read_metadata(part)


def _columns_at(part: str, offset: int, length: int) -> set[str]:
    """The columns whose chunks in ``part`` overlap bytes [offset, offset + length)."""
    meta = _metadata(part)
    found = set()
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            chunk = group.column(c)
            first = chunk.dictionary_page_offset or chunk.data_page_offset
            if first < offset + length and offset < first + chunk.total_compressed_size:
                found.add(chunk.path_in_schema)
    return found


def _least_whole(store: Path, columns: set[str]) -> tuple[int, int]:
    """(column chunks of ``columns`` + footers, files' size) over the store's parts."""
    least = files = 0
    for part in sorted(store.rglob("*.parquet")):
        meta = pq.read_metadata(part)
        least += meta.serialized_size + 8
        files += part.stat().st_size
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            for c in range(group.num_columns):
                if group.column(c).path_in_schema in columns:
                    least += group.column(c).total_compressed_size
    return least, files


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
    parser.add_argument(
        "--columns",
        nargs="+",
        help="the columns of the least whole read (default: those the narrow run read)",
    )
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
        read_one, mapped_one, columns = _bytes_read(one, store)
        read_whole, mapped_whole, _ = _bytes_read(whole, store)
        if args.columns:
            columns = set(args.columns)
        least, files = _least_whole(store, columns)
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
            f"  bytes: one charger {read_one / 1e6:.2f} MB read by syscalls"
            f"{f' (+{mapped_one} mapped files!)' if mapped_one else ''}; whole fleet least "
            f"{least / 1e6:.1f} MB ({', '.join(sorted(columns))} + footers), files {files / 1e6:.1f} MB; "
            f"whole-fleet run: {read_whole / 1e6:.1f} MB by syscalls + {mapped_whole} mapped files"
        )
        print(
            f"  ratio: bytes {100 * read_one / least:.1f} % of the least whole read, "
            f"{100 * read_one / files:.1f} % of the files; "
            f"wall {100 * med['one'][0] / med['whole'][0]:.0f} %, "
            f"CPU {100 * med['one'][1] / med['whole'][1]:.0f} %  (load {', '.join(loads)})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
