"""``first_deliveries``: one row per message, the copy delivered first, whether the rows are a lazy plan
or a frame in memory (which takes a shortcut when no two unflagged deliveries are copies)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from evkit.analysis._prep import IDENTITY, first_deliveries

T0 = datetime(2026, 3, 1, tzinfo=UTC)

_row = st.fixed_dictionaries(
    {
        "charger_id": st.sampled_from(["EH1", "EH2", None]),
        "observation_id": st.sampled_from([109, 120]),
        "observed_at": st.sampled_from([T0, T0 + timedelta(seconds=1), None]),
        "value": st.sampled_from([1.0, 2.5, None]),
        "value_text": st.sampled_from(["1", None]),
        "redelivered": st.sampled_from([False, False, True, None]),
    }
)


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    schema = {
        "charger_id": pl.String,
        "observation_id": pl.Int32,
        "observed_at": pl.Datetime("us", "UTC"),
        "value": pl.Float64,
        "value_text": pl.String,
        "redelivered": pl.Boolean,
    }
    frame = pl.DataFrame(rows, schema=schema)
    return frame.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("delivery"))


def _reference(rows: list[dict[str, Any]]) -> list[int]:
    """The deliveries kept, by hand: per message the first unflagged delivery, else the first one."""
    chosen: dict[tuple[Any, ...], int] = {}
    for index, row in enumerate(rows):
        key = tuple(row[c] for c in IDENTITY)
        if key not in chosen or (rows[chosen[key]]["redelivered"] and not row["redelivered"]):
            chosen[key] = index
    return sorted(chosen.values())


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(_row, min_size=0, max_size=40))
def test_a_frame_in_memory_keeps_the_same_deliveries_as_the_plan(rows: list[dict[str, Any]]) -> None:
    frame = _frame(rows)
    expected = _reference(rows)
    lazy = first_deliveries(frame.lazy(), extra=["delivery", "redelivered"]).collect()
    held = first_deliveries(frame, extra=["delivery", "redelivered"]).collect()
    assert sorted(lazy["delivery"].to_list()) == expected
    assert sorted(held["delivery"].to_list()) == expected
    assert held.columns == lazy.columns and held.schema == lazy.schema


def test_the_shortcut_keeps_a_flagged_delivery_only_when_its_message_came_no_other_way() -> None:
    base = {"charger_id": "EH1", "observation_id": 120, "value_text": "1"}
    rows = [
        {**base, "observed_at": T0, "value": 1.0, "redelivered": False},
        {**base, "observed_at": T0, "value": 1.0, "redelivered": True},  # a copy: dropped
        {**base, "observed_at": T0, "value": 2.5, "redelivered": True},  # its original was lost: kept
        {**base, "observed_at": T0, "value": 2.5, "redelivered": True},  # a copy of that: dropped
        {**base, "observed_at": None, "value": None, "redelivered": None},
    ]
    held = first_deliveries(_frame(rows), extra=["delivery"]).collect()
    assert held["delivery"].to_list() == [0, 2, 4]  # in the input's order


def test_unflagged_copies_take_the_full_pass() -> None:
    base = {"charger_id": "EH1", "observation_id": 120, "observed_at": T0, "value_text": "1"}
    rows = [
        {**base, "value": 1.0, "redelivered": True},
        {**base, "value": 1.0, "redelivered": False},
        {**base, "value": 1.0, "redelivered": False},  # a copy without the flag
    ]
    held = first_deliveries(_frame(rows), extra=["delivery"]).collect()
    assert held["delivery"].to_list() == [1]
