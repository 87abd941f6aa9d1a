"""The report's numbers computed in charger buckets equal the whole-data analyses and figures."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from evkit import analysis
from evkit import figures as fig
from evkit.analysis import buckets, ranks
from evkit.analysis._prep import held_rows
from evkit.easee import catalog
from evkit.figures.latency import latency_ecdf_of
from evkit.report import build_report, partial
from evkit.report.data import ReportData, report_data
from evkit.report.sections import _heatmap
from evkit.store import PartWriter, scan
from tests.cluster.conftest import fleet_frame
from tests.plotted import plain


def jittered(copies: int) -> pl.DataFrame:
    """The quirky fleet, with latencies spread over microseconds (many percentiles then fall inside
    crowded milliseconds), some clock skew, connectivity readings (RSSI, cloud connection, boots) and
    undecodable rows without a charger."""
    frame = fleet_frame(copies)
    rng = np.random.default_rng(7)
    wide = rng.integers(-3_000, 900_000, frame.height)
    narrow = rng.integers(0, 2_500, frame.height)  # a few crowded milliseconds per hour
    jitter = pl.Series(np.where(rng.random(frame.height) < 0.5, wide, narrow)).cast(pl.Duration("us"))
    frame = frame.with_columns((pl.col("received_at") + jitter).alias("received_at"))
    sample = frame.filter(pl.col("charger_id").is_not_null()).sample(fraction=0.25, seed=3)
    ids = [catalog.WIFI_RSSI, catalog.CELL_RSSI, catalog.CONNECTED_TO_CLOUD, catalog.REBOOT_REASON]
    picked = pl.Series(rng.integers(0, len(ids), sample.height))
    readings = sample.with_columns(
        # one reading per charger and instant (a device sends no two RSSI values at once)
        (pl.col("observed_at") + pl.duration(milliseconds=pl.int_range(pl.len()))).alias("observed_at"),
        pl.Series([int(ids[i]) for i in picked], dtype=pl.Int32).alias("observation_id"),
        pl.Series(rng.integers(-95, -40, sample.height), dtype=pl.Float64).alias("value"),
    ).with_columns(
        pl.when(pl.col("observation_id") == int(catalog.CONNECTED_TO_CLOUD))
        .then((pl.col("value") > -80).cast(pl.Float64))
        .otherwise(pl.col("value"))
        .alias("value")
    )
    broken = frame.head(40).with_columns(
        pl.lit(None, dtype=pl.String).alias("charger_id"),
        pl.lit(None, dtype=pl.Int32).alias("observation_id"),
        pl.lit("not JSON").alias("error"),
    )
    return pl.concat([frame, readings, broken], how="vertical").sort("received_at")


def write_jittered(root: Path, rows_per_part: int, copies: int = 12) -> Path:
    """``jittered(copies)`` written below ``root`` as a capture would, ``rows_per_part`` rows a part."""
    frame = jittered(copies)
    writer = PartWriter(root, capture_id="fleet")
    for start in range(0, frame.height, rows_per_part):
        writer.write(frame.slice(start, rows_per_part))
    writer.close()
    return root


@pytest.fixture(scope="module")
def fleet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jittered(tmp_path_factory.mktemp("reportdata") / "data", 5_000)


def _sorted(frame: pl.DataFrame, *keys: str) -> pl.DataFrame:
    return frame.sort(*keys, nulls_last=True, maintain_order=True)


def _figure(figure: object) -> object:
    """The figure's JSON, floats rounded to 12 significant digits: Polars computes a latency as
    microseconds / 1e6 or times 1e-6 depending on the plan (0.8 or 0.7999999999999999), on the whole
    data as well as in buckets."""

    def rounded(value: object) -> object:
        if isinstance(value, float):
            return float(f"{value:.12g}")
        if isinstance(value, dict):
            return {k: rounded(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [rounded(v) for v in value]
        if isinstance(value, np.ndarray):
            return rounded(value.tolist())
        return value

    return rounded(plain(figure.to_plotly_json()))  # type: ignore[attr-defined]


def _bins(seconds: list[float]) -> list[int]:
    return pl.select(ranks.bin_of(pl.lit(pl.Series([round(x * 1e6) for x in seconds])))).to_series().to_list()


def assert_same_ecdf(got: object, want: object) -> None:
    """The report's ECDF (points read off the histograms) against the library's on the whole data:
    the same figure (traces, legend with the exact p50 and p95, notes, axis), each point's latency in
    the bin of the exact one (within 0.8 %), the first and last (minimum, maximum) exact."""
    got_json, want_json = _figure(got), _figure(want)
    got_x = [trace.pop("x") for trace in got_json["data"]]  # type: ignore[index]
    want_x = [trace.pop("x") for trace in want_json["data"]]  # type: ignore[index]
    got_hover = [trace.pop("hovertemplate") for trace in got_json["data"]]  # type: ignore[index]
    want_hover = [trace.pop("hovertemplate") for trace in want_json["data"]]  # type: ignore[index]
    assert got_json == want_json
    for a, b, hover, exact in zip(got_x, want_x, got_hover, want_hover, strict=True):
        assert len(a) == len(b) and (a[0], a[-1]) == (b[0], b[-1])
        assert _bins(a) == _bins(b)
        assert a == sorted(a)
        # a point off its exact latency is never shown as if exact: the hover says "≈"
        approximate = exact.replace("≤ %{x:.3f} s", "≤ x ≈ %{x:.3f} s (±0.8 %)")
        assert hover in (exact, approximate) and approximate != exact
        if [round(x * 1e6) for x in a] != [round(x * 1e6) for x in b]:
            assert hover == approximate


def assert_same_data(got: ReportData, lf: pl.LazyFrame) -> None:
    """``got`` (bucketed) against the whole-data analyses of ``lf``."""
    sessions = analysis.sessions(lf).collect()
    assert_frame_equal(
        _sorted(got.sessions, "charger_id", "started_at"), _sorted(sessions, "charger_id", "started_at")
    )
    per_day = analysis.energy_per_day(lf).collect()
    assert_frame_equal(_sorted(got.per_day, "charger_id", "day"), _sorted(per_day, "charger_id", "day"))
    assert_frame_equal(got.summary, analysis.quality_summary(lf).collect())
    assert_frame_equal(got.gaps, analysis.telemetry_gaps(lf).collect())
    assert_frame_equal(got.connected, analysis.connectivity_summary(lf).collect().sort("charger_id"))
    expected_stats = analysis.latency_stats(lf).collect()
    assert_frame_equal(got.latency.stats, expected_stats, check_dtypes=False, abs_tol=1e-9, rel_tol=1e-12)
    long = analysis.latency(lf)
    result = got.latency
    assert result.data_min is not None
    ecdf = latency_ecdf_of(result.curves, log_x=result.log_x, data_min=result.data_min)
    assert_same_ecdf(ecdf, fig.latency_ecdf(long))
    assert _figure(_heatmap(result)) == _figure(fig.latency_heatmap(long))
    connectivity = fig.connectivity_timeline(got.readings, chargers_in_data=got.readings_chargers)
    assert _figure(connectivity) == _figure(fig.connectivity_timeline(lf))
    overview = lf.select(
        pl.len().alias("rows"), pl.col("charger_id").drop_nulls().n_unique().alias("chargers")
    ).collect()
    assert (got.overview["rows"], got.overview["chargers"]) == overview.row(0)


@pytest.mark.parametrize("spill", [True, False])
def test_buckets_give_the_whole_data_numbers(
    fleet_dir: Path, spill: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Split into a temporary file per bucket first, or each bucket filtering the dataset."""

    monkeypatch.setattr(buckets, "SPLIT_READS", 0 if spill else 10**6)
    monkeypatch.setattr(buckets, "OPEN_FILES", 2)  # split in rounds: groups of buckets, then buckets
    lf = scan(fleet_dir, dedupe=False)
    got = report_data(fleet_dir, rows_per_bucket=3_000)
    assert len(buckets.charger_ranges(lf, 3_000)) > 3  # it did split
    assert got.latency.stats["n"].sum() > 10_000
    assert_same_data(got, lf)


def test_a_bucket_holds_no_raw_body_yet_counts_every_decode_error(fleet_dir: Path) -> None:
    """No analysis of the report reads a body: a bucket leaves them unread (a null column of the
    contract's type), and the 40 undecodable rows are still counted, under ``(unknown)``."""
    frame = held_rows(scan(fleet_dir, dedupe=False))
    assert frame.schema["raw"] == pl.Binary and frame["raw"].null_count() == frame.height
    assert frame.filter(pl.col("error").is_not_null()).height == 40
    summary = partial.analyse(frame, zone="UTC", tariff=None).summary
    assert summary["decode_errors_n"].sum() == 40
    assert summary.filter(pl.col("charger_id") == "(unknown)")["decode_errors_n"].item() == 40


def test_one_bucket_equals_many(fleet_dir: Path) -> None:
    one = report_data(fleet_dir, rows_per_bucket=10**9)
    told: list[tuple[str, int, int | None]] = []
    ticks: list[None] = []
    many = report_data(
        fleet_dir, rows_per_bucket=2_000, progress=lambda *a: told.append(a), tick=lambda: ticks.append(None)
    )
    # what the progress bar hears: the rows read into bucket files, then every bucket, each pass
    n = len(buckets.bucket_filters(scan(fleet_dir, dedupe=False), 2_000, chargerless=True))
    steps = [step for step, _, _ in told]
    split = steps.count("splitting into buckets")
    assert split > 0 and steps[:split] == ["splitting into buckets"] * split
    rows = scan(fleet_dir, dedupe=False).select(pl.len()).collect().item()
    assert told[split - 1] == ("splitting into buckets", rows, rows)  # one round: every row, once
    assert told[split : split + n + 1] == [("analysing", k, n) for k in range(n + 1)]
    assert len(ticks) == n  # the former per-bucket callback still hears each bucket
    assert told[split + n + 1 :] in ([], [("latency percentiles, pass 2", k, n) for k in range(n + 1)])
    assert_frame_equal(one.sessions, many.sessions)
    assert_frame_equal(one.summary, many.summary)
    assert_frame_equal(one.latency.stats, many.latency.stats, abs_tol=1e-9, rel_tol=1e-12)
    assert [c.hop for c in one.latency.curves] == [c.hop for c in many.latency.curves]
    for a, b in zip(one.latency.curves, many.latency.curves, strict=True):
        assert (a.n, a.y, a.negative) == (b.n, b.y, b.negative)
        assert a.x == pytest.approx(b.x, rel=1e-12)
    assert_frame_equal(
        one.latency.heat_cells.sort("row", "_hod"), many.latency.heat_cells.sort("row", "_hod")
    )


def test_the_page_from_buckets_shows_the_same_tables(fleet_dir: Path, tmp_path: Path) -> None:
    import re

    def tables(path: Path) -> list[str]:
        return re.findall(r"<table.*?</table>", path.read_text(encoding="utf-8"), flags=re.DOTALL)

    one = build_report(fleet_dir, tmp_path / "one.html", progress=False, tz="UTC", rows_per_bucket=10**9)
    many = build_report(fleet_dir, tmp_path / "many.html", progress=False, tz="UTC", rows_per_bucket=2_500)
    assert tables(one) == tables(many)
    assert len(tables(one)) >= 6


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.integers(min_value=-5_000, max_value=5_000),  # crowded bins
            st.integers(min_value=-(10**12), max_value=10**12),  # anything, up to 11 days in microseconds
            st.sampled_from([0, 800_000, 799_999, -1]),  # ties
        ),
        min_size=1,
        max_size=300,
    ),
    parts=st.integers(min_value=1, max_value=5),
    keys=st.integers(min_value=1, max_value=3),
)
def test_percentiles_from_parts_are_polars_quantiles(values: list[int], parts: int, keys: int) -> None:
    frame = pl.DataFrame({"hop": [f"h{i % keys}" for i in range(len(values))], "__us": values})
    pieces = [frame[i::parts] for i in range(parts)]
    hist = ranks.merge([ranks.histogram(p.lazy(), ["hop"]).collect() for p in pieces], ["hop"])
    assert hist.height <= len(values)
    wanted = {"p1": 0.01, "p50": 0.5, "p95": 0.95, "p99": 0.99}
    pr = ranks.percentile_ranks(ranks.counts(hist, ["hop"]), ["hop"], wanted)
    located = ranks.locate(hist, ranks.wanted_of(pr, ["hop"]), ["hop"])
    targets = ranks.targets(located, ["hop"])
    found = [ranks.values_in(p.lazy(), targets, ["hop"]).collect() for p in pieces]
    got = ranks.percentiles(pr, ranks.pick(located, found, ["hop"]), ["hop"]).sort("hop")
    expected = (
        frame.group_by("hop")
        .agg(pl.col("__us").cast(pl.Float64).quantile(q, "linear").alias(name) for name, q in wanted.items())
        .sort("hop")
    )
    assert_frame_equal(
        got.select(expected.columns), expected, check_dtypes=False, abs_tol=1e-6, rel_tol=1e-12
    )


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.integers(min_value=-(10**12), max_value=10**12),
            st.integers(min_value=799_000, max_value=801_000),  # crowded bins
            st.sampled_from([0, 800_000, 799_999, -1]),  # ties
        ),
        min_size=1,
        max_size=300,
    ),
    parts=st.integers(min_value=1, max_value=5),
)
def test_a_rank_read_off_its_bin_is_in_order_and_within_the_bin(values: list[int], parts: int) -> None:
    """The report's ECDF points: every rank's interpolated value lies in the bin of its exact value,
    between the bin's neighbours' and its own minimum and maximum, never below a lower rank's; the
    first and last ranks (minimum, maximum) are exact."""
    frame = pl.DataFrame({"hop": "h", "__us": values})
    pieces = [frame[i::parts] for i in range(parts)]
    hist = ranks.merge([ranks.histogram(p.lazy(), ["hop"]).collect() for p in pieces], ["hop"])
    wanted = pl.DataFrame({"hop": "h", "__rank": pl.int_range(0, len(values), eager=True)})
    got = ranks.interpolated(ranks.locate(hist, wanted, ["hop"]), hist, ["hop"]).sort("__rank")["__value"]
    exact = frame["__us"].sort()
    assert got.is_sorted()
    assert (got[0], got[-1]) == (exact[0], exact[-1])
    bin_of = ranks.bin_of(pl.col("v"))
    assert_frame_equal(
        pl.DataFrame({"v": got.round().cast(pl.Int64)}).select(bin_of),
        pl.DataFrame({"v": exact}).select(bin_of),
    )
    width = (exact.cast(pl.Float64).abs() / 2 ** (ranks.BITS - 1)).clip(lower_bound=1.0)
    assert ((got - exact).abs() <= width).all()


def test_bins_keep_order_and_stay_few() -> None:
    """A bin's values lie between its neighbours'; every microsecond of ±1 s fits in a few thousand bins."""
    values = pl.Series(
        "v", [-(10**11), -86_400_000_000, -1_000_001, -1, 0, 1, 255, 256, 999_999, 10**6, 10**11]
    )
    bins = pl.select(ranks.bin_of(pl.lit(values))).to_series()
    assert bins.is_sorted()
    second = pl.int_range(-(10**6), 10**6, eager=True)  # every microsecond of ±1 s: 2M values
    assert pl.select(ranks.bin_of(pl.lit(second))).to_series().n_unique() <= 2 * 21 * 256


def test_report_data_is_public() -> None:
    import evkit.report

    assert evkit.report.__all__ == sorted(evkit.report.__all__)
    assert evkit.report.report_data is report_data
    assert evkit.report.ReportData is ReportData


def test_command_round_trips_are_hops_of_the_report_latency() -> None:
    """Command -> response and command -> read-back rows (not one per message and transport hop)
    count in the report's latency numbers as in ``latency_stats``, beside the transport hops."""
    from tests.analysis.test_easee_command_latency import _dataset

    lf = _dataset()
    got = report_data(lf).latency.stats
    assert {"command_roundtrip", "command_readback", "end_to_end"} <= set(got["hop"])
    expected = analysis.latency_stats(lf).collect()
    assert_frame_equal(got, expected, check_dtypes=False, abs_tol=1e-9, rel_tol=1e-12)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=-(2**62), max_value=2**62), min_size=1, max_size=50))
def test_a_bin_is_the_values_top_bits_and_bit_length(values: list[int]) -> None:
    """``bin_of`` as its definition says, written plainly: bit length L, the top ``BITS`` bits."""

    def plain(v: int) -> int:
        size = abs(v)
        length = size.bit_length()
        magnitude = length * 2**ranks.BITS + (size >> max(length - ranks.BITS, 0))
        return -magnitude - 1 if v < 0 else magnitude

    got = pl.select(ranks.bin_of(pl.lit(pl.Series(values, dtype=pl.Int64)))).to_series().to_list()
    assert got == [plain(v) for v in values]


def write_mixed(root: Path) -> tuple[datetime, datetime]:
    """An Easee charger and an evcc session (whose readings carry no device time but ``updated``'s)
    written to ``root``; a window of 07:00-12:00 that holds the evcc session of 07:40."""
    from tests.analysis import scenario as sc

    easee = sc.frame(
        sc.Charger("EHMIX001", [(0, 1, 0.0), (40, 2, 0.0), (42, 3, 7.4), (100, 1, 0.0)], 300).run().rows
    )
    evcc = sc.evcc_session(100).with_columns(pl.lit(None, pl.Datetime("us", "UTC")).alias("observed_at"))
    rows = pl.concat([easee, evcc], how="diagonal_relaxed").sort("received_at")
    PartWriter(root, capture_id="mix").write(rows)
    return datetime(2026, 3, 2, 7, 0, tzinfo=UTC), datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_a_window_keeps_the_home_chargers_readings_without_a_device_time(tmp_path: Path) -> None:
    """evcc publishes a device time only with ``updated``: its other readings are in a window by when
    they were received. A report of 07:00-12:00 left out the evcc session of 07:40, silently, while
    ``evkit sessions`` with the same window lists it."""
    start, end = write_mixed(tmp_path)
    whole = report_data(tmp_path).sessions
    window = report_data(tmp_path, start=start, end=end).sessions
    assert "evcc" in whole["source"].to_list()
    evcc_in = window.filter(pl.col("source") == "evcc")
    assert evcc_in.height == 1 and evcc_in["started_at"][0] == datetime(2026, 3, 2, 7, 40, tzinfo=UTC)
    before = report_data(tmp_path, end=datetime(2026, 3, 2, 7, 30, tzinfo=UTC)).sessions
    assert "evcc" not in before["source"].to_list()  # plugged in after the window


def test_latency_pass_2_reads_a_bucket_once() -> None:
    """Pass 2 reads a bucket's latencies per hop, for the positives and for the heatmap: as a lazy plan
    the bucket was read and deduplicated again for each (a 6M-row report with varied latencies took
    50 s and 3.5 GB). They are computed once."""
    from evkit.analysis.latency import hop_latencies
    from evkit.report import latency_data

    frame = jittered(2)
    held = held_rows(frame.lazy())
    plan = latency_data.plan([partial.analyse(held, zone="UTC", tariff=None).latency])
    assert plan.needs_pass2  # the jittered latencies crowd some bins
    reads = []

    def counted(rows: pl.DataFrame) -> pl.DataFrame:
        reads.append(rows.height)
        return rows

    # pass 2 reads only the bins of the percentiles (stats, log-axis test, heatmap cells), not the
    # ECDF's 800 points a hop: with varied latencies those are nearly every value
    stat_ranks = 2 * (plan.stat_ranks.height + plan.positive_ranks.height)
    assert plan.targets_hops.height <= stat_ranks
    assert plan.targets_heat.height <= 2 * plan.heat_ranks.height
    found = partial.latency_pass2(held.lazy().map_batches(counted), plan)
    in_pass_2 = len(reads)
    reads.clear()
    hop_latencies(held.lazy().map_batches(counted)).collect()
    assert in_pass_2 == len(reads)  # as many reads as computing the latencies once (it was 105 against 6)
    assert [f.height for f in found] == [f.height for f in partial.latency_pass2(held.lazy(), plan)]


@settings(max_examples=100, deadline=None)
@given(
    hours=st.lists(
        st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)),
        min_size=1,
        max_size=50,
    )
)
def test_the_heatmap_cells_are_the_utc_calendar_day_and_hour(hours: list[datetime]) -> None:
    """The heatmap's (day, hour) from the epoch by floor division: the UTC calendar's, before 1970 too."""
    from evkit.report.latency_data import HEAT_HOP, _heat

    frame = pl.DataFrame({"hour": hours, HEAT_HOP: list(range(len(hours)))}).with_columns(
        pl.col("hour").dt.cast_time_unit("us").dt.truncate("1h")
    )
    got = _heat(frame.lazy()).collect()
    assert got["_day"].to_list() == [h.replace(minute=0).date() for h in hours]
    assert got["_hod"].to_list() == [h.hour for h in hours]


def test_a_buckets_latencies_are_kept_in_a_file_for_pass_2_when_it_may_read_them(
    fleet_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pass 2 reads a bucket's latencies from the file pass 1 wrote (not the bucket again) when a bin is
    crowded and the temporary folder has room; the numbers are the same either way."""
    frame = held_rows(jittered(1).lazy())
    kept = partial.KeptLatencies(tmp_path)
    crowded = kept.keep(0, partial.analyse(frame, zone="UTC", tariff=None, keep_latency=True))
    assert crowded.latency_values is None and kept.files[0].exists()
    values = kept.values(0, crowded)
    assert values is not None
    direct = partial.analyse(frame, zone="UTC", tariff=None, keep_latency=True).latency_values
    assert_frame_equal(values.collect(), direct)
    constant = frame.with_columns(
        (pl.col("observed_at") + pl.duration(seconds=1)).alias("arrival_time"),
        (pl.col("observed_at") + pl.duration(seconds=2)).alias("received_at"),
    )
    calm = kept.keep(1, partial.analyse(constant, zone="UTC", tariff=None, keep_latency=True))
    assert 1 not in kept.files and kept.values(1, calm) is None  # pass 2 will not read it
    in_files = report_data(fleet_dir, rows_per_bucket=3_000)
    monkeypatch.setattr(partial, "has_room", lambda *_: False)
    read_again = report_data(fleet_dir, rows_per_bucket=3_000)
    assert_frame_equal(in_files.latency.stats, read_again.latency.stats)
    cells = [r.latency.heat_cells.sort("row", "_hod") for r in (in_files, read_again)]
    assert_frame_equal(*cells)


def test_the_buckets_histograms_folded_as_they_come_give_the_same_plan() -> None:
    """The report keeps one running set of pass-1 histograms (the heatmap's grow with days and bins),
    not one per bucket: the plan is the same."""
    from evkit.report import latency_data

    frame = held_rows(jittered(2).lazy())
    ids = frame["charger_id"].unique().drop_nulls().sort()
    pieces = [frame.filter(pl.col("charger_id").is_in(ids[i::3].implode())) for i in range(3)]
    hists = [partial.analyse(p, zone="UTC", tariff=None).latency for p in pieces]
    running = None
    for h in hists:
        running = latency_data.fold(running, h)
    assert running is not None
    folded, each = latency_data.plan([running]), latency_data.plan(hists)
    for name in ("n", "located_hops", "located_ecdf", "located_heat", "targets_hops", "targets_heat"):
        a, b = getattr(folded, name), getattr(each, name)
        assert_frame_equal(a.sort(a.columns), b.sort(b.columns))
    assert folded.needs_pass2


def _wide_latencies(days: range, rng: np.random.Generator) -> pl.DataFrame:
    """``hop_latencies``' columns with end-to-end latencies (microseconds) a few times a day, at an
    hour that moves with the day: the heatmap's cells, and nothing else."""
    from datetime import timedelta

    from evkit.analysis.schema import ALL_HOPS

    start = datetime(2023, 1, 1, tzinfo=UTC)
    hours = [start + timedelta(days=d, hours=(d * 7 + k) % 24) for d in days for k in range(4)]
    latencies = rng.integers(0, 3_000_000, len(hours))
    return pl.DataFrame({"hour": pl.Series(hours, dtype=pl.Datetime("us", "UTC"))}).with_columns(
        *[pl.lit(None, dtype=pl.Int64).alias(hop) for hop in ALL_HOPS if hop != "end_to_end"],
        pl.Series("end_to_end", latencies, dtype=pl.Int64),
    )


def test_the_heatmap_histogram_holds_the_newest_year_whatever_the_span() -> None:
    """Folded bucket by bucket, the heatmap's histogram keeps only the days the figure draws (the
    newest ``MAX_HEAT_DAYS``) and counts the others: its cells are the whole data's percentiles of
    those days, and the figure says how many days the data holds."""
    from evkit.figures.latency import MAX_HEAT_DAYS
    from evkit.report import latency_data

    rng = np.random.default_rng(11)
    # three buckets over 1,000 days; one holds no day of the last year
    parts = [_wide_latencies(range(i, 1_000, 3), rng) for i in range(3)] + [_wide_latencies(range(200), rng)]
    hists = [pl.collect_all(latency_data.pass1(p.lazy())) for p in parts]
    running = None
    for h in hists:
        running = latency_data.fold(running, h)
        assert running[1]["_day"].n_unique() <= MAX_HEAT_DAYS
    assert running is not None and running[2].height == 1_000
    plan = latency_data.plan([running])
    assert plan.heat_days == latency_data.plan(hists).heat_days == 1_000
    found = [pl.collect_all(latency_data.pass2(p.lazy(), plan)) for p in parts]
    cells = latency_data.finish(plan, found).heat_cells

    whole = pl.concat(parts)
    newest = whole.select(pl.col("hour").dt.date().unique().sort().tail(MAX_HEAT_DAYS)).to_series()
    expected = (
        whole.filter(pl.col("hour").dt.date().is_in(newest.implode()))
        .group_by(pl.col("hour").dt.date().alias("row"), pl.col("hour").dt.hour().cast(pl.Int8).alias("_hod"))
        .agg(
            (pl.col("end_to_end").quantile(0.95, "linear") / 1e6).alias("q"),
            pl.len().cast(pl.Int64).alias("n"),
        )
    )
    assert_frame_equal(cells.sort("row", "_hod"), expected.sort("row", "_hod"), check_column_order=False)

    result = latency_data.finish(plan, found)
    note = str(_heatmap(result).layout.title.subtitle.text)
    assert f"the last {MAX_HEAT_DAYS:,} of 1,000 days with data" in note


@pytest.mark.parametrize("spill", [True, False])
def test_the_power_curve_rows_come_from_the_buckets_as_the_data_gives_them(
    fleet_dir: Path, spill: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each bucket keeps the power rows of its own session with the most energy; the fleet's is one
    of them, so the data is not read again for it, and the rows are the ones a read would give."""
    monkeypatch.setattr(buckets, "SPLIT_READS", 0 if spill else 10**6)
    lf = scan(fleet_dir, dedupe=False)
    read: list[str] = []
    reading = partial.power_rows

    def counted(frame: pl.LazyFrame, charger: str) -> pl.DataFrame:
        if "Parquet SCAN" in frame.explain() and "evkit-buckets-" not in frame.explain():
            read.append(charger)  # the store itself, not a bucket held in memory or its file
        return reading(frame, charger)

    monkeypatch.setattr(partial, "power_rows", counted)
    got = report_data(fleet_dir, rows_per_bucket=3_000)
    assert got.power is not None and read == []
    chosen, rows = got.power
    assert chosen == partial.session_to_plot(got.sessions)
    expected = reading(lf, chosen["charger_id"])
    order = ["observed_at", "observation_id", "value"]
    assert rows.height > 100
    assert_frame_equal(rows.sort(order), expected.sort(order))


def test_a_session_no_bucket_kept_is_read() -> None:
    """Two sessions of as much energy: the chosen one may not be the one its bucket kept."""
    rows = pl.DataFrame({"charger_id": ["A"], "observed_at": [None], "observation_id": [120], "value": [1.0]})
    kept = [({"charger_id": "A", "session_id": "A/1"}, rows)]
    assert partial.kept_power(kept, {"charger_id": "A", "session_id": "A/1"}) is rows
    assert partial.kept_power(kept, {"charger_id": "A", "session_id": "A/2"}) is None
    assert partial.kept_power(kept, {"charger_id": "B", "session_id": "A/1"}) is None
