"""Narrow reads (``scan(chargers=, start=, end=)``, ``narrowed``) give exactly the rows of a full read
filtered afterwards, on compacted and uncompacted stores, while reading fewer row groups."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from evkit.analysis._prep import narrowed
from evkit.store import EASEE_SCHEMA, PartWriter, scan
from evkit.store.compact import compact
from evkit.store.frame_facts import row_count, rows_at_most, rows_bound
from evkit.store.narrow import Narrowing, admitted_groups, footer_of

CHARGERS = [f"EH{n:02d}" for n in range(12)]
DAY0 = (datetime.now(UTC) - timedelta(days=6)).replace(hour=0, minute=0, second=0, microsecond=0)


def _rows(day: int, n: int, seed: int) -> pl.DataFrame:
    """``n`` rows received on day ``day``, chargers and device times scattered (some null)."""
    base = DAY0 + timedelta(days=day)
    chargers = [
        None if (i * 31 + seed) % 97 == 0 else CHARGERS[(i * 7 + seed) % len(CHARGERS)] for i in range(n)
    ]
    observed = [
        None if (i * 13 + seed) % 89 == 0 else base + timedelta(seconds=((i * 7919 + seed) % 86_400) - 600)
        for i in range(n)
    ]
    received = [base + timedelta(seconds=i * 86_000 // n) for i in range(n)]
    rows = {
        "received_at": received,
        "arrival_time": [t - timedelta(milliseconds=300) for t in received],
        "observed_at": observed,
        "charger_id": chargers,
        "observation_id": [120] * n,
        "kind": ["observation"] * n,
        "routing_key": [f"{c}.O.120" for c in chargers],
        "raw": [json.dumps({"d": day, "i": i, "s": seed}).encode() for i in range(n)],
        "value": [float(i) for i in range(n)],
        "redelivered": [False] * n,
    }
    return pl.DataFrame({name: rows.get(name, [None] * n) for name in EASEE_SCHEMA}, schema=EASEE_SCHEMA)


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same rows as captures leave them (``raw``) and compacted (``compacted``, 64-row groups)."""
    root = tmp_path_factory.mktemp("narrow")
    raw = root / "raw"
    for day in range(4):
        for seed in range(3):
            writer = PartWriter(raw)
            batch = _rows(day, 400, seed)
            # a redelivered copy of a few rows (same routing key and body): dedupe removes it
            copies = batch.slice(seed * 10, 5).with_columns(
                redelivered=pl.lit(True), received_at=pl.col("received_at") + timedelta(seconds=30)
            )
            writer.write(pl.concat([batch, copies]))
            writer.close()
    compacted = root / "compacted"
    shutil.copytree(raw, compacted)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("evkit.store.compact.ROW_GROUP_ROWS", 64)
        assert len(compact(compacted).days) == 4
    return {"raw": raw, "compacted": compacted}


_times = st.one_of(st.none(), st.integers(-2 * 24, 5 * 24).map(lambda h: DAY0 + timedelta(hours=h)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    chargers=st.one_of(st.none(), st.lists(st.sampled_from([*CHARGERS, "EH99"]), min_size=1, max_size=4)),
    start=_times,
    end=_times,
    dedupe=st.booleans(),
    shape=st.sampled_from(["raw", "compacted"]),
)
def test_a_narrow_read_is_the_full_read_filtered(
    stores: dict[str, Path],
    *,
    chargers: list[str] | None,
    start: datetime | None,
    end: datetime | None,
    dedupe: bool,
    shape: str,
) -> None:
    store = stores[shape]
    full = scan(store, dedupe=dedupe).collect()
    predicate = Narrowing.of(chargers, start, end).predicate()
    expected = full if predicate is None else full.filter(predicate)
    narrow = scan(store, dedupe=dedupe, chargers=chargers, start=start, end=end)
    assert_frame_equal(narrow.collect(), expected)
    # through evkit.analysis (what the commands and the report do), projected and counted
    again = narrowed(scan(store, dedupe=dedupe), chargers, start, end)
    assert_frame_equal(again.select("value", "charger_id").collect(), expected.select("value", "charger_id"))
    assert again.select(pl.len()).collect().item() == expected.height
    assert row_count(again) == expected.height
    # the bound the analyses size their buckets by (from the footers of s3:// parts, see
    # test_s3_narrow; None here: local narrow reads are counted), never below the rows read
    bound = rows_at_most(again)
    assert bound is None or expected.height <= bound <= scan(store, dedupe=False).collect().height
    # what a split's progress counts up to: from the footers, local parts too, never below the rows
    for frame in (again, narrow):
        footers = rows_bound(frame)
        assert footers is not None and expected.height <= footers <= full.height + full.height
    assert rows_bound(scan(store, dedupe=False)) == scan(store, dedupe=False).collect().height
    assert rows_bound(again.filter(pl.col("value") > 0)) is None  # not a frame the reader made
    # the same frame again, every column (those read before are kept, the others read and joined on)
    assert_frame_equal(again.collect(), expected)


def test_one_charger_of_a_compacted_day_is_a_few_of_its_row_groups(stores: dict[str, Path]) -> None:
    (part, *_) = sorted(stores["compacted"].rglob("*.parquet"))
    total = pq.read_metadata(part).num_row_groups
    one = admitted_groups(footer_of(part), Narrowing.of(["EH03"], None, None))
    assert total >= 15
    assert 1 <= len(one) <= total // 4  # 12 chargers sorted into the groups: about a twelfth
    # and the rows of those groups are all of the charger's rows of that part
    rows = pl.read_parquet(part).filter(pl.col("charger_id") == "EH03").height
    read = pq.ParquetFile(part).read_row_groups(one, columns=["charger_id"]).column("charger_id").to_pylist()
    assert read.count("EH03") == rows > 0


def test_a_part_without_the_charger_column_or_statistics_is_handled(tmp_path: Path) -> None:
    frame = _rows(0, 50, 1).drop("charger_id")
    path = tmp_path / "p.parquet"
    frame.write_parquet(path, statistics=False)
    footer = footer_of(path)
    # no charger column: every row has a null charger, which no charger filter keeps
    assert admitted_groups(footer, Narrowing.of(["EH01"], None, None)) == []
    # no statistics: the group is read (and filtered exactly)
    assert admitted_groups(footer, Narrowing.of(None, DAY0, DAY0 + timedelta(hours=1))) == [0]


def test_a_window_admits_exactly_the_groups_it_overlaps() -> None:
    narrowing = Narrowing.of(None, datetime(2026, 3, 1, 10, tzinfo=UTC), datetime(2026, 3, 1, 11, tzinfo=UTC))
    ten, eleven = datetime(2026, 3, 1, 10), datetime(2026, 3, 1, 11)  # naive statistics are UTC
    assert narrowing.admits(None, (ten - timedelta(hours=1), ten))
    assert not narrowing.admits(None, (ten - timedelta(hours=1), ten - timedelta(microseconds=1)))
    assert not narrowing.admits(None, (eleven, eleven + timedelta(hours=1)))
    assert narrowing.admits(None, None)
    assert Narrowing.of(["EH05"], None, None).admits(("EH01", "EH09"), None)
    assert not Narrowing.of(["EH05"], None, None).admits(("EH06", "EH09"), None)


@settings(max_examples=25, deadline=None)
@given(
    copied=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 199), st.booleans()), max_size=8),
    compacted=st.booleans(),
)
def test_copies_across_days_go_and_originals_stay(
    copied: list[tuple[int, int, bool]], compacted: bool
) -> None:
    """Redelivered copies, some received the day after their original (another day's part): the
    duplicate view, which reads only the parts whose footers admit a copy's device time, equals the
    full rule over every body."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        days = [_rows(day, 200, day) for day in range(4)]
        for day, frame in enumerate(days):
            PartWriter(root).write(frame)
            PartWriter(root).write(_rows(day, 50, 10 + day))  # a second part a day
        for day, index, next_day in copied:
            copy = (
                days[day]
                .slice(index, 1)
                .with_columns(
                    redelivered=pl.lit(True),
                    received_at=pl.col("received_at") + timedelta(days=1 if next_day else 0, seconds=1),
                )
            )
            PartWriter(root).write(copy)
        if compacted:
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr("evkit.store.compact.ROW_GROUP_ROWS", 64)
                compact(root)
        cheap = scan(root).collect()
        order = ["routing_key", "raw", "received_at"]
        assert_frame_equal(cheap.sort(order), _full_rule(root).sort(order))
        assert cheap.height == 4 * 250 and not cheap["redelivered"].any()


def _full_rule(root: Path) -> pl.DataFrame:
    """One row per (routing_key, raw): the first not redelivered if any; every body compared."""
    frame = pl.scan_parquet(sorted(root.rglob("*.parquet")), hive_partitioning=False).with_row_index("__i")
    order = frame.sort(pl.col("redelivered"), pl.col("__i"))
    kept = order.filter(pl.struct("routing_key", "raw").is_first_distinct())
    return kept.sort("__i").drop("__i").collect()


def test_damage_behind_a_sound_footer_names_the_part(tmp_path: Path) -> None:
    PartWriter(tmp_path).write(_rows(0, 3000, 1))
    (part,) = tmp_path.rglob("*.parquet")
    body = bytearray(part.read_bytes())
    for at in range(200, len(body) // 2, 7):  # data pages scrambled, footer intact
        body[at] ^= 0x5A
    part.write_bytes(bytes(body))
    frame = scan(tmp_path, dedupe=False, chargers=["EH01"])  # the footer is sound: the check passes
    with pytest.raises(pl.exceptions.ComputeError, match=str(part)):
        frame.collect()
