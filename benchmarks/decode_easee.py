"""Benchmark: decoding Easee AMQP deliveries vs a bare ``json.loads`` loop (single core).

    .venv/bin/python benchmarks/decode_easee.py [--messages 200000] [--batch 2000]

Bodies come from the Easee fleet simulator (realistic Masterloop mix: power, energy, currents,
voltages, op modes ... with an ArrivalTime header). Baseline: ``json.loads`` of every body, nothing else.
evkit: ``decode_deliveries`` in capture-sized batches, producing the full dataset rows (schema, times,
catalog names, labels, headers JSON): the vectorised fast path, and (A/B in the same run) the pure
Python path it falls back to (``decode_deliveries_python``). Rates are per CPU second of this
process (``time.process_time``), so other jobs on the machine skew them less than wall time would.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

from evkit.easee.decode import Delivery, decode_deliveries, decode_deliveries_python
from evkit.sim.easee import EaseeFleet


def make_deliveries(count: int) -> list[Delivery]:
    fleet = EaseeFleet(40, seed=1, start=datetime(2024, 5, 1, tzinfo=UTC))
    received = 1_714_521_600_000_000
    messages = itertools.islice(fleet.messages(30 * 86400), count)
    return [
        Delivery(m.routing_key, m.body, m.headers, False, received + index)
        for index, m in enumerate(messages)
    ]


def best_of(runs: int, work: Callable[[], None]) -> float:
    timings = []
    for _ in range(runs):
        gc.collect()
        started = time.process_time()
        work()
        timings.append(time.process_time() - started)
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=2000, help="deliveries per decode call (capture-like)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    deliveries = make_deliveries(args.messages)
    count = len(deliveries)
    bodies = [d.body for d in deliveries]
    batches = [deliveries[i : i + args.batch] for i in range(0, count, args.batch)]
    size = sum(map(len, bodies)) / count
    print(f"{count} simulated Masterloop deliveries, {size:.0f} bytes per body on average")

    def baseline() -> None:
        loads = json.loads
        for body in bodies:
            loads(body)

    rows = sum(decode_deliveries(batch).height for batch in batches)
    assert rows == count, "one row per delivery"
    base = best_of(args.runs, baseline)
    print(f"baseline json.loads loop        : {count / base:>10,.0f} msg/s")
    for batch_size in sorted({args.batch, 1000, 2500, 5000}):
        sized = [deliveries[i : i + batch_size] for i in range(0, count, batch_size)]
        for label, decode in (("fast path", decode_deliveries), ("Python path", decode_deliveries_python)):
            took = best_of(args.runs, lambda decode=decode, sized=sized: [decode(b) for b in sized])
            print(
                f"evkit {label:<11} batch {batch_size:>5}: {count / took:>10,.0f} msg/s  "
                f"({took / count * 1e6:.2f} µs/msg, ratio to json.loads {base / took:.2f})"
            )


if __name__ == "__main__":
    main()
