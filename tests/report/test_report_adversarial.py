"""The report's latency numbers on odd data and odd machines: latencies of decades (a device clock
reset to 1970), a scratch folder that cannot take the pass-1 files, and ECDF points read off bins."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from evkit import analysis
from evkit.analysis import ranks
from evkit.analysis._prep import held_rows
from evkit.report import data as report_module
from evkit.report import partial
from evkit.report.data import report_data
from evkit.store import scratch
from tests.cluster.conftest import fleet_frame
from tests.report.test_report_data import jittered

#: 56 years in microseconds: a device whose clock reset to 1970 stamps its readings that far back.
EPOCH_SKEW_US = 56 * 365 * 86_400 * 10**6


def test_a_histograms_sum_does_not_wrap() -> None:
    """Two latencies of 2^62 µs sum to 2^63: one more than a 64-bit integer holds (it wrapped to -2^63)."""
    frame = pl.DataFrame({"hop": ["h", "h"], "__us": [2**62, 2**62]})
    one = ranks.histogram(frame.lazy(), ["hop"]).collect()
    assert one["__sum"].sum() == 2**63
    assert ranks.summed([one, one], ["hop"])["__sum"].sum() == 2**64
    assert ranks.merge([one, one], ["hop"])["__sum"].sum() == 2**64


@pytest.mark.parametrize("rows_per_bucket", [10**9, 400])
def test_the_mean_of_a_fleet_whose_clocks_reset_to_1970(rows_per_bucket: int) -> None:
    """Every device time 56 years back (clock reset to the epoch): 8,000 latencies of 1.8e15 µs sum past
    2^63. The report's ``mean_s`` was negative (-4 years) where ``latency_stats`` says 28 years."""
    frame = fleet_frame(6).with_columns(pl.col("observed_at") - pl.duration(microseconds=EPOCH_SKEW_US))
    got = report_data(frame, rows_per_bucket=rows_per_bucket).latency.stats
    expected = analysis.latency_stats(frame.lazy()).collect()
    assert expected.filter(pl.col("hop") == "end_to_end")["mean_s"].item() > 50 * 365 * 86_400
    assert_frame_equal(got, expected, check_dtypes=False, abs_tol=1e-9, rel_tol=1e-12)


def _warnings(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(text in record.getMessage() for record in caplog.records)


def test_a_scratch_folder_that_went_away_leaves_pass_2_to_read_the_buckets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The pass-1 file of a bucket cannot be written (the folder was removed by a temporary-folder
    cleaner, or filled up after ``has_room`` said yes: Polars raised "No space left on device"): the
    report aborted after its whole first pass. A file is a shortcut only: pass 2 reads the buckets
    again, the numbers are the same, and it is said once."""
    frame = held_rows(jittered(1).lazy())
    kept = partial.KeptLatencies(tmp_path / "gone")
    part = kept.keep(0, partial.analyse(frame, zone="UTC", tariff=None, keep_latency=True))
    assert kept.values(0, part) is None and not kept.files  # pass 2 reads the bucket again

    @contextmanager
    def vanished() -> Iterator[Path]:
        yield tmp_path / "removed-meanwhile"

    source = jittered(2)
    whole = report_data(source, rows_per_bucket=10**9)
    monkeypatch.setattr(report_module, "scratch_dir", vanished)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        bucketed = report_data(source, rows_per_bucket=2_000)
    assert _warnings(caplog, "cannot keep a bucket's latencies") == 1
    assert_frame_equal(bucketed.latency.stats, whole.latency.stats, abs_tol=1e-9, rel_tol=1e-12)
    cells = [r.latency.heat_cells.sort("row", "_hod") for r in (bucketed, whole)]
    assert_frame_equal(*cells)


def test_a_full_temporary_folder_is_said_once_not_once_a_bucket(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """With no room for the pass-1 files, ``has_room`` warned for every bucket (20 times at 60M rows)."""
    asked: list[int] = []

    def no_room(stored: int, instead: str) -> bool:  # the real check, asked for more than any disk has
        asked.append(stored)
        return scratch.has_room(stored * 10**15, instead)

    monkeypatch.setattr(partial, "has_room", no_room)
    source = jittered(2)
    with caplog.at_level(logging.WARNING):
        got = report_data(source, rows_per_bucket=2_000)
    assert len(asked) == 1 and _warnings(caplog, "pass 2 reads each bucket again") == 1
    whole = report_data(source, rows_per_bucket=10**9)
    assert_frame_equal(got.latency.stats, whole.latency.stats, abs_tol=1e-9, rel_tol=1e-12)


def test_an_ecdf_point_read_off_a_bin_is_not_shown_as_exact(tmp_path: Path) -> None:
    """The report's ECDF points are interpolated within their bins (up to 0.8 % off): the hover said
    "95.0% ≤ 1.234 s" as if measured, where the exact latency may be 1.243 s (and then fewer than 95 %
    are ≤ 1.234 s). It says ≈ for a hop with such a point; a hop of equal latencies stays exact."""
    varied = report_data(jittered(1)).latency.curves
    assert varied and all(c.approximate for c in varied if c.n > 1_000)
    constant = fleet_frame(2).with_columns(
        (pl.col("observed_at") + pl.duration(seconds=1)).alias("arrival_time"),
        (pl.col("observed_at") + pl.duration(seconds=2)).alias("received_at"),
    )
    assert not any(c.approximate for c in report_data(constant).latency.curves)
    from evkit.report import build_report

    page = build_report(jittered(1), tmp_path / "page.html", progress=False, tz="UTC").read_text("utf-8")
    assert json.dumps("≤ x ≈ %{x:.3f} s (±0.8 %)")[1:-1] in page  # the figure's JSON escapes ≤, ≈, ±
