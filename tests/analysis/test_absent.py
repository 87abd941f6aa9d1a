"""Chargers asked for that have no rows: found exactly, and named with the ids most like them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from evkit.analysis.absent import absent_sentence, charger_ids, chargers_without_rows, closest

T0 = datetime(2026, 3, 2, tzinfo=UTC)
IDS = [f"EH{i:06d}" for i in range(60)]


def _rows(ids: list[str], hours: list[int]) -> pl.LazyFrame:
    return pl.LazyFrame(
        {"charger_id": ids, "observed_at": [T0 + timedelta(hours=h) for h in hours]},
        schema={"charger_id": pl.String, "observed_at": pl.Datetime("us", "UTC")},
    )


@settings(max_examples=60, deadline=None)
@given(
    held=st.lists(st.tuples(st.sampled_from(IDS[:20]), st.integers(0, 47)), min_size=1, max_size=60),
    asked=st.lists(st.sampled_from([*IDS[:30], "", "eh000001", "NOPE"]), min_size=1, max_size=8),
    window=st.tuples(st.none() | st.integers(0, 47), st.none() | st.integers(0, 47)),
)
def test_the_chargers_without_rows_are_exactly_those_asked_and_not_held(
    held: list[tuple[str, int]], asked: list[str], window: tuple[int | None, int | None]
) -> None:
    lf = _rows([c for c, _ in held], [h for _, h in held])
    start, end = (None if h is None else T0 + timedelta(hours=h) for h in window)
    inside = {
        c
        for c, h in held
        if (start is None or T0 + timedelta(hours=h) >= start)
        and (end is None or T0 + timedelta(hours=h) < end)
    }
    expected = [c for c in dict.fromkeys(asked) if c not in inside]
    assert chargers_without_rows(lf, asked, start=start, end=end) == expected
    # ids known to have rows are not looked up again
    assert chargers_without_rows(lf, asked, seen=inside, start=start, end=end) == expected
    assert charger_ids(lf) == sorted({c for c, _ in held})


def test_the_id_meant_comes_first() -> None:
    assert closest("EH00001", IDS)[0] == "EH000001"  # a zero dropped: as near EH000010 or EH000011
    assert closest("eh000042", IDS)[0] == "EH000042"  # case does not count
    assert closest("EH000042x", IDS)[0] == "EH000042" and len(closest("EH000042x", IDS)) == 3
    assert closest("NOPE", IDS) == []


def test_the_sentence_names_the_missing_ids_and_the_ones_meant() -> None:
    where = "/data/fleet"
    assert absent_sentence(["EH00001"], where, IDS) == (
        "charger 'EH00001' has no rows in /data/fleet: did you mean 'EH000001' or 'EH000010' or 'EH000011'?"
    )
    assert absent_sentence(["NOPE", "XX"], where, IDS) == (
        "chargers 'NOPE', 'XX' have no rows in /data/fleet (its 60 charger(s) include 'EH000000', "
        "'EH000001', 'EH000002')"
    )
    assert (
        absent_sentence(["NOPE"], where, [])
        == "charger 'NOPE' has no rows in /data/fleet (it holds no charger id)"
    )
    assert absent_sentence(["NOPE"], where) == "charger 'NOPE' has no rows in /data/fleet"
    start, end = T0, T0 + timedelta(days=1)
    assert absent_sentence(["EH000003", "NOPE"], where, IDS, start, end) == (
        "charger 'NOPE' has no rows in /data/fleet (its 60 charger(s) include 'EH000000', 'EH000001', "
        "'EH000002'); charger 'EH000003' has no rows in /data/fleet observed from 2026-03-02T00:00:00Z to "
        "2026-03-03T00:00:00Z, only outside that window"
    )
    assert absent_sentence(["EH000003"], where, IDS, None, end).endswith(
        "observed before 2026-03-03T00:00:00Z, only outside that window"
    )
