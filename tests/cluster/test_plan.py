"""Splitting a fleet into charger groups (pure): every charger in exactly one contiguous group of
about a given number of rows."""

from __future__ import annotations

import itertools

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from evkit.cluster.plan import ChargerGroup, charger_ranges, chunks, plan_by_rows

ids = st.lists(st.text(alphabet="ABCDEH0123456789-", min_size=1, max_size=8), max_size=60, unique=True)


@given(ids, st.integers(min_value=1, max_value=8), st.integers(min_value=1, max_value=50))
def test_group_predicates_partition_the_rows(chargers: list[str], tasks: int, rows: int) -> None:
    frame = pl.DataFrame({"charger_id": [*chargers, None, "zz-not-listed"]}, schema={"charger_id": pl.String})
    counts = pl.DataFrame({"charger_id": [*chargers, None], "n": [1] * len(chargers) + [1]})
    groups = plan_by_rows(counts, rows, tasks)
    picked = [frame.filter(g.predicate()).height for g in groups]
    assert sum(picked) == len(chargers) + 1  # every listed row once, the null row once
    assert groups[-1] == ChargerGroup(None)
    ranges = charger_ranges(groups)
    assert len(ranges) == len(groups) - 1
    assert all(a <= b for a, b in ranges) and all(b < c for (_, b), (c, _) in itertools.pairwise(ranges))


def test_chunks_keep_order_and_size() -> None:
    assert chunks(["a", "b", "c"], 2) == [["a", "b"], ["c"]]
    assert chunks([], 5) == []


@given(
    counts=st.lists(st.integers(min_value=1, max_value=5_000), min_size=0, max_size=60),
    nulls=st.integers(min_value=0, max_value=3),
    rows=st.integers(min_value=1, max_value=20_000),
    least=st.integers(min_value=1, max_value=16),
)
def test_groups_by_rows_cover_every_charger_once_and_stay_small(
    counts: list[int], nulls: int, rows: int, least: int
) -> None:
    ids = [f"EH{i:04d}" for i in range(len(counts))]
    frame = pl.DataFrame(
        {"charger_id": [*ids, *([None] * min(nulls, 1))], "n": [*counts, *([nulls] * min(nulls, 1))]}
    )
    groups = plan_by_rows(frame.sample(fraction=1.0, shuffle=True, seed=1), rows, least)
    named = [g.chargers for g in groups if g.chargers is not None]
    assert [c for g in named for c in g] == ids  # contiguous, in order, each once
    assert sum(g.chargers is None for g in groups) == (1 if nulls else 0)
    per = dict(zip(ids, counts, strict=True))
    biggest = max(counts, default=0)
    for group in named:
        assert sum(per[c] for c in group) < rows + biggest  # about ``rows``: one charger may tip it over
