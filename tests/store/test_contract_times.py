"""A hand-made store's times (pandas' nanoseconds, Spark's milliseconds, no zone, a local zone) are read
as the contract's microseconds in UTC by ``evkit.scan`` itself, whole or narrow, local or on S3, so
every analysis of the library answers as on a store the capture wrote; a compaction converts nothing.
Before, only the commands converted: ``latency_stats(evkit.scan(store))`` raised on such a store and a
narrow read compared its times with UTC bounds and failed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from evkit.analysis import latency_stats
from evkit.analysis._prep import narrowed
from evkit.errors import DatasetError
from evkit.store import scan
from evkit.store.compact import compact
from evkit.store.footers import IGNORE_ZONE_ERRORS
from evkit.store.parts import expected_types, odd_columns
from evkit.store.schema import UTC_US, contract_casts, contract_schema, with_contract_types
from tests.conftest import REPO_ROOT
from tests.helpers import evkit_on_each
from tests.s3fixtures import upload_dataset
from tests.store.test_narrow import CHARGERS, DAY0, _rows

SAMPLE = REPO_ROOT / "data" / "sample-session"
TIMES = ("received_at", "arrival_time", "observed_at")
TYPES = {
    "nanoseconds": pl.Datetime("ns", "UTC"),
    "milliseconds": pl.Datetime("ms", "UTC"),
    "no zone": pl.Datetime("us"),
    "no zone, nanoseconds": pl.Datetime("ns"),
    "a local zone": pl.Datetime("us", "America/New_York"),
}


def _as(rows: pl.DataFrame, dtype: pl.Datetime) -> pl.DataFrame:
    """``rows`` with their times as ``dtype`` (the same instants)."""
    return rows.with_columns(
        pl.col(c).dt.replace_time_zone(None).cast(dtype)
        if dtype.time_zone is None
        else pl.col(c).dt.convert_time_zone(dtype.time_zone).cast(dtype)
        for c in TIMES
    )


def _stores(root: Path, dtype: pl.Datetime) -> dict[str, Path]:
    """The same rows (whole milliseconds, which every type holds) in two days of two parts each (one
    with a redelivered copy): ``contract`` as the capture writes them, ``hand`` with every time as
    ``dtype``, ``mixed`` with the second part of each day so (a pandas export added to a store)."""
    stores = {name: root / name for name in ("contract", "hand", "mixed")}
    for day in range(2):
        for seed in range(2):
            rows = _rows(day, 300, seed).with_columns(pl.col(c).dt.truncate("1ms") for c in TIMES)
            if seed:
                copies = rows.head(4).with_columns(
                    redelivered=pl.lit(True), received_at=pl.col("received_at") + timedelta(seconds=9)
                )
                rows = pl.concat([rows, copies])
            made = _as(rows, dtype)
            for name, frame in (("contract", rows), ("hand", made), ("mixed", made if seed else rows)):
                folder = stores[name] / f"date={(DAY0 + timedelta(days=day)).date()}"
                folder.mkdir(parents=True, exist_ok=True)
                frame.write_parquet(folder / f"part-hand-{seed:06d}.parquet")
    return stores


@pytest.fixture(params=list(TYPES), scope="module")
def stores(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _stores(tmp_path_factory.mktemp("times"), TYPES[request.param])


@pytest.mark.parametrize("kind", ["hand", "mixed"])
def test_a_hand_made_store_reads_as_the_contract(stores: dict[str, Path], kind: str) -> None:
    contract, hand = stores["contract"], stores[kind]
    for dedupe in (False, True):
        frame = scan(hand, dedupe=dedupe)
        assert all(frame.collect_schema()[c] == UTC_US for c in TIMES)
        assert_frame_equal(frame.collect(), scan(contract, dedupe=dedupe).collect())
    # the library's analyses take it as it comes (latency compared these times and raised)
    want = latency_stats(scan(contract)).collect().sort(pl.all())
    assert_frame_equal(latency_stats(scan(hand)).collect().sort(pl.all()), want)


@pytest.mark.parametrize("kind", ["hand", "mixed"])
@pytest.mark.parametrize("dedupe", [False, True])
def test_a_narrow_read_of_a_hand_made_store_is_the_contracts(
    stores: dict[str, Path], kind: str, dedupe: bool
) -> None:
    contract, hand = stores["contract"], stores[kind]
    chargers, start, end = CHARGERS[2:5], DAY0 + timedelta(hours=5), DAY0 + timedelta(hours=30)
    want = scan(contract, dedupe=dedupe, chargers=chargers, start=start, end=end).collect()
    assert want.height > 0
    assert_frame_equal(scan(hand, dedupe=dedupe, chargers=chargers, start=start, end=end).collect(), want)
    assert_frame_equal(narrowed(scan(hand, dedupe=dedupe), chargers, start, end).collect(), want)


def test_a_narrow_read_of_a_hand_made_store_on_s3_is_the_contracts(tmp_path: Path, s3_dataset: str) -> None:
    found = _stores(tmp_path, TYPES["no zone, nanoseconds"])
    upload_dataset(found["mixed"], s3_dataset)
    contract = found["contract"]
    chargers, start = CHARGERS[:3], DAY0 + timedelta(hours=20)
    want = scan(contract, chargers=chargers, start=start).collect()
    assert want.height > 0
    assert_frame_equal(scan(s3_dataset, chargers=chargers, start=start).collect(), want)
    assert_frame_equal(scan(s3_dataset).collect(), scan(contract).collect())


def _sorted_rows(store: Path) -> pl.DataFrame:
    """The rows a store reads as, in one order (a compacted day lists its rows in another)."""
    return scan(store).collect().sort(["charger_id", "observed_at", "received_at", "raw"], nulls_last=True)


def test_a_compaction_keeps_a_hand_made_stores_own_times(tmp_path: Path) -> None:
    """Compacting rewrites a day; it converts only what differs from the rest of the day: a day of
    pandas parts keeps its nanoseconds, a pandas part beside the capture's is merged in microseconds."""
    found = _stores(tmp_path, TYPES["no zone, nanoseconds"])
    for kind, stored in (("hand", pl.Datetime("ns")), ("mixed", UTC_US)):
        assert len(compact(found[kind]).days) == 2
        for part in found[kind].rglob("*.parquet"):
            schema = pl.read_parquet_schema(part)
            assert all(schema[c] == stored for c in TIMES), (kind, part)
            assert pq.read_metadata(part).num_rows > 0
        assert_frame_equal(_sorted_rows(found[kind]), _sorted_rows(found["contract"]))


def test_parts_of_many_time_types_in_one_day_read_and_compact_without_losing_an_instant(
    tmp_path: Path,
) -> None:
    """No part of the capture's type, most of them in milliseconds: the day is read as the contract's
    and compacted in it, which holds every part's instants (to the microsecond: the nanosecond part's
    microseconds are not cut to the milliseconds most parts keep) and every part's range (a time in
    2300, which nanoseconds cannot hold)."""
    contract, root = tmp_path / "contract", tmp_path / "many"
    folder = f"date={DAY0.date()}"
    kinds = [
        TYPES["milliseconds"],
        TYPES["no zone, nanoseconds"],
        TYPES["a local zone"],
        TYPES["milliseconds"],
    ]
    far = pl.datetime(2300, 1, 1, time_zone="UTC")
    for seed, dtype in enumerate(kinds):
        rows = _rows(0, 200, seed)  # microseconds
        if dtype.time_unit == "ms":
            rows = rows.with_columns(pl.col(c).dt.truncate("1ms") for c in TIMES)
        if dtype.time_zone == "America/New_York":
            rows = rows.with_columns(
                pl.when(pl.int_range(pl.len()) == 0).then(far).otherwise("observed_at").alias("observed_at")
            )
        for where, frame in ((contract, rows), (root, _as(rows, dtype))):
            (where / folder).mkdir(parents=True, exist_ok=True)
            frame.write_parquet(where / folder / f"part-hand-{seed:06d}.parquet")
    assert_frame_equal(scan(root).collect(), scan(contract).collect())
    assert len(compact(root).days) == 1
    (part,) = root.rglob("*.parquet")
    assert all(pl.read_parquet_schema(part)[c] == UTC_US for c in TIMES)
    assert_frame_equal(_sorted_rows(root), _sorted_rows(contract))
    assert _sorted_rows(root)["observed_at"].max() == datetime(2300, 1, 1, tzinfo=UTC)


def _offset_part(stores: dict[str, Path], zone: str) -> None:
    """The mixed store's second part of its first day with its times in ``zone`` (pyarrow writes it)."""
    part = next(stores["mixed"].rglob("part-hand-000001.parquet"))
    table = pq.read_table(part)
    for name in TIMES:
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, table[name].cast(pa.timestamp("us", tz=zone)))
    pq.write_table(table, part)


@pytest.mark.skipif(IGNORE_ZONE_ERRORS in os.environ, reason="Polars set to read such zones in this process")
def test_a_time_zone_polars_cannot_read_is_a_damaged_part_named_so(tmp_path: Path) -> None:
    """A fixed offset of half an hour (pandas' ``+05:30`` from ISO text) makes Polars panic: in a user's
    own Python the part is named damaged, saying why and what to do, and ``skip_damaged`` reads the rest."""
    stores = _stores(tmp_path, TYPES["no zone"])
    _offset_part(stores, "+05:30")
    with pytest.raises(
        DatasetError,
        match=r"000001\.parquet \(Polars is unable to parse time zone: '\+05:30': write its times in UTC, "
        r"or set POLARS_IGNORE_TIMEZONE_PARSE_ERROR=1",
    ):
        scan(stores["mixed"])
    # the rest: all but the part's 300 messages (its 4 redelivered copies were copies anyway)
    assert (
        scan(stores["mixed"], skip_damaged=True).collect().height
        == scan(stores["contract"]).collect().height - 300
    )


@pytest.mark.parametrize("zone", ["+05:30", "Z"])
def test_the_evkit_command_reads_a_zone_polars_cannot_validate(tmp_path: Path, zone: str) -> None:
    """The ``evkit`` process reads such a part as the instants it holds: the same sessions and
    latencies as the store in the capture's times, nothing on stderr (no Polars panic)."""
    stores = _stores(tmp_path, TYPES["no zone"])
    _offset_part(stores, zone)
    env = {key: value for key, value in os.environ.items() if key != IGNORE_ZONE_ERRORS}
    for command in (["sessions", "--format", "json"], ["latency", "--format", "json"]):
        runs = [
            subprocess.run(
                [sys.executable, "-m", "evkit", command[0], str(stores[kind]), *command[1:]],
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            for kind in ("contract", "mixed")
        ]
        assert [run.returncode for run in runs] == [0, 0], runs[1].stderr
        assert runs[1].stdout == runs[0].stdout and runs[1].stderr == ""


def test_other_time_columns_keep_their_own_type(tmp_path: Path) -> None:
    """Only the contract's times convert: a user's own wall-clock column keeps its lack of zone (read as
    UTC it would be an hour off in Oslo), a zoned one its zone."""
    stores = _stores(tmp_path, TYPES["no zone"])
    wall, zoned = pl.Datetime("us"), pl.Datetime("us", "Europe/Oslo")
    for part in stores["hand"].rglob("*.parquet"):
        rows = pl.read_parquet(part)
        rows.with_columns(
            pl.col("observed_at").dt.replace_time_zone(None).alias("wall"),
            pl.col("observed_at")
            .dt.replace_time_zone("UTC")
            .dt.convert_time_zone("Europe/Oslo")
            .alias("zoned"),
        ).write_parquet(part)
    read = scan(stores["hand"]).collect()
    assert read.schema["observed_at"] == UTC_US
    assert (read.schema["wall"], read.schema["zoned"]) == (wall, zoned)
    assert read["wall"].to_list() == read["observed_at"].dt.replace_time_zone(None).to_list()


def _own_times(tmp_path: Path, kinds: list[pl.Datetime]) -> tuple[Path, pl.DataFrame]:
    """(a store of one day in parts, each with the user's own time column ``plugged_at`` as one of
    ``kinds``; the rows with it as the instants they all hold, in microseconds in UTC)."""
    day = tmp_path / "own" / "date=2026-11-02"
    day.mkdir(parents=True)
    want = []
    for index, kind in enumerate(kinds):
        rows = _rows(0, 200, index).with_columns(
            (pl.col("received_at").dt.truncate("1ms") - timedelta(minutes=3)).alias("plugged_at")
        )
        want.append(rows)
        own = pl.col("plugged_at")
        own = (
            own.dt.replace_time_zone(None)
            if kind.time_zone is None
            else own.dt.convert_time_zone(kind.time_zone)
        )
        rows.with_columns(own.cast(kind)).write_parquet(day / f"part-hand-{index:06d}.parquet")
    return day.parent, pl.concat(want)


def test_a_time_of_ones_own_in_other_units_or_zones_reads_as_one_type(
    tmp_path: Path, s3_dataset: str
) -> None:
    """Parts that keep a column of the user's own in other units (pandas' nanoseconds beside Polars'
    microseconds) or zones are read, not refused as damaged: every instant in microseconds, in the
    zone most parts give it; a compaction keeps every instant. Before, all but the most common type's
    parts were damaged, and ``--skip-damaged`` dropped their rows."""
    oslo = "Europe/Oslo"
    kinds = [pl.Datetime("ns", oslo), pl.Datetime("us", oslo), pl.Datetime("ms", "UTC")]
    root, want = _own_times(tmp_path, kinds)
    order = ["received_at", "raw"]  # one order, whatever the parts' (a compaction sorts by charger)
    read = scan(root, dedupe=False).collect().sort(order)
    assert read.schema["plugged_at"] == pl.Datetime("us", oslo)
    expected = want.sort(order)["plugged_at"].dt.convert_time_zone(oslo)
    assert read["plugged_at"].to_list() == expected.to_list()
    charger = read["charger_id"].drop_nulls()[0]
    narrow = scan(root, dedupe=False, chargers=[charger]).collect().sort(order)
    assert_frame_equal(narrow, read.filter(pl.col("charger_id") == charger))
    upload_dataset(root, s3_dataset)
    assert_frame_equal(scan(s3_dataset, dedupe=False).collect().sort(order), read)
    on_s3 = scan(s3_dataset, dedupe=False, chargers=[charger]).collect().sort(order)
    assert_frame_equal(on_s3, narrow)
    assert len(compact(root, include_today=True).days) == 1
    assert_frame_equal(scan(root, dedupe=False).collect().sort(order), read)


def test_a_time_of_ones_own_without_a_zone_beside_one_with_a_zone_is_named(tmp_path: Path) -> None:
    """Nothing tells which instant a time without a zone means: such a part stays damaged, named."""
    root, _ = _own_times(tmp_path, [pl.Datetime("us", "UTC"), pl.Datetime("us", "UTC"), pl.Datetime("ns")])
    with pytest.raises(
        DatasetError, match=r"part-hand-000002.*'plugged_at' is Datetime\(time_unit='ns'.*without a zone"
    ):
        scan(root)


@pytest.mark.parametrize("empty", [pa.null(), pa.date32(), pa.string()], ids=["null", "date", "text"])
def test_a_contract_time_holding_no_value_reads_as_missing_times(tmp_path: Path, empty: pa.DataType) -> None:
    """``arrival_time = None`` in pandas writes Parquet's null type (a date or text column of no value
    from other tools): the column reads as missing times of the contract's type, and latency works
    (it subtracted a null column from a time and failed)."""
    stores = _stores(tmp_path, TYPES["no zone"])
    for part in stores["hand"].rglob("*.parquet"):
        table = pq.read_table(part)
        index = table.schema.get_field_index("arrival_time")
        pq.write_table(
            table.set_column(index, pa.field("arrival_time", empty), pa.nulls(table.num_rows, empty)), part
        )
    read = scan(stores["hand"])
    assert read.collect_schema()["arrival_time"] == UTC_US
    assert read.select(pl.col("arrival_time").null_count()).collect().item() == read.collect().height
    stats = latency_stats(read).collect()
    assert stats["n"].sum() > 0


def test_a_required_column_of_another_kind_in_every_part_breaks_the_contract(tmp_path: Path) -> None:
    """Device times as dates in every part (no part outvotes them): ``scan`` says the store does not
    follow the contract, as the commands do, instead of analyses failing or counting wrong."""
    stores = _stores(tmp_path, TYPES["no zone"])
    for part in stores["hand"].rglob("*.parquet"):
        pl.read_parquet(part).with_columns(pl.col("observed_at").dt.date()).write_parquet(part)
    with pytest.raises(DatasetError, match=r"does not follow the dataset contract: observed_at is Date"):
        scan(stores["hand"])
    assert scan(stores["hand"], require=False).collect_schema()["observed_at"] == pl.Date


def test_a_part_whose_other_columns_differ_is_still_named_damaged(tmp_path: Path) -> None:
    """Only the contract's times are converted: a column of another kind stays an odd part."""
    found = _stores(tmp_path, TYPES["nanoseconds"])
    part = next(found["mixed"].rglob("part-hand-000001.parquet"))
    pl.read_parquet(part).with_columns(pl.col("observation_id").cast(pl.String)).write_parquet(part)
    with pytest.raises(DatasetError, match=r"part-hand-000001\.parquet \(column 'observation_id' is String"):
        scan(found["mixed"])


def test_the_casts_name_only_times_out_of_the_contract() -> None:
    schema = {
        "observed_at": pl.Datetime("ns"),
        "received_at": UTC_US,
        "value": pl.Float64(),
        "at": pl.Datetime("ms"),
    }
    assert [e.meta.output_name() for e in contract_casts(schema)] == ["observed_at"]  # not a user's own
    assert contract_schema(schema) == {**schema, "observed_at": UTC_US}
    assert contract_casts(contract_schema(schema)) == []
    frame = pl.LazyFrame(schema=schema)
    assert with_contract_types(frame).collect_schema() == contract_schema(schema)
    same = pl.LazyFrame(schema=contract_schema(schema))
    assert with_contract_types(same) is same


_kinds = [pl.Datetime("us", "UTC"), pl.Datetime("ns"), pl.Datetime("ms", "UTC"), pl.Datetime("us"), pl.Null()]
_parts = st.lists(
    st.fixed_dictionaries(
        {"observed_at": st.sampled_from(_kinds), "value": st.sampled_from([pl.Float64(), pl.String()])},
        optional={"extra_at": st.sampled_from(_kinds[:3])},
    ),
    min_size=1,
    max_size=6,
)


@given(_parts)
def test_a_contract_time_of_any_unit_or_zone_fits_and_other_columns_still_agree(
    schemas: list[dict[str, pl.DataType]],
) -> None:
    """The parts kept hold the contract's times in any type of time; a time of the user's own in any
    unit or zone, but all with a zone or all without (nothing tells which instant a zone-less one
    means beside zoned ones); every other column in one type."""
    expected = expected_types(schemas)
    kept = [s for s in schemas if not odd_columns(s, expected)]
    for schema in kept:
        assert isinstance(schema["observed_at"], pl.Datetime | pl.Null)
    assert len({s["value"] for s in kept}) <= 1
    own = {s["extra_at"] for s in kept if "extra_at" in s} - {pl.Null()}
    assert len({dtype.time_zone is None for dtype in own if isinstance(dtype, pl.Datetime)}) <= 1
    if (
        all(s["value"] == schemas[0]["value"] for s in schemas)
        and len({s["extra_at"].time_zone is None for s in schemas if "extra_at" in s}) <= 1
    ):
        assert kept == schemas  # parts that differ only in their times' type are never blamed


def test_the_commands_refuse_a_required_column_of_another_kind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Numbers as text in every part: the library reads them as they are (``scan`` checks the times
    only), the commands say the store does not follow the contract (exit 2)."""
    from evkit.cli import main

    stores = _stores(tmp_path, TYPES["no zone"])
    for part in stores["hand"].rglob("*.parquet"):
        pl.read_parquet(part).with_columns(pl.col("value").cast(pl.String)).write_parquet(part)
    assert scan(stores["hand"]).collect_schema()["value"] == pl.String
    assert main(["sessions", str(stores["hand"])]) == 2
    assert (
        "does not follow the dataset contract: value is String (expected Float64)" in capsys.readouterr().err
    )


def test_a_store_pandas_wrote_with_float_ids_reads_as_the_contracts(tmp_path: Path) -> None:
    """pandas holds an integer column with nulls (``observation_id`` on MQTT rows) as float64, NaN
    for null: a store it wrote reads its ids as the contract's integers, whole and narrowly, and the
    commands answer as on the capture's store (``evkit statement`` failed on Polars' ``is_in``)."""
    from tests.mqtt.test_home import evcc_day, frame_of, goe_session

    home = frame_of(sorted(evcc_day() + goe_session(), key=lambda m: m[0])).collect()
    rows = pl.concat([scan(SAMPLE).collect(), home], how="diagonal_relaxed")
    captured, written = tmp_path / "captured", tmp_path / "pandas"
    for root, frame in ((captured, rows), (written, pl.from_pandas(rows.to_pandas(), nan_to_null=False))):
        (root / "date=2026-11-02").mkdir(parents=True)
        frame.write_parquet(root / "date=2026-11-02" / "part-x-000001.parquet")
    assert pq.read_schema(next(written.rglob("*.parquet"))).field("observation_id").type == pa.float64()
    assert scan(written).collect_schema()["observation_id"] == pl.Int32()

    def read(root: Path, **narrowing: Any) -> pl.DataFrame:
        # the contract's columns (a user's own, MQTT's ``qos``, keep the type their part has); pandas
        # writes NaN for a null float (``value`` of text readings), which a Parquet float keeps and
        # the scan reads as null
        return scan(root, dedupe=False, **narrowing).collect().drop("qos")

    assert_frame_equal(read(written), read(captured))
    charger = rows["charger_id"].drop_nulls()[0]
    assert_frame_equal(read(written, chargers=[charger]), read(captured, chargers=[charger]))
    for command in (["statement", "--tariff", "0.3", "--format", "json"], ["sessions", "--format", "csv"]):
        runs = evkit_on_each(command, (captured, written))
        assert [run.returncode for run in runs] == [0, 0], runs[1].stderr
        assert runs[1].stdout == runs[0].stdout


def test_a_store_whose_ids_are_no_contract_integers_is_refused_naming_them(tmp_path: Path) -> None:
    """pandas' float ids that are not whole (109.5 would read as 109: another observation) or an id
    too large for the contract: ``evkit.scan`` says so instead of changing or dropping them."""
    rows = scan(SAMPLE).collect().head(3)
    for ids in ([109.0, 109.5, None], [109, 2**40, 110]):
        root = tmp_path / f"store-{len(list(tmp_path.iterdir()))}" / "date=2026-11-02"
        root.mkdir(parents=True)
        rows.with_columns(pl.Series("observation_id", ids)).write_parquet(root / "part-x-000001.parquet")
        with pytest.raises(DatasetError, match=r"observation_id holds 1 value\(s\) that are not Int32"):
            scan(root.parent)


def _checks_counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Where ``evkit.scan`` checks float ids (``number_problems``), one entry per check, from now on."""
    from evkit.store import reader

    checked: list[str] = []
    real = reader.number_problems
    monkeypatch.setattr(reader, "number_problems", lambda lf, where: checked.append(where) or real(lf, where))
    return checked


def _float_id_store(root: Path) -> tuple[pl.DataFrame, Path]:
    """(rows, their day's folder): a store of one day, one part whose ids pandas wrote as floats."""
    rows = scan(SAMPLE).collect().head(40).with_columns(pl.col("observation_id").cast(pl.Float64))
    day = root / "store" / "date=2026-11-02"
    day.mkdir(parents=True)
    rows.write_parquet(day / "part-x-000001.parquet")
    return rows, day


def test_float_ids_are_checked_once_for_the_same_parts_and_again_when_they_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading pandas' float ids as integers first checks every id is whole: the explorer scans for
    every view, so the same parts are checked once; a part added, or rewritten with an id that is not
    whole (even at the same size), is checked again and refused."""
    checked = _checks_counted(monkeypatch)
    rows, day = _float_id_store(tmp_path)
    for _ in range(3):
        assert scan(day.parent).collect()["observation_id"].dtype == pl.Int32()
    assert len(checked) == 1
    rows.write_parquet(day / "part-x-000002.parquet")
    scan(day.parent)
    assert len(checked) == 2
    # plain, uncompressed, no statistics: a part of the same size whichever ids it holds
    plain = {"use_dictionary": False, "compression": "none", "write_statistics": False}
    part = day / "part-x-000001.parquet"
    pq.write_table(rows.to_arrow(), part, **plain)
    scan(day.parent)
    size = part.stat().st_size
    bad = rows.with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(109.5).otherwise("observation_id").alias("observation_id")
    )
    pq.write_table(bad.to_arrow(), part, **plain)
    assert part.stat().st_size == size  # the same size: the change time tells
    with pytest.raises(DatasetError, match=r"observation_id holds 1 value\(s\) that are not Int32"):
        scan(day.parent)


def test_float_ids_on_s3_are_checked_once(
    tmp_path: Path, s3_dataset: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same on ``s3://``: an object is told by its URL and size (objects are never overwritten),
    from the footers the check kept, without another request."""
    checked = _checks_counted(monkeypatch)
    _, day = _float_id_store(tmp_path)
    upload_dataset(day.parent, s3_dataset)
    for _ in range(2):
        assert_frame_equal(scan(s3_dataset).collect(), scan(day.parent).collect())
    assert len(checked) == 2  # the bucket's parts once, the local ones once


def test_parts_keeping_numbers_in_other_types_read_and_compact_as_the_contracts(tmp_path: Path) -> None:
    """pandas types a day-by-day export by what each day holds: float64 ids on a day with a null id (an
    MQTT row), int64 on the others; a pandas part beside the capture's keeps its float32 values. None is
    damaged: every part reads as the contract's numbers, and a compaction keeps every value."""
    rows = scan(SAMPLE).collect()
    by_day = rows.with_columns(pl.col("received_at").dt.date().alias("__day"))
    days = [d.drop("__day") for d in by_day.partition_by("__day", maintain_order=True)][:3]
    assert len(days) == 3
    captured, written = tmp_path / "captured", tmp_path / "written"
    for index, day in enumerate(days):
        folder = f"date={day['received_at'][0]:%Y-%m-%d}"
        for root in (captured, written):
            (root / folder).mkdir(parents=True)
        day.write_parquet(captured / folder / "part-x-000001.parquet")
        kinds = [
            {"observation_id": pl.Float64()},  # a day holding a null id
            {"observation_id": pl.Int64()},
            {"value": pl.Float32()},  # beside a part the capture wrote
        ][index]
        half = day.height // 2
        day.head(half).cast(kinds).write_parquet(written / folder / "part-x-000001.parquet")  # type: ignore[arg-type]
        (day.tail(day.height - half).cast(kinds) if index < 2 else day.tail(day.height - half)).write_parquet(
            written / folder / "part-x-000002.parquet"
        )
    # float32 holds fewer digits: the contract's float64 of those float32 values is what the store holds
    want = scan(captured, dedupe=False).collect()
    third = want["received_at"].dt.date() == days[2]["received_at"][0].date()
    half = days[2].height // 2
    cut = pl.Series([*([True] * half), *([False] * (days[2].height - half))])
    narrowed = want.filter(third).with_columns(
        pl.when(cut).then(pl.col("value").cast(pl.Float32).cast(pl.Float64)).otherwise(pl.col("value"))
    )
    want = pl.concat([want.filter(~third), narrowed])
    got = scan(written, dedupe=False).collect()
    assert got.schema["observation_id"] == pl.Int32() and got.schema["value"] == pl.Float64()
    assert_frame_equal(got.sort(pl.all()), want.sort(pl.all()))
    compact(written, include_today=True)
    assert len(list(written.rglob("*.parquet"))) == 3  # each day merged into one part
    assert_frame_equal(scan(written, dedupe=False).collect().sort(pl.all()), want.sort(pl.all()))


@pytest.mark.parametrize(
    ("dtype", "fits"),
    [
        (pl.Int16(), True),
        (pl.UInt32(), True),
        (pl.Float32(), True),
        (pl.UInt64(), False),
        (pl.Decimal(10, 0), False),
    ],
)
def test_ids_of_a_number_type_the_scan_cannot_settle_are_named_damaged(
    tmp_path: Path, dtype: pl.DataType, fits: bool
) -> None:
    """A part's ids beside the capture's: read as the contract's when a scan can read them as one
    settled type, else the part is damaged, said so (not a raw Polars error when read)."""
    rows = scan(SAMPLE).collect().head(200)
    day = tmp_path / "store" / "date=2026-11-02"
    day.mkdir(parents=True)
    rows.head(100).write_parquet(day / "part-a.parquet")
    rows.tail(100).with_columns(pl.col("observation_id").cast(dtype)).write_parquet(day / "part-b.parquet")
    if fits:
        assert_frame_equal(scan(day.parent, dedupe=False).collect().sort(pl.all()), rows.sort(pl.all()))
    else:
        with pytest.raises(
            DatasetError, match=re.escape(f"part-b.parquet (column 'observation_id' is {dtype},")
        ):
            scan(day.parent)


def test_the_float_id_checks_kept_are_those_used_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answers kept for ``_NUMBERS_KEPT`` stores are the most recently used: a store scanned again
    and again (the explorer's) stays checked while others come and go."""
    from evkit.store import reader

    monkeypatch.setattr(reader, "_NUMBERS_KEPT", 2)
    monkeypatch.setattr(reader, "_NUMBERS_CHECKED", type(reader._NUMBERS_CHECKED)())
    checked = _checks_counted(monkeypatch)
    stores = [_float_id_store(tmp_path / f"s{n}")[1].parent for n in range(3)]
    scan(stores[0])
    scan(stores[1])
    scan(stores[0])  # used again: now the most recent
    scan(stores[2])  # one too many: the least recently used (stores[1]) goes
    assert len(checked) == 3
    scan(stores[0])
    assert len(checked) == 3  # still kept
    scan(stores[1])
    assert len(checked) == 4  # checked again
