"""The explorer's logic on the bundled sample store: selection, reads of only what is selected, views."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evkit.analysis import sessions
from evkit.errors import ValidationError
from evkit.explore.controller import ExploreController, Selection, latency_caveat
from evkit.explore.tables import hours_minutes, session_table
from evkit.store.reader import scan
from tests.conftest import REPO_ROOT

SAMPLE = REPO_ROOT / "data" / "sample-session"


@pytest.fixture(scope="module")
def controller() -> ExploreController:
    return ExploreController(SAMPLE, zone="Europe/Oslo")


def test_lists_chargers_and_days_in_the_zone(controller: ExploreController) -> None:
    everything = scan(SAMPLE).select(pl.col("charger_id").unique().sort()).collect()["charger_id"].to_list()
    assert controller.chargers == everything
    # The sample runs 2026-11-02 00:00 UTC .. 2026-11-04 00:00 UTC, i.e. to 01:00 on the 4th in Oslo.
    assert (controller.first_day, controller.last_day) == (date(2026, 11, 2), date(2026, 11, 4))
    assert len(set(controller.colours.values())) == len(controller.chargers)


def test_unknown_charger_is_answered_with_the_chargers_there_are(controller: ExploreController) -> None:
    with pytest.raises(ValidationError) as err:
        controller.select("EHXXXX")
    message = str(err.value)
    assert message.startswith("no charger EHXXXX in ")
    assert all(c in message for c in controller.chargers)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"start": "2026-11-04", "end": "2026-11-02"}, "before the start day"),
        ({"start": "yesterday"}, "write it as YYYY-MM-DD"),
        ({"zone": "Mars/Olympus"}, "unknown time zone"),
    ],
)
def test_other_mistakes_are_sentences(
    controller: ExploreController, kwargs: dict[str, str], words: str
) -> None:
    with pytest.raises(ValidationError, match=words):
        controller.select(**kwargs)  # type: ignore[arg-type]


def test_selection_reads_only_the_selected_charger_and_days(controller: ExploreController) -> None:
    selection = controller.select("EH290BP4", "2026-11-03", "2026-11-03", zone="UTC")
    rows = controller.rows(selection).select("charger_id", "observed_at").collect()
    assert set(rows["charger_id"]) == {"EH290BP4"}
    assert rows["observed_at"].dt.date().unique().to_list() == [date(2026, 11, 3)]
    # The predicate reaches the Parquet scan (pushed down: row groups are skipped), instead of a filter
    # above the redelivery check that needs every row read first.
    plan = controller.query(selection).explain()  # what rows() reads
    pushed = plan.split("Parquet SCAN", 1)[1]
    selection_line = next(line for line in pushed.splitlines() if "SELECTION:" in line)
    assert "charger_id" in selection_line and "observed_at" in selection_line


def test_sessions_of_a_selection_match_the_analysis_of_that_charger(controller: ExploreController) -> None:
    selection = controller.select("EH290BP4")
    expected = sessions(scan(SAMPLE).filter(pl.col("charger_id") == "EH290BP4")).collect()
    assert controller.sessions(selection)["session_id"].to_list() == expected["session_id"].to_list()


def test_session_table_reads_like_an_app(controller: ExploreController) -> None:
    table = controller.session_table(controller.select("EH290BP4", zone="Europe/Oslo"))
    first = table.row(0, named=True)
    # 2026-11-02 00:26:11 UTC is 01:26 in Oslo (CET, UTC+1).
    assert first["started"] == "2026-11-02 01:26 CET"
    assert first["connected"] == "5:30"
    assert first["flags"] == "ok"
    assert isinstance(first["energy (kWh)"], float)
    assert round(first["energy (kWh)"], 2) == first["energy (kWh)"]


def test_flags_are_words() -> None:
    raw = sessions(scan(SAMPLE)).collect().head(2)
    raw = raw.with_columns(
        pl.Series("complete", [False, True]),
        pl.Series("gap", [True, False]),
        pl.Series("started_mid_session", [True, False]),
    )
    flags = session_table(raw)["flags"].to_list()
    assert flags == ["incomplete, began before the data, hole in the data", "ok"]


@given(st.floats(min_value=0, max_value=10 * 86_400, allow_nan=False))
@settings(max_examples=200, deadline=None)
def test_hours_minutes_round_trips(seconds: float) -> None:
    text = pl.select(hours_minutes(pl.lit(seconds))).item()
    hours, minutes = text.split(":")
    assert len(minutes) == 2 and 0 <= int(minutes) < 60
    assert int(hours) * 60 + int(minutes) == round(seconds / 60)


def test_curve_is_the_selected_session_in_local_time(controller: ExploreController) -> None:
    selection = controller.select("EH290BP4", zone="Europe/Oslo")
    session_id = controller.sessions(selection)["session_id"][0]
    fig = controller.session_curve(selection, session_id)
    assert fig.layout.xaxis.title.text.startswith("time (Europe/Oslo")
    power = next(t for t in fig.data if t.name == "total power (kW)")
    assert len(power.x) > 10
    assert any(t.name.startswith("op mode: ") for t in fig.data)
    # Shifted to Oslo wall time: the window starts at 01:26, not 00:26.
    assert fig.layout.xaxis.range[0].hour == 1


def test_views_of_the_selection(controller: ExploreController) -> None:
    selection = controller.select(["EH290BP4", "EH5HNMUZ"])
    energy = controller.energy_figure(selection)
    assert {t.name for t in energy.data if t.type == "bar"} == {"EH290BP4", "EH5HNMUZ"}
    for trace in energy.data:
        if trace.type == "bar":
            assert trace.marker.color == controller.colours[trace.name]
    quality = controller.quality(selection)
    assert quality["charger"].to_list() == ["EH290BP4", "EH5HNMUZ"]
    latency = controller.latency_figure(selection)
    assert "Latency caveat" in latency.layout.title.subtitle.text  # the sample was re-timed


def test_latency_caveat_from_the_manifest() -> None:
    assert latency_caveat({"captures": [{"source": "easee-amqp"}]}) is None
    assert "re-timed" in (latency_caveat({"retimed": {"what": "x"}}) or "")
    assert "simulator" in (latency_caveat({"simulated": {"fast": True}}) or "")
    assert "replayed" in (latency_caveat({"captures": [{"source": "replay"}]}) or "")


def test_refresh_sees_new_parts(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    day = next(p for p in sorted(SAMPLE.iterdir()) if p.is_dir())
    shutil.copytree(day, store / day.name)
    controller = ExploreController(store, zone="UTC")
    before = controller.last_day
    for other in sorted(SAMPLE.iterdir()):
        if other.is_dir() and other.name != day.name:
            shutil.copytree(other, store / other.name)
    controller.refresh()
    assert controller.last_day is not None and before is not None and controller.last_day > before


def test_selection_predicate_is_none_for_everything() -> None:
    assert Selection().predicate() is None


def test_device_strings_in_tables_are_escaped_and_cut() -> None:
    from evkit.explore.tables import great_table_html, show

    hostile = "<img src=x onerror=alert(1)>" + "x" * 200
    frame = pl.DataFrame({"charger": [hostile, "EH1"]})
    page = great_table_html(frame, "chargers")
    assert "<img" not in page and "&lt;img" in page and "x" * 100 not in page
    data = show(frame)._dt_args["data_json"]
    assert "<img" not in data and "x" * 100 not in data


def test_cache_is_bounded_whatever_the_clicks() -> None:
    from evkit.explore.controller import KEEP_ROWS, KEEP_VIEWS

    controller = ExploreController(SAMPLE, zone="UTC")
    for charger in controller.chargers * 3:
        for day in ("2026-11-02", "2026-11-03"):
            selection = controller.select(charger, day, day)
            controller.session_table(selection)
            controller.quality(selection)
    kinds = [key[0] for key in controller._cache]
    assert kinds.count("rows") <= KEEP_ROWS
    assert len(kinds) <= KEEP_VIEWS


def test_energy_per_day_counts_days_in_the_chosen_zone(controller: ExploreController) -> None:
    from evkit.analysis import energy_per_hour

    selection = controller.select("EH290BP4", zone="Europe/Oslo")
    days = controller.energy_per_day(selection).select("day", "energy_kwh").sort("day")
    hourly = energy_per_hour(scan(SAMPLE).filter(pl.col("charger_id") == "EH290BP4")).collect()

    def per_day(zone: str) -> pl.DataFrame:
        day = pl.col("hour").dt.convert_time_zone(zone).dt.date().alias("day")
        return hourly.group_by(day).agg(pl.col("energy_kwh").sum()).sort("day")

    oslo, utc = per_day("Europe/Oslo"), per_day("UTC")
    assert days["day"].to_list() == oslo["day"].to_list()
    assert [round(v, 6) for v in days["energy_kwh"]] == [round(v, 6) for v in oslo["energy_kwh"]]
    assert [round(v, 6) for v in oslo["energy_kwh"]] != [round(v, 6) for v in utc["energy_kwh"]]
    fig = controller.energy_figure(selection)
    assert fig.layout.xaxis.title.text == "day (Europe/Oslo)"
