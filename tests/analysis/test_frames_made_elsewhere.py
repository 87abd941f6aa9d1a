"""The library's analyses called on a frame made elsewhere (pandas' nanoseconds, a local zone, no zone,
``arrival_time = None``) answer as on the store ``evkit.scan`` reads: each analysis reads its input's
contract times as microseconds in UTC (``evkit.analysis._prep.require``), as the scan reads a store.
Before, only ``evkit.scan`` and the report converted: ``latency_stats`` and ``energy_per_hour`` of
``pl.from_pandas(df)`` raised (Polars refuses to compare or join times of different units or zones),
and ``quality_summary`` answered in nanoseconds in Oslo's zone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from evkit import analysis
from evkit.analysis import quality
from evkit.analysis.latency import hop_latencies
from evkit.analysis.quality import first_of
from evkit.errors import DatasetError
from evkit.store import scan
from evkit.store.schema import UTC_US, contract_casts
from tests.analysis import scenario as sc
from tests.analysis.conftest import Fleet
from tests.conftest import REPO_ROOT

SAMPLE = REPO_ROOT / "data" / "sample-session"
TIMES = ("received_at", "arrival_time", "observed_at")

#: Every public analysis that reads a dataset, as a user calls it.
ANALYSES: dict[str, Callable[[pl.LazyFrame], pl.LazyFrame]] = {
    "sessions": analysis.sessions,
    "easee_sessions": analysis.easee_sessions,
    "energy_per_day": lambda lf: analysis.energy_per_day(lf, zone="Europe/Oslo"),
    "energy_per_hour": analysis.energy_per_hour,
    "lifetime_meter_check": analysis.lifetime_meter_check,
    "latency": analysis.latency,
    "latency_stats": lambda lf: analysis.latency_stats(lf, by="hour"),
    "hop_latencies": hop_latencies,
    "quality_summary": analysis.quality_summary,
    "telemetry_gaps": analysis.telemetry_gaps,
    "duplicates": analysis.duplicates,
    "out_of_order": analysis.out_of_order,
    "stale_values": analysis.stale_values,
    "decode_errors": analysis.decode_errors,
    "unknown_ids": analysis.unknown_ids,
    "connectivity": analysis.connectivity,
    "connectivity_summary": analysis.connectivity_summary,
    "readings": lambda lf: analysis.readings(
        lf, [109, 120, 121], start=sc.T0 + timedelta(hours=1), end=sc.T0 + timedelta(hours=5)
    ),
    "op_mode_periods": analysis.op_mode_periods,
}

#: How other tools hold the contract's times.
TYPES = {
    "pandas' nanoseconds": pl.Datetime("ns", "UTC"),
    "milliseconds": pl.Datetime("ms", "UTC"),
    "no zone": pl.Datetime("us"),
    "nanoseconds in Oslo": pl.Datetime("ns", "Europe/Oslo"),
    "microseconds in New York": pl.Datetime("us", "America/New_York"),
}


@pytest.fixture(scope="module")
def stored(fleet: Fleet) -> pl.DataFrame:
    """The analyses' fleet (copies, arrival order, a hole, a meter reset, a skewed clock) with a row
    that failed to decode, an id the catalog does not know and a Wi-Fi reading received a day late: every
    analysis below finds something in it, each is read as the capture wrote it."""
    frame = fleet.frame()
    some = frame.filter(pl.col("observation_id") == 150).head(3)
    odd = some.with_columns(
        pl.Series("error", ["cannot decode: truncated body", None, None]),
        pl.Series("observation_id", [150, 60_000, 132], dtype=pl.Int32),
        pl.Series("observation", [None, None, "WiFiRSSI"]),
        pl.Series("value", [None, 1.0, -61.0]),
        pl.col("received_at") + pl.Series([timedelta(0), timedelta(0), timedelta(days=1)]),
    )
    return scan_of(pl.concat([frame, odd]))


def scan_of(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` as ``evkit.scan`` reads it back from a store (the contract's types)."""
    return frame.with_columns(pl.col(c).cast(UTC_US) for c in TIMES)


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows in one order (some analyses leave theirs to the engine)."""
    return frame.sort(pl.all(), nulls_last=True)


def _made_elsewhere(stored: pl.DataFrame, dtype: pl.DataType) -> pl.DataFrame:
    """``stored`` as pandas hands it over: a round trip through pandas with its times in ``dtype``."""
    frame = stored.with_columns(pl.col(c).cast(dtype) for c in TIMES)
    return pl.from_pandas(frame.to_pandas())


@pytest.mark.parametrize("kind", TYPES)
@pytest.mark.parametrize("name", ANALYSES)
def test_a_frame_made_elsewhere_answers_as_the_store(stored: pl.DataFrame, name: str, kind: str) -> None:
    made = _made_elsewhere(stored, TYPES[kind])
    assert made.schema["observed_at"] != UTC_US  # the round trip kept the other type
    run = ANALYSES[name]
    # the same instants as a store holds them (milliseconds drop the microseconds' digits)
    expected = run(scan_of(made).lazy()).collect()
    assert expected.height > 0, f"{name} finds nothing in the data: the comparison would prove nothing"
    assert_frame_equal(_sorted(run(made.lazy()).collect()), _sorted(expected))


def test_a_frame_held_in_memory_answers_as_its_lazy_self(stored: pl.DataFrame) -> None:
    made = _made_elsewhere(stored, pl.Datetime("ns", "Europe/Oslo"))
    assert_frame_equal(
        analysis.quality_summary(made.lazy(), first=first_of(made).collect()).collect(),
        analysis.quality_summary(stored.lazy()).collect(),
    )
    assert_frame_equal(
        _sorted(hop_latencies(made.lazy(), first=first_of(made)).collect()),
        _sorted(hop_latencies(stored.lazy()).collect()),
    )


@pytest.mark.parametrize("how", ["Polars' null type", "pandas' None"])
def test_times_of_no_value_read_as_missing_times(stored: pl.DataFrame, how: str) -> None:
    """``arrival_time = None``: Polars' null type, or pandas' object column of None (text to Polars).
    No ArrivalTime, not an error, as ``evkit.scan`` reads a part holding no value."""
    if how == "Polars' null type":
        made = stored.with_columns(pl.lit(None).alias("arrival_time"))
        assert made.schema["arrival_time"] == pl.Null()
        assert contract_casts(made.schema)  # it is cast, though its type is "no type"
    else:
        frame = stored.to_pandas()
        frame["arrival_time"] = None
        made = pl.from_pandas(frame)
        assert made.schema["arrival_time"] == pl.String()
    as_stored = stored.with_columns(pl.lit(None, UTC_US).alias("arrival_time"))
    for name in ("latency_stats", "quality_summary", "sessions", "readings"):
        assert_frame_equal(
            _sorted(ANALYSES[name](made.lazy()).collect()),
            _sorted(ANALYSES[name](as_stored.lazy()).collect()),
        )


def test_mqtt_rows_through_pandas_keep_their_ids(stored: pl.DataFrame) -> None:
    """pandas holds an integer column with nulls (``observation_id`` is null on every MQTT row) as
    float64: the analyses read it as the contract's integers, as they read the capture's."""
    from tests.mqtt.test_home import evcc_day, frame_of, goe_session

    home = frame_of(sorted(evcc_day() + goe_session(), key=lambda m: m[0])).collect()
    both = pl.concat([stored, home], how="diagonal_relaxed")
    made = pl.from_pandas(both.to_pandas())
    assert made.schema["observation_id"] == pl.Float64()
    for name in ("sessions", "readings", "quality_summary", "latency_stats", "energy_per_day"):
        expected = ANALYSES[name](both.lazy()).collect()
        assert expected.height > 0
        assert_frame_equal(_sorted(ANALYSES[name](made.lazy()).collect()), _sorted(expected))
    assert {"evcc", "go-e", "easee"} <= set(analysis.sessions(made.lazy()).collect()["source"])


def test_bounds_are_read_in_any_zone_naive_ones_as_utc(stored: pl.DataFrame) -> None:
    """``readings``' and ``statement``'s bounds: a naive one is UTC (as the contract's times), an aware
    one an instant in its zone, whatever the frame's own times."""
    from datetime import UTC
    from zoneinfo import ZoneInfo

    from evkit.analysis.statement import statement

    start, end = sc.T0 + timedelta(hours=1), sc.T0 + timedelta(hours=5)
    oslo = ZoneInfo("Europe/Oslo")
    want = analysis.readings(stored.lazy(), [109, 120], start=start, end=end).collect()
    assert want.height > 0
    for kind in ("no zone", "nanoseconds in Oslo"):
        made = _made_elsewhere(stored, TYPES[kind]).lazy()
        for low, high in [
            (start.replace(tzinfo=None), end.replace(tzinfo=None)),
            (start.astimezone(oslo), end.astimezone(oslo)),
        ]:
            assert_frame_equal(analysis.readings(made, [109, 120], start=low, end=high).collect(), want)
    found = analysis.sessions(stored.lazy()).collect()
    naive = statement(found, start=start.replace(tzinfo=None), end=end.astimezone(oslo))
    aware = statement(found, start=start, end=end.astimezone(UTC))
    assert naive[1].equals(aware[1]) and naive[1]["sessions"].item() > 0


def test_a_timeline_made_of_the_frame_fits_its_analyses(stored: pl.DataFrame) -> None:
    """``timeline=`` made as the docstrings say, of the same frame made elsewhere."""
    from evkit.analysis._timeline import timeline

    made = _made_elsewhere(stored, TYPES["nanoseconds in Oslo"]).lazy()
    given = timeline(made, timedelta(minutes=20))
    for name, run in {
        "sessions": lambda lf, t: analysis.easee_sessions(lf, timeline=t),
        "telemetry_gaps": lambda lf, t: analysis.telemetry_gaps(lf, timeline=t),
        "quality_summary": lambda lf, t: quality.quality_summary(lf, timeline=t),
    }.items():
        want = run(stored.lazy(), None).collect()
        assert want.height > 0, name
        assert_frame_equal(_sorted(run(made, given).collect()), _sorted(want))


@pytest.mark.parametrize("name", ANALYSES)
def test_a_frame_held_in_memory_is_taken_as_its_lazy_self(stored: pl.DataFrame, name: str) -> None:
    """Every analysis takes a ``pl.DataFrame`` too (what a notebook holds), and answers lazily."""
    got = ANALYSES[name](_made_elsewhere(stored, TYPES["pandas' nanoseconds"]))  # type: ignore[arg-type]
    assert isinstance(got, pl.LazyFrame)
    assert_frame_equal(_sorted(got.collect()), _sorted(ANALYSES[name](stored.lazy()).collect()))


@pytest.mark.parametrize("name", ["sessions", "energy_per_hour", "latency_stats", "quality_summary"])
def test_times_that_are_not_times_are_named(stored: pl.DataFrame, name: str) -> None:
    made = stored.with_columns(pl.col("observed_at").dt.to_string())
    with pytest.raises(DatasetError, match=r"does not follow the dataset contract: observed_at is String"):
        ANALYSES[name](made.lazy())


def test_a_store_scan_is_handed_on_as_it_is(stored: pl.DataFrame) -> None:
    """A frame that keeps the contract is not wrapped in casts (the store's scan keeps its hints)."""
    from evkit.analysis._prep import require

    lf = scan(SAMPLE)
    assert require(lf) is lf


def test_a_statement_of_sessions_in_a_local_zone_or_naive() -> None:
    """Sessions a user put in their zone (for display) or took naive from pandas (UTC): bounds of any
    zone count the same sessions (a first version made every bound UTC and refused them)."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from evkit.analysis.statement import statement

    oslo = ZoneInfo("Europe/Oslo")
    found = pl.DataFrame(
        {
            "started_at": [datetime(2026, 11, 2, 10, tzinfo=UTC), datetime(2026, 11, 2, 14, tzinfo=UTC)],
            "charger_id": ["A", "A"],
            "rfid_token": [None, None],
            "energy_kwh": [1.0, 2.0],
        },
        schema_overrides={"started_at": UTC_US, "rfid_token": pl.String},
    )
    local = found.with_columns(pl.col("started_at").dt.convert_time_zone("Europe/Oslo"))
    naive = found.with_columns(pl.col("started_at").dt.replace_time_zone(None))
    for sessions in (found, local, naive):
        for bound in (datetime(2026, 11, 2, 12, tzinfo=oslo), datetime(2026, 11, 2, 11, tzinfo=UTC)):
            _, total = statement(sessions, ["charger"], start=bound)
            assert total["sessions"].item() == 1 and total["energy_kwh"].item() == 2.0
        assert statement(sessions, ["charger"], end=datetime(2026, 11, 2, 11))[1]["sessions"].item() == 1


def test_ids_of_no_value_in_the_null_type_read_as_missing_ids(stored: pl.DataFrame) -> None:
    """MQTT rows pandas wrote and Polars read back: ``observation_id`` of Polars' null type."""
    home = stored.with_columns(pl.lit(None).alias("observation_id"))
    assert home.schema["observation_id"] == pl.Null()
    as_stored = stored.with_columns(pl.lit(None, pl.Int32).alias("observation_id"))
    for name in ("latency_stats", "quality_summary", "sessions"):
        assert_frame_equal(
            _sorted(ANALYSES[name](home.lazy()).collect()),
            _sorted(ANALYSES[name](as_stored.lazy()).collect()),
        )


@pytest.mark.parametrize(
    "ids", [[109.5, 110.0], [109.99999999999, 110.0], [float("inf"), 110.0], [2**32 + 109, 110]]
)
def test_ids_that_are_no_contract_integers_are_named_not_changed(
    stored: pl.DataFrame, ids: list[float]
) -> None:
    """An id that is not whole, or too large, would be another id or none: refused, naming the column."""
    made = stored.head(2).with_columns(pl.Series("observation_id", ids))
    with pytest.raises(DatasetError, match=r"observation_id holds 1 value\(s\) that are not Int32"):
        analysis.sessions(made.lazy())


def _nan_or_null(stored: pl.DataFrame, missing: float | None) -> pl.DataFrame:
    """``stored`` with ``missing`` for every missing value and for every seventh op mode, session
    counter and lifetime reading (NumPy and pandas hold "no value" in a float as NaN)."""
    hit = pl.col("observation_id").is_in([109, 121, 124]) & (pl.int_range(pl.len()) % 7 == 3)
    return stored.with_columns(
        pl.when(hit | pl.col("value").is_null()).then(missing).otherwise(pl.col("value")).alias("value")
    )


@pytest.mark.parametrize("held", ["in memory", "lazy"])
@pytest.mark.parametrize("name", ANALYSES)
def test_nan_values_are_missing_values(stored: pl.DataFrame, name: str, held: str) -> None:
    """A frame holding NaN in ``value`` answers as the same frame holding null there. Before,
    ``sessions`` raised Polars' ``conversion from f64 to i32 failed`` on an op mode of NaN and a NaN
    session counter made a charger's daily energy NaN."""
    nan, null = _nan_or_null(stored, float("nan")), _nan_or_null(stored, None)
    assert nan["value"].is_nan().sum() > 10
    run = ANALYSES[name]
    expected = run(null.lazy()).collect()
    assert expected.height > 0
    given = nan if held == "in memory" else nan.lazy()
    assert_frame_equal(_sorted(run(given).collect()), _sorted(expected))  # type: ignore[arg-type]


def test_a_frame_is_looked_at_for_nan_once() -> None:
    """What ``require`` returned is handed on as it is: the analyses of a report's bucket do not each
    read it for NaN again; a frame in memory without NaN is not wrapped at all."""
    from evkit.analysis._prep import require

    clean = scan(SAMPLE).collect()
    checked = require(clean)
    assert require(checked) is checked
    assert checked.explain() == clean.lazy().explain()  # nothing added: it holds no NaN
    lazy = require(clean.lazy().filter(pl.col("charger_id").is_not_null()))
    assert "is_not_nan" in lazy.explain() and require(lazy) is lazy  # read as null lazily, once


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(picked=st.sets(st.integers(min_value=0, max_value=10_000), max_size=60))
def test_any_values_made_nan_answer_as_made_null(stored: pl.DataFrame, picked: set[int]) -> None:
    """Whichever readings a tool wrote as NaN (any ids, any rows), the sessions and the daily energy
    are those of the same readings missing."""
    at = pl.int_range(pl.len()).is_in(sorted(i % stored.height for i in picked))

    def made(missing: float | None) -> pl.DataFrame:
        return stored.with_columns(pl.when(at).then(missing).otherwise(pl.col("value")).alias("value"))

    nan, null = made(float("nan")), made(None)
    for name in ("sessions", "energy_per_day"):
        assert_frame_equal(
            _sorted(ANALYSES[name](nan).collect()),  # type: ignore[arg-type]
            _sorted(ANALYSES[name](null.lazy()).collect()),
        )
