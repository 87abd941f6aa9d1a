"""Latency statistics in charger buckets with two-pass percentiles equal ``latency_stats``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from evkit.analysis.latency import latency_stats
from evkit.analysis.latency_buckets import latency_stats_in_buckets
from evkit.store import scan
from evkit.store.writer import PartWriter
from tests.analysis.conftest import Fleet


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory, fleet: Fleet) -> Path:
    root = tmp_path_factory.mktemp("latbuckets") / "data"
    PartWriter(root).write(fleet.frame())
    return root


@settings(max_examples=12, deadline=None)
@given(
    rows=st.integers(min_value=1, max_value=4_000),
    by=st.sampled_from([None, "charger", "observation", "hour"]),
)
def test_bucketed_latency_stats_are_latency_stats(dataset: Path, rows: int, by: str | None) -> None:
    lf = scan(dataset, dedupe=False)
    expected = latency_stats(lf, by=by).collect()
    got = latency_stats_in_buckets(lf, by=by, rows_per_bucket=rows)
    assert_frame_equal(got, expected, check_dtypes=False, abs_tol=1e-9, rel_tol=1e-12)


def test_the_cli_gives_the_same_latency_in_buckets(
    dataset: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from evkit.analysis import buckets
    from evkit.cli import main

    assert main(["latency", str(dataset), "--format", "json", "--by", "charger"]) == 0
    whole = json.loads(capsys.readouterr().out)
    monkeypatch.setattr(buckets, "ROWS_PER_BUCKET", 300)
    assert buckets.charger_ranges(scan(dataset, dedupe=False), 300)  # it does split
    assert main(["latency", str(dataset), "--format", "json", "--by", "charger"]) == 0
    assert json.loads(capsys.readouterr().out) == whole
