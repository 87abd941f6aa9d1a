"""Which copy of a message counts does not depend on file order: the same before and after ``compact``.

Compaction rewrites a day sorted by charger, device time and receive time, and parts of several
captures list by capture id: file order is not receive order. A device resend (two plain deliveries of
one message) and a message only ever delivered redelivered (its plain delivery lost in a crash) are
written by two captures whose part names sort against the order they were received in; the copy
counted (latency, first deliveries, the store's duplicate view) is the one received first, locally and
on S3, before and after compaction.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from evkit.analysis import latency_stats
from evkit.analysis._prep import first_deliveries
from evkit.analysis.latency_buckets import latency_stats_in_buckets
from evkit.easee.decode import Delivery, decode_deliveries
from evkit.store import scan
from evkit.store.compact import compact
from evkit.store.writer import open_writer

T0 = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)  # a finished day: compaction takes it


def _delivery(charger: str, second: int, value: int, received_s: float, redelivered: bool) -> Delivery:
    """An Easee observation 120 taken at ``T0 + second``, received ``received_s`` after T0 (the cloud
    stamped it half a second before)."""
    body = json.dumps({"Timestamp": (T0 + timedelta(seconds=second)).isoformat(), "Value": value}).encode()
    received = T0 + timedelta(seconds=received_s)
    arrival = (received - timedelta(seconds=0.5)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    received_us = int(received.timestamp() * 1_000_000)
    return Delivery(f"{charger}.O.120", body, {"ArrivalTime": arrival}, redelivered, received_us)


def _fill(target: Path | str) -> None:
    """Capture ``a`` (its parts list first) holds the copies received LAST; capture ``b`` the first ones."""
    early = [
        _delivery("EH1", 0, 7, 1, False),  # a device resend: received 1 s after it was taken ...
        _delivery("EH2", 0, 3, 2, True),  # its plain delivery lost in a crash: redelivered only
    ]
    late = [
        _delivery("EH1", 0, 7, 6, False),  # ... and again 6 s after
        _delivery("EH2", 0, 3, 9, True),
        _delivery("EH3", 0, 1, 4, False),  # a message delivered once
    ]
    for capture, deliveries in (("a", late), ("b", early)):
        writer = open_writer(target, capture)
        writer.write(decode_deliveries(deliveries))
        writer.close()


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(frame.columns, nulls_last=True)


def _views(target: Path | str) -> dict[str, pl.DataFrame]:
    """What the analyses count, each sorted: the duplicate view, first deliveries, latency statistics
    (the lazy plan and the bucketed one the CLI runs)."""
    lf = scan(target)
    first = first_deliveries(lf, extra=["received_at", "arrival_time", "redelivered", "capture_id"])
    return {
        "dedupe": _sorted(lf.drop("raw", "headers").collect()),
        "first": _sorted(first.collect()),
        "stats": latency_stats(lf).collect(),
        "buckets": latency_stats_in_buckets(lf),
    }


def _check(target: Path | str) -> None:
    _fill(target)
    before = _views(target)
    kept = before["first"].select("charger_id", "capture_id", "received_at")
    expected = pl.DataFrame(
        {
            "charger_id": ["EH1", "EH2", "EH3"],
            "capture_id": ["b", "b", "a"],
            "received_at": [T0 + timedelta(seconds=s) for s in (1, 2, 4)],
        },
        schema_overrides={"received_at": pl.Datetime("us", "UTC")},
    )
    assert_frame_equal(kept, expected)  # the copies received first
    end_to_end = before["stats"].filter(pl.col("hop") == "end_to_end")
    assert end_to_end["max_s"].item() == 4.0 and end_to_end["mean_s"].item() == pytest.approx(7 / 3)
    assert [day.parts_before for day in compact(target).days] == [2]
    after = _views(target)
    for name, frame in before.items():
        assert_frame_equal(after[name], frame, check_exact=True)


def test_the_copy_received_first_counts_before_and_after_compaction(tmp_path: Path) -> None:
    _check(tmp_path / "data")


def test_the_copy_received_first_counts_before_and_after_compaction_on_s3(s3_dataset: str) -> None:
    _check(s3_dataset)


def test_a_hand_made_store_without_the_flag_keeps_the_copy_received_first(tmp_path: Path) -> None:
    """Without ``redelivered`` every repeat of a (routing key, body) is a copy: the one received
    first stays, before and after compaction."""
    day = tmp_path / "data" / f"date={T0.date().isoformat()}"
    day.mkdir(parents=True)
    for name, received_s in (("part-a.parquet", 6), ("part-b.parquet", 1)):
        rows = decode_deliveries([_delivery("EH1", 0, 7, received_s, False)]).drop("redelivered")
        rows.write_parquet(day / name)
    before = scan(tmp_path / "data", require=False).collect()
    assert before["received_at"].to_list() == [T0 + timedelta(seconds=1)]
    assert [done.parts_before for done in compact(tmp_path / "data").days] == [2]
    assert_frame_equal(scan(tmp_path / "data", require=False).collect(), before)
