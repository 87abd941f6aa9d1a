"""EvccPanel driven through its traits and buttons, against the evcc simulator on the real Mosquitto."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import evkit
from evkit.control.base import MemoryBroker
from evkit.sim.evcc import EvccSimulator
from evkit.widgets import EvccPanel, EvccPanelController
from tests.helpers import MqttRecorder, RecordMqtt, StartEvccSim, wait_until


@pytest.fixture
def prefix(unique_name: str) -> str:
    return f"{unique_name}/evcc"


@pytest.fixture
def sim(start_evcc_sim: StartEvccSim, prefix: str) -> EvccSimulator:
    return start_evcc_sim(prefix, loadpoints=2, vehicles=("tesla",), interval_s=0.5)


@pytest.fixture
def spy(record_mqtt: RecordMqtt, prefix: str) -> MqttRecorder:
    """``spy.sets()``: (topic, payload, retain-as-published) of every /set command."""
    return record_mqtt(prefix)


@pytest.fixture
def panel(
    mqtt_broker: tuple[str, int], prefix: str, sim: EvccSimulator, tmp_path: Path
) -> Iterator[EvccPanel]:
    del sim
    host, port = mqtt_broker
    widget = EvccPanel(host=host, port=port, prefix=prefix, audit=tmp_path, timeout=3)
    yield widget
    widget.close()


def test_panel_shows_live_state_and_stable_names(panel: EvccPanel) -> None:
    assert "evkit-evcc-panel" in panel._dom_classes
    mode = panel.controls["loadpoints/1/mode"]
    assert mode.description == "Mode" and mode.value == "pv"
    assert panel.controls["loadpoints/2/maxCurrent"].value == 16
    assert panel.apply_button.description == "Apply"
    assert panel.writes.description == "Writes enabled" and panel.writes.value is False
    assert {"site/residualPower", "vehicles/tesla/planSoc", "loadpoints/2/planEnergy"} <= set(panel.controls)
    assert "evcc: pv" in panel.bindings["loadpoints/1/mode"].live.value


def test_nothing_is_sent_while_writes_are_off(panel: EvccPanel, spy: MqttRecorder) -> None:
    panel.controls["loadpoints/1/mode"].value = "now"
    assert "loadpoints/1/mode/set</code> ← <code>now" in panel.preview.value
    panel.apply_button.click()
    assert "Writes enabled" in panel.result_log.entries[0]
    time.sleep(0.5)
    assert spy.sets() == []


def test_apply_sends_exactly_the_preview_and_logs_confirmed(
    panel: EvccPanel, spy: MqttRecorder, prefix: str, tmp_path: Path
) -> None:
    panel.controls["loadpoints/1/mode"].value = "minpv"
    panel.controls["loadpoints/2/limitSoc"].value = 70
    panel.controls["site/residualPower"].value = 150.0
    panel.writes.value = True
    panel.apply_button.click()
    assert wait_until(lambda: len(spy.sets()) == 3)
    assert sorted(spy.sets()) == sorted(
        [
            (f"{prefix}/loadpoints/1/mode/set", b"minpv", False),
            (f"{prefix}/loadpoints/2/limitSoc/set", b"70", False),
            (f"{prefix}/site/residualPower/set", b"150", False),
        ]
    )
    assert "confirmed" in panel.result_log.value
    assert sum(entry.startswith("confirmed") for entry in panel.result_log.entries) == 3
    assert panel.controller.edits == {}
    assert "No changes" in panel.preview.value
    assert evkit.scan(tmp_path / "audit").collect().height == 3


def test_invalid_edit_is_previewed_as_refused_and_never_sent(
    panel: EvccPanel, spy: MqttRecorder, prefix: str
) -> None:
    panel.controls["loadpoints/1/minCurrent"].value = 20.0  # above maxCurrent 16
    panel.controls["loadpoints/1/maxCurrent"].value = 12.0
    assert "above maxCurrent 16 A" in panel.preview.value
    panel.writes.value = True
    panel.apply_button.click()
    assert wait_until(spy.sets)
    time.sleep(0.3)
    assert spy.sets() == [(f"{prefix}/loadpoints/1/maxCurrent/set", b"12", False)]
    assert any(entry.startswith("not sent: loadpoints/1/minCurrent") for entry in panel.result_log.entries)
    assert "loadpoints/1/minCurrent" in panel.controller.edits  # still pending, shown in the preview


def test_plan_needs_a_future_time(panel: EvccPanel, spy: MqttRecorder, prefix: str) -> None:
    panel.controls["loadpoints/1/planEnergy"].value = 12.5
    assert "plan time" in panel.preview.value  # no time yet
    panel.plan_time("loadpoints/1/planEnergy").value = "2020-01-01T07:00:00Z"
    assert "in the past" in panel.preview.value
    panel.plan_time("loadpoints/1/planEnergy").value = "2099-01-01T07:00:00Z"
    assert '{"value":12.5,"time":"2099-01-01T07:00:00Z"}' in panel.preview.value
    [line] = panel.controller.preview()
    assert line.payload == '{"value":12.5,"time":"2099-01-01T07:00:00Z"}'
    panel.writes.value = True
    panel.apply_button.click()
    assert wait_until(spy.sets)
    assert spy.sets()[0][0] == f"{prefix}/loadpoints/1/planEnergy/set"
    assert panel.result_log.entries[0].startswith("confirmed")


def test_site_smart_cost_limit_shows_and_resets_the_loadpoints_value(panel: EvccPanel) -> None:
    limit = panel.controls["site/smartCostLimit"]
    assert limit.value == ""  # no limit yet
    limit.value = "0.25"
    panel.writes.value = True
    panel.apply_button.click()
    assert panel.result_log.entries[0].startswith("confirmed")
    assert wait_until(lambda: "0.25" in panel.bindings["site/smartCostLimit"].live.value)
    limit.value = ""  # empty = no limit: a reset
    assert "smartCostLimit/set</code> ← <code>null" in panel.preview.value
    panel.apply_button.click()
    assert panel.result_log.entries[0].startswith("confirmed")
    assert panel.client.value("loadpoints/2/smartCostLimit") is None


def test_no_answer_is_logged_when_evcc_is_gone(panel: EvccPanel, sim: EvccSimulator) -> None:
    sim.stop()
    panel.client.timeout = 0.5
    panel.controls["loadpoints/1/mode"].value = "off"
    panel.writes.value = True
    panel.apply_button.click()
    assert panel.result_log.entries[0].startswith("no answer")
    assert "no answer" in panel.result_log.value
    assert "loadpoints/1/mode" in panel.controller.edits


def test_live_state_updates_the_widget_until_the_user_edits(panel: EvccPanel, sim: EvccSimulator) -> None:
    sim.loadpoints[2]["maxCurrent"] = 25.0
    sim.tick(0.1)
    assert wait_until(lambda: panel.controls["loadpoints/2/maxCurrent"].value == 25)
    panel.controls["loadpoints/2/maxCurrent"].value = 20.0
    sim.loadpoints[2]["maxCurrent"] = 24.0
    sim.tick(0.1)
    assert wait_until(lambda: "24" in panel.bindings["loadpoints/2/maxCurrent"].live.value)
    assert panel.controls["loadpoints/2/maxCurrent"].value == 20  # the user's edit wins


def test_controller_without_widgets_on_the_memory_broker() -> None:
    broker = MemoryBroker()
    with EvccSimulator(broker.transport(), interval_s=3600):
        panel = EvccPanel(transport=broker.transport(), audit=None, timeout=2)
        controller: EvccPanelController = panel.controller
        controller.edit("loadpoints/1/phasesConfigured", 1)
        assert [(line.topic_or_url, line.payload) for line in controller.preview()] == [
            ("evcc/loadpoints/1/phasesConfigured/set", "1")
        ]
        with pytest.raises(evkit.ControlError, match="writes are off"):
            controller.apply()
        controller.writes_enabled = True
        [result] = controller.apply()
        assert result.outcome.value == "confirmed"
        panel.close()


def test_a_setting_the_running_evcc_lacks_is_disabled() -> None:
    broker = MemoryBroker()
    with EvccSimulator(broker.transport(), interval_s=3600, version="0.301.1"):
        panel = EvccPanel(transport=broker.transport(), audit=None, timeout=2)
        phases = panel.controls["loadpoints/1/phasesConfigured"]  # "phases" up to 0.301.1
        assert phases.disabled
        assert "needs evcc 0.301.2 or newer" in panel.bindings["loadpoints/1/phasesConfigured"].live.value
        assert not panel.controls["loadpoints/1/mode"].disabled
        panel.controller.edit("loadpoints/1/phasesConfigured", 1)
        [line] = panel.controller.preview()
        assert line.error is not None and "needs evcc 0.301.2 or newer; this evcc is 0.301.1" in line.error
        panel.close()


def test_a_deleted_vehicle_plan_disappears_and_a_zero_soc_shows_0() -> None:
    broker = MemoryBroker()
    with EvccSimulator(broker.transport(), vehicles=("ev",), interval_s=3600):
        panel = EvccPanel(transport=broker.transport(), audit=None, timeout=2)
        panel.controller.writes_enabled = True
        panel.controller.edit("vehicles/ev/planSoc", {"value": 80, "time": "2099-01-01T06:00:00Z"})
        assert [r.outcome.value for r in panel.controller.apply()] == ["confirmed"]
        assert "80 % at 2099-01-01T06:00:00Z" in panel.bindings["vehicles/ev/planSoc"].live.value
        assert panel.controls["vehicles/ev/limitSoc"].value == 80
        broker.publish("evcc/vehicles/ev/limitSoc/set", "0")  # someone else sets it; evcc publishes ""
        assert wait_until(lambda: panel.controls["vehicles/ev/limitSoc"].value == 0)
        assert "evcc: 0" in panel.bindings["vehicles/ev/limitSoc"].live.value
        panel.controller.edit("vehicles/ev/planSoc", None)
        panel.writes.value = True
        panel.apply_button.click()
        assert panel.result_log.entries[0].startswith("confirmed")
        assert "no plan" in panel.bindings["vehicles/ev/planSoc"].live.value  # evcc left plan/soc stale
        assert panel.plan_time("vehicles/ev/planSoc").value == ""
        panel.close()


# ---------------------------------------------------------------------------- issue 14: refuse, discard, live


def test_out_of_range_soc_is_refused_with_the_clis_sentence_not_clamped(
    panel: EvccPanel, spy: MqttRecorder, prefix: str
) -> None:
    import html

    from evkit.evcc.setters import build_command, resolve

    try:
        build_command(resolve("loadpoints/1/limitSoc", prefix=prefix), 150)  # what `evkit set evcc` runs
        cli_message = ""
    except evkit.ValidationError as exc:
        cli_message = str(exc)
    assert cli_message
    widget = panel.controls["loadpoints/1/limitSoc"]
    widget.value = 150
    assert widget.value == 150  # kept as typed: a bounded widget made it 100 and sent that
    assert html.escape(cli_message) in panel.preview.value
    panel.writes.value = True
    panel.apply_button.click()
    time.sleep(0.3)
    assert spy.sets() == []


def test_discard_returns_to_evccs_values(panel: EvccPanel, spy: MqttRecorder) -> None:
    panel.controls["loadpoints/1/mode"].value = "now"
    assert panel.controller.edits
    panel.discard_button.click()
    assert panel.controller.edits == {}
    assert panel.controls["loadpoints/1/mode"].value == "pv"
    panel.writes.value = True
    panel.apply_button.click()
    time.sleep(0.3)
    assert spy.sets() == []


def test_live_line_per_loadpoint(panel: EvccPanel, sim: EvccSimulator) -> None:
    assert wait_until(lambda: "Loadpoint 2" in panel.live.value)
    text = panel.live.value
    assert "Loadpoint 1" in text and " kW" in text
    assert ("charging" in text) and ("car connected" in text or "no car" in text)


def test_loadpoint_live_in_words() -> None:
    from evkit.widgets.evcc_panel import loadpoint_live

    state = {
        "loadpoints/1/title": "Garage",
        "loadpoints/1/charging": "true",
        "loadpoints/1/connected": "true",
        "loadpoints/1/chargePower": "7400",
        "loadpoints/1/vehicleSoc": "56.4",
        "loadpoints/1/sessionEnergy": "3200",
    }
    assert loadpoint_live(state, 1) == (
        "Loadpoint 1 “Garage” · charging · car connected · 7.40 kW · vehicle SoC 56 % · session 3.20 kWh"
    )
    assert loadpoint_live({"loadpoints/2/connected": "false"}, 2) == "Loadpoint 2 · no car"


def test_labels_fit_their_width(panel: EvccPanel) -> None:
    # At JupyterLab's 13 px font a label needs about 7 px per character; less and it is cut
    # ("Battery discharg…" in a 150 px label).
    import ipywidgets as widgets

    for widget in panel.controls.values():
        if isinstance(widget, widgets.Checkbox):  # its label is right of the box, in the row's width
            assert widget.layout.width == "auto", widget.description
            continue
        width = float(str(widget.style.description_width).removesuffix("px"))
        assert width >= 7 * len(widget.description), (widget.description, width)


def test_plan_times_are_typed_and_shown_in_the_panels_zone() -> None:
    """Issue 13: ``tz=`` shows plan times in that zone (labelled) and sends evcc UTC."""
    broker = MemoryBroker()
    with EvccSimulator(broker.transport(), vehicles=("ev",), interval_s=3600):
        panel = EvccPanel(transport=broker.transport(), audit=None, timeout=2, tz="Asia/Tokyo")
        time_field = panel.plan_time("vehicles/ev/planSoc")
        assert "Asia/Tokyo" in time_field.description
        panel.controls["vehicles/ev/planSoc"].value = 80
        time_field.value = "2099-01-01T15:00"  # Tokyo wall time = 06:00 UTC
        [line] = panel.controller.preview()
        assert line.payload == '{"value":80,"time":"2099-01-01T06:00:00Z"}'
        panel.writes.value = True
        panel.apply_button.click()
        assert panel.result_log.entries[0].startswith("confirmed")
        assert "JST" in panel.result_log.value  # the log's times carry their zone
        live = panel.bindings["vehicles/ev/planSoc"].live.value
        assert "2099-01-01T15:00 Asia/Tokyo" in live
