"""``first_deliveries``: one row per message, the copy delivered first (not flagged redelivered, then
received first), whether the rows are a lazy plan or a frame in memory (which takes a shortcut when no
two unflagged deliveries are copies), whatever order the rows come in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

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
        "received_at": st.sampled_from([T0 + timedelta(seconds=s) for s in (2, 3, 9)] + [None]),
        "arrival_time": st.sampled_from([T0, T0 + timedelta(seconds=1), None]),
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
        "received_at": pl.Datetime("us", "UTC"),
        "arrival_time": pl.Datetime("us", "UTC"),
    }
    frame = pl.DataFrame(rows, schema={c: t for c, t in schema.items() if not rows or c in rows[0]})
    return frame.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("delivery"))


def _rank(row: dict[str, Any], index: int) -> tuple[Any, ...]:
    """Lower ranks first: not flagged, received first, then ArrivalTime (unknown times last), then
    the row's place."""
    late = datetime.max.replace(tzinfo=UTC)
    times = [row.get(c) or late for c in ("received_at", "arrival_time")]
    return (bool(row["redelivered"]), *times, index)


def _reference(rows: list[dict[str, Any]]) -> list[int]:
    """The deliveries kept, by hand: per message the one ranked first."""
    chosen: dict[tuple[Any, ...], int] = {}
    for index, row in enumerate(rows):
        key = tuple(row[c] for c in IDENTITY)
        if key not in chosen or _rank(row, index) < _rank(rows[chosen[key]], chosen[key]):
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


_COLUMNS = [*IDENTITY, "redelivered", "received_at", "arrival_time"]


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(_row, min_size=0, max_size=30), data=st.data())
def test_the_copy_kept_does_not_depend_on_the_order_of_the_rows(
    rows: list[dict[str, Any]], data: st.DataObject
) -> None:
    """Compaction re-sorts a day and parts of several captures list by capture id: any order of the
    same deliveries keeps the same copies (rows equal but for their place may swap; an unknown flag is
    not flagged)."""
    shuffled = data.draw(st.permutations(rows))

    def kept(frame: pl.DataFrame) -> list[pl.DataFrame]:
        found = [first_deliveries(frame, extra=_COLUMNS), first_deliveries(frame.lazy(), extra=_COLUMNS)]
        unknown = pl.col("redelivered").fill_null(False)
        return [f.with_columns(unknown).collect().sort(_COLUMNS, nulls_last=True) for f in found]

    expected = kept(_frame(rows))
    assert_frame_equal(expected[0], expected[1])
    for got in kept(_frame(shuffled)):
        assert_frame_equal(got, expected[0])


def test_of_two_plain_copies_the_one_received_first_counts_wherever_it_is() -> None:
    """A device resend: the copy received 1 s after the device took it counts, not the one received
    6 s after that came first in the data."""
    base = {"charger_id": "EH1", "observation_id": 120, "observed_at": T0, "value": 1.0, "value_text": "1"}
    rows = [
        {**base, "redelivered": False, "received_at": T0 + timedelta(seconds=6), "arrival_time": None},
        {**base, "redelivered": True, "received_at": T0, "arrival_time": None},  # flagged: loses anyway
        {**base, "redelivered": False, "received_at": T0 + timedelta(seconds=1), "arrival_time": None},
    ]
    for frame in (_frame(rows), _frame(rows).lazy()):
        assert first_deliveries(frame, extra=["delivery"]).collect()["delivery"].to_list() == [2]
