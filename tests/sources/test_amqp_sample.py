"""The bundled sample ``data/sample-session/`` (recorded by ``scripts/make-sample.py`` through the real
capture path) is a valid dataset that analysis can rely on without a broker."""

from __future__ import annotations

import importlib.util
import json
from datetime import UTC, datetime, timedelta
from types import ModuleType

import duckdb
import polars as pl

import evkit
from evkit.analysis.latency import latency_stats
from evkit.store import read_manifest
from evkit.store.schema import EASEE_SCHEMA, REQUIRED_COLUMNS
from tests.conftest import REPO_ROOT

SAMPLE = REPO_ROOT / "data" / "sample-session"


def test_sample_is_small_and_has_the_contract_columns() -> None:
    size = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    assert size < 5 * 2**20
    frame = evkit.scan(SAMPLE).collect()
    for name, dtype in EASEE_SCHEMA.items():
        assert frame.schema[name] == dtype, name
    assert set(REQUIRED_COLUMNS) <= set(frame.columns)
    assert frame["error"].null_count() == frame.height
    assert frame.height == evkit.scan(SAMPLE, dedupe=False).collect().height  # no duplicates


def test_sample_covers_a_fleet_over_days() -> None:
    frame = evkit.scan(SAMPLE).collect()
    assert frame["charger_id"].n_unique() >= 3
    span = frame["observed_at"].max() - frame["observed_at"].min()  # type: ignore[operator]
    assert span >= timedelta(days=1)
    op_modes = frame.filter(pl.col("observation_id") == 109)["value"].unique().to_list()
    assert {1.0, 2.0, 3.0, 4.0} <= set(op_modes)  # unplugged, waiting, charging, completed
    assert frame.filter(pl.col("observation_id").is_in([120, 121, 124])).height > 1000
    assert frame["arrival_time"].null_count() == 0


def test_sample_manifest_and_duckdb() -> None:
    manifest = read_manifest(SAMPLE)
    (record,) = manifest["captures"]
    assert record["source"] == "easee-amqp" and record["status"] == "finished"
    assert record["rows_written"] == evkit.scan(SAMPLE).select(pl.len()).collect().item()
    assert "guest" not in json.dumps({k: v for k, v in record.items() if k != "user"})
    ((count,),) = duckdb.sql(f"select count(*) from read_parquet('{SAMPLE}/**/*.parquet')").fetchall()
    assert count == record["rows_written"]


def test_sample_received_at_is_a_live_capture_clock() -> None:
    """The sample was published faster than real time, then re-timed (scripts/make-sample.py):
    received_at follows arrival_time by a realistic capture delay, so latency reports make sense."""
    frame = evkit.scan(SAMPLE).collect()
    hop = (frame["received_at"] - frame["arrival_time"]).dt.total_microseconds() / 1e6
    assert hop.min() >= 0  # type: ignore[operator]  # received after the cloud got it
    assert 0.01 <= hop.median() <= 0.5  # type: ignore[operator]  # tens to hundreds of ms
    assert hop.max() < 60  # type: ignore[operator]  # a slow tail, not days
    assert (hop > 1).sum() > 0  # the tail exists
    # One consumer, FIFO: the recorded order keeps the wall clock monotone.
    assert frame.sort("received_at")["arrival_time"].is_sorted()
    latency = latency_stats(evkit.scan(SAMPLE)).collect()
    by_hop = {row["hop"]: row for row in latency.iter_rows(named=True)}
    assert by_hop["cloud_to_capture"]["p99_s"] < 10
    # every message once: transport, or the hourly 122/124 Easee stamps on a schedule (reported apart)
    assert by_hop["end_to_end"]["n"] + by_hop["scheduled_end_to_end"]["n"] == frame.height
    assert by_hop["end_to_end"]["p95_s"] < 10  # transport, not the hourly schedule


def test_sample_parts_are_partitioned_by_the_retimed_date() -> None:
    for part in SAMPLE.rglob("*.parquet"):
        day = part.parent.name.removeprefix("date=")
        dates = pl.read_parquet(part, columns=["received_at"])["received_at"].dt.date().unique()
        assert [str(d) for d in dates.to_list()] == [day], part
    manifest = read_manifest(SAMPLE)
    note = manifest["retimed"]
    assert note["rows"] == manifest["captures"][0]["rows_written"]
    assert note["delay"]["seed"] is not None and "arrival_time" in note["what"]
    assert "re-timed" in (SAMPLE / "README.md").read_text()


def _make_sample_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_sample", REPO_ROOT / "scripts" / "make-sample.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_retiming_follows_arrival_keeps_fifo_and_handles_missing_stamps() -> None:
    make_sample = _make_sample_module()
    t0 = datetime(2026, 11, 2, tzinfo=UTC)
    s = timedelta(seconds=1)
    frame = pl.DataFrame(
        {
            "arrival_time": [t0, t0 + s, None, None, t0 + 2 * s, t0 + 2 * s],
            "observed_at": [t0, t0, t0 + s, None, t0 + s, t0 + s],
        },
        schema={"arrival_time": pl.Datetime("us", "UTC"), "observed_at": pl.Datetime("us", "UTC")},
    )
    received = make_sample.simulated_received_at(frame, seed=1)
    assert received.null_count() == 0
    assert received.is_sorted()  # one consumer, FIFO: never before the row delivered ahead of it
    delay = (received - frame["arrival_time"]).dt.total_microseconds() / 1e6
    assert all(0 < d < 60 for d in delay.drop_nulls())  # received after the cloud got it, not days
    # without ArrivalTime: after the device stamp plus a device-to-cloud delay
    assert received[2] > t0 + s + timedelta(seconds=make_sample.DEVICE_TO_CLOUD_S)
    assert received.to_list() == make_sample.simulated_received_at(frame, seed=1).to_list()  # seeded
