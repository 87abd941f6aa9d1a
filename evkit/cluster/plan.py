"""How a fleet's work is split for a cluster: pure functions, no Dask.

A session, a latency pairing or an energy figure never spans chargers, so the unit of work is a
group of chargers, of about a given number of rows (a task's memory follows its group's rows).
Groups are contiguous runs of the sorted charger ids: a task then reads rows with
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


def plan_by_rows(counts: pl.DataFrame, rows_per_group: int, min_groups: int) -> list[ChargerGroup]:
    """Contiguous charger groups of about ``rows_per_group`` rows (fewer if that makes less than
    ``min_groups``: every worker gets work) from ``counts`` (``charger_id``, ``n`` rows; null: the
    rows without one), and the rows without a charger as a group of their own. A group's memory
    follows its rows, so a task's peak is bounded whatever the fleet's size."""
    known = counts.drop_nulls("charger_id").sort("charger_id")
    total = int(known["n"].sum()) if known.height else 0
    target = max(1, min(rows_per_group, -(-total // max(1, min_groups))))
    groups: list[ChargerGroup] = []
    current: list[str] = []
    held = 0
    for charger, n in known.select("charger_id", "n").iter_rows():
        current.append(charger)
        held += n
        if held >= target:
            groups.append(ChargerGroup(tuple(current)))
            current, held = [], 0
    if current:
        groups.append(ChargerGroup(tuple(current)))
    if counts.filter(pl.col("charger_id").is_null()).height:
        groups.append(ChargerGroup(None))
    return groups


def charger_ranges(groups: Sequence[ChargerGroup]) -> list[tuple[str, str]]:
    """The (first, last) charger of each group of chargers (sorted, disjoint: ``plan_by_rows``)."""
    return [(g.chargers[0], g.chargers[-1]) for g in groups if g.chargers]


def chunks(items: Sequence[str], size: int) -> list[list[str]]:
    """``items`` in lists of at most ``size`` (at least one item each)."""
    size = max(1, size)
    return [list(items[i : i + size]) for i in range(0, len(items), size)]
