"""How long the explorer's interactions take on a generated fleet (default 450 chargers x 30 days,
about 5.4M rows, the same generator as ``benchmarks/analysis.py``).

    python benchmarks/explore.py [--chargers 450 --days 30 --dir DIR]

Each interaction is timed as the app runs it (the controller, without widgets): open the store,
pick one charger (sessions table), one session's curve, energy per day, latency ECDF, quality table,
then one charger and one week, and finally every charger (the fleet-wide view, reads everything).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.analysis import generate
from evkit.explore.controller import ExploreController


def _timed(label: str, func: object) -> object:
    began = time.perf_counter()
    result = func()  # type: ignore[operator]
    print(f"  {label:<40} {time.perf_counter() - began:6.2f} s")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chargers", type=int, default=450)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--dir", type=Path, help="dataset directory (reused when present)")
    args = parser.parse_args()
    tmp = None
    root = args.dir
    if root is None:
        tmp = Path(tempfile.mkdtemp(prefix="evkit-bench-explore-"))
        root = tmp / "data"
    try:
        if not (root.exists() and any(root.rglob("*.parquet"))):
            rows = generate(root, args.chargers, args.days)
            print(f"generated {rows:,} rows ({args.chargers} chargers x {args.days} days) -> {root}")
        print(f"load average: {os.getloadavg()}")
        c = _timed("open the store (chargers, days)", lambda: ExploreController(root, zone="UTC"))
        assert isinstance(c, ExploreController)
        one = c.select(c.chargers[len(c.chargers) // 2])
        table = _timed("one charger: sessions table", lambda: c.session_table(one))
        session = table["session_id"][0]  # type: ignore[index]
        _timed("one session: power curve", lambda: c.session_curve(one, session))
        _timed("one charger: energy per day", lambda: c.energy_figure(one))
        _timed("one charger: latency ECDF", lambda: c.latency_figure(one))
        _timed("one charger: quality table", lambda: c.quality(one))
        assert c.first_day is not None
        week = c.select(one.chargers, c.first_day, c.first_day.replace(day=min(c.first_day.day + 6, 28)))
        _timed("one charger, one week: sessions table", lambda: c.session_table(week))
        every = c.select()
        _timed("all chargers: sessions table", lambda: c.session_table(every))
        print(f"load average: {os.getloadavg()}")
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
