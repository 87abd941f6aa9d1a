"""How a fleet's work is split for a cluster: pure functions, no Dask.

A session, a latency pairing or an energy figure never spans chargers, so the unit of work is a
group of chargers. Groups are contiguous runs of the sorted charger ids: a task then reads rows with
``lo <= charger_id <= hi`` (plus membership), which Parquet statistics can answer per row group on
sorted, compacted parts (the reader skips row groups outside the range), and every charger is in
exactly one group. Rows without a charger id (evcc site data, unparsable keys) are a group of their
own, so nothing is left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class ChargerGroup:
    """The chargers of one task (``None``: the rows without a charger id)."""

    chargers: tuple[str, ...] | None

    def predicate(self) -> pl.Expr:
        """The row filter of this group (range first: Parquet statistics prune by it)."""
        if self.chargers is None:
            return pl.col("charger_id").is_null()
        lo, hi = self.chargers[0], self.chargers[-1]
        in_range = (pl.col("charger_id") >= lo) & (pl.col("charger_id") <= hi)
        return in_range & pl.col("charger_id").is_in(list(self.chargers))


def split_chargers(chargers: Sequence[str], tasks: int) -> list[tuple[str, ...]]:
    """Sorted distinct ``chargers`` in at most ``tasks`` contiguous, nearly equal groups."""
    ordered = sorted(set(chargers))
    if not ordered:
        return []
    count = max(1, min(tasks, len(ordered)))
    size, extra = divmod(len(ordered), count)
    groups: list[tuple[str, ...]] = []
    start = 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        groups.append(tuple(ordered[start:end]))
        start = end
    return groups


def plan_groups(chargers: Sequence[str], tasks: int, with_null: bool) -> list[ChargerGroup]:
    """The tasks' groups: charger runs, and the charger-less rows when there are any."""
    groups = [ChargerGroup(g) for g in split_chargers(chargers, tasks)]
    if with_null:
        groups.append(ChargerGroup(None))
    return groups


def chunks(items: Sequence[str], size: int) -> list[list[str]]:
    """``items`` in lists of at most ``size`` (at least one item each)."""
    size = max(1, size)
    return [list(items[i : i + size]) for i in range(0, len(items), size)]
