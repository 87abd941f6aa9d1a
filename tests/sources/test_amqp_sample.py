"""The bundled sample ``data/sample-session/`` (recorded by ``scripts/make-sample.py`` through the real
capture path) is a valid dataset that analysis can rely on without a broker."""

from __future__ import annotations

import json
from datetime import timedelta

import duckdb
import polars as pl

import evkit
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
