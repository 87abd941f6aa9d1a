"""Data-quality checks and connectivity events on scenarios with known defects."""

from __future__ import annotations

import random
from datetime import timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evkit.analysis import (
    connectivity,
    connectivity_summary,
    decode_errors,
    duplicates,
    op_mode_periods,
    out_of_order,
    quality_summary,
    readings,
    stale_values,
    telemetry_gaps,
    unknown_ids,
)
from tests.analysis import scenario as sc
from tests.analysis.conftest import HOLE, MINUTES, A, B, C, E, Fleet

MIN = timedelta(minutes=1)


def test_capture_hole_is_a_gap_with_its_bounds(fleet_lf: pl.LazyFrame) -> None:
    gaps = telemetry_gaps(fleet_lf).collect()
    inner = gaps.filter(pl.col("charger_id") == B).row(0, named=True)
    assert inner["gap_start"] == HOLE[0] - MIN  # the last message before the hole
    assert inner["gap_end"] == HOLE[1]
    assert inner["ongoing"] is False
    assert inner["gap_s"] == pytest.approx((HOLE[1] - HOLE[0] + MIN).total_seconds())


def test_charger_that_fell_silent_has_an_ongoing_gap(fleet_lf: pl.LazyFrame) -> None:
    gaps = telemetry_gaps(fleet_lf).collect()
    tail = gaps.filter(pl.col("charger_id") == E).row(0, named=True)
    assert tail["ongoing"] is True
    assert tail["gap_end"] == sc.T0 + timedelta(minutes=MINUTES)
    assert set(gaps["charger_id"]) == {B, E}  # idle but reporting chargers have no gaps


def test_threshold_is_respected(fleet_lf: pl.LazyFrame) -> None:
    assert telemetry_gaps(fleet_lf, expected=timedelta(hours=3)).collect().height == 0


def test_duplicates_are_listed_with_copies(fleet: Fleet) -> None:
    dups = duplicates(fleet.frame().lazy()).collect()
    extra = len(fleet.rows) - len(fleet.clean)
    # every redelivered copy shows up; the scenario also has a few genuinely repeated readings
    assert (dups["copies"] - 1).sum() >= extra
    assert dups["redelivered_n"].sum() == extra
    assert duplicates(fleet.frame(fleet.clean).lazy()).collect()["redelivered_n"].sum() == 0


def test_out_of_order_arrivals_are_found() -> None:
    rows = [
        sc.Row("EHOOO0001", 120, sc.T0 + i * MIN, 7.0, "7", capture_delay_s=delay)
        for i, delay in enumerate([0.1, 0.1, 150.0, 0.1, 0.1])  # minute 2 arrives after minutes 3 and 4
    ]
    late = out_of_order(sc.frame(rows).lazy()).collect()
    assert late.select("observed_at", "behind_s").rows() == [(sc.T0 + 2 * MIN, 120.0)]


def test_messages_received_at_one_instant_are_not_late_to_one_another() -> None:
    # minute 1 (no delay) and minute 0 (60 s late) are received at the same microsecond; minute 2 was
    # received before both
    newer = sc.Row("EHTIE0001", 120, sc.T0 + MIN, 7.0, "7", capture_delay_s=0.1)
    older = sc.Row("EHTIE0001", 120, sc.T0, 6.0, "6", capture_delay_s=60.1)
    newest = sc.Row("EHTIE0001", 120, sc.T0 + 2 * MIN, 8.0, "8", capture_delay_s=-90.0)
    assert newer.record()["received_at"] == older.record()["received_at"]
    for order in ([newer, older], [older, newer]):  # the order the rows were written in
        assert out_of_order(sc.frame(order).lazy()).collect().height == 0
        assert quality_summary(sc.frame(order).lazy()).collect()["out_of_order_n"].to_list() == [0]
        late = out_of_order(sc.frame([*order, newest]).lazy()).collect()
        assert late.select("observed_at", "newest_before").rows() == [
            (sc.T0, sc.T0 + 2 * MIN),
            (sc.T0 + MIN, sc.T0 + 2 * MIN),
        ]


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["EH1", "EH2", "EH3"]),
            st.sampled_from([-5, 120, 150, 70_000]),
            # whole minutes late: messages of one charger and id are often received at one instant
            st.integers(min_value=0, max_value=6),
        ),
        min_size=1,
        max_size=40,
    ),
    st.randoms(use_true_random=False),
)
def test_out_of_order_is_per_charger_and_observation(
    keys: list[tuple[str, int, int]], rnd: random.Random
) -> None:
    # each (charger, id) in its own received order, in any written order; a reading is late when one
    # of the same charger and id received strictly earlier was taken after it
    rows = [
        sc.Row(charger, obs_id, sc.T0 + i * MIN, float(i), str(i), capture_delay_s=60.0 * late_min)
        for i, (charger, obs_id, late_min) in enumerate(keys)
    ]
    rnd.shuffle(rows)
    late = out_of_order(sc.frame(rows).lazy()).collect()
    expected = set()
    for charger, obs_id in {(c, o) for c, o, _ in keys}:
        mine = [r for r in rows if (r.charger_id, r.observation_id) == (charger, obs_id)]
        for r in mine:
            received = r.record()["received_at"]
            if any(o.record()["received_at"] < received and o.observed_at > r.observed_at for o in mine):
                expected.add((charger, obs_id, r.observed_at))
    assert set(late.select("charger_id", "observation_id", "observed_at").rows()) == expected


def test_decode_errors_are_kept_with_their_raw_body() -> None:
    bad = sc.Row("EHERR0001", 120, sc.T0, None, "not-a-number", error="cannot parse 'not-a-number' as Double")
    undecodable = sc.Row("EHERR0001", 109, sc.T0 + MIN, 3.0, "3")
    frame = sc.frame([bad, undecodable]).with_columns(
        pl.when(pl.col("observation_id") == 109)
        .then(None)
        .otherwise(pl.col("charger_id"))
        .alias("charger_id"),
        pl.when(pl.col("observation_id") == 109)
        .then(pl.lit("body is not JSON"))
        .otherwise(pl.col("error"))
        .alias("error"),
    )
    errors = decode_errors(frame.lazy()).collect()
    assert errors.height == 2
    assert errors["raw"].null_count() == 0
    summary = quality_summary(frame.lazy()).collect()
    counts = dict(zip(summary["charger_id"], summary["decode_errors_n"], strict=True))
    assert counts == {"(unknown)": 1, "EHERR0001": 1}


def test_unknown_ids_are_grouped() -> None:
    rows = [sc.Row("EHUNK0001", 777, sc.T0 + i * MIN, float(i), str(i), observation=None) for i in range(3)]
    rows.append(sc.Row("EHUNK0001", 150, sc.T0, 20.0, "20"))
    unknown = unknown_ids(sc.frame(rows).lazy()).collect()
    assert unknown.select("observation_id", "n", "example").rows() == [(777, 3, "0")]


def test_stale_values_are_late_first_deliveries() -> None:
    rows = [
        sc.Row("EHSTALE01", 109, sc.T0, 1.0, "1", capture_delay_s=3600.0),  # replayed an hour later
        sc.Row("EHSTALE01", 150, sc.T0 + MIN, 20.0, "20"),
    ]
    stale = stale_values(sc.frame(rows).lazy()).collect()
    assert stale.select("observation_id", "age_s").rows() == [(109, pytest.approx(3600.8))]


def test_summary_has_one_row_per_charger_with_the_counts(fleet: Fleet, fleet_lf: pl.LazyFrame) -> None:
    summary = quality_summary(fleet_lf).collect()
    assert summary["charger_id"].to_list() == sorted({r.charger_id for r in fleet.clean})
    row = {r["charger_id"]: r for r in summary.iter_rows(named=True)}
    assert row[B]["gaps_n"] == 1
    assert row[E]["gaps_n"] == 1
    assert row[A]["gaps_n"] == 0
    assert row[C]["clock_skew_n"] > 0
    assert row[A]["clock_skew_n"] == 0
    assert sum(r["duplicates_n"] for r in row.values()) >= len(fleet.rows) - len(fleet.clean)
    assert row[A]["out_of_order_n"] > 0  # the shuffled arrival
    assert row[A]["rows"] == sum(1 for r in fleet.rows if r.charger_id == A)


def test_connectivity_events() -> None:
    cid = "EHCONN001"
    rows = [
        sc.Row(cid, 250, sc.T0, 1.0, "1"),
        sc.Row(cid, 132, sc.T0 + MIN, -67.0, "-67"),
        sc.Row(cid, 250, sc.T0 + 2 * MIN, 0.0, "0"),
        sc.Row(cid, 251, sc.T0 + 2 * MIN, None, "KeepAliveTimeout"),
        sc.Row(cid, 109, sc.T0 + 3 * MIN, 0.0, "0"),
        sc.Row(cid, 89, sc.T0 + 4 * MIN, 5.0, "5"),
        sc.Row(cid, 80, sc.T0 + 4 * MIN, 340.0, "340"),
        sc.Row(cid, 130, sc.T0 + 5 * MIN, -91.0, "-91"),
        sc.Row(cid, 250, sc.T0 + 5 * MIN, 1.0, "1"),
        sc.Row(cid, 109, sc.T0 + 6 * MIN, 1.0, "1"),  # not a connectivity event
    ]
    events = connectivity(sc.frame(sc.duplicate(rows, every=2)).lazy()).collect()
    expected = [
        (0, "cloud_connected"),
        (1, "wifi_rssi_dbm"),
        (2, "cloud_disconnected"),
        (2, "cloud_disconnect_reason"),
        (3, "offline"),
        (4, "reboot"),
        (4, "software_release"),
        (5, "cell_rssi_dbm"),
        (5, "cloud_connected"),
    ]
    got = sorted(((at - sc.T0) // MIN, event) for at, event in events.select("observed_at", "event").rows())
    assert got == sorted(expected)  # redelivered copies collapsed, op mode 1 left out
    summary = connectivity_summary(sc.frame(rows).lazy()).collect().row(0, named=True)
    assert (summary["cloud_disconnects_n"], summary["reboots_n"], summary["offline_n"]) == (1, 1, 1)
    assert summary["wifi_rssi_min_dbm"] == -67.0
    assert summary["last_disconnect_reason"] == "KeepAliveTimeout"


def test_op_mode_periods_and_readings(fleet_lf: pl.LazyFrame) -> None:
    periods = op_mode_periods(fleet_lf, charger_id=A).collect()
    assert periods.select("mode", "label").rows()[:4] == [
        (1, "Disconnected"),
        (2, "AwaitingStart"),
        (3, "Charging"),
        (4, "Completed"),
    ]
    assert periods["end"].to_list()[:-1] == periods["start"].to_list()[1:]  # back to back
    assert periods["end"].to_list()[-1] is None
    power = readings(fleet_lf, [120], charger_id=A, start=sc.T0 + 40 * MIN, end=sc.T0 + 50 * MIN).collect()
    assert power.height == 10  # once a minute, redelivered copies collapsed
    assert set(power["observation"]) == {"TotalPower"}


def test_the_public_summary_takes_data_end_and_first_as_its_docs_say(fleet_lf: pl.LazyFrame) -> None:
    """``evkit.analysis.quality_summary`` (the client-aware wrapper) passes ``data_end`` and ``first``
    on: a later end lengthens every charger's ongoing silence, a precomputed ``first`` changes nothing."""
    from datetime import UTC, datetime

    from evkit.analysis.quality import first_of
    from evkit.analysis.quality import quality_summary as pure

    end = datetime(2030, 1, 1, tzinfo=UTC)
    plain = quality_summary(fleet_lf).collect()
    later = quality_summary(fleet_lf, data_end=end).collect()
    assert later.equals(pure(fleet_lf, data_end=end).collect())
    assert (later["gap_s_total"] > plain["gap_s_total"]).all()  # each now silent until 2030
    given = quality_summary(fleet_lf, data_end=end, first=first_of(fleet_lf).collect().lazy()).collect()
    assert given.equals(later)
