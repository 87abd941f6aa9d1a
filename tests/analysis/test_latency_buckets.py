"""Latency statistics in charger buckets with two-pass percentiles equal ``latency_stats``."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from evkit.analysis.latency import latency_stats
from evkit.analysis.latency_buckets import (
    Plan,
    hop_histograms,
    latencies_of,
    latency_keys,
    latency_stats_in_buckets,
)
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


@settings(max_examples=10, deadline=None)
@given(
    micros=st.lists(st.integers(min_value=-2_000, max_value=2_000), min_size=3, max_size=60),
    rows=st.integers(min_value=1, max_value=40),
)
def test_percentiles_inside_crowded_bins_are_exact(micros: list[int], rows: int) -> None:
    """Latencies a few microseconds apart share a bin (around 0.5 s a bin spans 2,048 µs): the second
    pass counts their values."""
    import tempfile
    from datetime import UTC, datetime, timedelta

    import polars as pl

    from evkit.store.schema import EASEE_SCHEMA

    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    n = len(micros)
    frame = pl.DataFrame(
        {
            "charger_id": [f"EH{i % 7}" for i in range(n)],
            "observation_id": pl.Series([120] * n, dtype=pl.Int32),
            "observed_at": [t0 + timedelta(seconds=i) for i in range(n)],
            "arrival_time": [
                t0 + timedelta(seconds=i, microseconds=500_000 + m) for i, m in enumerate(micros)
            ],
            "received_at": [t0 + timedelta(seconds=i, milliseconds=900) for i in range(n)],
            "value": [float(i) for i in range(n)],
        }
    )
    frame = frame.select(
        [
            frame[c].cast(t) if c in frame.columns else pl.lit(None, t).alias(c)
            for c, t in EASEE_SCHEMA.items()
        ]
    )
    with tempfile.TemporaryDirectory() as tmp:
        PartWriter(Path(tmp)).write(frame)
        lf = scan(tmp, dedupe=False)
        assert_frame_equal(
            latency_stats_in_buckets(lf, rows_per_bucket=rows),
            latency_stats(lf).collect(),
            check_dtypes=False,
            abs_tol=1e-9,
            rel_tol=1e-12,
        )


def test_a_group_without_a_name_gets_its_percentiles(tmp_path: Path, fleet: Fleet) -> None:
    """Rows without an observation name (an id the catalog does not know) are a group of their own
    ``--by observation``: its percentiles are found like any other's, in every bucket, in both passes."""
    import polars as pl

    frame = fleet.frame()
    frame = frame.with_columns(
        pl.when(pl.col("observation_id").is_in([120, 121]))
        .then(None)
        .otherwise("observation")
        .alias("observation")
    )
    PartWriter(tmp_path / "data").write(frame)
    lf = scan(tmp_path / "data", dedupe=False)
    expected = latency_stats(lf, by="observation").collect()
    unnamed = expected.filter(pl.col("observation").is_null())
    assert unnamed.height and unnamed["p50_s"].null_count() == 0
    keys = latency_keys("observation")
    whole = latencies_of(lf.collect(), keys)
    assert Plan.of([hop_histograms(whole, keys[1:]).collect()], keys).needs_pass2  # both passes run
    got = latency_stats_in_buckets(lf, by="observation", rows_per_bucket=500)
    assert_frame_equal(got, expected, check_dtypes=False, abs_tol=1e-9, rel_tol=1e-12)


def test_rows_without_a_charger_count_in_buckets_too(tmp_path: Path, fleet: Fleet) -> None:
    """A message whose charger is unknown (an undecodable routing key) still has its hops: the buckets
    count them as the whole data does (they are a bucket of their own)."""
    import polars as pl

    frame = fleet.frame()
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) % 10 == 0)
        .then(None)
        .otherwise(pl.col("charger_id"))
        .alias("charger_id")
    )
    PartWriter(tmp_path / "data").write(frame)
    lf = scan(tmp_path / "data", dedupe=False)
    expected = latency_stats(lf).collect()
    assert (
        expected["n"].sum()
        > latency_stats(lf.filter(pl.col("charger_id").is_not_null())).collect()["n"].sum()
    )
    got = latency_stats_in_buckets(lf, rows_per_bucket=500)
    assert_frame_equal(got, expected, check_dtypes=False, abs_tol=1e-9, rel_tol=1e-12)


def test_every_bucket_of_both_passes_is_told(dataset: Path) -> None:
    """What a progress bar hears: each pass's buckets, one by one, out of how many there are."""
    from evkit.analysis import buckets

    lf = scan(dataset, dedupe=False)
    told: list[tuple[str, int, int]] = []
    got = latency_stats_in_buckets(
        lf, by="observation", rows_per_bucket=400, progress=lambda *a: told.append(a)
    )
    n = len(buckets.bucket_filters(lf, 400, chargerless=True))
    assert n > 2
    first = [t for t in told if t[0] == "pass 1"]
    assert first == [("pass 1", k, n) for k in range(1, n + 1)]
    assert told[len(first) :] in ([], [("pass 2", k, n) for k in range(1, n + 1)])
    assert_frame_equal(
        got, latency_stats(lf, by="observation").collect(), check_dtypes=False, abs_tol=1e-9, rel_tol=1e-12
    )


def test_the_command_shows_the_buckets_on_a_terminal(
    dataset: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a terminal ``evkit latency`` counts the rows split into bucket files, then the buckets of
    each pass (nothing is drawn when stderr is no terminal: the other tests' output stays clean)."""
    import io
    import sys

    from tqdm.std import tqdm

    from evkit.analysis import buckets
    from evkit.cli import main

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(buckets, "ROWS_PER_BUCKET", 800)  # latency's buckets: half of it
    monkeypatch.setattr(buckets, "SPLIT_READS", 0)  # through bucket files: the split is drawn first
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["latency", str(dataset), "--format", "json"]) == 0
    n = len(buckets.bucket_filters(scan(dataset, dedupe=False), 400, chargerless=True))
    drawn = terminal.getvalue()
    # tqdm redraws at most every 0.1 s: some count out of all the buckets, per bucket
    assert "latency, pass 1" in drawn and f"/{n} [" in drawn and "bucket/s" in drawn
    # before the passes, the one read into bucket files counts its rows
    rows = scan(dataset, dedupe=False).select(pl.len()).collect().item()
    split = drawn.index("latency, splitting into buckets")
    assert split < drawn.index("latency, pass 1") and "row/s" in drawn[split:]
    assert f"/{tqdm.format_sizeof(rows)} [" in drawn[split:]  # out of all the rows (one round)
    assert json.loads(capsys.readouterr().out)  # the output itself is untouched
