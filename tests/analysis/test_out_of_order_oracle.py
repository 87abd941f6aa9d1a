"""Hostile tests of 01bf365: ``quality._out_of_order_of`` finds the keys to look at with a window
ordered per key (``over(order_by="received_at")``) instead of one sort of all rows. Checked against
a brute-force oracle and the version before the change, on both Polars engines, with ties in
``received_at``, null receive times, null device times and many keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from evkit.analysis import out_of_order
from evkit.analysis.exact import seconds
from evkit.analysis.quality import _out_of_order_of, in_received_order

T0 = datetime(2026, 3, 2, tzinfo=UTC)
COLUMNS = [
    "charger_id",
    "observation_id",
    "observation",
    "observed_at",
    "received_at",
    "newest_before",
    "behind_s",
]


def _before_01bf365(first: pl.LazyFrame) -> pl.LazyFrame:
    """``_out_of_order_of`` as it was before 01bf365 (one sort of all rows by receive time)."""
    code = pl.col("charger_id").cast(pl.Categorical).to_physical().cast(pl.Int64)
    key = code * (1 << 32) + pl.col("observation_id").cast(pl.Int64) + (1 << 31)
    rows = first.filter(pl.col("observation_id").is_not_null() & pl.col("observed_at").is_not_null())
    rows = rows.with_columns(key.alias("__key"))
    newest = pl.col("observed_at").cum_max().shift(1).over("__key").alias("newest_before")
    late = pl.col("observed_at") < pl.col("newest_before")
    flagged = rows.sort("received_at").with_columns(newest).filter(late).select("__key").unique()
    frame = (
        rows.join(flagged, on="__key", how="semi")
        .sort("received_at", "observed_at")
        .with_columns(newest)
        .filter(late)
    )
    return (
        frame.with_columns(seconds(pl.col("newest_before") - pl.col("observed_at")).alias("behind_s"))
        .select(COLUMNS)
        .sort("charger_id", "received_at", "observation_id", "observed_at")
    )


def _oracle(frame: pl.DataFrame) -> list[tuple[object, ...]]:
    """Every row late by the definition, row by row: a message of the same charger and id with a newer
    device time was received strictly before it (a row without a receive time counts as received
    before every row with one, as the sorts put nulls first; rows received at the same instant,
    nulls among themselves, are not late to one another). ``newest_before``: the newest device time
    received strictly before it."""
    rows = frame.filter(
        pl.col("observation_id").is_not_null() & pl.col("observed_at").is_not_null()
    ).to_dicts()

    def earlier(a: datetime | None, b: datetime | None) -> bool:  # a received strictly before b
        if a is None:
            return b is not None
        return b is not None and a < b

    found = []
    for row in rows:
        before = [
            other["observed_at"]
            for other in rows
            if other["charger_id"] == row["charger_id"]
            and other["observation_id"] == row["observation_id"]
            and earlier(other["received_at"], row["received_at"])
        ]
        newest = max(before, default=None)
        if newest is not None and newest > row["observed_at"]:
            found.append(
                (
                    row["charger_id"],
                    row["observation_id"],
                    row["observed_at"],
                    row["received_at"],
                    newest,
                    (newest - row["observed_at"]).total_seconds(),
                )
            )
    return sorted(found, key=lambda r: (r[0], r[3] is not None, r[3] or T0, r[1], r[2]))


def _rows(result: pl.DataFrame) -> list[tuple[object, ...]]:
    return [
        (
            r["charger_id"],
            r["observation_id"],
            r["observed_at"],
            r["received_at"],
            r["newest_before"],
            r["behind_s"],
        )
        for r in result.to_dicts()
    ]


messages = st.lists(
    st.tuples(
        st.sampled_from(["EHA", "EHB", "Ladepunkt-Øst-🚗-0000000001", None]),  # charger
        st.sampled_from([109, 120, 121, None]),  # observation id
        st.one_of(st.none(), st.integers(0, 12)),  # device time, minutes
        st.one_of(st.none(), st.integers(0, 6)),  # receive time, minutes: many ties
    ),
    max_size=40,
)


def _frame(items: list[tuple[str | None, int | None, int | None, int | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "charger_id": [c for c, _, _, _ in items],
            "observation_id": [i for _, i, _, _ in items],
            "observation": [None if i is None else f"obs{i}" for _, i, _, _ in items],
            "observed_at": [None if o is None else T0 + timedelta(minutes=o) for _, _, o, _ in items],
            "received_at": [None if r is None else T0 + timedelta(minutes=r) for _, _, _, r in items],
        },
        schema={
            "charger_id": pl.String,
            "observation_id": pl.Int32,
            "observation": pl.String,
            "observed_at": pl.Datetime("us", "UTC"),
            "received_at": pl.Datetime("us", "UTC"),
        },
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=messages, seed=st.integers(0, 2**16))
def test_out_of_order_matches_the_definition_and_the_earlier_version(
    items: list[tuple[str | None, int | None, int | None, int | None]], seed: int
) -> None:
    frame = _frame(items)
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=seed)
    earlier = _before_01bf365(frame.lazy()).collect()
    expected = _oracle(frame.filter(pl.col("charger_id").is_not_null()))
    for rows in (frame, shuffled):
        for engine in ("in-memory", "streaming"):
            got = _out_of_order_of(rows.lazy()).collect(engine=engine)
            assert_frame_equal(got, earlier)
            # the oracle keys rows by charger; rows without one are compared to the earlier version only
            assert _rows(got.filter(pl.col("charger_id").is_not_null())) == expected


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=messages, seed=st.integers(0, 2**16))
def test_rows_known_in_received_order_give_the_same_rows(
    items: list[tuple[str | None, int | None, int | None, int | None]], seed: int
) -> None:
    """The hint ``in_received_order`` (a bucket of a capture's rows, seen sorted by ``received_at``):
    the rows are read as they stand, and give what ordering them per key gives. Rows received at the
    same instant stand in any order."""
    frame = _frame([item for item in items if item[3] is not None])
    rows = frame.sample(fraction=1.0, shuffle=True, seed=seed).sort("received_at")
    assert in_received_order(rows) == (rows.height == 0 or rows["received_at"].is_sorted())
    expected = _out_of_order_of(rows.lazy()).collect()
    for engine in ("in-memory", "streaming"):
        got = _out_of_order_of(rows.lazy(), in_received_order=True).collect(engine=engine)
        assert_frame_equal(got, expected)


def test_the_hint_is_given_only_for_rows_in_received_order() -> None:
    frame = _frame([("EHA", 120, 1, 2), ("EHA", 120, 0, 3), ("EHB", 120, 5, 3)])
    assert in_received_order(frame)
    assert not in_received_order(frame.reverse())
    unknown = pl.lit(None, pl.Datetime("us", "UTC")).alias("received_at")
    assert not in_received_order(frame.with_columns(unknown))


def test_many_keys_with_ties_on_both_engines() -> None:
    """20,000 keys (2,000 chargers x 10 ids), each a few messages, many received at the same instant,
    a few out of order: the same rows as the earlier version."""
    n = 120_000
    frame = pl.DataFrame(
        {
            "charger_id": pl.int_range(0, n, eager=True).map_elements(
                lambda i: f"EH{(i * 7919) % 2000:05d}", return_dtype=pl.String
            ),
            "observation_id": (pl.int_range(0, n, eager=True) % 10 + 100).cast(pl.Int32),
            "observation": pl.Series([None] * n, dtype=pl.String),
            "observed_at": pl.Series([T0 + timedelta(seconds=(i * 31) % 5000) for i in range(n)]),
            "received_at": pl.Series([T0 + timedelta(seconds=(i * 17) % 700) for i in range(n)]),
        }
    )
    earlier = _before_01bf365(frame.lazy()).collect()
    assert earlier.height > 0
    for engine in ("in-memory", "streaming"):
        assert_frame_equal(_out_of_order_of(frame.lazy()).collect(engine=engine), earlier)


def test_the_public_function_with_null_receive_times() -> None:
    """``out_of_order`` of a frame whose rows lack receive times: the row received without a time is
    taken as the earliest, as before the change."""
    from tests.analysis import scenario as sc

    rows = [
        sc.Row("EHNULL", 120, T0 + timedelta(minutes=m), float(m), f"{m}", capture_delay_s=d)
        for m, d in [(0, 0.1), (5, 0.1), (3, 600.0), (4, 0.1)]
    ]
    frame = sc.frame(rows).with_columns(
        pl.when(pl.col("observed_at") == T0 + timedelta(minutes=5))
        .then(None)
        .otherwise(pl.col("received_at"))
        .alias("received_at")
    )
    got = out_of_order(frame.lazy()).collect()
    earlier = _before_01bf365(
        frame.select("charger_id", "observation_id", "observation", "observed_at", "received_at").lazy()
    ).collect()
    assert_frame_equal(got, earlier)
    assert got.height > 0
