"""Cost per session, priced by when the energy flowed; every expected figure computed by hand.

The simulated charger (tests/analysis/scenario.py) charges at a constant power and reports its session
counter (121) every 5 minutes and its power (120) every minute, so the energy in any span is power x
time, independent of evkit.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from evkit.analysis.cost import COST_SCHEMA, session_costs
from evkit.analysis.sessions import sessions
from evkit.analysis.tariff import flat_tariff, tariff_from_text
from tests.analysis import scenario as sc

CID = "EHCOST01"


def _charge(plan: list[tuple[int, int, float]], minutes: int = 240) -> pl.LazyFrame:
    return sc.frame(sc.Charger(CID, plan, minutes, token="04AABBCC").run().rows).lazy()


# 11 kW from 06:32 to 08:32 UTC (T0 = 06:00): 28 min before 07:00, 60 min, 32 min after 08:00.
PLAN = [(0, 1, 0.0), (30, 2, 0.0), (32, 3, 11.0), (152, 4, 0.0), (160, 1, 0.0)]
HOURLY = (
    "from,price,co2\n2026-03-02T06:00Z,0.10,100\n2026-03-02T07:00Z,0.20,200\n2026-03-02T08:00Z,0.40,300\n"
    "2026-03-02T09:00Z,0.40,300\n"
)  # an hourly series: prices until 10:00


def _costs(lf: pl.LazyFrame, tariff_text: str) -> dict[str, object]:
    found = sessions(lf).collect()
    rows = session_costs(found, tariff_from_text(tariff_text), lf).collect()
    assert rows.height == 1
    return rows.row(0, named=True)


def test_a_session_spanning_price_changes_is_split_by_when_the_energy_flowed() -> None:
    row = _costs(_charge(PLAN), HOURLY)
    before, during, after = 28 * 11 / 60, 11.0, 32 * 11 / 60
    assert row["energy_kwh"] == pytest.approx(before + during + after, abs=1e-3)
    assert row["cost"] == pytest.approx(before * 0.10 + during * 0.20 + after * 0.40, abs=1e-3)
    assert row["co2_g"] == pytest.approx(before * 100 + during * 200 + after * 300, abs=0.1)
    assert row["price_per_kwh"] == pytest.approx(row["cost"] / row["energy_kwh"])
    assert row["cost_profile"] == "session_counter"
    # the counter reports on the hour here, so no interval straddles a price change
    assert row["cost_error_bound"] == pytest.approx(0.0, abs=1e-9)
    assert row["cost_note"] is None


def test_a_price_change_between_two_counter_readings_is_split_evenly_within_its_bound() -> None:
    # the price changes at 07:02, between the readings of 07:00 and 07:05
    text = "from,price\n2026-03-02T06:00Z,0.10\n2026-03-02T07:02Z,0.30\n"
    row = _costs(_charge(PLAN), text)
    truth = (30 * 11 / 60) * 0.10 + (90 * 11 / 60) * 0.30  # 06:32-07:02 at 0.10, 07:02-08:32 at 0.30
    assert row["cost"] == pytest.approx(truth, abs=1e-3)  # even flow within the 5 minutes: exact here
    step = 5 * 11 / 60  # the 07:00-07:05 increment could have flowed at either price
    assert row["cost_error_bound"] == pytest.approx(step * (0.30 - 0.10), abs=1e-3)


def test_a_flat_tariff_prices_the_sessions_energy() -> None:
    lf = _charge(PLAN)
    found = sessions(lf).collect()
    row = session_costs(found, flat_tariff(0.30), lf).collect().row(0, named=True)
    assert row["cost"] == pytest.approx(22.0 * 0.30, abs=1e-3)
    assert row["price_per_kwh"] == pytest.approx(0.30)
    assert row["co2_g"] is None  # no CO2 figures in a flat tariff
    assert row["cost_error_bound"] == 0.0


def test_energy_without_a_price_gives_no_cost_and_says_how_much() -> None:
    # prices from 07:00 only: the 5.133 kWh before are not guessed
    row = _costs(_charge(PLAN), "from,price\n2026-03-02T07:00Z,0.20\n")
    assert row["cost"] is None
    assert row["price_per_kwh"] is None
    assert (
        row["cost_note"]
        == f"{round(28 * 11 / 60, 3)} kWh of 22.0 kWh flowed when the tariff has no price: no cost"
    )


def test_without_readings_the_energy_is_spread_evenly_and_said_so() -> None:
    lf = _charge(PLAN)
    found = sessions(lf).collect()  # 06:30 - 08:40 plugged in: 130 minutes
    row = session_costs(found, tariff_from_text(HOURLY)).collect().row(0, named=True)
    per_min = 22.0 / 130
    assert row["cost"] == pytest.approx(per_min * (30 * 0.1 + 60 * 0.2 + 40 * 0.4), abs=1e-3)
    assert row["cost_profile"] == "uniform"
    assert "spread evenly" in row["cost_note"]


def test_the_power_readings_shape_the_energy_when_there_is_no_counter() -> None:
    lf = _charge(PLAN).filter(pl.col("observation_id") != 121)
    found = sessions(lf).collect()
    row = session_costs(found, tariff_from_text(HOURLY), lf).collect().row(0, named=True)
    assert row["cost_profile"] == "power"
    assert row["cost"] == pytest.approx(28 * 11 / 60 * 0.1 + 11 * 0.2 + 32 * 11 / 60 * 0.4, abs=1e-3)


def test_a_stale_counter_at_plug_in_is_not_priced() -> None:
    # two sessions: the second starts showing the first one's final counter before it restarts
    plan = [*PLAN, (180, 2, 0.0), (190, 3, 7.0), (220, 4, 0.0), (230, 1, 0.0)]
    lf = _charge(plan)
    found = sessions(lf).collect()
    rows = session_costs(found, tariff_from_text(HOURLY), lf).collect()
    second = rows.row(1, named=True)
    assert second["energy_kwh"] == pytest.approx(30 * 7 / 60, abs=1e-3)
    assert second["cost"] == pytest.approx(30 * 7 / 60 * 0.40, abs=1e-3)  # 09:10-09:40, all at 0.40
    assert second["cost_profile"] == "session_counter"


def test_the_schema_and_the_order_of_the_sessions_are_kept() -> None:
    lf = _charge(PLAN)
    found = sessions(lf).collect()
    out = session_costs(found, flat_tariff(0.1), lf).collect()
    assert out.columns == [*found.columns, *COST_SCHEMA]
    assert out["session_id"].to_list() == found["session_id"].to_list()


@settings(max_examples=25, deadline=None)
@given(
    start=st.integers(min_value=1, max_value=60),
    length=st.integers(min_value=6, max_value=150),
    power=st.sampled_from([3.7, 7.4, 11.0, 22.0]),
    change=st.integers(min_value=0, max_value=239),
)
def test_cost_lies_within_its_bound_of_the_truth(start: int, length: int, power: float, change: int) -> None:
    plan = [(0, 1, 0.0), (start, 2, 0.0), (start + 1, 3, power), (start + 1 + length, 1, 0.0)]
    lf = _charge(plan)
    at = sc.T0 + timedelta(minutes=change)
    text = f"from,price\n2026-03-02T05:00Z,0.10\n{at:%Y-%m-%dT%H:%M}Z,0.50\n"
    row = _costs(lf, text)
    first = start + 1
    cheap = max(0, min(change, first + length) - first) * power / 60
    dear = length * power / 60 - cheap
    truth = cheap * 0.10 + dear * 0.50
    assert abs(row["cost"] - truth) <= row["cost_error_bound"] + 1e-3


def test_a_local_time_of_use_tariff_across_the_night_the_clocks_go_back() -> None:
    # Oslo, 25 Oct 2026: 03:00 CEST becomes 02:00 CET, so 02:00-03:00 local happens twice. A night
    # price from 22:00 local on the 24th (20:00 UTC) to 02:30 CET (the second 02:30: 01:30 UTC), then
    # the day price. Charging 11 kW from 00:00 to 02:00 UTC: 90 minutes at night, 30 at day price.
    text = (
        "from,price\n2026-10-24T22:00:00+02:00,0.10\n2026-10-25T02:30:00+01:00,0.50\n"
        "2026-10-25T22:00:00+01:00,0.10\n"
    )
    tariff = tariff_from_text(text)
    priced = tariff.priced_rows()
    assert [t.isoformat() for t in priced["from"]] == [
        "2026-10-24T20:00:00+00:00",
        "2026-10-25T01:30:00+00:00",
        "2026-10-25T21:00:00+00:00",
    ]
    assert priced["to"][0] - priced["from"][0] == timedelta(hours=5, minutes=30)  # 22:00 to 02:30 (CET)
    start = sc.T0.replace(year=2026, month=10, day=24, hour=23, minute=0)
    plan = [(0, 1, 0.0), (59, 2, 0.0), (60, 3, 11.0), (180, 4, 0.0), (185, 1, 0.0)]
    lf = sc.frame(sc.Charger(CID, plan, 200, start=start).run().rows).lazy()
    found = sessions(lf).collect()
    (row,) = session_costs(found, tariff, lf).collect().iter_rows(named=True)
    assert row["energy_kwh"] == pytest.approx(22.0, abs=1e-3)
    assert row["cost"] == pytest.approx(90 * 11 / 60 * 0.10 + 30 * 11 / 60 * 0.50, abs=1e-3)
    assert row["cost_error_bound"] == pytest.approx(0.0, abs=1e-9)  # 01:30 UTC is a counter reading


@settings(max_examples=25, deadline=None)
@given(
    sessions_plan=st.lists(
        st.tuples(st.integers(min_value=5, max_value=90), st.sampled_from([3.7, 11.0, 22.0])),
        min_size=1,
        max_size=4,
    ),
    price=st.floats(min_value=0, max_value=2, allow_nan=False),
)
def test_a_flat_tariff_costs_exactly_energy_times_price(
    sessions_plan: list[tuple[int, float]], price: float
) -> None:
    plan: list[tuple[int, int, float]] = [(0, 1, 0.0)]
    minute = 1
    for length, power in sessions_plan:
        plan += [(minute, 2, 0.0), (minute + 1, 3, power), (minute + 1 + length, 1, 0.0)]
        minute += length + 10
    lf = _charge(plan, minutes=minute + 5)
    found = sessions(lf).collect()
    rows = session_costs(found, flat_tariff(price), lf).collect()
    assert rows["cost"].to_list() == pytest.approx((rows["energy_kwh"] * price).to_list(), abs=1e-9)
    assert rows["cost_error_bound"].to_list() == [0.0] * rows.height


def test_a_dip_of_the_counter_is_a_glitch_not_a_restart() -> None:
    # at 07:00:30 the counter reads 0.1 kWh less for one report; a restart rule on any fall would
    # drop every reading before it and push all the energy after 07:00 (at the higher price)
    lf = _charge(PLAN)
    dip = sc.T0 + timedelta(minutes=60, seconds=30)
    glitch = sc.frame([sc.Row(CID, 121, dip, round(28 * 11 / 60 - 0.1, 4), "glitch")]).lazy()
    both = pl.concat([lf, glitch])
    row = _costs(both, HOURLY)
    assert row["cost"] == pytest.approx(28 * 11 / 60 * 0.10 + 11 * 0.20 + 32 * 11 / 60 * 0.40, abs=2e-3)


def test_energy_the_readings_miss_widens_the_bound_and_is_noted() -> None:
    # no counter, and no power readings from 07:10 to 07:40: the reading of 07:09 would hold 31 min
    # (over MAX_HOLD), so the power profile sees 89 of the 120 charging minutes; the session's energy
    # (22 kWh, lifetime meter) is spread like them, and the 31 minutes' energy could have flowed at any
    # price of the session (0.10 .. 0.40)
    hole = (sc.T0 + timedelta(minutes=70), sc.T0 + timedelta(minutes=100))
    observed = pl.col("observed_at")
    lf = _charge(PLAN).filter(
        (pl.col("observation_id") != 121)
        & ~((pl.col("observation_id") == 120) & (observed >= hole[0]) & (observed < hole[1]))
    )
    found = sessions(lf).collect()
    (row,) = session_costs(found, tariff_from_text(HOURLY), lf).collect().iter_rows(named=True)
    assert row["energy_kwh"] == pytest.approx(22.0, abs=1e-3)
    assert row["cost_profile"] == "power"
    seen = 89 * 11 / 60
    assert row["cost"] == pytest.approx((28 * 0.1 + 29 * 0.2 + 32 * 0.4) / 89 * 22.0, abs=1e-3)
    assert row["cost_error_bound"] == pytest.approx((22.0 - seen) * (0.40 - 0.10), abs=1e-3)
    truth = (28 * 0.1 + 60 * 0.2 + 32 * 0.4) * 11 / 60
    assert abs(row["cost"] - truth) <= row["cost_error_bound"]
    assert row["cost_note"].startswith(f"the power readings account for {round(seen, 3)} of 22.0 kWh")


def test_a_small_stale_count_at_plug_in_is_not_this_sessions_energy() -> None:
    # a short first session (11 kW for 16 min: 2.933 kWh), then a 22 kW charge: at plug-in the charger
    # still shows 2.933 kWh, and 5 minutes into the charge it reads 1.833 kWh - more than half of the
    # stale value, so no restart is visible; the stale reading must still not count as energy
    plan = [
        (0, 1, 0.0), (30, 2, 0.0), (31, 3, 11.0), (47, 1, 0.0),
        (60, 2, 0.0), (60, 3, 22.0), (120, 1, 0.0),
    ]  # fmt: skip
    lf = _charge(plan, minutes=150)
    # the second charge runs 07:00-08:00; a price change at 07:02 sits inside its first counter step
    text = "from,price\n2026-03-02T06:00Z,0.10\n2026-03-02T07:02Z,0.30\n"
    rows = session_costs(sessions(lf).collect(), tariff_from_text(text), lf).collect()
    second = rows.row(1, named=True)
    assert second["energy_kwh"] == pytest.approx(22.0, abs=1e-3)
    truth = 2 * 22 / 60 * 0.10 + 58 * 22 / 60 * 0.30
    assert abs(second["cost"] - truth) <= second["cost_error_bound"] + 1e-6
    assert second["cost_error_bound"] <= 5 * 22 / 60 * 0.20 + 1e-6  # one 5-minute step straddles 07:02


# two sessions: 11 kW 06:32-07:32 UTC, then 22 kW 08:32-09:32 (the counter starts again at 0)
TWO = [
    (0, 1, 0.0), (30, 2, 0.0), (32, 3, 11.0), (92, 4, 0.0), (100, 1, 0.0),
    (150, 2, 0.0), (152, 3, 22.0), (212, 4, 0.0), (220, 1, 0.0),
]  # fmt: skip


def test_a_window_prices_its_last_session_with_its_own_readings() -> None:
    """``--to`` cuts the sessions after the window's last one from the list; that session's readings
    still end where the next one starts (before, it took the next session's counter readings, and
    so its timing: all at 0.40 instead of 28 minutes at 0.10 and 32 at 0.20)."""
    from evkit.commands.analysis import sessions_in_buckets

    lf = _charge(TWO, minutes=240)
    tariff = tariff_from_text(HOURLY)
    end = sc.T0 + timedelta(hours=2)

    def priced(until: datetime | None) -> pl.DataFrame:
        return sessions_in_buckets(
            lf, start=None, end=until, gap=timedelta(minutes=20), tariff=tariff, where="t"
        )

    whole, cut = priced(None), priced(end)
    assert whole.height == 2
    assert_frame_equal(cut, whole.filter(pl.col("started_at") < end))
    assert cut["cost"][0] == pytest.approx((28 * 0.10 + 32 * 0.20) * 11 / 60, abs=1e-3)


def test_the_same_readings_in_any_order_cost_the_same_to_the_last_bit() -> None:
    """Costs are sums of many parts; added in whatever order the engine's joins and threads left the
    rows, they differed in the last bits, and a cost such as 8.46995 printed 8.4699 or 8.47."""
    rows = sc.Charger(CID, TWO, 240, token="04AABBCC").run().rows
    tariff = tariff_from_text(HOURLY)
    found = []
    for seed in range(6):
        lf = sc.frame(sc.shuffle(rows, seed=seed)).lazy()
        found.append(session_costs(sessions(lf).collect(), tariff, lf).collect().select(*COST_SCHEMA))
    for other in found[1:]:
        assert_frame_equal(other, found[0], check_exact=True)
