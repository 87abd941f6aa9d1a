"""Splitting a fleet into charger groups (pure): every charger in exactly one contiguous group."""

from __future__ import annotations

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from evkit.cluster.plan import ChargerGroup, chunks, plan_groups, split_chargers

ids = st.lists(st.text(alphabet="ABCDEH0123456789-", min_size=1, max_size=8), max_size=60)


@given(ids, st.integers(min_value=1, max_value=20))
def test_every_charger_is_in_exactly_one_contiguous_group(chargers: list[str], tasks: int) -> None:
    groups = split_chargers(chargers, tasks)
    flat = [c for g in groups for c in g]
    assert flat == sorted(set(chargers))  # each once, in order: groups are contiguous runs
    assert len(groups) <= tasks
    assert all(groups)
    if groups:
        sizes = [len(g) for g in groups]
        assert max(sizes) - min(sizes) <= 1


@given(ids, st.integers(min_value=1, max_value=8))
def test_group_predicates_partition_the_rows(chargers: list[str], tasks: int) -> None:
    frame = pl.DataFrame({"charger_id": [*chargers, None, "zz-not-listed"]}, schema={"charger_id": pl.String})
    listed = sorted(set(chargers))
    groups = plan_groups(listed, tasks, with_null=True)
    picked = [frame.filter(g.predicate()).height for g in groups]
    assert sum(picked) == len(chargers) + 1  # every listed row once, the null row once
    assert groups[-1] == ChargerGroup(None)


def test_chunks_keep_order_and_size() -> None:
    assert chunks(["a", "b", "c"], 2) == [["a", "b"], ["c"]]
    assert chunks([], 5) == []
