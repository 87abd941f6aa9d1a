"""The live view while recording: real simulators on the real Mosquitto, a real capture, its store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

import evkit
from evkit.explore.live import LiveController, last_values, tag
from evkit.explore.live_view import LiveView
from evkit.sources.mqtt_rows import TopicRules
from tests.conftest import REPO_ROOT
from tests.helpers import StartEvccSim, StartGoeSim, wait_until

SAMPLE = REPO_ROOT / "data" / "sample-session"


def _rows(**columns: list[object]) -> pl.DataFrame:
    n = len(next(iter(columns.values())))
    base: dict[str, list[object]] = {
        "received_at": [datetime(2026, 1, 1, 12, 0, i, tzinfo=UTC) for i in range(n)],
        "observed_at": [None] * n,
        "charger_id": ["c"] * n,
        "observation_id": [None] * n,
        "value": [None] * n,
        "value_text": [None] * n,
        "label": [None] * n,
        "error": [None] * n,
        "source": [None] * n,
        "key": [None] * n,
    }
    base.update(columns)
    return pl.DataFrame(base, schema_overrides={"observation_id": pl.Int32, "value": pl.Float64,
                                                "observed_at": pl.Datetime("us", "UTC")})  # fmt: skip


def test_each_sources_readings_by_their_own_names() -> None:
    # evcc publishes chargePower in W and sessionEnergy in Wh; go-e nrg.power_total W, wh Wh, car label;
    # Easee 120 kW, 121 kWh, 109 op mode with its label.
    rows = _rows(
        charger_id=["lp", "lp", "lp", "lp", "goe", "goe", "goe", "EH1", "EH1", "EH1", "EH1"],
        source=["evcc", "evcc", "evcc", "evcc", "go-e", "go-e", "go-e", None, None, None, None],
        key=["chargePower", "sessionEnergy", "charging", "connected", "nrg.power_total", "wh", "car",
             None, None, None, None],
        observation_id=[None] * 7 + [120, 121, 109, 109],
        value=[7400.0, 3200.0, 1.0, 1.0, 11000.0, 500.0, 2.0, 7.4, 3.2, 3.0, None],
        label=[None] * 6 + ["Charging", None, None, "Charging", None],
        error=[None] * 10 + ["bad body"],
    )  # fmt: skip
    tagged = tag(rows)
    assert tagged.filter(pl.col("measure") == "error").height == 1
    table = last_values(tagged.filter(pl.col("measure") != "error").group_by("charger_id", "measure").last())
    got = {row["charger"]: row for row in table.iter_rows(named=True)}
    assert got["lp"]["state"] == "Charging" and got["lp"]["power (kW)"] == 7.4
    assert got["lp"]["session (kWh)"] == 3.2
    assert got["goe"]["power (kW)"] == 11.0 and got["goe"]["session (kWh)"] == 0.5
    assert got["goe"]["state"] == "Charging"
    assert got["EH1"]["power (kW)"] == 7.4 and got["EH1"]["state"] == "Charging"


def test_feed_reads_only_new_parts(tmp_path: Path) -> None:
    store = tmp_path / "store"
    day = next(p for p in sorted(SAMPLE.iterdir()) if p.is_dir())
    part = next(day.glob("*.parquet"))
    (store / day.name).mkdir(parents=True)
    (store / day.name / part.name).write_bytes(part.read_bytes())
    controller = LiveController(store=store)
    first = controller.feed.poll()
    assert first == pl.read_parquet(part).height
    assert controller.feed.poll() == 0  # nothing new: nothing read again
    chargers = last_values(controller.feed.latest)["charger"].to_list()
    assert chargers and all(c.startswith("EH") for c in chargers)


def test_a_part_another_tool_wrote_beside_the_captures_is_read_as_the_contract(tmp_path: Path) -> None:
    """A pandas export (nanoseconds, no zone: UTC) added to a store being recorded: read, its times as
    the instants they are (an hour after the captured part's, here)."""
    store = tmp_path / "store"
    day = next(p for p in sorted(SAMPLE.iterdir()) if p.is_dir())
    part = next(day.glob("*.parquet"))
    (store / day.name).mkdir(parents=True)
    (store / day.name / part.name).write_bytes(part.read_bytes())
    captured = pl.read_parquet(part)
    times = [n for n, t in captured.schema.items() if isinstance(t, pl.Datetime)]
    later = [
        (pl.col(n) + timedelta(hours=1)).dt.replace_time_zone(None).cast(pl.Datetime("ns")) for n in times
    ]
    controller = LiveController(store=store)
    assert controller.feed.poll() == captured.height
    newest = controller.feed.rows["received_at"].max()
    captured.with_columns(later).write_parquet(store / day.name / "part-pandas.parquet")
    assert controller.feed.poll() == captured.height
    rows = controller.feed.rows
    assert rows.schema["received_at"] == pl.Datetime("us", "UTC")
    assert rows["received_at"].max() == newest + timedelta(hours=1)


def test_a_part_without_device_times_keeps_the_views_times_times(tmp_path: Path) -> None:
    """A part another tool wrote without ``observed_at`` (or with it of no value, in the null type):
    the view's times stay times (a missing column read as a number turned every row's into floats)."""
    store = tmp_path / "store"
    day = next(p for p in sorted(SAMPLE.iterdir()) if p.is_dir())
    captured = pl.read_parquet(next(day.glob("*.parquet")))
    (store / day.name).mkdir(parents=True)
    captured.head(50).write_parquet(store / day.name / "part-a.parquet")
    captured.slice(50, 50).drop("observed_at").write_parquet(store / day.name / "part-b.parquet")
    captured.slice(100, 50).with_columns(pl.lit(None).alias("observed_at")).write_parquet(
        store / day.name / "part-c.parquet"
    )
    controller = LiveController(store=store)
    assert controller.feed.poll() == 150
    rows = controller.feed.rows
    assert rows.schema["observed_at"] == rows.schema["at"] == pl.Datetime("us", "UTC")
    assert rows["observed_at"].drop_nulls().is_in(captured.head(50)["observed_at"].implode()).all()


def test_live_view_updates_while_the_simulators_publish(
    start_evcc_sim: StartEvccSim, start_goe_sim: StartGoeSim, mqtt_broker: tuple[str, int],
    unique_name: str, tmp_path: Path,
) -> None:  # fmt: skip
    host, port = mqtt_broker
    start_evcc_sim(f"{unique_name}/evcc", sessions=True, interval_s=0.3)
    start_goe_sim("880001", f"{unique_name}/go-eCharger", http_port=None, tick_s=0.2, speed=20)
    rules = TopicRules(evcc_roots=(f"{unique_name}/evcc",), goe_prefixes=(f"{unique_name}/go-eCharger",))
    out = tmp_path / "home"
    recorder = evkit.record_mqtt(host, [f"{unique_name}/#"], out, port=port, rules=rules, flush_interval=0.5)
    view = LiveView(recorder, every_s=0.3)
    try:
        assert wait_until(lambda: view.last is not None and view.last.chargers.height >= 2, timeout=20)
        ticks = view.ticks
        assert wait_until(lambda: view.ticks >= ticks + 3, timeout=10)  # keeps updating on its own
        snap = view.last
        assert snap is not None
        chargers = set(snap.chargers["charger"].to_list())
        assert "880001" in chargers and f"{unique_name}/evcc/loadpoints/1" in chargers
        assert "msg/s" in view.counters.value and "decode errors" in view.counters.value
        assert snap.power.height > 0
        chart = view.chart.outputs[0]["data"]["application/vnd.plotly.v1+json"]
        assert chart["data"] and any(trace["y"] for trace in chart["data"])
        assert "Last values per charger" in view.chargers.value
    finally:
        recorder.stop()
        view.close()
    assert not recorder.running
    view.update()
    assert "recording stopped" in view.counters.value


def test_a_part_that_stays_unreadable_is_said_and_read_once_mended(tmp_path: Path) -> None:
    """A part in the store that fails to read poll after poll is damaged, not being replaced: the
    counters name it (relative to the store) from the third poll on; once readable, its rows come
    in and the words go. A part removed meanwhile (a compaction) is never named."""
    from evkit.explore.live import UNREADABLE_AFTER
    from evkit.store.writer import PartWriter

    store = tmp_path / "store"
    PartWriter(store).write(_rows(charger_id=["EH1"], observation_id=[120], value=[7.4]))
    good = next(store.rglob("*.parquet"))
    broken = good.with_name("part-broken.parquet")
    broken.write_bytes(b"PAR1 not a parquet file PAR1")
    gone = good.with_name("part-gone.parquet")
    gone.write_bytes(b"PAR1 half written")
    live = LiveController(store=store)
    for poll in range(1, UNREADABLE_AFTER + 1):
        snap = live.tick()
        if poll == 1:
            gone.unlink()  # replaced by a compaction: removed before the next poll
        said = "part(s) cannot be read" in snap.counters
        assert said == (poll >= UNREADABLE_AFTER), snap.counters
    assert f"1 part(s) cannot be read, not shown: {broken.relative_to(store).as_posix()} (" in snap.counters
    assert "part-gone" not in snap.counters
    assert snap.chargers["charger"].to_list() == ["EH1"]  # the readable part is shown
    PartWriter(tmp_path / "mended").write(_rows(charger_id=["EH2"], observation_id=[120], value=[11.0]))
    broken.write_bytes(next((tmp_path / "mended").rglob("*.parquet")).read_bytes())  # rewritten whole
    snap = live.tick()
    assert "cannot be read" not in snap.counters
    assert snap.chargers["charger"].to_list() == ["EH1", "EH2"]  # its reading came in


def test_a_part_whose_page_makes_polars_panic_is_said_and_the_view_goes_on(tmp_path: Path) -> None:
    """Some damaged data pages make Polars panic (a ``BaseException``) rather than raise an error: the
    poll goes on with the other parts, and the counters name the part from the third poll on (the live
    view's loop, which shows an ``Exception`` and tries again, would end on it)."""
    from evkit.explore.live import UNREADABLE_AFTER
    from tests.test_cli_damaged_pages import _store, panic_a_page

    store = tmp_path / "store"
    parts = _store(store)
    panic_a_page(parts[1])
    live = LiveController(store=store)
    for _ in range(UNREADABLE_AFTER):
        snap = live.tick()
    assert f"1 part(s) cannot be read, not shown: {parts[1].relative_to(store).as_posix()} (" in snap.counters
    shown = {p for p in parts if p != parts[1]}
    assert live.feed._seen == shown  # the other parts were read
