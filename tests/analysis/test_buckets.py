"""Sessions computed in charger buckets (bounded memory) are the sessions computed in one pass."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from evkit.analysis import buckets, latency, sessions
from evkit.cli import main
from evkit.store import scan
from evkit.store.writer import PartWriter
from tests.analysis.conftest import Fleet
from tests.cluster.conftest import write_fleet


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory, fleet: Fleet) -> Path:
    root = tmp_path_factory.mktemp("buckets") / "data"
    PartWriter(root).write(fleet.frame())
    return root


@settings(max_examples=15, deadline=None)
@given(rows=st.integers(min_value=1, max_value=5_000))
def test_sessions_in_any_buckets_are_the_sessions_in_one_pass(dataset: Path, rows: int) -> None:
    lf = scan(dataset, dedupe=False)
    whole = sessions(lf).collect()
    ranges = buckets.charger_ranges(lf, rows)
    got = buckets.in_charger_buckets(lf, sessions, rows)
    assert_frame_equal(got.sort("charger_id", "started_at"), whole)
    counts = lf.group_by("charger_id").len().drop_nulls("charger_id").sort("charger_id").collect()
    if rows < lf.select(pl.len()).collect().item():
        # A split happens once the chargers before the last one hold a bucket's worth of rows.
        if int(counts["len"][:-1].sum()) >= rows:
            assert len(ranges) >= 2
        ids = [c for lo, hi in ranges for c in (lo, hi)]
        assert ids == sorted(ids)
        assert ranges[0][0] == counts["charger_id"][0] and ranges[-1][1] == counts["charger_id"][-1]


@pytest.mark.parametrize("window", [[], ["--from", "2026-03-02T08:00", "--to", "2026-03-02T20:00"]])
@pytest.mark.parametrize("spill_reads", [10**6, 1])  # buckets filtering the data; through files
def test_the_cli_sessionises_a_large_dataset_in_buckets_with_the_same_result(
    dataset: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    window: list[str],
    spill_reads: int,
) -> None:
    assert main(["sessions", str(dataset), "--format", "json", *window]) == 0
    whole = json.loads(capsys.readouterr().out)
    assert whole  # sessions to compare
    monkeypatch.setattr(buckets, "SPILL_READS", spill_reads)
    monkeypatch.setattr(buckets, "ROWS_PER_BUCKET", 250)  # about a charger a bucket: 4 buckets
    calls: list[int] = []
    real = buckets.charger_ranges
    monkeypatch.setattr(buckets, "charger_ranges", lambda lf, n: calls.append(n) or real(lf, n))
    spilled: list[int] = []
    spill = buckets._spill
    monkeypatch.setattr(buckets, "_spill", lambda lf, f, *rest: spilled.append(len(f)) or spill(lf, f, *rest))
    assert main(["sessions", str(dataset), "--format", "json", *window]) == 0
    assert json.loads(capsys.readouterr().out) == whole
    assert calls == [250]
    assert spilled == ([4] if spill_reads == 1 else [])


def test_reads_of_an_analysis_are_what_polars_projects_and_scans(dataset: Path) -> None:
    lf = scan(dataset, dedupe=False)
    assert buckets.reads_of(lambda rows: rows.select(pl.col("value").sum()), lf) == buckets.Reads(
        ["value"], 1
    )
    read = buckets.reads_of(sessions, lf)
    assert {"charger_id", "observed_at", "observation_id", "value"} <= set(read.columns)
    assert "raw" not in read.columns and "routing_key" not in read.columns  # the big ones stay on disk
    assert read.columns == [name for name in lf.collect_schema().names() if name in read.columns]
    assert read.scans == 1  # its branches share one scan
    assert buckets.reads_of(latency, lf).scans > 5  # its hops read differently: scans apiece
    many = [pl.lit(True)] * 10
    assert not buckets.spills(many, read) and buckets.spills(many, buckets.reads_of(latency, lf))


@pytest.mark.parametrize("rows", [150, 400, 1_000])
def test_sessions_through_bucket_files_are_the_sessions_in_one_pass(
    many_chargers: Path, rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    lf = scan(many_chargers, dedupe=False)
    whole = sessions(lf).collect()
    monkeypatch.setattr(buckets, "SPILL_READS", 1)  # files whatever the scans
    monkeypatch.setattr(buckets, "OPEN_FILES", 4)  # and in rounds
    assert buckets.spills(buckets.bucket_filters(lf, rows), buckets.reads_of(sessions, lf))
    got = buckets.in_charger_buckets(lf, sessions, rows)
    assert_frame_equal(got.sort("charger_id", "started_at"), whole)


@pytest.fixture(scope="module")
def many_chargers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fleet(tmp_path_factory.mktemp("buckets") / "fleet", copies=8)  # 40 chargers


@pytest.mark.parametrize("open_files", [64, 3, 2])  # one round; rounds of groups; three levels
def test_spilled_buckets_hold_each_buckets_rows_once_and_vanish_after(
    many_chargers: Path, open_files: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(buckets, "OPEN_FILES", open_files)
    lf = scan(many_chargers, dedupe=False)
    filters = buckets.bucket_filters(lf, lf.select(pl.len()).collect().item() // 15, chargerless=True)
    assert len(filters) >= 10
    written = ["charger_id", "observed_at", "value"]
    with buckets.bucket_sources(lf, filters, written) as sources:
        folders = {p for s in sources for p in s.explain().split() if "evkit-buckets-" in p}
        assert folders  # read from the temporary files, not from the dataset
        for rows, where in zip(sources, filters, strict=True):
            assert rows.collect_schema() == lf.collect_schema()  # the data's schema ...
            want = lf.filter(where).select(written).collect()
            assert_frame_equal(rows.select(written).collect(), want, check_row_order=False)
            with pytest.raises(RuntimeError, match="'raw', which was not written"):
                rows.select("raw").collect()  # ... and a column not written is an error, not nulls
    assert not any(Path(p.strip('"[]')).parent.exists() for p in folders)


def test_every_bucket_is_told(dataset: Path) -> None:
    """What a progress bar hears: none of n before the first bucket, then each one done."""
    lf = scan(dataset, dedupe=False)
    told: list[tuple[int, int]] = []
    got = buckets.in_charger_buckets(lf, sessions, 200, progress=lambda *a: told.append(a))
    n = len(buckets.bucket_filters(lf, 200))
    assert n > 2 and told == [(k, n) for k in range(n + 1)]
    assert_frame_equal(
        got.sort("charger_id", "started_at"), sessions(lf).collect().sort("charger_id", "started_at")
    )
