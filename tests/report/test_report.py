"""The HTML report: self-contained (plotly.js once), every section, no secrets, clear errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from plotly.offline import get_plotlyjs

from evkit.cli import main
from evkit.errors import DatasetError
from evkit.report import build_report
from evkit.store.writer import PartWriter
from tests.figures.frames import scenario

SECTIONS = ("overview", "sessions", "energy", "latency", "quality", "connectivity")
FIGURES = (
    "fig-session-timeline",
    "fig-power-curve",
    "fig-energy-per-day",
    "fig-latency-ecdf",
    "fig-latency-heatmap",
    "fig-quality",
    "fig-connectivity",
)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report") / "dataset"
    PartWriter(root).write(scenario())
    manifest = {
        "evkit_version": "0.1.0",
        "captures": [
            {
                "capture_id": "host-1-abc",
                "source": "amqp",
                "url": "amqps://partner:s3cr3t-pw@streams.example.com:5671/vhost",
                "password": "hunter2-pass",
                "queue": "partner-queue",
                "rows": 805,
            }
        ],
    }
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


@pytest.fixture(scope="module")
def report(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = build_report(dataset, tmp_path_factory.mktemp("out") / "nested" / "report.html", progress=False)
    return out.read_text(encoding="utf-8")


def test_plotly_js_is_inlined_exactly_once_and_nothing_is_loaded_from_the_network(report: str) -> None:
    assert report.count(get_plotlyjs()) == 1
    assert not re.search(r"<script[^>]*\bsrc\s*=", report, re.IGNORECASE)
    assert not re.search(r"<link[^>]*\bhref\s*=\s*[\"']?https?://", report, re.IGNORECASE)
    assert not re.search(r"@import|url\(\s*[\"']?https?://", report.replace(get_plotlyjs(), ""))


def test_every_section_and_figure_is_there(report: str) -> None:
    for section in SECTIONS:
        assert f'<section id="{section}">' in report
    for div in FIGURES:
        assert f'id="{div}"' in report


def test_header_and_tables_state_the_dataset(report: str, dataset: Path) -> None:
    assert str(dataset) in report
    assert "805" in report  # messages
    assert "2026-11-20 06:00:00Z" in report  # time range
    assert "EHTEST01" in report and "EHTEST02" in report
    assert "host-1-abc" in report and "partner-queue" in report  # manifest
    assert "17.97" in report  # the complete session's energy
    assert "device → cloud" in report and "negative (clock skew)" in report
    # the ECDF has its curves, not a "no data" placeholder; the hourly 122/124 reports are apart
    transport = re.search(r"end to end \(n=(\d+)", report)
    scheduled = re.search(r"stamp (?:→|\\u2192) capture \(n=(\d+)", report)  # JSON may escape →
    assert transport is not None and scheduled is not None
    assert int(transport[1]) + int(scheduled[1]) == 805 and int(scheduled[1]) > 0
    assert "p95 latency end to end by hour of day" in report


def test_no_secret_from_the_manifest_lands_in_the_page(report: str) -> None:
    assert "s3cr3t-pw" not in report and "hunter2-pass" not in report
    assert "amqps://partner:***@streams.example.com" in report


def test_a_frame_can_be_reported_too(tmp_path: Path) -> None:
    out = build_report(scenario().lazy(), tmp_path / "frame.html", progress=False)
    assert "(in-memory frame)" in out.read_text(encoding="utf-8")


def test_a_frame_missing_columns_is_a_dataset_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="received_at"):
        build_report(scenario().drop("received_at"), tmp_path / "x.html", progress=False)
    assert not (tmp_path / "x.html").exists()


# --- CLI --------------------------------------------------------------------------------------------


def test_cli_writes_the_report_and_prints_its_path(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.html"
    assert main(["report", str(dataset), "--out", str(out), "--no-progress"]) == 0
    assert capsys.readouterr().out.strip() == str(out.resolve())
    assert out.stat().st_size > 1_000_000


def _cli_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(["report", *args, "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    return err


def test_cli_directory_without_parquet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    err = _cli_error([str(tmp_path / "empty"), "--out", str(tmp_path / "r.html")], capsys)
    assert "no Parquet" in err
    assert not (tmp_path / "r.html").exists()


def test_cli_missing_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "does not exist" in _cli_error([str(tmp_path / "nope"), "--out", str(tmp_path / "r.html")], capsys)


def test_cli_missing_required_columns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "d").mkdir()
    scenario().drop("arrival_time", "raw").write_parquet(tmp_path / "d" / "part.parquet")
    err = _cli_error([str(tmp_path / "d"), "--out", str(tmp_path / "r.html")], capsys)
    assert "arrival_time" in err and "raw" in err


def test_cli_empty_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "d").mkdir()
    scenario().head(0).write_parquet(tmp_path / "d" / "part.parquet")
    assert "no rows" in _cli_error([str(tmp_path / "d"), "--out", str(tmp_path / "r.html")], capsys)


def test_cli_unwritable_output_is_exit_1(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert main(["report", str(dataset), "--out", str(blocker / "r.html"), "--no-progress"]) == 1
    assert "cannot write the report" in capsys.readouterr().err


def test_sessions_table_is_capped_but_says_how_many(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from evkit.report import sections

    monkeypatch.setattr(sections, "SESSION_ROWS", 1)
    text = build_report(scenario(), tmp_path / "r.html", progress=False).read_text(encoding="utf-8")
    assert "newest 1 of 2 sessions" in text
