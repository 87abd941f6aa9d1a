"""How long each interaction of ``evkit.explore(store)`` takes on the 5M-row fleet, against the
baseline of reading the selected rows per interaction (the explorer before its per-store summary).

    python benchmarks/explore.py [--dir .bench-data/5m/compacted] [--rounds 3] [--no-baseline]

The dataset is ``benchmarks/_dataset.py``'s month of a simulated fleet (generated into ``--dir`` when
absent). Each interaction runs as the app runs it: ``ExploreApp`` (widgets, no browser) picks chargers,
days and zone with ``choose`` (sessions table redrawn), switches tabs (energy, latency, quality), and
selects a session (its power curve). The baseline does the same computation from the rows the
selection reads (``evkit.scan(store, where=selection)``, then ``sessions``/``energy_per_day``/
``latency``/``quality_summary``). Rounds interleave new and baseline; the medians are printed with
the ratio and the 1-minute load average around each round.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from evkit.explore import summary as summary_module  # noqa: E402
from evkit.explore.app import ExploreApp  # noqa: E402
from evkit.explore.controller import ExploreController, Selection  # noqa: E402
from evkit.explore.summary import store_summary  # noqa: E402


def _seconds(func: Callable[[], object]) -> float:
    began = time.perf_counter()
    func()
    return time.perf_counter() - began


def _load() -> float:
    return os.getloadavg()[0]


def _baseline(store: Path, selection: Selection, view: str) -> Callable[[], object]:
    """The view computed from the selection's rows, as the explorer did before the summary."""
    from evkit.analysis import energy_per_day, quality_summary, sessions
    from evkit.analysis.latency import latency
    from evkit.store.reader import scan

    def run() -> object:
        rows = scan(store, where=selection.predicate())
        if view == "sessions":
            return sessions(rows).collect()
        if view == "energy":
            return energy_per_day(rows, zone=selection.zone).collect()
        if view == "latency":
            return latency(rows).collect()
        return quality_summary(rows).collect()

    return run


def interactions(
    app: ExploreApp, store: Path
) -> list[tuple[str, Callable[[], object], Callable[[], object] | None]]:
    """(label, the app's interaction, the baseline's computation) in the order a user clicks."""
    c = app.controller
    one = c.chargers[len(c.chargers) // 2]
    assert c.first_day is not None and c.last_day is not None
    week_end = c.first_day.replace(day=min(c.first_day.day + 6, 28))

    def pick(
        chargers: str, start: object = None, end: object = None, zone: str | None = None
    ) -> Callable[[], object]:
        return lambda: app.choose(chargers, start, end, zone)  # type: ignore[arg-type]

    def tab(index: int) -> Callable[[], object]:
        def run() -> None:
            app.tabs.selected_index = 0
            app.update()  # forget drawn tabs, as a selection change does
            began = time.perf_counter()
            app.tabs.selected_index = index
            run.elapsed = time.perf_counter() - began  # type: ignore[attr-defined]

        return run

    def session() -> None:
        app.table.selected_rows = [len(app.session_ids) // 2]  # what a click on a row does

    sel = c.select
    month = (c.first_day, c.last_day)
    rows: list[tuple[str, Callable[[], object], Callable[[], object] | None]] = [
        (
            "pick one charger (sessions table)",
            pick(one, *month, "UTC"),
            _baseline(store, sel(one, *month, "UTC"), "sessions"),
        ),
        ("  its session: power curve", session, None),
        ("  one: tab energy per day", tab(1), _baseline(store, sel(one, *month, "UTC"), "energy")),
        ("  one: tab latency ECDF", tab(2), _baseline(store, sel(one, *month, "UTC"), "latency")),
        ("  one: tab data quality", tab(3), _baseline(store, sel(one, *month, "UTC"), "quality")),
        (
            "pick all chargers, whole month",
            pick("all"),
            _baseline(store, sel(None, *month, "UTC"), "sessions"),
        ),
        ("  a session: power curve", session, None),
        ("  all: tab energy per day", tab(1), _baseline(store, sel(None, *month, "UTC"), "energy")),
        ("  all: tab latency ECDF", tab(2), _baseline(store, sel(None, *month, "UTC"), "latency")),
        ("  all: tab data quality", tab(3), _baseline(store, sel(None, *month, "UTC"), "quality")),
        (
            "change date range: first week",
            pick("all", c.first_day, week_end),
            _baseline(store, sel(None, c.first_day, week_end, "UTC"), "sessions"),
        ),
        (
            "change zone: Europe/Oslo",
            pick("all", zone="Europe/Oslo"),
            _baseline(store, sel(None, c.first_day, week_end, "Europe/Oslo"), "sessions"),
        ),
        (
            "  tab energy per day (Oslo days)",
            tab(1),
            _baseline(store, sel(None, c.first_day, week_end, "Europe/Oslo"), "energy"),
        ),
    ]
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=HERE.parent / ".bench-data" / "5m" / "compacted")
    parser.add_argument("--chargers", type=int, default=450)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-baseline", action="store_true", help="time only the explorer")
    args = parser.parse_args()
    root: Path = args.dir
    if not (root.exists() and any(root.rglob("*.parquet"))):
        from benchmarks._dataset import generate

        rows = generate(root, args.chargers, args.days)
        print(f"generated {rows:,} rows ({args.chargers} chargers x {args.days} days) -> {root}")

    # The disk cache of summaries in a fresh directory: the first open reads the store.
    cache = tempfile.mkdtemp(prefix="evkit-bench-explore-cache-")
    os.environ["EVKIT_CACHE_DIR"] = cache
    load = _load()
    began = time.perf_counter()
    controller = ExploreController(root, zone="UTC", progress=lambda text: print(f"  [progress] {text}"))
    first = time.perf_counter() - began
    summary = controller.summary
    assert summary is not None
    print(f"first open (reads the store once, {summary.rows:,} rows): {first:.1f} s (load {load:.2f})")
    print(f"open again (cached while the parts are unchanged): {_seconds(lambda: store_summary(root)):.3f} s")
    summary_module._SUMMARIES.clear()  # as in a new kernel: only the disk cache is left
    print(f"open in a new kernel (disk cache): {_seconds(lambda: store_summary(root)):.3f} s")
    shutil.rmtree(cache, ignore_errors=True)
    app = ExploreApp(controller)

    steps = interactions(app, root)
    new: dict[str, list[float]] = {label: [] for label, _, _ in steps}
    old: dict[str, list[float]] = {label: [] for label, _, _ in steps}
    loads = []
    for round_ in range(args.rounds):
        loads.append(_load())
        for label, run, baseline in steps:
            seconds = _seconds(run)
            new[label].append(getattr(run, "elapsed", seconds))
            if baseline is not None and not args.no_baseline:
                old[label].append(_seconds(baseline))
        loads.append(_load())
        print(f"round {round_ + 1}/{args.rounds} done (load {loads[-1]:.2f})")

    print(
        f"\n{summary.rows:,} rows, {len(controller.chargers)} chargers; "
        f"medians of {args.rounds} interleaved rounds;"
    )
    print(f"1-minute load average {min(loads):.2f}-{max(loads):.2f}")
    print(f"{'interaction':<38} {'explorer':>9} {'baseline':>9} {'ratio':>7}")
    worst = 0.0
    for label, _, _ in steps:
        ours = statistics.median(new[label])
        worst = max(worst, ours)
        if old[label]:
            theirs = statistics.median(old[label])
            print(f"{label:<38} {ours:8.3f}s {theirs:8.2f}s {theirs / ours:6.0f}x")
        else:
            print(f"{label:<38} {ours:8.3f}s {'':>9} {'':>7}")
    print(f"slowest interaction: {worst:.3f} s ({'under' if worst < 1 else 'NOT under'} 1 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
