"""evcc / go-e sessions, evcc liveness and go-e command round trips, on recordings with a known truth."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from evkit.analysis.home import evcc_liveness, evcc_sessions, goe_command_roundtrips, goe_sessions
from evkit.analysis.schema import SESSION_SCHEMA
from evkit.evcc.state import encode_state
from evkit.sources.mqtt import Message, RowBuilder

T0 = datetime(2026, 11, 21, 17, 0, tzinfo=UTC)
T0_US = int(T0.timestamp() * 1_000_000)
CYCLE_S = 30
WH_PER_CYCLE = 11000 * CYCLE_S / 3600  # 11 kW for one 30 s cycle


def frame_of(messages: list[tuple[float, str, bytes | str]]) -> pl.LazyFrame:
    items = [
        Message(T0_US + round(s * 1e6), topic, p.encode() if isinstance(p, str) else p, False, 1, False, 1)
        for s, topic, p in messages
    ]
    return RowBuilder().frame(items).lazy()


def evcc_day(cycles: int = 33, lp: str = "evcc/loadpoints/1") -> list[tuple[float, str, str]]:
    """Plug in at cycle 2, charge 11 kW from cycle 4 to 24, unplug at cycle 28."""
    out: list[tuple[float, str, str]] = []
    for c in range(cycles):
        t = c * CYCLE_S
        connected = 2 <= c < 28
        charging = 4 <= c < 24
        energy = min(max(c - 4, 0), 20) * WH_PER_CYCLE if connected else 0.0
        out += [
            (t, f"{lp}/connected", encode_state(connected)),
            (t, f"{lp}/charging", encode_state(charging)),
            (t, f"{lp}/chargePower", encode_state(11000.0 if charging else 0.0)),
            (t, f"{lp}/sessionEnergy", encode_state(energy)),
            (t, f"{lp}/chargeTotalImport", encode_state(1500 + min(max(c - 4, 0), 20) * WH_PER_CYCLE / 1000)),
            (t, f"{lp}/phasesActive", encode_state(3)),
            (t + 0.01, "evcc/updated", encode_state(int(T0.timestamp()) + t)),
        ]
    return out


def test_evcc_session_with_energy_cross_checked() -> None:
    sessions = evcc_sessions(frame_of(evcc_day())).collect()
    assert dict(sessions.schema) == SESSION_SCHEMA
    assert sessions.height == 1
    s = sessions.row(0, named=True)
    assert s["charger_id"] == "evcc/loadpoints/1" and s["source"] == "evcc"
    assert s["started_at"] == T0 + timedelta(seconds=2 * CYCLE_S)
    assert s["ended_at"] == T0 + timedelta(seconds=28 * CYCLE_S)
    expected_kwh = 20 * WH_PER_CYCLE / 1000
    assert s["energy_session_kwh"] == pytest.approx(expected_kwh, abs=1e-3)
    assert s["energy_lifetime_kwh"] == pytest.approx(expected_kwh, abs=1e-3)
    assert s["energy_integral_kwh"] == pytest.approx(expected_kwh, abs=1e-3)
    assert s["energy_kwh"] == pytest.approx(expected_kwh, abs=1e-3)
    assert s["energy_source"] == "session_energy" and s["energy_note"] is None
    assert s["meter_start_kwh"] == pytest.approx(1500.0)
    assert s["charge_duration_s"] == 20 * CYCLE_S
    assert s["connected_duration_s"] == 26 * CYCLE_S
    assert s["peak_power_kw"] == 11.0
    assert s["mean_power_kw"] == pytest.approx(11.0, abs=0.01)
    assert s["phases"] == 3
    assert (s["complete"], s["gap"], s["started_mid_session"]) == (True, False, False)
    assert s["session_id"] == "evcc/loadpoints/1/20261121T170100Z"


def test_evcc_data_starting_mid_session() -> None:
    rows = [m for m in evcc_day() if m[0] >= 10 * CYCLE_S]
    s = evcc_sessions(frame_of(rows)).collect().row(0, named=True)
    assert s["started_mid_session"] and not s["complete"]
    assert s["energy_lifetime_kwh"] is None and s["energy_integral_kwh"] is None
    assert s["energy_session_kwh"] == pytest.approx(20 * WH_PER_CYCLE / 1000, abs=1e-3)


def test_evcc_still_connected_and_hole_in_the_data() -> None:
    rows = [
        m for m in evcc_day(cycles=20) if not (8 * CYCLE_S <= m[0] < 20 * CYCLE_S) or m[0] >= 19 * CYCLE_S
    ]
    s = evcc_sessions(frame_of(rows)).collect().row(0, named=True)
    assert s["ended_at"] is None and not s["complete"]
    assert s["gap"]  # 11 cycles (5.5 min) of silence inside the session
    assert s["meter_stop_kwh"] is None


def test_evcc_deleted_values_and_two_loadpoints() -> None:
    rows = evcc_day() + [(m[0], m[1].replace("loadpoints/1", "loadpoints/2"), m[2]) for m in evcc_day()]
    rows.append((5 * CYCLE_S + 1, "evcc/loadpoints/1/connected", ""))  # a deletion is not "false"
    sessions = evcc_sessions(frame_of(rows)).collect()
    assert sessions["charger_id"].to_list() == ["evcc/loadpoints/1", "evcc/loadpoints/2"]
    assert sessions["complete"].all()


def test_evcc_meter_disagreeing_is_noted() -> None:
    rows = [
        (t, topic, encode_state(1500.0) if topic.endswith("chargeTotalImport") and t >= 28 * CYCLE_S else p)
        for t, topic, p in evcc_day(cycles=33)
    ]
    rows = [
        (t, topic, p)
        for t, topic, p in rows
        if not (topic.endswith("chargeTotalImport") and 24 * CYCLE_S <= t < 28 * CYCLE_S)
    ]
    rows += [(28 * CYCLE_S - 1, "evcc/loadpoints/1/chargeTotalImport", encode_state(1505.0))]
    s = evcc_sessions(frame_of(rows)).collect().row(0, named=True)
    assert s["energy_lifetime_kwh"] == pytest.approx(5.0)
    assert s["energy_note"] is not None and "disagree" in s["energy_note"]
    assert s["energy_source"] == "session_energy"  # the power integral sides with the counter


def goe_session() -> list[tuple[float, str, str]]:
    """Plug in at 60 s, charge 11 kW from 120 s to 1920 s, complete, unplug at 2400 s."""
    g = "go-eCharger/012345"
    out: list[tuple[float, str, str]] = [
        (0, f"{g}/car", "1"),
        (0, f"{g}/eto", "1000000"),
        (0, f"{g}/pnp", "0"),
    ]
    out += [
        (60, f"{g}/car", "3"),
        (120, f"{g}/car", "2"),
        (120, f"{g}/pnp", "3"),
        (1920, f"{g}/car", "4"),
        (2400, f"{g}/car", "1"),
    ]
    for t in range(0, 2500, 10):
        charging = 120 <= t < 1920
        power = 11000 if charging else 0
        nrg = [230, 230, 230, 0, 16, 16, 16, 0, 3666, 3667, 3667, 0, power, 99, 99, 99, 0]
        del nrg[7]
        out.append((t + 0.5, f"{g}/nrg", json.dumps(nrg)))
        wh = min(max(t - 120, 0), 1800) * 11000 / 3600 if 60 <= t < 2400 else 0
        out.append((t + 0.6, f"{g}/wh", json.dumps(wh)))
        out.append(
            (t + 0.7, f"{g}/eto", json.dumps(1_000_000 + round(min(max(t - 120, 0), 1800) * 11000 / 3600)))
        )
    return sorted(out, key=lambda m: m[0])


def test_goe_session_from_car_wh_eto_nrg() -> None:
    sessions = goe_sessions(frame_of(goe_session())).collect()
    assert sessions.height == 1
    s = sessions.row(0, named=True)
    assert (s["charger_id"], s["source"]) == ("012345", "go-e")
    assert s["started_at"] == T0 + timedelta(seconds=60)
    assert s["ended_at"] == T0 + timedelta(seconds=2400)
    assert s["energy_session_kwh"] == pytest.approx(5.5, abs=0.01)
    assert s["energy_lifetime_kwh"] == pytest.approx(5.5, abs=0.01)
    assert s["energy_integral_kwh"] == pytest.approx(5.5, abs=0.05)
    assert s["charge_duration_s"] == 1800
    assert s["peak_power_kw"] == 11.0
    assert s["phases"] == 3
    assert s["complete"] and not s["gap"]


def test_goe_unknown_and_error_codes_do_not_split_a_session() -> None:
    rows = [*goe_session(), (1000, "go-eCharger/012345/car", "5"), (1001, "go-eCharger/012345/car", "null")]
    assert goe_sessions(frame_of(sorted(rows, key=lambda m: m[0]))).collect().height == 1


def test_no_home_rows_gives_empty_frames() -> None:
    lf = frame_of([(0, "zigbee/plug", "1")])
    assert evcc_sessions(lf).collect().height == 0
    assert goe_sessions(lf).collect().height == 0
    assert evcc_liveness(lf).collect().height == 0
    assert goe_command_roundtrips(lf).collect().height == 0


def test_evcc_liveness_flags_silence() -> None:
    beats = [(t, "evcc/updated", str(int(T0.timestamp()) + t)) for t in (0, 30, 60, 300, 330)]
    live = evcc_liveness(frame_of(beats)).collect()
    assert live["stale"].to_list() == [False, False, False, True, False]
    assert live["silence_s"].to_list()[1:] == [30.0, 30.0, 240.0, 30.0]
    assert live["delay_s"].to_list() == [0.0] * 5
    assert live["device_id"].unique().to_list() == ["evcc"]


def test_goe_command_roundtrips_pair_set_result_and_echo() -> None:
    g = "go-eCharger/012345"
    rows = [
        (0.0, f"{g}/amp", "16"),
        (10.0, f"{g}/amp/set", "10"),
        (10.4, f"{g}/amp/result", "success"),
        (11.1, f"{g}/amp", "10"),
        (20.0, f"{g}/frc/set", "7"),
        (20.2, f"{g}/frc/result", "value must be 0, 1 or 2"),
        (30.0, f"{g}/psm/set", "1"),  # never answered
    ]
    trips = goe_command_roundtrips(frame_of(rows)).collect().sort("sent_at")
    assert trips["key"].to_list() == ["amp", "frc", "psm"]
    assert trips["success"].to_list() == [True, False, None]
    assert trips["roundtrip_s"].to_list()[:2] == pytest.approx([0.4, 0.2])
    assert trips["echo_s"].to_list()[0] == pytest.approx(1.1)
    assert trips["echo_s"].to_list()[1] is None
    assert trips["hop"].unique().to_list() == ["command_roundtrip"]


def test_sessions_through_the_analysis_entry_point() -> None:
    from evkit.analysis import sessions

    lf = frame_of(sorted(evcc_day() + goe_session(), key=lambda m: m[0]))
    found = sessions(lf).collect()
    assert sorted(found["source"].to_list()) == ["evcc", "go-e"]


def test_goe_command_roundtrips_are_a_hop_of_the_latency_view() -> None:
    from evkit.analysis import latency_stats
    from evkit.commands.analysis import latency_summary

    g = "go-eCharger/012345"
    rows = [
        (10.0, f"{g}/amp/set", "10"),
        (10.4, f"{g}/amp/result", "success"),
        (20.0, f"{g}/frc/set", "1"),
        (20.1, f"{g}/frc/result", "success"),
        (30.0, f"{g}/psm/set", "1"),  # never answered: not a latency
    ]
    lf = frame_of(rows)
    stats = latency_stats(lf).collect()
    trips = stats.filter(pl.col("hop") == "command_roundtrip").row(0, named=True)
    assert trips["n"] == 2
    assert trips["max_s"] == pytest.approx(0.4)
    assert trips["p50_s"] == pytest.approx(0.25)
    summary = latency_summary(lf, None)
    hops = ["device_to_cloud", "cloud_to_capture", "end_to_end", "scheduled", "command_roundtrip"]
    assert list(summary) == hops
    assert summary["command_roundtrip"]["n"] == 2


def test_latency_summary_has_no_command_hop_without_go_e_commands() -> None:
    from evkit.commands.analysis import latency_summary

    summary = latency_summary(frame_of(evcc_day(cycles=3)), None)
    assert list(summary) == ["device_to_cloud", "cloud_to_capture", "end_to_end", "scheduled"]
    assert summary["scheduled"]["end_to_end"]["n"] == 0  # Easee's scheduled ids: none in a home recording


def test_report_of_a_home_recording_shows_sessions_liveness_and_command_roundtrips(tmp_path: Path) -> None:
    from evkit.analysis.home import evcc_liveness_summary
    from evkit.report import build_report

    g = "go-eCharger/012345"
    commands = [(3000.0, f"{g}/amp/set", "10"), (3000.3, f"{g}/amp/result", "success")]
    lf = frame_of(sorted(evcc_day() + goe_session() + commands, key=lambda m: m[0]))
    liveness = evcc_liveness_summary(lf).collect().row(0, named=True)
    assert liveness["device_id"] == "evcc"
    assert liveness["heartbeats"] == 33
    assert liveness["longest_silence_s"] == pytest.approx(CYCLE_S)
    page = build_report(lf, tmp_path / "home.html", progress=False).read_text()
    assert "evcc liveness" in page
    assert "command → result" in page
    assert "evcc/loadpoints/1" in page and "012345" in page
