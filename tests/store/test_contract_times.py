"""A hand-made store's times (pandas' nanoseconds, Spark's milliseconds, no zone, a local zone) are read
as the contract's microseconds in UTC by ``evkit.scan`` itself, whole or narrow, local or on S3, so
every analysis of the library answers as on a store the capture wrote; a compaction converts nothing.
Before, only the commands converted: ``latency_stats(evkit.scan(store))`` raised on such a store and a
narrow read compared its times with UTC bounds and failed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

from evkit.analysis import latency_stats
from evkit.analysis._prep import narrowed
from evkit.store import scan
from evkit.store.compact import compact
from evkit.store.schema import UTC_US, contract_casts, contract_schema, with_contract_times
from tests.s3fixtures import upload_dataset
from tests.store.test_narrow import CHARGERS, DAY0, _rows

TIMES = ("received_at", "arrival_time", "observed_at")
TYPES = {
    "nanoseconds": pl.Datetime("ns", "UTC"),
    "milliseconds": pl.Datetime("ms", "UTC"),
    "no zone": pl.Datetime("us"),
    "no zone, nanoseconds": pl.Datetime("ns"),
    "a local zone": pl.Datetime("us", "America/New_York"),
}


def _stores(root: Path, dtype: pl.Datetime) -> tuple[Path, Path]:
    """The same rows (whole milliseconds, which every type holds) as the capture's contract types and
    as ``dtype``, in two days of two parts each (one part with a redelivered copy)."""
    contract, hand = root / "contract", root / "hand"
    for day in range(2):
        for seed in range(2):
            rows = _rows(day, 300, seed).with_columns(pl.col(c).dt.truncate("1ms") for c in TIMES)
            if seed:
                rows = pl.concat(
                    [
                        rows,
                        rows.head(4).with_columns(
                            redelivered=pl.lit(True), received_at=pl.col("received_at") + timedelta(seconds=9)
                        ),
                    ]
                )
            made = rows.with_columns(
                pl.col(c).dt.replace_time_zone(None).cast(dtype)
                if dtype.time_zone is None
                else pl.col(c).dt.convert_time_zone(dtype.time_zone).cast(dtype)
                for c in TIMES
            )
            for where, frame in ((contract, rows), (hand, made)):
                folder = where / f"date={(DAY0 + timedelta(days=day)).date()}"
                folder.mkdir(parents=True, exist_ok=True)
                frame.write_parquet(folder / f"part-hand-{seed:06d}.parquet")
    return contract, hand


@pytest.fixture(params=list(TYPES), scope="module")
def stores(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _stores(tmp_path_factory.mktemp("times"), TYPES[request.param])


def test_a_hand_made_store_reads_as_the_contract(stores: tuple[Path, Path]) -> None:
    contract, hand = stores
    for dedupe in (False, True):
        frame = scan(hand, dedupe=dedupe)
        assert all(frame.collect_schema()[c] == UTC_US for c in TIMES)
        assert_frame_equal(frame.collect(), scan(contract, dedupe=dedupe).collect())
    # the library's analyses take it as it comes (latency compared these times and raised)
    want = latency_stats(scan(contract)).collect().sort(pl.all())
    assert_frame_equal(latency_stats(scan(hand)).collect().sort(pl.all()), want)


@pytest.mark.parametrize("dedupe", [False, True])
def test_a_narrow_read_of_a_hand_made_store_is_the_contracts(stores: tuple[Path, Path], dedupe: bool) -> None:
    contract, hand = stores
    window = {
        "chargers": CHARGERS[2:5],
        "start": DAY0 + timedelta(hours=5),
        "end": DAY0 + timedelta(hours=30),
    }
    want = scan(contract, dedupe=dedupe, **window).collect()  # type: ignore[arg-type]
    assert want.height > 0
    assert_frame_equal(scan(hand, dedupe=dedupe, **window).collect(), want)  # type: ignore[arg-type]
    again = narrowed(scan(hand, dedupe=dedupe), window["chargers"], window["start"], window["end"])  # type: ignore[arg-type]
    assert_frame_equal(again.collect(), want)


def test_a_narrow_read_of_a_hand_made_store_on_s3_is_the_contracts(tmp_path: Path, s3_dataset: str) -> None:
    contract, hand = _stores(tmp_path, TYPES["no zone, nanoseconds"])
    upload_dataset(hand, s3_dataset)
    window = {"chargers": CHARGERS[:3], "start": DAY0 + timedelta(hours=20)}
    want = scan(contract, **window).collect()  # type: ignore[arg-type]
    assert want.height > 0
    assert_frame_equal(scan(s3_dataset, **window).collect(), want)  # type: ignore[arg-type]
    assert_frame_equal(scan(s3_dataset).collect(), scan(contract).collect())


def test_a_compaction_keeps_a_hand_made_stores_own_times(tmp_path: Path) -> None:
    """Compacting rewrites a day; it does not convert it (nanoseconds stay nanoseconds)."""
    contract, hand = _stores(tmp_path, TYPES["no zone, nanoseconds"])
    assert len(compact(hand).days) == 2
    for part in hand.rglob("*.parquet"):
        stored = pl.read_parquet_schema(part)
        assert all(stored[c] == pl.Datetime("ns") for c in TIMES), part
        assert pq.read_metadata(part).num_rows > 0
    # and reads as the contract's rows still (a compacted day lists its rows in another order)
    order = ["charger_id", "observed_at", "received_at", "raw"]
    after, want = (scan(store).collect().sort(order, nulls_last=True) for store in (hand, contract))
    assert_frame_equal(after, want)


def test_the_casts_name_only_times_out_of_the_contract() -> None:
    schema = {
        "observed_at": pl.Datetime("ns"),
        "received_at": UTC_US,
        "value": pl.Float64(),
        "at": pl.Datetime("ms"),
    }
    assert [e.meta.output_name() for e in contract_casts(schema)] == ["observed_at", "at"]
    assert contract_schema(schema) == {**schema, "observed_at": UTC_US, "at": UTC_US}
    assert contract_casts(contract_schema(schema)) == []
    frame = pl.LazyFrame(schema=schema)
    assert with_contract_times(frame).collect_schema() == contract_schema(schema)
    same = pl.LazyFrame(schema=contract_schema(schema))
    assert with_contract_times(same) is same
