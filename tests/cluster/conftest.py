"""A real Dask ``LocalCluster`` (worker processes, not threads) for the cluster tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from distributed import Client

from evkit.cluster import connect
from evkit.store import PartWriter
from tests.analysis.conftest import build_fleet
from tests.s3fixtures import s3_bucket, s3_dataset, s3_env, s3_server

__all__ = ["s3_bucket", "s3_dataset", "s3_env", "s3_server"]


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    """Two single-thread worker processes, with a nanny each (a killed worker is restarted)."""
    client = connect("local:2")
    yield client
    cluster = client.cluster
    client.close()
    if cluster is not None:
        cluster.close()


def fleet_frame(copies: int) -> pl.DataFrame:
    """The analysis tests' quirky fleet (duplicates, holes, skew, a meter reset, mid-session start)
    repeated ``copies`` times under other charger ids: ``5 * copies`` chargers."""
    base = build_fleet().frame()
    return pl.concat(
        [base.with_columns(pl.col("charger_id") + f"-{k:04d}") for k in range(copies)], how="vertical"
    ).sort("received_at")


def write_fleet(root: Path, copies: int, rows_per_part: int = 20_000) -> Path:
    writer = PartWriter(root, capture_id="fleet")
    frame = fleet_frame(copies)
    for start in range(0, frame.height, rows_per_part):  # many parts, as a capture flushes them
        writer.write(frame.slice(start, rows_per_part))
    writer.close()
    return root


@pytest.fixture(scope="module")
def fleet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fleet(tmp_path_factory.mktemp("fleet") / "data", copies=40)
