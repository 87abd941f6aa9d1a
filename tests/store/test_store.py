from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from evkit.errors import DatasetError, StoreError
from evkit.store import EASEE_SCHEMA, PartWriter, read_manifest, scan, upsert_capture


def _rows(n: int, day: int = 1, key_prefix: str = "EH1", redelivered: bool = False) -> pl.DataFrame:
    base = datetime(2026, 11, day, 23, 59, 58, tzinfo=UTC).timestamp()
    data = {
        "received_at": [datetime.fromtimestamp(base + i, UTC) for i in range(n)],
        "routing_key": [f"{key_prefix}.O.120" for _ in range(n)],
        "raw": [f'{{"Timestamp":"x","Value":{i}}}'.encode() for i in range(n)],
        "redelivered": [redelivered] * n,
        "value": [float(i) for i in range(n)],
    }
    frame = pl.DataFrame(data)
    return frame.select(
        [
            frame[name].cast(dtype) if name in frame.columns else pl.lit(None, dtype=dtype).alias(name)
            for name, dtype in EASEE_SCHEMA.items()
        ]
    )


def test_parts_are_partitioned_by_utc_date_and_readable_by_polars_and_duckdb(tmp_path: Path) -> None:
    writer = PartWriter(tmp_path)
    paths = writer.write(_rows(4))
    assert {p.parent.name for p in paths} == {"date=2026-11-01", "date=2026-11-02"}
    assert writer.rows_written == 4
    assert pl.scan_parquet(f"{tmp_path}/**/*.parquet").collect().height == 4
    count = duckdb.sql(f"select count(*) from read_parquet('{tmp_path}/**/*.parquet')").fetchall()
    assert count == [(4,)]
    assert not list(tmp_path.rglob("*.tmp"))


def test_scan_dedupes_redelivered_messages_but_keeps_all_rows_on_request(tmp_path: Path) -> None:
    first = PartWriter(tmp_path)
    second = PartWriter(tmp_path)
    first.write(_rows(5))
    second.write(_rows(3, redelivered=True))
    assert scan(tmp_path, dedupe=False).collect().height == 8
    deduped = scan(tmp_path).collect()
    assert deduped.height == 5
    assert sorted(deduped["value"].to_list()) == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_scan_keeps_repeated_mqtt_payloads_but_drops_their_redeliveries(tmp_path: Path) -> None:
    frame = _rows(4).with_columns(
        routing_key=pl.lit(None, dtype=pl.String),
        raw=pl.lit(b"same"),
        topic=pl.Series(["evcc/site/x", "evcc/site/x", "evcc/site/x", "evcc/site/y"]),
        redelivered=pl.Series([False, False, True, True]),
    )
    PartWriter(tmp_path).write(frame)
    kept = scan(tmp_path).collect()
    # two real repeats on x stay, x's DUP copy goes, y's only (redelivered) copy stays
    assert kept["topic"].to_list() == ["evcc/site/x", "evcc/site/x", "evcc/site/y"]
    assert scan(tmp_path, dedupe=False).collect().height == 4


def test_a_dup_reading_the_same_payload_follows_later_is_kept(tmp_path: Path) -> None:
    """An MQTT DUP row goes only when the same topic and payload were received before it: "0" flagged
    DUP at 23:59:58, "7400" at :59, a new "0" published at 00:00:00. The first reading was dropped
    (a later plain repeat counted as its original) and the 23:59:58 reading was lost."""
    frame = _rows(3).with_columns(
        routing_key=pl.lit(None, dtype=pl.String),
        raw=pl.Series([b"0", b"7400", b"0"]),
        topic=pl.lit("evcc/loadpoints/1/chargePower"),
        redelivered=pl.Series([True, False, False]),
    )
    PartWriter(tmp_path).write(frame)
    kept = scan(tmp_path).collect().sort("received_at")
    assert kept["raw"].to_list() == [b"0", b"7400", b"0"]
    # the same DUP row received after the plain "0" is its copy, and goes
    later = frame.with_columns(redelivered=pl.Series([False, False, True]))
    PartWriter(tmp_path / "later").write(later)
    assert scan(tmp_path / "later").collect().sort("received_at")["raw"].to_list() == [b"0", b"7400"]


def test_scan_unions_files_with_different_columns(tmp_path: Path) -> None:
    writer = PartWriter(tmp_path)
    writer.write(_rows(2))
    writer.write(_rows(1, key_prefix="EH2").drop("label").with_columns(topic=pl.lit("evcc/site/x")))
    frame = scan(tmp_path).collect()
    assert frame.height == 3
    assert frame["topic"].null_count() == 2
    assert frame["label"].null_count() == 3


def test_scan_reports_missing_directory_no_parquet_and_missing_columns(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        scan(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no Parquet"):
        scan(tmp_path / "empty")
    pl.DataFrame({"x": [1]}).write_parquet(tmp_path / "bad.parquet")
    with pytest.raises(DatasetError, match="received_at"):
        scan(tmp_path / "bad.parquet")


def test_roundtrip_keeps_types_exactly(tmp_path: Path) -> None:
    frame = _rows(3)
    PartWriter(tmp_path).write(frame)
    back = scan(tmp_path).collect().drop("capture_id").sort("received_at")
    assert_frame_equal(back, frame)


def test_output_path_that_is_a_file_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot write"):
        PartWriter(blocker / "out")


def test_manifest_keeps_one_record_per_capture_and_no_secrets(tmp_path: Path) -> None:
    upsert_capture(tmp_path, {"capture_id": "a", "queue": "q", "password": "hunter2", "messages": 1})
    upsert_capture(tmp_path, {"capture_id": "b", "queue": "q"})
    upsert_capture(tmp_path, {"capture_id": "a", "queue": "q", "messages": 7})
    manifest = read_manifest(tmp_path)
    assert [c["capture_id"] for c in manifest["captures"]] == ["b", "a"]
    assert manifest["captures"][1]["messages"] == 7
    assert "hunter2" not in json.dumps(manifest)
