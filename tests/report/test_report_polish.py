"""The report: a visible latency caveat when the manifest says latency is not real, full tables in
print, one colour per charger."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from evkit.figures.style import charger_colours
from evkit.report import build_report
from evkit.store.manifest import annotate, latency_caveat, read_manifest
from tests.conftest import REPO_ROOT

SAMPLE = REPO_ROOT / "data" / "sample-session"


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("report") / "report.html"
    build_report(SAMPLE, out, progress=False)
    return out.read_text(encoding="utf-8")


def test_retimed_sample_carries_a_visible_latency_caveat(sample_report: str) -> None:
    assert "Latency caveat: received_at was re-timed" in sample_report
    assert 'class="warn caveat"' in sample_report
    assert "Stale values compare our receive time" in sample_report


def test_no_caveat_when_the_manifest_has_no_reason(tmp_path: Path) -> None:
    store = tmp_path / "store"
    shutil.copytree(SAMPLE, store)
    manifest = read_manifest(store)
    del manifest["retimed"]
    (store / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    out = build_report(store, tmp_path / "r.html", progress=False)
    assert "Latency caveat" not in out.read_text(encoding="utf-8")


def test_demo_fresh_capture_is_marked_simulated(tmp_path: Path) -> None:
    annotate(tmp_path, "simulated", {"what": "simulated Easee fleet", "fast": True})
    assert read_manifest(tmp_path)["captures"] == []
    caveat = latency_caveat(read_manifest(tmp_path))
    assert caveat is not None and "simulator publishing faster than real time" in caveat
    with pytest.raises(ValueError):
        annotate(tmp_path, "captures", [])


def test_tables_are_complete_when_printed(sample_report: str) -> None:
    css = sample_report.split("<style>", 1)[1].split("</style>", 1)[0]
    printed = css.split("@media print", 1)[1]
    assert re.search(r"\.table-wrap\s*\{[^}]*max-height:\s*none[^}]*overflow:\s*visible", printed)
    # On screen, text cells wrap instead of pushing columns out of the box.
    assert re.search(r"th, td \{[^}]*white-space:normal", css)


def test_each_charger_has_the_same_colour_in_the_energy_figure(sample_report: str) -> None:
    script = re.split(r'Plotly\.newPlot\(\s*"fig-energy-per-day",', sample_report, maxsplit=1)[1]
    traces, _ = json.JSONDecoder().raw_decode(script.lstrip())
    bars = {t["name"]: t["marker"]["color"] for t in traces if t.get("type") == "bar"}
    assert bars == charger_colours(["EH290BP4", "EH5HNMUZ", "EH9HWQGI", "EHKUC9GK"])


def test_implausible_capture_delay_is_a_caveat_without_a_manifest() -> None:
    import polars as pl

    from evkit.analysis.caveats import latency_caveat_from_stats

    # The demo's fresh capture: days of simulated data published in seconds, stamped 7.4 h earlier.
    late = pl.DataFrame({"hop": ["cloud_to_capture", "end_to_end"], "p50_s": [7.4 * 3600, 7.4 * 3600]})
    caveat = latency_caveat_from_stats(late)
    assert caveat is not None and "7.4 h" in caveat and "does not measure transport" in caveat
    live = pl.DataFrame({"hop": ["cloud_to_capture"], "p50_s": [0.07]})
    assert latency_caveat_from_stats(live) is None
