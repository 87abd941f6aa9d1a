"""First deliveries given in memory and in received order (``in_received_order``: ascending
``received_at``, none null) let the out-of-order check read each key's rows in row order instead of
ordering them again. Counts so, from a plan, from rows in memory in another order, and by a
brute-force definition must agree on frames with ties in ``received_at``, nulls (device times, ids,
chargers, values), redeliveries and duplicates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evkit.analysis import quality
from evkit.analysis.quality import first_of, in_received_order, out_of_order, quality_summary
from evkit.store.schema import EASEE_SCHEMA

T0 = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)

row = st.tuples(
    st.sampled_from(["A", "B", None]),  # charger
    st.sampled_from([120, 109, None]),  # observation id
    st.one_of(st.none(), st.integers(0, 8)),  # observed (s)
    st.integers(0, 6),  # received (s): many ties
    st.sampled_from([1.0, 2.0, None]),  # value
    st.booleans(),  # redelivered
)


def _frame(rows: list[tuple]) -> pl.DataFrame:
    data = [
        {
            "received_at": T0 + timedelta(seconds=r),
            "arrival_time": T0 + timedelta(seconds=r),
            "observed_at": None if o is None else T0 + timedelta(seconds=o),
            "charger_id": c,
            "observation_id": i,
            "observation": None,
            "value": v,
            "value_text": None if v is None else str(v),
            "kind": "observation",
            "routing_key": f"{c}.O.{i}",
            "redelivered": red,
            "raw": b"{}",
            "error": None,
            "label": None,
            "data_type": "Double",
        }
        for c, i, o, r, v, red in rows
    ]
    return pl.DataFrame(data, schema=EASEE_SCHEMA, strict=False).sort("received_at", maintain_order=True)


def _counts(frame: pl.DataFrame, in_memory: bool) -> dict[str, int]:
    """``in_memory``: as the report gives them, first deliveries found in memory, in the rows' order;
    else found from the summary's own plan."""
    first = first_of(frame).collect() if in_memory else None
    summary = quality_summary(frame.lazy(), first=first).collect()
    return dict(summary.select("charger_id", "out_of_order_n").iter_rows())


def _hinted(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """The hint each out-of-order check of the test was given."""
    given: list[bool] = []
    check = quality._out_of_order_of

    def spy(first: pl.LazyFrame, *, in_received_order: bool = False) -> pl.LazyFrame:
        given.append(in_received_order)
        return check(first, in_received_order=in_received_order)

    monkeypatch.setattr(quality, "_out_of_order_of", spy)
    return given


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(row, min_size=0, max_size=30))
def test_the_hint_changes_no_count(rows: list[tuple]) -> None:
    frame = _frame(rows)
    assert in_received_order(frame)
    assert _counts(frame, True) == _counts(frame, False)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(row, min_size=2, max_size=30), seed=st.integers(0, 2**16))
def test_rows_in_memory_in_another_order_give_the_same_counts(rows: list[tuple], seed: int) -> None:
    frame = _frame(rows)
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=seed)
    assert _counts(shuffled, True) == _counts(frame, False)


def test_the_hint_is_taken_only_from_first_deliveries_in_memory_in_received_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    given = _hinted(monkeypatch)
    frame = _frame([("A", 120, 5, 1, 1.0, False), ("A", 120, 3, 2, 2.0, False), ("B", 109, 1, 3, 1.0, True)])
    _counts(frame, True)
    _counts(frame, False)
    _counts(frame.reverse(), True)
    quality_summary(frame.lazy(), first=first_of(frame)).collect()  # given, but as a plan
    assert given == [True, False, False, False]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(row, min_size=0, max_size=30))
def test_the_counts_are_the_definition(rows: list[tuple]) -> None:
    """Late: a newer message of the charger and id was received strictly before (first copies only)."""
    frame = _frame(rows)
    found = _counts(frame, True)
    expected = out_of_order(frame.lazy()).group_by("charger_id").len().collect()
    expected_n = dict(expected.iter_rows())
    for charger, n in found.items():
        assert n == expected_n.get(charger, 0), (charger, found, expected_n)


def test_a_tie_in_received_at_is_not_late() -> None:
    # both received at once: neither is late, whichever row comes first
    frame = _frame([("A", 120, 5, 1, 1.0, False), ("A", 120, 3, 1, 2.0, False), ("A", 120, 4, 2, 3.0, False)])
    assert _counts(frame, True) == _counts(frame, False) == {"A": 1}


def test_the_hint_is_off_when_received_at_has_a_null_or_is_unsorted() -> None:
    frame = _frame([("A", 120, 5, 1, 1.0, False), ("A", 120, 3, 2, 2.0, False)])
    assert in_received_order(frame)
    assert not in_received_order(frame.reverse())
    nulls = frame.with_columns(pl.lit(None, pl.Datetime("us", "UTC")).alias("received_at"))
    assert not in_received_order(nulls)


def test_without_first_deliveries_given_the_hint_is_not_taken() -> None:
    """First deliveries found from a plan come copies last, out of received order: the hint, which
    speaks of the rows in memory, must not be applied to them (a CI run's hypothesis example: B's late
    message was missed)."""
    frame = _frame([("B", 109, 1, 0, 1.0, False), ("B", 109, 1, 0, 1.0, False), ("B", 109, 0, 1, 1.0, False)])
    assert in_received_order(frame)
    assert _counts(frame, False) == _counts(frame, True) == {"B": 1}
