"""Sessions against the known truth of simulated chargers, with every quirk at once and one by one."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from evkit.analysis import SESSION_SCHEMA, sessions
from evkit.errors import DatasetError
from tests.analysis import scenario as sc
from tests.analysis.conftest import A, B, C, D, E, Fleet

MINUTE = timedelta(minutes=1)


def _sessions(rows: list[sc.Row]) -> pl.DataFrame:
    return sessions(sc.frame(rows).lazy()).collect()


def _one(frame: pl.DataFrame, charger: str, index: int = 0) -> dict[str, object]:
    rows = frame.filter(pl.col("charger_id") == charger).sort("started_at")
    return rows.row(index, named=True)


def test_returns_a_lazy_frame_in_the_session_schema(fleet_lf: pl.LazyFrame) -> None:
    result = sessions(fleet_lf)
    assert isinstance(result, pl.LazyFrame)
    assert result.collect_schema() == pl.Schema(SESSION_SCHEMA)


def test_every_session_matches_the_truth(fleet: Fleet, fleet_lf: pl.LazyFrame) -> None:
    found = sessions(fleet_lf).collect()
    assert found.height == len(fleet.truths)
    for truth, got in zip(
        sorted(fleet.truths, key=lambda t: (t.charger_id, t.started_at)),
        found.iter_rows(named=True),
        strict=True,
    ):
        assert got["charger_id"] == truth.charger_id
        assert abs(got["started_at"] - truth.started_at) <= MINUTE
        if truth.ended_at is None:
            assert got["ended_at"] is None
        else:
            assert abs(got["ended_at"] - truth.ended_at) <= MINUTE
        assert got["energy_kwh"] == pytest.approx(truth.energy_kwh, rel=0.01)
        assert got["charge_duration_s"] == pytest.approx(truth.charge_minutes * 60, abs=60)
        assert got["peak_power_kw"] == pytest.approx(truth.peak_kw)
        assert got["phases"] == truth.phases
        assert got["source"] == "easee"


def test_an_idle_charger_has_no_sessions(fleet_lf: pl.LazyFrame) -> None:
    assert sessions(fleet_lf).filter(pl.col("charger_id") == E).collect().height == 0


def test_pause_inside_a_session_does_not_split_it(fleet_lf: pl.LazyFrame) -> None:
    first = _one(sessions(fleet_lf).collect(), A)
    # 11 kW for 2 h, paused (op mode 4) for 48 min, 7 kW for 1 h: one session, 29 kWh, 3 h charging
    assert first["energy_kwh"] == pytest.approx(29.0, rel=0.01)
    assert first["charge_duration_s"] == pytest.approx(3 * 3600, abs=60)
    assert first["connected_duration_s"] == pytest.approx(4.5 * 3600, abs=60)
    assert first["mean_power_kw"] == pytest.approx(29.0 / 3, rel=0.01)
    assert first["complete"] is True
    assert first["rfid_token"] == "04AABBCC"


def test_session_still_connected_has_no_end(fleet_lf: pl.LazyFrame) -> None:
    second = _one(sessions(fleet_lf).collect(), A, 1)
    assert second["ended_at"] is None
    assert second["complete"] is False
    assert second["energy_lifetime_kwh"] is None  # no meter reading after an unplug yet
    assert second["energy_kwh"] == pytest.approx(3.7 * 195 / 60, rel=0.01)
    assert second["connected_duration_s"] == pytest.approx(200 * 60, abs=60)  # to the data's end


def test_data_starting_mid_session_is_flagged_and_uses_the_counter(fleet_lf: pl.LazyFrame) -> None:
    first = _one(sessions(fleet_lf).collect(), B)
    assert first["started_mid_session"] is True
    assert first["complete"] is False
    # the counter already stood at 5 kWh when the data began; the meter only saw the rest
    assert first["energy_kwh"] == pytest.approx(5.0 + 7.4 * 1.5, rel=0.01)
    assert first["energy_source"] == "session_energy"
    assert first["energy_lifetime_kwh"] is None
    assert first["mean_power_kw"] == pytest.approx(7.4, rel=0.01)


def test_capture_hole_is_flagged_and_energy_survives_it(fleet_lf: pl.LazyFrame) -> None:
    second = _one(sessions(fleet_lf).collect(), B, 1)
    assert second["gap"] is True
    truth = 11.0 * 119 / 60
    assert second["energy_kwh"] == pytest.approx(truth, rel=0.01)
    assert second["energy_lifetime_kwh"] == pytest.approx(truth, rel=0.01)
    # the integral does not guess across the hole: it is short by the hour the hole hid
    assert second["energy_integral_kwh"] < truth - 10


def test_sessions_without_holes_are_not_flagged(fleet_lf: pl.LazyFrame) -> None:
    found = sessions(fleet_lf).collect()
    assert found.filter(pl.col("gap")).select("charger_id").to_series().to_list() == [B]


def test_meter_reset_inside_a_session_leaves_the_counter(fleet_lf: pl.LazyFrame) -> None:
    only = _one(sessions(fleet_lf).collect(), D)
    assert only["energy_lifetime_kwh"] is None  # the meter fell: its delta means nothing
    assert only["energy_kwh"] == pytest.approx(22.0, rel=0.01)
    assert only["energy_source"] == "session_energy"


def test_duplicates_and_arrival_order_do_not_change_anything(fleet: Fleet) -> None:
    clean = sessions(fleet.frame(fleet.clean).lazy()).collect()
    messy = sessions(fleet.frame().lazy()).collect()
    assert_frame_equal(messy, clean)  # floats summed in another order may differ in the last bit


def test_spurious_zero_is_ignored() -> None:
    charger = sc.Charger("EHZERO01", [(0, 1, 0), (10, 2, 0), (11, 3, 11.0), (71, 1, 0)], 120).run()
    rows = charger.rows
    for minute in (20, 45, 70):  # zeros mid-charge and just before unplug
        rows = sc.spurious_zero(rows, "EHZERO01", sc.T0 + timedelta(minutes=minute, seconds=10))
    got = _one(_sessions(rows), "EHZERO01")
    assert got["energy_session_kwh"] == pytest.approx(11.0, rel=0.01)
    assert got["energy_kwh"] == pytest.approx(11.0, rel=0.01)


def test_stale_counter_from_the_previous_session_is_ignored() -> None:
    # session 1 charges 22 kWh; session 2 never charges: its counter still shows 22 at plug-in
    charger = sc.Charger(
        "EHSTALE1", [(0, 1, 0), (5, 2, 0), (6, 3, 22.0), (66, 1, 0), (100, 2, 0), (160, 1, 0)], 200
    ).run()
    found = _sessions(charger.rows)
    assert found["energy_kwh"].to_list() == pytest.approx([22.0, 0.0], abs=0.05)


def test_counter_missing_its_last_updates_is_overruled_by_meter_and_integral() -> None:
    charger = sc.Charger(
        "EHLATE001", [(0, 1, 0), (10, 2, 0), (11, 3, 11.0), (131, 4, 0), (170, 1, 0)], 240
    ).run()
    # the counter stopped reporting after 59 minutes of charging (its last report: minute 70)
    cut = sc.T0 + timedelta(minutes=71)
    rows = [r for r in charger.rows if not (r.observation_id == 121 and r.observed_at >= cut)]
    got = _one(_sessions(rows), "EHLATE001")
    assert got["energy_session_kwh"] == pytest.approx(11.0 * 59 / 60, rel=0.01)
    assert got["energy_lifetime_kwh"] == pytest.approx(22.0, rel=0.01)
    assert got["energy_source"] == "lifetime_meter"
    assert got["energy_kwh"] == pytest.approx(22.0, rel=0.01)
    note = got["energy_note"]
    assert isinstance(note, str)
    assert "disagree" in note
    assert "agrees with the lifetime meter" in note


@pytest.mark.parametrize("power", ["none", "neither"])
def test_counter_is_kept_and_flagged_when_only_the_hourly_meter_disagrees(power: str) -> None:
    # 11 kWh charged; the counter says so. The hourly meter lags by 4 kWh (Easee's 124 is hourly and
    # "inaccurate by design", evcc #20594). Without power data, or with a power integral agreeing with
    # neither, nothing out-votes the counter: it stays the session's energy, with a note (a flag).
    charger = sc.Charger("EHMETER01", [(0, 1, 0), (10, 2, 0), (11, 3, 11.0), (71, 1, 0)], 180).run()
    stop = sc.T0 + timedelta(minutes=71)
    rows = []
    for row in charger.rows:
        r = row
        if r.observation_id == 124 and r.observed_at > stop and r.value is not None:
            r = sc.Row(r.charger_id, 124, r.observed_at, r.value - 4.0, f"{r.value - 4.0:g}")
        if r.observation_id == 120 and r.value is not None:
            if power == "none":
                continue
            r = sc.Row(r.charger_id, 120, r.observed_at, r.value * 0.8, f"{r.value * 0.8:g}")
        rows.append(r)
    got = _one(_sessions(rows), "EHMETER01")
    assert got["energy_lifetime_kwh"] == pytest.approx(7.0, rel=0.01)
    assert got["energy_source"] == "session_energy"
    assert got["energy_kwh"] == pytest.approx(11.0, rel=0.01)
    note = got["energy_note"]
    assert isinstance(note, str) and "disagree" in note and "counter is kept" in note


def test_without_counter_the_meter_is_used_and_said() -> None:
    charger = sc.Charger("EHNOCNT01", [(0, 1, 0), (10, 2, 0), (11, 3, 7.0), (131, 1, 0)], 240).run()
    rows = [r for r in charger.rows if r.observation_id != 121]
    got = _one(_sessions(rows), "EHNOCNT01")
    assert got["energy_source"] == "lifetime_meter"
    assert got["energy_kwh"] == pytest.approx(14.0, rel=0.01)
    assert got["energy_note"] == "no session counter (121) in the data"
    assert got["meter_start_kwh"] == pytest.approx(1000.0)
    assert got["meter_stop_kwh"] == pytest.approx(1014.0, rel=0.001)


def test_power_alone_gives_the_integral() -> None:
    charger = sc.Charger("EHPOWER01", [(0, 1, 0), (10, 2, 0), (11, 3, 7.0), (41, 1, 0)], 120).run()
    rows = [r for r in charger.rows if r.observation_id not in (121, 124)]
    got = _one(_sessions(rows), "EHPOWER01")
    assert got["energy_source"] == "power_integral"
    assert got["energy_kwh"] == pytest.approx(3.5, rel=0.01)


def test_reversed_token_is_used_when_the_plain_one_is_missing() -> None:
    charger = sc.Charger("EHREV0001", [(0, 1, 0), (10, 2, 0), (11, 3, 7.0), (41, 1, 0)], 60).run()
    rows = [
        *charger.rows,
        sc.Row("EHREV0001", 108, sc.T0 + timedelta(minutes=10, seconds=5), None, "DDCCBBAA"),
    ]
    assert _one(_sessions(rows), "EHREV0001")["rfid_token"] == "AABBCCDD"


def test_offline_inside_a_session_marks_a_gap() -> None:
    charger = sc.Charger(
        "EHOFF0001", [(0, 1, 0), (10, 2, 0), (11, 3, 7.0), (20, 0, 0), (25, 3, 7.0), (41, 1, 0)], 60
    )
    got = _one(_sessions(charger.run().rows), "EHOFF0001")
    assert got["gap"] is True
    assert got["ended_at"] == sc.T0 + timedelta(minutes=41)


def test_mqtt_rows_are_not_taken_for_easee(fleet: Fleet) -> None:
    base = fleet.frame(fleet.clean)
    mqtt = base.head(50).with_columns(
        pl.lit("mqtt").alias("kind"), pl.lit(109).cast(pl.Int32).alias("observation_id")
    )
    assert_frame_equal(sessions(pl.concat([base, mqtt]).lazy()).collect(), sessions(base.lazy()).collect())


def test_missing_required_columns_is_a_dataset_error(fleet: Fleet) -> None:
    with pytest.raises(DatasetError, match="observed_at"):
        sessions(fleet.frame().drop("observed_at").lazy())


def test_empty_dataset_gives_no_sessions(fleet: Fleet) -> None:
    empty = fleet.frame().head(0)
    assert sessions(empty.lazy()).collect().height == 0


plans = st.lists(
    st.tuples(
        st.integers(5, 60), st.integers(1, 90), st.sampled_from([3.7, 7.4, 11.0, 22.0]), st.integers(1, 60)
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans=plans, seed=st.integers(0, 1000))
def test_random_plans_sessionise_exactly(plans: list[tuple[int, int, float, int]], seed: int) -> None:
    """Any sequence of plug-in, charge, idle, unplug: one session each, energy within 1 %."""
    steps: list[tuple[int, int, float]] = [(0, 1, 0.0)]
    minute = 0
    for wait, charge, power, idle in plans:
        minute += wait
        steps.append((minute, 2, 0.0))
        steps.append((minute + 1, 3, power))
        steps.append((minute + 1 + charge, 4, 0.0))
        minute += 1 + charge + idle
        steps.append((minute, 1, 0.0))
    charger = sc.Charger("EHPROP001", steps, minute + 30).run()
    found = _sessions(sc.shuffle(sc.duplicate(charger.rows), seed=seed))
    assert found.height == len(charger.truths)
    for truth, got in zip(charger.truths, found.iter_rows(named=True), strict=True):
        assert got["started_at"] == truth.started_at
        assert got["ended_at"] == truth.ended_at
        assert got["energy_kwh"] == pytest.approx(truth.energy_kwh, rel=0.01, abs=0.01)
        assert got["charge_duration_s"] == truth.charge_minutes * 60


def test_unknown_charger_ids_are_kept_apart(fleet: Fleet) -> None:
    found = sessions(fleet.frame().lazy()).collect()
    assert set(found["charger_id"]) == {A, B, C, D}


def test_evcc_sessions_join_the_easee_ones_in_a_mixed_store(fleet: Fleet) -> None:
    mqtt_frame = sc.evcc_session(plugged_at_minute=30)
    mixed = pl.concat([fleet.frame(fleet.clean), mqtt_frame], how="diagonal_relaxed")
    found = sessions(mixed.lazy()).collect()
    assert set(found["source"]) == {"easee", "evcc"}
    evcc = found.filter(pl.col("source") == "evcc").row(0, named=True)
    assert evcc["energy_kwh"] == pytest.approx(11.0 * 60 / 60, rel=0.02)
    easee_only = found.filter(pl.col("source") == "easee").drop("source")
    assert_frame_equal(easee_only, sessions(fleet.frame(fleet.clean).lazy()).collect().drop("source"))


def test_same_sessions_from_a_stored_dataset_with_or_without_store_dedupe(
    fleet: Fleet, tmp_path: Path
) -> None:
    from evkit import scan
    from evkit.store.writer import PartWriter

    PartWriter(tmp_path).write(fleet.frame())
    deduped = sessions(scan(tmp_path)).collect()
    raw = sessions(scan(tmp_path, dedupe=False)).collect()
    assert_frame_equal(deduped, raw)
    assert deduped.height == len(fleet.truths)
