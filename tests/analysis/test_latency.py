"""Latency per hop: exact percentiles against numpy, clock skew kept and counted."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evkit.analysis import HOPS, SCHEDULED_HOPS, latency, latency_stats
from tests.analysis import scenario as sc
from tests.analysis.conftest import SKEW_S, C, Fleet


def _rows(delays: list[tuple[float, float]], charger: str = "EHLAT0001") -> list[sc.Row]:
    return [
        sc.Row(
            charger,
            150,
            sc.T0 + timedelta(seconds=10 * i),
            20.0 + i,
            f"{20 + i}",
            device_delay_s=d,
            capture_delay_s=c,
        )
        for i, (d, c) in enumerate(delays)
    ]


def _stats(frame: pl.DataFrame) -> dict[str, dict[str, float]]:
    return {row["hop"]: row for row in latency_stats(frame.lazy()).collect().iter_rows(named=True)}


delay = st.floats(-120, 600, allow_nan=False).map(lambda x: round(x, 3))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(delay, delay), min_size=1, max_size=60))
def test_percentiles_equal_numpy_exactly(delays: list[tuple[float, float]]) -> None:
    frame = sc.frame(_rows(delays))
    stats = _stats(frame)
    per_hop = {
        "device_to_cloud": (frame["arrival_time"] - frame["observed_at"]),
        "cloud_to_capture": (frame["received_at"] - frame["arrival_time"]),
        "end_to_end": (frame["received_at"] - frame["observed_at"]),
    }
    for hop, durations in per_hop.items():
        values = durations.dt.total_microseconds().to_numpy() / 1e6
        got = stats[hop]
        assert got["n"] == len(values)
        for name, q in (("p50_s", 50), ("p95_s", 95), ("p99_s", 99)):
            assert got[name] == pytest.approx(float(np.percentile(values, q)), rel=1e-12, abs=1e-9)
        assert got["max_s"] == pytest.approx(float(values.max()))
        assert got["negative_n"] == int((values < 0).sum())


def test_known_values() -> None:
    delays = [(1.0, 0.1), (2.0, 0.2), (3.0, 0.3), (4.0, 0.4), (10.0, 1.0)]
    stats = _stats(sc.frame(_rows(delays)))
    d2c = stats["device_to_cloud"]
    assert (d2c["n"], d2c["p50_s"], d2c["max_s"], d2c["negative_n"]) == (5, 3.0, 10.0, 0)
    assert d2c["p95_s"] == pytest.approx(8.8)  # linear between 4 and 10 at rank 3.8


def test_clock_skew_is_counted_not_dropped(fleet_lf: pl.LazyFrame) -> None:
    by_charger = latency_stats(fleet_lf, by="charger").collect()
    skewed = by_charger.filter((pl.col("charger_id") == C) & (pl.col("hop") == "device_to_cloud")).row(
        0, named=True
    )
    assert skewed["negative_n"] == skewed["n"] > 0
    assert skewed["p50_s"] == pytest.approx(0.8 - SKEW_S)
    others = by_charger.filter((pl.col("charger_id") != C) & (pl.col("hop") == "device_to_cloud"))
    assert others["negative_n"].sum() == 0
    flagged = latency(fleet_lf).filter(pl.col("skew")).collect()
    assert set(flagged["charger_id"]) == {C}


def test_redelivered_copies_count_once_at_first_delivery(fleet: Fleet) -> None:
    clean = _stats(fleet.frame(fleet.clean))
    messy = _stats(fleet.frame())
    assert messy["end_to_end"]["n"] == clean["end_to_end"]["n"]
    # the copy delivered 30 s later must not inflate the worst case beyond the jittered first delivery
    assert messy["end_to_end"]["max_s"] < 0.8 + 0.15 + 90 + 1


def test_missing_arrival_time_leaves_only_end_to_end() -> None:
    rows = _rows([(1.0, 0.5), (2.0, 0.5)])
    rows[1].arrival_known = False
    stats = _stats(sc.frame(rows))
    assert stats["device_to_cloud"]["n"] == 1
    assert stats["cloud_to_capture"]["n"] == 1
    assert stats["end_to_end"]["n"] == 2


def test_breakdowns_by_observation_and_hour(fleet_lf: pl.LazyFrame) -> None:
    by_obs = latency_stats(fleet_lf, by="observation").collect()
    assert {"TotalPower", "ChargerOpMode", "LifetimeEnergy"} <= set(by_obs["observation"])
    by_hour = latency_stats(fleet_lf, by="hour").collect()
    total = latency_stats(fleet_lf).collect()
    for hop in HOPS:
        assert (
            by_hour.filter(pl.col("hop") == hop)["n"].sum() == total.filter(pl.col("hop") == hop)["n"].item()
        )
    assert by_hour["hop"].to_list()[0] == "device_to_cloud"  # hops in the order they happen


def test_latency_frame_is_long_and_lazy(fleet_lf: pl.LazyFrame) -> None:
    frame = latency(fleet_lf)
    assert isinstance(frame, pl.LazyFrame)
    names = frame.collect_schema().names()
    for column in ("hop", "latency_s", "skew", "charger_id", "observation_id", "observation", "hour"):
        assert column in names
    # the fleet's hourly lifetime meter (124) is stamped on a schedule: its own hops
    assert set(frame.select("hop").unique().collect()["hop"]) == {*HOPS, *SCHEDULED_HOPS}


def _idle_fleet_hour_reports(hours: int = 48) -> pl.DataFrame:
    """An idle charger: a temperature heartbeat every 15 min (transport ~0.3 s) and, every hour, 122
    stamped hh:00:00 arriving 3.4 min later and 124 arriving 2-10 min after the hour (stamped on the
    hour too, the worst case) - the live pattern of evcc #10428 / easee_hass #174."""
    rows = []
    for hour in range(hours):
        top = sc.T0 + timedelta(hours=hour)
        for quarter in range(4):
            at = top + timedelta(minutes=15 * quarter + 1)
            rows.append(sc.Row("EHIDLE001", 150, at, 20.0, "20", device_delay_s=0.3, capture_delay_s=0.05))
        rows.append(sc.Row("EHIDLE001", 122, top, 0.0, "0", device_delay_s=204.0, capture_delay_s=0.05))
        late = 120 + (hour * 37) % 480
        rows.append(
            sc.Row("EHIDLE001", 124, top, 1000.0, "1000", device_delay_s=float(late), capture_delay_s=0.05)
        )
    return sc.frame(rows)


def test_hourly_reports_stamped_on_the_hour_do_not_count_as_transport_latency() -> None:
    stats = _stats(_idle_fleet_hour_reports())
    # transport: seconds, not minutes (before the fix p95 of both hops was several minutes)
    assert stats["device_to_cloud"]["p95_s"] < 1.0
    assert stats["end_to_end"]["p95_s"] < 1.0
    assert stats["device_to_cloud"]["n"] == 48 * 4
    # the scheduled observations are reported apart, with their own percentiles
    scheduled = stats["scheduled_device_to_cloud"]
    assert scheduled["n"] == 48 * 2
    assert scheduled["p50_s"] > 120
    assert stats["scheduled_end_to_end"]["n"] == 48 * 2
    # cloud -> capture is transport for every observation
    assert stats["cloud_to_capture"]["n"] == 48 * 6


# Messages: (charger or None, observation id, device time or None, value); deliveries of them with or
# without an ArrivalTime, flagged redelivered or not, received in any order.
_message = st.tuples(
    st.sampled_from(["EH1", "EH2", "(unknown)", None]),
    st.sampled_from([120, 122, 150]),
    st.none() | st.integers(0, 5),
    st.integers(0, 2),
)
_delivery = st.tuples(st.integers(0, 7), st.booleans(), st.booleans(), st.integers(0, 50))


def _deliveries_frame(
    messages: list[tuple[str | None, int, int | None, int]], deliveries: list[tuple[int, bool, bool, int]]
) -> pl.LazyFrame:
    from evkit.store.schema import EASEE_SCHEMA

    rows = []
    for index, has_arrival, redelivered, late in deliveries:
        charger, obs_id, device_s, value = messages[index % len(messages)]
        observed = None if device_s is None else sc.T0 + timedelta(seconds=device_s)
        received = sc.T0 + timedelta(seconds=10 + late)
        rows.append(
            {
                "charger_id": charger,
                "observation_id": obs_id,
                "observed_at": observed,
                "value": float(value),
                "value_text": str(value),
                "received_at": received,
                "arrival_time": received - timedelta(seconds=1) if has_arrival else None,
                "redelivered": redelivered,
                "observation": "x",
            }
        )
    lf = pl.DataFrame(rows, schema_overrides=EASEE_SCHEMA).lazy()
    return lf.select(
        [pl.col(c) if c in rows[0] else pl.lit(None, dtype=t).alias(c) for c, t in EASEE_SCHEMA.items()]
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(_message, min_size=1, max_size=8), st.lists(_delivery, min_size=1, max_size=30))
def test_latency_from_quality_first_deliveries_is_the_same(
    messages: list[tuple[str | None, int, int | None, int]], deliveries: list[tuple[int, bool, bool, int]]
) -> None:
    from evkit.analysis.quality import first_of

    lf = _deliveries_frame(messages, deliveries)
    alone = latency(lf).collect()
    shared = latency(lf, first=first_of(lf)).collect()
    assert shared.sort(pl.all(), nulls_last=True).equals(alone.sort(pl.all(), nulls_last=True))


@settings(max_examples=150, deadline=None)
@given(st.lists(_message, min_size=1, max_size=8), st.lists(_delivery, min_size=1, max_size=30))
def test_hop_latencies_are_the_latency_rows_a_column_per_hop(
    messages: list[tuple[str | None, int, int | None, int]], deliveries: list[tuple[int, bool, bool, int]]
) -> None:
    """The report's percentiles read ``hop_latencies``: per hop the same microseconds and hours as
    :func:`latency` (scheduled ids apart, copies once)."""
    from evkit.analysis.latency import hop_latencies
    from evkit.analysis.schema import ALL_HOPS

    lf = _deliveries_frame(messages, deliveries)
    us = (pl.col("latency_s") * 1e6).round().cast(pl.Int64).alias("us")
    expected = latency(lf).select(pl.col("hop").cast(pl.String), us, "hour").collect()
    wide = hop_latencies(lf).collect()
    assert wide.columns == ["hour", *ALL_HOPS]
    got = wide.unpivot(index="hour", variable_name="hop", value_name="us").drop_nulls("us")
    order = ["hop", "us", "hour"]
    assert got.select(order).sort(order).equals(expected.select(order).sort(order))
