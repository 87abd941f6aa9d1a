"""Sessions computed in charger buckets (bounded memory) are the sessions computed in one pass."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from evkit.analysis import buckets, cost, latency, sessions
from evkit.analysis.tariff import Tariff, flat_tariff, tariff_from_text
from evkit.cli import main
from evkit.store import compact as compact_module
from evkit.store import scan
from evkit.store.compact import compact
from evkit.store.frame_facts import rows_per_charger_range
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


#: A time-of-use tariff whose price changes inside the fleet's sessions (06:00-16:00 UTC).
TARIFF = (
    "from,price,co2\n2026-03-02T00:00Z,0.10,100\n2026-03-02T09:00Z,0.25,200\n2026-03-02T13:00Z,0.40,300\n"
)


def _chargers_priced(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of chargers in the rows of each ``session_costs`` call, as the calls happen."""
    seen: list[int] = []
    real_costs = cost.session_costs

    def spy(found: Any, tariff: Tariff, part: pl.LazyFrame) -> pl.LazyFrame:
        seen.append(part.select(pl.col("charger_id").n_unique()).collect().item())
        return real_costs(found, tariff, part)

    monkeypatch.setattr(cost, "session_costs", spy)
    return seen


@pytest.mark.parametrize("tariff", ["", "0.30", "tariff.csv"])
@pytest.mark.parametrize("window", [[], ["--from", "2026-03-02T08:00", "--to", "2026-03-02T20:00"]])
@pytest.mark.parametrize("split_reads", [10**6, 0])  # buckets filtering the data; through files
def test_the_cli_sessionises_a_large_dataset_in_buckets_with_the_same_result(
    dataset: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *,
    tmp_path: Path,
    window: list[str],
    split_reads: int,
    tariff: str,
) -> None:
    if tariff.endswith(".csv"):
        (tmp_path / tariff).write_text(TARIFF, encoding="utf-8")
        tariff = str(tmp_path / tariff)
    priced = ["--tariff", tariff, "--currency", "EUR"] if tariff else []
    window = [*window, *priced]
    assert main(["sessions", str(dataset), "--format", "json", *window]) == 0
    whole = json.loads(capsys.readouterr().out)
    assert whole  # sessions to compare
    if priced:
        assert all(s["currency"] == "EUR" for s in whole)
        assert any(s["cost"] for s in whole)  # priced sessions to compare
    # Sessions are priced in their bucket: pricing reads one bucket's chargers at a time (the whole
    # store at once held every counter and power reading of the fleet: 2.5 GB on 60M rows).
    seen = _chargers_priced(monkeypatch)
    monkeypatch.setattr(buckets, "SPLIT_READS", split_reads)
    monkeypatch.setattr(buckets, "ROWS_PER_BUCKET", 250)  # about a charger a bucket: 4 buckets
    calls: list[int] = []
    real = buckets._charger_buckets
    monkeypatch.setattr(buckets, "_charger_buckets", lambda lf, n: calls.append(n) or real(lf, n))
    spilled: list[int] = []
    spill = buckets._spill
    monkeypatch.setattr(buckets, "_spill", lambda lf, f, *rest: spilled.append(len(f)) or spill(lf, f, *rest))
    assert main(["sessions", str(dataset), "--format", "json", *window]) == 0
    assert json.loads(capsys.readouterr().out) == whole
    assert calls == [250]
    assert spilled == ([4] if split_reads == 0 else [])
    chargers = scan(dataset).select(pl.col("charger_id").n_unique()).collect().item()
    assert (len(seen), sum(seen)) == ((4, chargers) if priced else (0, 0))  # each charger once


@pytest.mark.parametrize("split_reads", [10**6, 0])  # buckets filtering the data; through files
def test_a_statement_of_a_large_dataset_in_buckets_is_the_same(
    dataset: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, split_reads: int
) -> None:
    """``evkit statement`` (sessions priced per card or charger) in buckets of chargers, each bucket's
    sessions priced in it: the same statement as in one pass (which held the whole store: 2.70 GB on
    59.9M rows, now 0.89 GB)."""
    argv = ["statement", str(dataset), "--tariff", "0.30", "--by", "charger", "--format", "json"]
    argv += ["--from", "2026-03-02T09:00", "--to", "2026-03-03"]
    assert main(argv) == 0
    whole = json.loads(capsys.readouterr().out)
    assert whole["rows"] and whole["total"]["cost"]  # priced sessions to compare
    monkeypatch.setattr(buckets, "SPLIT_READS", split_reads)
    monkeypatch.setattr(buckets, "ROWS_PER_BUCKET", 250)  # about a charger a bucket: 4 buckets
    seen = _chargers_priced(monkeypatch)
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out) == whole
    assert len(seen) == 4 and max(seen) < sum(seen)  # priced bucket by bucket


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


@pytest.mark.parametrize("tariff", [flat_tariff(0.3), tariff_from_text(TARIFF)])
def test_what_pricing_reads_is_what_session_costs_reads_on_real_rows(dataset: Path, tariff: Tariff) -> None:
    """``readings_priced`` names the reads ``session_costs`` makes inside (its plan cannot show them):
    run on the real rows through a reader that records every scan, they are the same columns and as
    many scans."""
    from polars.io.plugins import register_io_source

    lf = scan(dataset, dedupe=False)
    rows = lf.collect()
    asked: list[list[str]] = []

    def source(
        columns: list[str] | None, predicate: Any, n_rows: Any, batch_size: Any
    ) -> Iterator[pl.DataFrame]:
        asked.append(rows.columns if columns is None else columns)
        yield rows if columns is None else rows.select(columns)

    recorded = register_io_source(source, schema=lf.collect_schema())
    found = sessions(lf).collect()
    cost.session_costs(found, tariff, recorded).collect()
    assert asked  # pricing read the rows
    planned = buckets.reads_of(cost.readings_priced, lf)
    assert planned.scans == len(asked) == len(cost.readings_priced(lf))
    assert planned.columns == [n for n in lf.collect_schema().names() if n in {c for a in asked for c in a}]


@pytest.mark.parametrize("rows", [150, 400, 1_000])
def test_sessions_through_bucket_files_are_the_sessions_in_one_pass(
    many_chargers: Path, rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    lf = scan(many_chargers, dedupe=False)
    whole = sessions(lf).collect()
    monkeypatch.setattr(buckets, "SPLIT_READS", 0)  # files whatever the scans
    monkeypatch.setattr(buckets, "OPEN_FILES", 4)  # and in rounds
    assert buckets.spills(buckets.bucket_filters(lf, rows), buckets.reads_of(sessions, lf))
    got = buckets.in_charger_buckets(lf, sessions, rows)
    assert_frame_equal(got.sort("charger_id", "started_at"), whole)


@pytest.fixture(scope="module")
def many_chargers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fleet(tmp_path_factory.mktemp("buckets") / "fleet", copies=8)  # 40 chargers


def test_files_or_filters_by_the_rows_each_would_read(
    many_chargers: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``spills`` weighs the rows filtered reads would read (from the footers' charger statistics)
    against a split and the files: in arrival order every row group holds every charger, so every
    bucket reads every row; compacted by charger, each bucket reads about its own groups."""
    arrival = scan(many_chargers, dedupe=False)
    filters = buckets.bucket_filters(arrival, 2_000)
    assert filters.ids is not None
    n, ranges = len(filters), [(held[0], held[-1]) for held in filters.ids]
    assert 3 <= n <= 8  # some scans split, some filter
    counted = rows_per_charger_range(arrival, ranges)
    assert counted is not None
    whole, per_bucket = counted
    assert whole == arrival.select(pl.len()).collect().item() and per_bucket == [whole] * n
    decided = {scans: buckets.spills(filters, buckets.Reads([], scans), arrival) for scans in (1, 2, 3, 13)}
    assert decided == {scans: scans * (n - 1) >= buckets.SPLIT_READS for scans in decided}
    assert set(decided.values()) == {True, False}
    # the same rows compacted by charger in small row groups
    write_fleet(tmp_path / "store", copies=8, rows_per_part=1_000)  # parts to compact
    monkeypatch.setattr(compact_module, "ROW_GROUP_ROWS", 256)
    assert compact(tmp_path / "store").days
    compacted = scan(tmp_path / "store", dedupe=False)
    filters = buckets.bucket_filters(compacted, 2_000)
    assert filters.ids is not None and len(filters) == n
    counted = rows_per_charger_range(compacted, [(held[0], held[-1]) for held in filters.ids])
    assert counted is not None and counted[0] == whole
    own = [
        compacted.filter(pl.col("charger_id").is_in(held)).select(pl.len()).collect().item()
        for held in filters.ids
    ]
    assert all(mine <= read for mine, read in zip(own, counted[1], strict=True))  # a filter reads its rows
    assert sum(counted[1]) < 1.5 * whole  # and few others
    assert not any(buckets.spills(filters, buckets.Reads([], scans), compacted) for scans in (1, 2, 3, 13))
    # a frame its footers do not describe: every bucket is taken to read every row
    assert buckets.spills(filters, buckets.Reads([], 13), compacted.filter(pl.lit(True)))


@pytest.mark.parametrize("lookup", [True, False])  # each row's bucket looked up by charger; filters tried
@pytest.mark.parametrize("open_files", [64, 3, 2])  # one round; rounds of groups; three levels
def test_spilled_buckets_hold_each_buckets_rows_once_and_vanish_after(
    many_chargers: Path, open_files: int, lookup: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(buckets, "OPEN_FILES", open_files)
    # one row in 20 without a charger (an undecodable routing key): a bucket of their own
    rows = scan(many_chargers, dedupe=False).collect().with_row_index("i")
    stripped = pl.when(pl.col("i") % 20 == 0).then(None).otherwise(pl.col("charger_id"))
    PartWriter(tmp_path / "data").write(rows.with_columns(stripped.alias("charger_id")).drop("i"))
    lf = scan(tmp_path / "data", dedupe=False)
    filters = buckets.bucket_filters(lf, lf.select(pl.len()).collect().item() // 15, chargerless=True)
    assert len(filters) >= 10 and filters.ids is not None and len(filters) == len(filters.ids) + 1
    if not lookup:
        filters = list(filters)  # filters alone (charger ids of another type than text)
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


@pytest.mark.parametrize("open_files", [64, 3, 2])
def test_a_split_tells_the_rows_it_has_read(
    many_chargers: Path, open_files: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a progress bar hears while the data goes to bucket files: the rows read so far, out of the
    rows in the footers times the reads the split makes (one a round), ending at all of them."""
    monkeypatch.setattr(buckets, "OPEN_FILES", open_files)
    lf = scan(many_chargers, dedupe=False)
    rows = lf.select(pl.len()).collect().item()
    filters = buckets.bucket_filters(lf, rows // 15, chargerless=True)
    told: list[tuple[int, int | None]] = []
    with buckets.bucket_sources(lf, filters, ["charger_id"], splitting=lambda *a: told.append(a)) as sources:
        assert sum(s.select("charger_id").collect().height for s in sources) == rows
    done = [d for d, _ in told]
    assert len(told) > 2 and done == sorted(done)  # batch by batch, never back
    (total,) = {n for _, n in told[:-1]}  # promised: the footers' rows times the reads per bucket
    read, _ = told[-1]
    assert told[-1] == (read, read)  # the last word: what was read, the bar full
    if open_files == 64:  # one round: every row read once, as promised
        assert read == total == rows
    else:  # rounds re-read the grouped buckets: more than once, and about as promised
        assert rows < read < 4 * rows and abs(read - total) < 0.3 * read
    told.clear()
    tell = told.append
    with buckets.bucket_sources(lf, filters, ["charger_id"], spill=False, splitting=lambda *a: tell(a)):
        assert told == []  # filtered reads: no split, nothing to tell


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


def test_the_sessions_command_shows_the_split_and_the_buckets_on_a_terminal(
    dataset: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a terminal ``evkit sessions`` names the rows split into bucket files, then each bucket."""
    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(buckets, "SPLIT_READS", 0)
    monkeypatch.setattr(buckets, "ROWS_PER_BUCKET", 250)
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["sessions", str(dataset), "--format", "json"]) == 0
    drawn = terminal.getvalue()
    rows = scan(dataset, dedupe=False).select(pl.len()).collect().item()
    assert f"splitting into buckets: {rows:,} of {rows:,} rows" in drawn  # the split's last word
    assert drawn.index("splitting into buckets") < drawn.index("bucket 1 of 4")
    assert json.loads(capsys.readouterr().out)  # the output itself is untouched


@settings(max_examples=200, deadline=None)
@example(buckets_n=20, open_files=16)  # a 60M-row report
@given(buckets_n=st.integers(min_value=1, max_value=2_000), open_files=st.integers(min_value=2, max_value=40))
def test_a_split_writes_at_most_open_files_and_reads_few_rows_twice(buckets_n: int, open_files: int) -> None:
    """Each read writes at most ``OPEN_FILES`` files, every bucket in exactly one; buckets of their own
    first, so fewer rows are read again than when every file is a group (each row read once a round)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(buckets, "OPEN_FILES", open_files)
        direct, groups = buckets._layout(buckets_n)
        reads = buckets._reads(buckets_n)
    assert direct + sum(groups) == buckets_n and direct + len(groups) <= open_files
    assert all(size > 0 for size in groups)
    every_file_a_group, rounds = buckets_n, 1
    while every_file_a_group > open_files:  # the former split: as few groups as fit, each row re-read
        every_file_a_group = math.ceil(
            every_file_a_group / min(open_files, math.ceil(every_file_a_group / open_files))
        )
        rounds += 1
    assert reads <= buckets_n * rounds
    if open_files == 16 and buckets_n == 20:
        assert (direct, groups) == (15, [5]) and reads == 25


def test_buckets_of_a_store_whose_footers_rule_out_mqtt_and_chargerless_rows(
    dataset: Path, tmp_path: Path
) -> None:
    """The footers answer whether any row is MQTT or without a charger; each answer still counts."""
    rows = scan(dataset, dedupe=False).collect().filter(pl.col("charger_id").is_not_null())
    third = rows.height // 3
    PartWriter(tmp_path / "plain").write(rows)
    plain = buckets.bucket_filters(scan(tmp_path / "plain", dedupe=False), third, chargerless=True)
    assert plain.ids is not None and len(plain) == len(plain.ids) >= 3  # no bucket of chargerless rows
    PartWriter(tmp_path / "chargerless").write(
        pl.concat([rows, rows.head(1).with_columns(pl.lit(None, pl.String).alias("charger_id"))])
    )
    lf = scan(tmp_path / "chargerless", dedupe=False)
    assert len(buckets.bucket_filters(lf, third, chargerless=True)) == len(plain) + 1
    PartWriter(tmp_path / "mqtt").write(
        pl.concat([rows, rows.head(1).with_columns(pl.lit("mqtt").alias("kind"))])
    )
    assert buckets.charger_ranges(scan(tmp_path / "mqtt", dedupe=False), third) == []
    assert len(buckets.charger_ranges(scan(tmp_path / "plain", dedupe=False), third)) >= 3


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(st.integers(min_value=1, max_value=5_000), min_size=1, max_size=200),
    per_bucket=st.integers(min_value=1, max_value=50_000),
)
@example(rows=[600_000] * 10, per_bucket=4_000_000)
def test_buckets_are_balanced_and_no_more_than_asked(rows: list[int], per_bucket: int) -> None:
    """Contiguous chargers, each once, in at most ceil(total / per_bucket) buckets, and none holding
    more than its share of the rows by more than one charger's (6M rows of ten equal chargers in
    buckets of 4M: two of 3M, where filling each up to 4M gave 4.2M and 1.8M)."""
    chargers = [f"EH{n:06d}" for n in range(len(rows))]
    found = buckets._balanced(chargers, rows, per_bucket)
    assert [c for held in found for c in held] == chargers
    total = sum(rows)
    asked = math.ceil(total / per_bucket)
    assert len(found) <= asked
    share = math.ceil(total / asked)
    of = dict(zip(chargers, rows, strict=True))
    sizes = [sum(of[c] for c in held) for held in found]
    assert max(sizes) < share + max(rows)
    assert all(size >= share for size in sizes[:-1])  # every bucket but the last is full
    if rows == [600_000] * 10 and per_bucket == 4_000_000:
        assert sizes == [3_000_000, 3_000_000]
