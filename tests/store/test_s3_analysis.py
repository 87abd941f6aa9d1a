"""The analysis commands read ``s3://bucket/prefix`` exactly as they read a directory (real SeaweedFS)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl

import evkit
from tests.conftest import REPO_ROOT
from tests.s3fixtures import SECRET_KEY, upload_dataset

SAMPLE = REPO_ROOT / "data" / "sample-session"


def evkit_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evkit", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_scan_of_the_sample_on_s3_equals_the_local_scan(s3_dataset: str) -> None:
    upload_dataset(SAMPLE, s3_dataset)
    local = evkit.scan(SAMPLE).collect()
    remote = evkit.scan(s3_dataset).collect()
    assert remote.equals(local)


def test_sessions_latency_and_report_read_s3(s3_dataset: str, tmp_path: Path) -> None:
    upload_dataset(SAMPLE, s3_dataset)
    for command in (["sessions", "--format", "json"], ["latency", "--format", "json", "--by", "charger"]):
        local = evkit_cli(command[0], str(SAMPLE), *command[1:])
        remote = evkit_cli(command[0], s3_dataset, *command[1:])
        assert local.returncode == 0, local.stderr
        assert remote.returncode == 0, remote.stderr
        assert remote.stdout == local.stdout
        assert SECRET_KEY not in remote.stdout + remote.stderr
    report = evkit_cli("report", s3_dataset, "--out", str(tmp_path / "r.html"), "--no-progress")
    assert report.returncode == 0, report.stderr
    html = (tmp_path / "r.html").read_text()
    assert s3_dataset in html
    assert "vm-23140-64920649" in html  # the capture of the copied manifest.json
    assert SECRET_KEY not in html
    assert os.environ["AWS_ACCESS_KEY_ID"] not in html


def test_a_copied_manifest_and_capture_records_are_merged(s3_dataset: str) -> None:
    from evkit.store import read_manifest, upsert_capture

    upload_dataset(SAMPLE, s3_dataset)
    upsert_capture(s3_dataset, {"capture_id": "later", "status": "running"})
    ids = [c["capture_id"] for c in read_manifest(s3_dataset)["captures"]]
    assert sorted(ids) == sorted([*[c["capture_id"] for c in read_manifest(SAMPLE)["captures"]], "later"])


def test_a_missing_bucket_is_exit_2_with_a_sentence(s3_env: dict[str, str]) -> None:
    result = evkit_cli("sessions", "s3://evkit-no-such-bucket/fleet")
    assert result.returncode == 2
    assert "the bucket 'evkit-no-such-bucket' does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_polars_reads_the_same_rows_with_storage_options_only(s3_dataset: str) -> None:
    upload_dataset(SAMPLE, s3_dataset)
    lf = pl.scan_parquet(f"{s3_dataset}/**/*.parquet", storage_options={"aws_allow_http": "true"})
    assert (
        lf.select(pl.len()).collect().item()
        == evkit.scan(SAMPLE, dedupe=False).select(pl.len()).collect().item()
    )


def test_buckets_weigh_files_against_filters_from_the_same_footers_on_s3(s3_dataset: str) -> None:
    """The bucket cost model (``analysis.buckets.spills``) counts the rows each charger range's
    filtered read reads from the parts' footers: on s3:// the same counts as in a directory."""
    from evkit.store.frame_facts import rows_per_charger_range

    upload_dataset(SAMPLE, s3_dataset)
    ids = evkit.scan(SAMPLE).select(pl.col("charger_id").drop_nulls().unique().sort()).collect()["charger_id"]
    ranges = [(ids[0], ids[0]), (ids[1], ids[-1])]
    here = rows_per_charger_range(evkit.scan(SAMPLE, dedupe=False), ranges)
    there = rows_per_charger_range(evkit.scan(s3_dataset, dedupe=False), ranges)
    assert here is not None and here[0] == evkit.scan(SAMPLE, dedupe=False).select(pl.len()).collect().item()
    assert there == here
