"""The explorer's widgets, driven through their traits as the browser does (no kernel needed)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from evkit.explore.app import ExploreApp, explore
from evkit.store.reader import scan
from tests.conftest import REPO_ROOT

SAMPLE = REPO_ROOT / "data" / "sample-session"


@pytest.fixture(scope="module")
def app() -> ExploreApp:
    return explore(SAMPLE, zone="Europe/Oslo")


def test_starts_on_every_charger_and_day(app: ExploreApp) -> None:
    assert app.all_chargers.value is True
    assert len(app.session_ids) == 19
    assert "all 4 chargers" in app.message.value
    assert "energy" not in app.figures  # drawn when its tab is shown, not before
    for index in (1, 2, 3):
        app.tabs.selected_index = index
    assert set(app.figures) >= {"energy", "latency"}
    assert "Data quality per charger" in app.quality.value
    app.tabs.selected_index = 0


def test_picking_a_charger_then_a_row_draws_that_session(app: ExploreApp) -> None:
    app.picker.value = ("EH290BP4",)
    assert app.all_chargers.value is False
    assert app.session_ids and all(s.startswith("EH290BP4/") for s in app.session_ids)
    app.table.selected_rows = [2]
    assert app.shown_session == app.session_ids[2]
    curve = app.figures["curve"]
    assert "EH290BP4" in curve.layout.title.text
    assert any(t.name == "total power (kW)" and len(t.x) for t in curve.data)


def test_search_narrows_the_picker_and_keeps_the_choice(app: ExploreApp) -> None:
    app.picker.value = ("EH290BP4",)
    app.search.value = "9hw"
    assert app.picker.options == ("EH290BP4", "EH9HWQGI")
    assert app.picker.value == ("EH290BP4",)
    app.search.value = ""


def test_a_wrong_day_range_is_a_sentence_not_a_traceback(app: ExploreApp) -> None:
    app.choose(start="2026-11-03", end="2026-11-02")
    assert "before the start day" in app.message.value
    app.choose(start="2026-11-02", end="2026-11-04")
    assert "sessions" in app.message.value


def test_table_shows_formatted_columns(app: ExploreApp) -> None:
    app.choose("all")
    columns = [c["title"] for c in app.table._dt_args["columns"]] if "columns" in app.table._dt_args else []
    html = str(app.table._dt_args)
    assert "CET" in html and "energy (kWh)" in html
    assert "session_id" not in columns
    assert "itables-dtype" not in html  # no "str"/"f64" row under the headers, after any update


def test_a_large_fleet_opens_on_one_charger(tmp_path: Path) -> None:
    import polars as pl

    from evkit.explore.app import ALL_AT_START
    from evkit.store.writer import PartWriter

    rows = scan(SAMPLE).collect()
    fleet = pl.concat(
        [
            rows.head(200).with_columns(
                pl.lit(f"EHF{n:05d}").alias("charger_id"),
                pl.col("routing_key").str.replace(r"^[^.]+", f"EHF{n:05d}"),  # not redeliveries
            )
            for n in range(ALL_AT_START + 1)
        ]
    )
    with PartWriter(tmp_path / "fleet") as writer:
        writer.write(fleet)
    big = explore(tmp_path / "fleet", zone="UTC")
    assert big.all_chargers.value is False and big.picker.value == ("EHF00000",)
    assert "EHF00000;" in big.message.value


def test_follow_sees_what_a_recording_adds(tmp_path: Path) -> None:
    import shutil
    from datetime import date

    from tests.helpers import wait_until

    store = tmp_path / "store"
    days = sorted(p for p in SAMPLE.iterdir() if p.is_dir())
    shutil.copytree(days[0], store / days[0].name)
    live = explore(store, zone="UTC")
    before = len(live.session_ids)
    live.follow(0.2)
    try:
        for day in days[1:]:
            shutil.copytree(day, store / day.name)
        assert wait_until(lambda: len(live.session_ids) > before, timeout=20)
        first_day = date.fromisoformat(days[0].name.split("=")[1])
        assert live.end.value is not None and live.end.value > first_day  # the days picker widened
    finally:
        live.stop_following()


def test_one_click_is_one_redraw(app: ExploreApp, monkeypatch: pytest.MonkeyPatch) -> None:
    redraws: list[object] = []
    original = ExploreApp.update

    def counted(self: ExploreApp) -> None:
        redraws.append(self.selection)
        original(self)

    monkeypatch.setattr(ExploreApp, "update", counted)
    app.choose("all")
    app.picker.value = ("EH5HNMUZ",)  # a click in the picker also unticks "All chargers"
    assert len(redraws) == 2
    assert app.all_chargers.value is False and app.session_ids[0].startswith("EH5HNMUZ/")


def test_a_fleet_table_lists_the_latest_sessions_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    import evkit.explore.app as app_module

    monkeypatch.setattr(app_module, "TABLE_ROWS", 5)
    small = explore(SAMPLE, zone="UTC")
    small.choose("all")
    everything = small.controller.sessions(small.selection)
    latest = everything.sort("started_at").tail(5)
    assert sorted(small.session_ids) == sorted(latest["session_id"].to_list())
    assert f"{everything.height} sessions (the table lists the latest 5" in small.message.value


def test_the_quality_tab_of_a_fleet_lists_the_chargers_with_most_issues(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import evkit.explore.app as app_module

    monkeypatch.setattr(app_module, "QUALITY_ROWS", 2)
    small = explore(SAMPLE, zone="UTC")
    small.choose("all")
    small.tabs.selected_index = 3
    assert "the 2 of 4 with most issues" in small.quality.value
    table, total = small.controller.quality_worst(small.selection, 2)
    full = small.controller._summary().quality((), None, None)
    issues = full.select(
        "charger_id",
        (pl.col("gaps_n") + pl.col("duplicates_n") + pl.col("out_of_order_n") + pl.col("decode_errors_n")
         + pl.col("unknown_ids_n") + pl.col("stale_n") + pl.col("clock_skew_n")).alias("issues"),
    )  # fmt: skip
    worst = issues.sort(["issues", "charger_id"], descending=[True, False]).head(2)["charger_id"].to_list()
    assert total == 4 and table["charger"].to_list() == worst


def test_show_session_draws_the_curve_once(app: ExploreApp, monkeypatch: pytest.MonkeyPatch) -> None:
    app.choose("EH290BP4")
    drawn: list[str] = []
    original = app.controller.session_curve

    def counted(selection: object, session_id: str) -> object:
        drawn.append(session_id)
        return original(selection, session_id)  # type: ignore[arg-type]

    monkeypatch.setattr(app.controller, "session_curve", counted)
    app.show_session(app.session_ids[1])
    assert drawn == [app.session_ids[1]] and app.table.selected_rows == [1]
    app.table.selected_rows = [0]  # a click on a row
    assert drawn == [app.session_ids[1], app.session_ids[0]]
