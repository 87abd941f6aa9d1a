"""evcc's tariffs from a recording: cost and solar share without a tariff file; figures by hand.

The rows are made by the capture's own row builder (``evkit.sources.mqtt.RowBuilder``) from payloads
encoded as evcc encodes them (``encode_state``, server/mqtt.go ``encode``). evcc sends
its site tariffs every update cycle (core/site.go:1189 -> core/site_tariffs.go:86-116, evcc b29b49e);
here every 30 s.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from evkit.analysis.cost import session_costs
from evkit.analysis.evcc_tariff import recorded_tariff, solar_percentage
from evkit.analysis.sessions import sessions
from evkit.analysis.tariff import tariff_from_text
from evkit.cli import main
from evkit.errors import DatasetError
from evkit.evcc.state import encode_state
from evkit.sources.mqtt import Message, RowBuilder
from evkit.sources.mqtt_rows import TopicRules
from evkit.store.writer import PartWriter

T0 = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
LP = "evcc/loadpoints/1"


def _recording(site_silent: tuple[datetime, datetime] | None = None, site: str = "evcc/site") -> pl.DataFrame:
    """evcc's messages every 30 s from 06:00 to 10:00, through the capture's own row builder."""
    messages: list[tuple[datetime, str, object]] = []
    for half_minutes in range(4 * 60 * 2):
        at = T0 + timedelta(seconds=30 * half_minutes)
        if site_silent is None or not (site_silent[0] <= at < site_silent[1]):
            before_seven = at < T0 + timedelta(hours=1)
            messages += [
                (at, f"{site}/tariffGrid", 0.35 if before_seven else 0.45),
                (at, f"{site}/tariffPriceLoadpoints", 0.30 if before_seven else 0.40),
                (at, f"{site}/tariffFeedIn", 0.08),
                (at, f"{site}/tariffCo2Loadpoints", 200.0 if before_seven else 100.0),
                (at, f"{site}/currency", "EUR"),
            ]
        minute = half_minutes / 2
        if minute == 30:
            messages += [(at, f"{LP}/connected", True), (at, f"{LP}/charging", True)]
        if 30 <= minute < 90:  # 06:30 .. 07:30 at 11 kW
            messages += [
                (at, f"{LP}/chargePower", 11000.0),
                (at, f"{LP}/sessionEnergy", (minute - 30) * 11000 / 60),
                (at, f"{LP}/sessionSolarPercentage", 25.0),
                # evcc's own running figures for the session (what it would show in its UI)
                (
                    at,
                    f"{LP}/sessionPrice",
                    round((minute - 30) * 11 / 60 * (0.30 if minute < 60 else 0.35), 3),
                ),
            ]
        if minute == 90:
            messages += [
                (at, f"{LP}/chargePower", 0.0),
                (at, f"{LP}/sessionEnergy", 11000.0),
                (at, f"{LP}/charging", False),
                (at, f"{LP}/sessionPrice", 3.85),
                (at, f"{LP}/sessionPricePerKWh", 0.35),
                (at, f"{LP}/sessionCo2PerKWh", 150.0),
            ]
        if minute == 95:
            messages.append((at, f"{LP}/connected", False))
    items = [
        Message(round(at.timestamp() * 1e6), topic, encode_state(value).encode(), False, 1, False, 1)
        for at, topic, value in messages
    ]
    return RowBuilder(TopicRules(evcc_roots=("evcc", "home2"))).frame(items)


def test_evccs_loadpoint_price_is_used_as_it_changed() -> None:
    lf = _recording().lazy()
    tariff = recorded_tariff(lf)
    assert tariff is not None
    assert tariff.currency == "EUR"
    assert "tariffPriceLoadpoints" in tariff.source
    priced = tariff.priced_rows()
    # two runs of equal readings: 06:00-07:00 at 0.30, 07:00-10:00 (last reading + its hold) at 0.40
    assert priced["price"].to_list() == [0.30, 0.40]
    assert priced["from"].to_list() == [T0, T0 + timedelta(hours=1)]
    assert priced["co2"].to_list() == [200.0, 100.0]
    assert priced["feed_in"].to_list() == [0.08, 0.08]
    found = sessions(lf).collect()
    (row,) = session_costs(found, tariff, lf).collect().iter_rows(named=True)
    assert row["energy_kwh"] == pytest.approx(11.0, abs=0.01)
    assert row["cost_profile"] == "power"  # shaped by evcc's chargePower
    assert row["cost"] == pytest.approx(5.5 * 0.30 + 5.5 * 0.40, abs=0.01)
    assert row["co2_g"] == pytest.approx(5.5 * 200 + 5.5 * 100, abs=1.0)


def test_a_hole_in_the_recording_has_no_price() -> None:
    # the site is silent from 07:10 to 07:40: its last price holds 10 minutes, to 07:19:30
    silent = (T0 + timedelta(minutes=70), T0 + timedelta(minutes=100))
    lf = _recording(site_silent=silent).lazy()
    tariff = recorded_tariff(lf)
    assert tariff is not None
    (row,) = session_costs(sessions(lf).collect(), tariff, lf).collect().iter_rows(named=True)
    assert row["cost"] is None
    unpriced = 10.5 * 11 / 60  # 07:19:30 .. 07:30 at 11 kW
    assert row["cost_note"].startswith(f"{round(unpriced, 3)} kWh of 11.0 kWh")


def test_solar_share_of_the_session() -> None:
    lf = _recording().lazy()
    found = sessions(lf).collect()
    solar = solar_percentage(lf, found).collect()
    assert solar["solar_percentage"].to_list() == [25.0]
    assert solar["session_id"].to_list() == found["session_id"].to_list()


def test_several_sites_need_a_tariff() -> None:
    both = pl.concat(
        [_recording(), _recording(site="home2/site").filter(pl.col("device_id") == "home2/site")]
    )
    with pytest.raises(DatasetError, match="several evcc sites"):
        recorded_tariff(both.lazy())


def test_no_evcc_tariff_in_an_easee_store() -> None:
    assert recorded_tariff(_recording().filter(pl.col("device_id") != "evcc/site").lazy()) is None


def test_evcc_csv_from_a_recording_without_a_tariff_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    PartWriter(tmp_path / "rec").write(_recording())
    code = main(["sessions", str(tmp_path / "rec"), "--format", "csv", "--columns", "evcc"])
    out, err = capsys.readouterr()
    assert code == 0
    assert "using evcc's recorded tariff" in err
    (row,) = list(csv.DictReader(io.StringIO(out)))
    assert float(row["Price"]) == pytest.approx(3.85, abs=0.01)
    assert float(row["Price/kWh"]) == pytest.approx(0.35, abs=0.001)
    assert float(row["CO2/kWh (gCO2eq)"]) == pytest.approx(150.0, abs=0.1)
    assert row["Solar (%)"] == "25"


def test_evccs_own_session_figures_are_shown_beside_the_cost(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    PartWriter(tmp_path / "rec").write(_recording())
    assert main(["sessions", str(tmp_path / "rec"), "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["cost"] == pytest.approx(3.85, abs=0.01)
    assert (row["evcc_price"], row["evcc_price_per_kwh"], row["evcc_co2_per_kwh"]) == (3.85, 0.35, 150.0)
    assert row["solar_percentage"] == 25.0


def test_a_goe_session_is_shaped_by_its_power_readings() -> None:
    from tests.mqtt.test_home import T0 as GOE_T0
    from tests.mqtt.test_home import frame_of, goe_session

    lf = frame_of(goe_session())  # 11 kW from 120 s to 1920 s after 17:00 UTC: 5.5 kWh
    change = GOE_T0 + timedelta(seconds=1020)  # half-way through the charge
    tariff = tariff_from_text(f"from,price\n{GOE_T0:%Y-%m-%dT%H:%M}Z,0.20\n{change:%Y-%m-%dT%H:%M}Z,0.40\n")
    (row,) = session_costs(sessions(lf).collect(), tariff, lf).collect().iter_rows(named=True)
    assert row["cost_profile"] == "power"  # go-e's nrg total power (W), decoded as nrg.power_total
    assert row["cost"] == pytest.approx(2.75 * 0.20 + 2.75 * 0.40, abs=0.01)
    assert row["cost_error_bound"] <= 11 * 10 / 3600 * 0.20 + 1e-9  # one 10 s reading straddles 17:17


def test_evccs_figures_keep_the_order_of_the_sessions() -> None:
    """``evkit sessions`` sorts by charger and start, then adds evcc's figures: the join kept no order,
    and a store with evcc rows printed its sessions in another order on every run."""
    from evkit.analysis.evcc_tariff import with_session_figures
    from evkit.analysis.schema import SESSION_SCHEMA

    count = 20_000
    ids = [f"EH{n:06d}" for n in range(count)]
    frame = pl.DataFrame(
        {"charger_id": ids, "session_id": [f"{i}/20261102T060000Z" for i in ids]},
        schema={"charger_id": pl.String(), "session_id": pl.String()},
    ).with_columns(
        [
            pl.lit(None, dtype).alias(name)
            for name, dtype in SESSION_SCHEMA.items()
            if name not in ("charger_id", "session_id")
        ]
    )
    recording = pl.DataFrame(
        {"source": ["evcc"], "device_id": [LP], "key": ["sessionPrice"], "value": [1.0], "received_at": [T0]}
    )
    shown = with_session_figures(frame.lazy(), recording.lazy()).collect()
    assert shown["session_id"].to_list() == frame["session_id"].to_list()


def test_the_recorded_tariff_prices_a_chosen_loadpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """evcc's site (a device id of its own) publishes the tariff of every loadpoint: asking for one
    loadpoint (``--charger``) prices it as the whole recording does (it came out unpriced)."""
    from evkit.report.data import report_data

    PartWriter(tmp_path / "rec").write(_recording())
    chosen = ["--charger", "evcc/loadpoints/1"]
    assert main(["sessions", str(tmp_path / "rec"), "--format", "json", *chosen]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["cost"] == pytest.approx(3.85, abs=0.01)
    assert main(["statement", str(tmp_path / "rec"), "--format", "json", "--by", "charger", *chosen]) == 0
    assert json.loads(capsys.readouterr().out)["total"]["cost"] == pytest.approx(3.85, abs=0.01)
    data = report_data(tmp_path / "rec", chargers=["evcc/loadpoints/1"])
    assert data.tariff is not None and "evcc/site" in data.tariff.source
    assert data.sessions["cost"].to_list() == pytest.approx([3.85], abs=0.01)
