"""The explorer's per-store summary: its views equal the analysis of the rows they stand for, a window
filters them, and a new part makes the store summarised again."""

from __future__ import annotations

import math
import shutil
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from evkit.analysis import energy_per_day, quality_summary, sessions
from evkit.analysis.latency import latency
from evkit.explore.controller import ExploreController
from evkit.explore.summary import StoreSummary, store_summary, summarise
from evkit.store.reader import scan
from tests.conftest import REPO_ROOT

SAMPLE = REPO_ROOT / "data" / "sample-session"


@pytest.fixture(scope="module")
def summary() -> StoreSummary:
    return summarise(SAMPLE)


def test_quality_of_the_whole_store_is_quality_summary(summary: StoreSummary) -> None:
    expected = quality_summary(scan(SAMPLE)).collect()
    assert_frame_equal(summary.quality((), None, None), expected, check_dtypes=False)


def test_energy_days_in_a_zone_are_energy_per_day(summary: StoreSummary) -> None:
    expected = energy_per_day(scan(SAMPLE), zone="Europe/Oslo").select(
        "charger_id", "day", "energy_kwh", "source"
    )
    assert_frame_equal(summary.energy_days((), None, None, "Europe/Oslo"), expected.collect())


def test_sessions_are_every_chargers_sessions_filtered(summary: StoreSummary) -> None:
    everything = sessions(scan(SAMPLE)).collect()
    assert_frame_equal(summary.sessions_in((), None, None), everything)
    lo, hi = datetime(2026, 11, 3, tzinfo=UTC), datetime(2026, 11, 3, 12, tzinfo=UTC)
    some = summary.sessions_in(("EH290BP4",), lo, hi)
    assert 0 < some.height < everything.height
    assert set(some["charger_id"]) == {"EH290BP4"}
    # A session overlapping the window is shown whole, one outside it is not.
    assert (some["started_at"] < hi).all() and (some["ended_at"] >= lo).all()
    outside = everything.filter((pl.col("charger_id") == "EH290BP4") & (pl.col("ended_at") < lo))
    assert outside.height > 0 and not set(outside["session_id"]) & set(some["session_id"])


def test_latency_histogram_counts_every_latency(summary: StoreSummary) -> None:
    rows = latency(scan(SAMPLE)).filter(pl.col("latency_s").is_finite()).collect()
    counts = summary.latency_counts(None, None)
    per_hop = counts.group_by("hop").agg(pl.col("n").sum()).sort("hop")
    expected = rows.group_by("hop").agg(pl.len().cast(pl.Int64).alias("n")).sort("hop")
    assert_frame_equal(per_hop, expected)
    # Rounding keeps order, so the counted median is the true median to two significant digits.
    for hop in expected["hop"]:
        values = rows.filter(pl.col("hop") == hop)["latency_s"].sort()
        true_median = values[math.ceil(values.len() / 2) - 1]
        bins = counts.filter(pl.col("hop") == hop)
        counted = bins.filter(pl.col("n").cum_sum() >= bins["n"].sum() / 2)["latency_s"][0]
        assert counted == pytest.approx(float(f"{true_median:.2g}"), rel=1e-9), hop


def test_quality_window_clips_silences(tmp_path: Path) -> None:
    summary = summarise(SAMPLE)
    gaps = pl.DataFrame(
        {
            "charger_id": ["EH290BP4"],
            "gap_start": [datetime(2026, 11, 2, 22, tzinfo=UTC)],
            "gap_end": [datetime(2026, 11, 3, 2, tzinfo=UTC)],
        }
    )
    clipped = StoreSummary(**{**summary.__dict__, "gaps": gaps})
    day = clipped.quality(("EH290BP4",), datetime(2026, 11, 3, tzinfo=UTC), datetime(2026, 11, 4, tzinfo=UTC))
    assert day["gaps_n"].to_list() == [1]
    assert day["gap_s_total"].to_list() == [2 * 3600.0]  # only the part inside the day


def test_the_fleet_latency_view_draws_counts(tmp_path: Path) -> None:
    controller = ExploreController(SAMPLE, zone="UTC")
    fig = controller.latency_figure(controller.select())
    rows = latency(scan(SAMPLE)).filter(pl.col("latency_s").is_finite()).collect()
    n_end_to_end = rows.filter(pl.col("hop") == "end_to_end").height
    names = [t.name for t in fig.data if t.name]
    assert any(name.startswith(f"end to end (n={n_end_to_end:,},") for name in names)
    assert "significant digits" in fig.layout.title.subtitle.text


def test_summary_is_cached_until_the_parts_change(tmp_path: Path) -> None:
    store = tmp_path / "store"
    days = [p for p in sorted(SAMPLE.iterdir()) if p.is_dir()]
    shutil.copytree(days[0], store / days[0].name)
    first = store_summary(store)
    assert store_summary(store) is first
    shutil.copytree(days[1], store / days[1].name)
    again = store_summary(store)
    assert again is not first and again.rows > first.rows


def test_refresh_keeps_views_when_nothing_changed(tmp_path: Path) -> None:
    controller = ExploreController(SAMPLE, zone="UTC")
    assert controller.refresh() is False


def test_disk_cache_spares_a_new_kernel_the_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from evkit.explore import summary as summary_module
    from evkit.explore import summary_cache

    monkeypatch.setenv("EVKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(summary_cache, "WORTH_S", 0.0)  # the sample is quick; cache it anyway
    store = tmp_path / "store"
    days = [p for p in sorted(SAMPLE.iterdir()) if p.is_dir()]
    shutil.copytree(days[0], store / days[0].name)
    said: list[str] = []
    first = store_summary(store, said.append)
    assert any(text.startswith("Kept in ") for text in said)
    monkeypatch.setattr(summary_module, "_SUMMARIES", {})  # a new kernel
    said.clear()
    again = store_summary(store, said.append)
    assert said and "from the cache" in said[0]
    assert again is not first
    for name in ("sessions", "energy_hours", "quality_hours", "gaps", "latency_hours"):
        assert_frame_equal(getattr(again, name), getattr(first, name))
    assert (again.chargers, again.first_seen, again.last_seen, again.rows) == (
        first.chargers,
        first.first_seen,
        first.last_seen,
        first.rows,
    )
    # A new part is a miss: the store is read again, and only its newest entry is kept.
    shutil.copytree(days[1], store / days[1].name)
    monkeypatch.setattr(summary_module, "_SUMMARIES", {})
    grown = store_summary(store)
    assert grown.rows > first.rows
    assert len(list((tmp_path / "cache" / "explore").iterdir())) == 1
    # An entry that cannot be read is ignored (the store is read again), never an error.
    (entry,) = (tmp_path / "cache" / "explore").iterdir()
    (entry / "sessions.parquet").write_bytes(b"not parquet")
    monkeypatch.setattr(summary_module, "_SUMMARIES", {})
    assert store_summary(store).rows == grown.rows


def test_disk_cache_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from evkit.explore import summary_cache

    monkeypatch.setenv("EVKIT_CACHE_DIR", "")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(summary_cache, "WORTH_S", 0.0)
    assert summary_cache.cache_root() is None
    summary_cache.save(summarise(SAMPLE), str(SAMPLE), ())
    assert not (tmp_path / "home").exists() and not (tmp_path / "xdg").exists()


@pytest.fixture(scope="module")
def fleet_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.cluster.conftest import write_fleet

    # 40 chargers with duplicates, holes, skew, a meter reset and chargers silent before the end
    return write_fleet(tmp_path_factory.mktemp("explore-fleet") / "data", copies=8)


@pytest.mark.parametrize("open_files", [16, 2])  # bucket files in one round; in rounds
def test_a_store_summarised_in_charger_buckets_is_the_store_summarised_at_once(
    fleet_store: Path, open_files: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evkit.analysis import buckets

    monkeypatch.setattr(buckets, "OPEN_FILES", open_files)
    whole = summarise(fleet_store)
    said: list[str] = []
    rows = scan(fleet_store).select(pl.len()).collect().item()
    split = summarise(fleet_store, said.append, rows_per_bucket=rows // 10)
    assert any("of 1" in line and "charger buckets" in line for line in said)  # it did split, and said so
    # the read into bucket files came first, in tenths of its rows, then its end
    splitting = [line for line in said if line.startswith(f"Splitting {fleet_store} into")]
    percents = [int(line.split(": ")[1].split("%")[0]) for line in splitting]
    assert percents and percents == sorted(set(percents)) and percents[-1] <= 100
    ended = said.index(next(line for line in said if line.startswith(f"Split {fleet_store} into")))
    assert said.index(splitting[-1]) < ended < said.index(next(x for x in said if x.startswith("Read 1 of")))
    assert (split.rows, split.replayed, split.chargers) == (whole.rows, whole.replayed, whole.chargers)
    assert (split.first_seen, split.last_seen) == (whole.first_seen, whole.last_seen)
    assert whole.gaps.height > 0 and whole.sessions.height > 0
    for name, keys in {
        "sessions": ["charger_id", "started_at"],
        "energy_hours": ["charger_id", "hour", "source"],
        "quality_hours": ["charger_id", "hour"],
        "gaps": ["charger_id", "gap_start"],
        "latency_hours": ["hour", "hop", "latency_s"],
    }.items():
        got, want = getattr(split, name), getattr(whole, name)
        assert_frame_equal(
            got.sort(keys, nulls_last=True), want.sort(keys, nulls_last=True), check_exact=False
        )
    # the views built on them answer alike
    assert_frame_equal(split.quality((), None, None), whole.quality((), None, None), check_exact=False)


def test_a_hostile_fleets_summary_gives_the_public_analyses(fleet_store: Path) -> None:
    """Each bucket is held in memory (no bodies) and deduplicated at once: on a fleet with copies,
    holes, skew and a meter reset the views still answer as the public analyses of the store."""
    summary = summarise(fleet_store)
    lf = scan(fleet_store)
    assert summary.quality_hours["out_of_order_n"].sum() + summary.quality_hours["stale_n"].sum() > 0
    assert_frame_equal(summary.quality((), None, None), quality_summary(lf).collect(), check_dtypes=False)
    assert_frame_equal(summary.sessions_in((), None, None), sessions(lf).collect())
    expected = energy_per_day(lf, zone="UTC").select("charger_id", "day", "energy_kwh", "source").collect()
    assert_frame_equal(summary.energy_days((), None, None, "UTC"), expected, check_exact=False)
