"""``--charger ID... --from T --to T`` read only those rows and give what filtering afterwards gives."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from evkit.cli import main
from evkit.store.compact import compact
from evkit.store.writer import PartWriter
from tests.analysis.conftest import B, C, Fleet


@pytest.fixture(scope="module", params=["parts", "compacted"])
def dataset(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, fleet: Fleet) -> Path:
    """The fleet as a capture leaves it (500-row parts), and compacted (sorted, 256-row groups: the
    narrow read then skips most of them)."""
    root = tmp_path_factory.mktemp("narrow") / "data"
    writer = PartWriter(root)
    frame = fleet.frame()
    for start in range(0, frame.height, 500):
        writer.write(frame.slice(start, 500))
    writer.close()
    if request.param == "compacted":
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("evkit.store.compact.ROW_GROUP_ROWS", 256)
            assert compact(root, include_today=True).days
        assert all(p.name.startswith("part-compacted-") for p in root.rglob("*.parquet"))
    return root


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_sessions_of_some_chargers_in_a_window_are_those_of_all_filtered_afterwards(
    dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    every = _json(capsys, "sessions", str(dataset), "--format", "json")
    window = ("--from", "2026-03-02T07:00Z", "--to", "2026-03-02T12:00Z")
    narrow = _json(
        capsys, "sessions", str(dataset), "--format", "json", "--charger", B, "--charger", C, *window
    )
    assert isinstance(every, list) and isinstance(narrow, list)
    expected = [
        s
        for s in every
        if s["charger_id"] in {B, C} and "2026-03-02T07:00:00Z" <= s["started_at"] < "2026-03-02T12:00:00Z"
    ]
    assert narrow == expected and len(expected) >= 2


def test_latency_of_one_charger_is_its_row_of_the_breakdown(
    dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    by = _json(capsys, "latency", str(dataset), "--format", "json", "--by", "charger")
    one = _json(capsys, "latency", str(dataset), "--format", "json", "--charger", B)
    assert isinstance(by, dict) and isinstance(one, dict)
    for hop in ("device_to_cloud", "cloud_to_capture", "end_to_end"):
        (row,) = [r for r in by[hop] if r["charger_id"] == B]
        assert {k: v for k, v in row.items() if k != "charger_id"} == one[hop]


def test_latency_in_a_window_is_the_latency_of_the_rows_taken_in_it(
    dataset: Path, fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    start, end = datetime(2026, 3, 2, 8, tzinfo=UTC), datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    got = _json(
        capsys,
        "latency",
        str(dataset),
        "--format",
        "json",
        "--from",
        start.isoformat(),
        "--to",
        end.isoformat(),
    )
    assert isinstance(got, dict)
    identity = ["charger_id", "observation_id", "observed_at", "value", "value_text"]
    clean = fleet.frame(fleet.clean).unique(subset=identity)
    inside = clean.filter(
        (pl.col("observed_at") >= start)
        & (pl.col("observed_at") < end)
        & ~pl.col("observation_id").is_in([122, 124])
    )
    values = (inside["arrival_time"] - inside["observed_at"]).dt.total_microseconds().to_numpy() / 1e6
    assert got["device_to_cloud"]["n"] == len(values) > 0
    assert got["device_to_cloud"]["p95_s"] == pytest.approx(np.percentile(values, 95), abs=1e-4)


def test_report_of_one_charger_names_only_it(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.html"
    assert main(["report", str(dataset), "--out", str(out), "--no-progress", "--charger", B]) == 0
    capsys.readouterr()
    text = out.read_text(encoding="utf-8")
    assert B in text and C not in text


def test_a_reversed_window_is_refused(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["latency", str(dataset), "--from", "2026-03-02T10:00Z", "--to", "2026-03-02T09:00Z"])
    assert code == 2
    assert "--to" in capsys.readouterr().err
