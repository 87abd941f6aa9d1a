"""GoePanel driven by clicking its widgets programmatically, against the simulator over real HTTP and
real Mosquitto.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path

import pytest

import evkit
from evkit.errors import ControlError
from evkit.sim.goe import GoeSimulator
from evkit.widgets import GoePanel, GoePanelController
from tests.helpers import StartGoeSim, wait_until

SERIAL = "600001"


@pytest.fixture
def http_sim() -> Iterator[GoeSimulator]:
    with GoeSimulator(SERIAL, mqtt_host=None, http_port=0, tick_s=0.05, speed=20) as simulator:
        yield simulator


@pytest.fixture
def http_panel(http_sim: GoeSimulator, tmp_path: Path) -> Iterator[GoePanel]:
    panel = GoePanel(http=http_sim.http_url, audit=tmp_path, poll_s=0, timeout=3)
    yield panel
    panel.close()


@pytest.fixture
def mqtt_sim(start_goe_sim: StartGoeSim, unique_name: str) -> GoeSimulator:
    return start_goe_sim(SERIAL, unique_name, http_port=None, tick_s=0.05, speed=20)


@pytest.fixture
def mqtt_panel(mqtt_sim: GoeSimulator, mqtt_broker: tuple[str, int], tmp_path: Path) -> Iterator[GoePanel]:
    host, port = mqtt_broker
    panel = GoePanel(host=host, port=port, serial=SERIAL, prefix=mqtt_sim.prefix, audit=tmp_path, timeout=3)
    yield panel
    panel.close()


def enable_writes(panel: GoePanel) -> None:
    panel.writes.value = True


def test_panel_has_its_css_class_and_key_named_controls(http_panel: GoePanel) -> None:
    assert "evkit-goe-panel" in http_panel._dom_classes
    assert "evkit-panel" in http_panel._dom_classes
    for key in ("amp", "frc", "psm", "lmo", "fna", "dwo", "tcl", "ama", "mca", "acs", "fup"):
        # Words first, the API key second, e.g. "Force state (frc)".
        description = http_panel.controls[key].description
        assert description.endswith(f" ({key})") and len(description) > len(key) + 4, description
    assert http_panel.apply_button.description == "Apply"
    assert http_panel.writes.description == "Writes enabled"


def test_widgets_start_at_the_chargers_live_values(http_panel: GoePanel) -> None:
    controls = http_panel.controls
    assert controls["amp"].value == 16
    assert controls["frc"].value == 0
    assert controls["fna"].value == "evkit simulator"
    assert controls["dwo"].value == ""  # null: no energy limit
    assert "Charging" in http_panel.status.value or "WaitCar" in http_panel.status.value


def test_writes_are_off_at_start_and_apply_sends_nothing(
    http_panel: GoePanel, http_sim: GoeSimulator
) -> None:
    assert http_panel.writes.value is False
    assert http_panel.apply_button.disabled
    http_panel.controls["amp"].value = 10
    http_panel.apply_button.click()
    assert "writes are off" in http_panel.result_log.entries[0]
    assert http_sim.sets_applied == 0
    assert http_sim.state["amp"] == 16
    with pytest.raises(ControlError):
        http_panel.controller.apply()


def test_preview_shows_the_exact_url_and_payload(http_panel: GoePanel, http_sim: GoeSimulator) -> None:
    http_panel.controls["fna"].value = "Carport"
    http_panel.controls["frc"].value = 2
    preview = http_panel.preview.value
    assert f"{http_sim.http_url}/api/set?fna=%22Carport%22" in preview
    assert '<code>"Carport"</code>' in html.unescape(preview)
    assert f"{http_sim.http_url}/api/set?frc=2" in preview
    assert http_sim.sets_applied == 0  # previewing sends nothing


def test_apply_over_http_logs_confirmed_and_changes_the_charger(
    http_panel: GoePanel, http_sim: GoeSimulator, tmp_path: Path
) -> None:
    enable_writes(http_panel)
    http_panel.controls["amp"].value = 10
    http_panel.controls["psm"].value = 1
    http_panel.controls["dwo"].value = "5000"
    http_panel.apply_button.click()
    log = http_panel.result_log.entries
    assert sum(entry.startswith("confirmed:") for entry in log) == 3
    assert "confirmed" in http_panel.result_log.value
    assert http_sim.state["amp"] == 10 and http_sim.state["psm"] == 1 and http_sim.state["dwo"] == 5000
    assert http_panel.controller.edits == {}
    rows = evkit.scan(tmp_path / "audit").collect()
    assert sorted(rows["setting"].to_list()) == ["amp", "dwo", "psm"]


def test_clearing_a_nullable_field_sends_null(http_panel: GoePanel, http_sim: GoeSimulator) -> None:
    http_sim.apply_set("dwo", "8000")
    http_panel.refresh_button.click()
    assert http_panel.controls["dwo"].value == "8000"
    enable_writes(http_panel)
    http_panel.controls["dwo"].value = ""
    assert "dwo=null" in http_panel.preview.value
    http_panel.apply_button.click()
    assert http_sim.state["dwo"] is None


def test_invalid_edit_is_shown_and_never_sent(http_panel: GoePanel, http_sim: GoeSimulator) -> None:
    http_sim.apply_set("ama", "16")
    http_panel.refresh_button.click()
    applied = http_sim.sets_applied
    enable_writes(http_panel)
    http_panel.controls["amp"].value = 20  # above the charger's ama 16
    assert "current ama (16)" in http_panel.preview.value
    assert "will not be sent" in http_panel.preview.value
    http_panel.apply_button.click()
    assert any("not sent" in entry and "ama" in entry for entry in http_panel.result_log.entries)
    assert http_sim.sets_applied == applied
    assert http_sim.state["amp"] == 16


def test_read_only_charger_over_http_logs_rejected_with_its_text(tmp_path: Path) -> None:
    with GoeSimulator(SERIAL, mqtt_host=None, http_port=0, read_only=True) as sim:
        panel = GoePanel(http=sim.http_url, audit=None, poll_s=0, timeout=2)
        try:
            enable_writes(panel)
            panel.controls["frc"].value = 1
            panel.apply_button.click()
            assert panel.result_log.entries[0].startswith("rejected:")
            assert "writes are disabled" in panel.result_log.entries[0]
            assert "frc" in panel.controller.edits  # stays pending
        finally:
            panel.close()


def test_apply_over_mqtt_logs_confirmed(mqtt_panel: GoePanel, mqtt_sim: GoeSimulator) -> None:
    assert mqtt_panel.controls["amp"].value == 16
    enable_writes(mqtt_panel)
    mqtt_panel.controls["frc"].value = 1
    mqtt_panel.controls["fna"].value = "Garage"
    assert f"{mqtt_sim.prefix}/{SERIAL}/frc/set" in mqtt_panel.preview.value
    mqtt_panel.apply_button.click()
    assert sum(entry.startswith("confirmed:") for entry in mqtt_panel.result_log.entries) == 2
    assert mqtt_sim.state["frc"] == 1
    assert mqtt_sim.state["fna"] == "Garage"


def test_same_value_over_mqtt_logs_unchanged(mqtt_panel: GoePanel) -> None:
    enable_writes(mqtt_panel)
    mqtt_panel.controller.edit("lmo", 3)
    mqtt_panel.apply_button.click()
    assert mqtt_panel.result_log.entries[0].startswith("unchanged:")


def test_live_state_follows_the_charger_over_mqtt(mqtt_panel: GoePanel, mqtt_sim: GoeSimulator) -> None:
    assert mqtt_sim.apply_set("amp", "12") is None
    assert wait_until(lambda: mqtt_panel.controls["amp"].value == 12)
    assert "<b>12</b>" in mqtt_panel.bindings["amp"].live.value


def test_a_pending_edit_is_not_overwritten_by_live_state(
    mqtt_panel: GoePanel, mqtt_sim: GoeSimulator
) -> None:
    mqtt_panel.controls["amp"].value = 8
    assert mqtt_sim.apply_set("amp", "12") is None
    assert wait_until(lambda: "<b>12</b>" in mqtt_panel.bindings["amp"].live.value)
    assert mqtt_panel.controls["amp"].value == 8


def test_read_only_charger_over_mqtt_logs_no_answer(
    mqtt_broker: tuple[str, int], unique_name: str, tmp_path: Path
) -> None:
    host, port = mqtt_broker
    with GoeSimulator(
        SERIAL, mqtt_host=host, mqtt_port=port, prefix=unique_name, http_port=None, read_only=True
    ):
        panel = GoePanel(host=host, port=port, serial=SERIAL, prefix=unique_name, audit=None, timeout=0.5)
        try:
            enable_writes(panel)
            panel.controls["amp"].value = 8
            panel.apply_button.click()
            assert panel.result_log.entries[0].startswith("no answer:")
            assert "mcr" in panel.result_log.entries[0]
        finally:
            panel.close()


def test_http_panel_polls_live_state(http_sim: GoeSimulator) -> None:
    panel = GoePanel(http=http_sim.http_url, audit=None, poll_s=0.1)
    try:
        assert http_sim.apply_set("lbr", "50") is None
        assert wait_until(lambda: panel.controls["lbr"].value == 50)
    finally:
        panel.close()


def test_panel_needs_a_charger() -> None:
    with pytest.raises(ControlError, match="http="):
        GoePanel()


def test_controller_is_usable_without_widgets(http_sim: GoeSimulator) -> None:
    from evkit.control.goe import GoeController

    with GoeController.over_http(http_sim.http_url) as goe:
        logic = GoePanelController(goe)
        logic.edit("amp", 11)
        logic.edit("frc", 7)
        lines = {line.setting: line for line in logic.preview()}
        assert lines["amp"].valid and lines["amp"].payload == "11"
        assert not lines["frc"].valid
        logic.writes_enabled = True
        results = logic.apply()
        assert [r.setting for r in results] == ["amp"]
        assert logic.edits == {"frc": 7}


# ---------------------------------------------------------------------------- hardware limits, firmware


def test_current_fields_follow_the_units_limit(tmp_path: Path) -> None:
    # var 11 = 16 A at most (apikeys-en.md:265); the 16 A adapter too (apikeys-en.md:10)
    with GoeSimulator(SERIAL, mqtt_host=None, http_port=0, variant=11) as small:
        panel = GoePanel(http=small.http_url, audit=tmp_path, poll_s=0, timeout=3)
        try:
            for key in ("amp", "ama", "mca"):
                assert panel.bindings[key].maximum == 16, key
            panel.controls["amp"].value = 16
            assert "above this charger's limit" not in panel.preview.value
        finally:
            panel.close()
    with GoeSimulator(SERIAL, mqtt_host=None, http_port=0) as big:
        panel = GoePanel(http=big.http_url, audit=tmp_path, poll_s=0, timeout=3)
        try:
            assert panel.bindings["amp"].maximum == 32
            big.use_adapter(True)
            panel.refresh_button.click()
            assert panel.bindings["amp"].maximum == 16
        finally:
            panel.close()


def test_the_error_is_labelled_by_the_chargers_firmware(tmp_path: Path) -> None:
    with GoeSimulator(SERIAL, mqtt_host=None, http_port=0, firmware="059.4") as sim:
        sim.fault("Overtemp")  # 16 from 59.4 on (apikeys_Firmware_59.4_sorted.md:64); 13 before
        panel = GoePanel(http=sim.http_url, audit=tmp_path, poll_s=0, timeout=3)
        try:
            assert "error Overtemp (16)" in panel.status.value  # words first, the code second
        finally:
            panel.close()


def test_a_secret_setting_is_masked_in_preview_and_log(http_panel: GoePanel, http_sim: GoeSimulator) -> None:
    controller = http_panel.controller
    controller.edit("mck", "-----BEGIN PRIVATE KEY-----\nSECRETBODY\n-----END PRIVATE KEY-----")
    http_panel.refresh_preview()
    assert "SECRETBODY" not in http_panel.preview.value and "***" in http_panel.preview.value
    enable_writes(http_panel)
    http_panel.apply_button.click()
    assert http_sim.state["mck"].startswith("-----BEGIN")
    assert not any("SECRETBODY" in entry for entry in http_panel.result_log.entries)
    assert "SECRETBODY" not in http_panel.result_log.value


# ------------------------------------------------------------------------ issue 14: refuse, discard, words


def test_40_amperes_is_refused_with_the_clis_sentence_and_nothing_is_sent(
    http_panel: GoePanel, http_sim: GoeSimulator
) -> None:
    from evkit.goe.values import prepare_setting

    cli_message = ""
    try:
        prepare_setting("amp", 40, state=http_sim.state)
    except evkit.ValidationError as exc:
        cli_message = str(exc)
    assert cli_message
    applied = http_sim.sets_applied
    enable_writes(http_panel)
    http_panel.controls["amp"].value = 40
    assert http_panel.controls["amp"].value == 40  # kept as typed, not clamped to 32
    assert html.escape(cli_message) in http_panel.preview.value
    http_panel.apply_button.click()
    assert any(cli_message in entry for entry in http_panel.result_log.entries)
    assert http_sim.sets_applied == applied
    assert http_sim.state["amp"] == 16


def test_discard_forgets_pending_edits_and_shows_the_charger_again(
    http_panel: GoePanel, http_sim: GoeSimulator
) -> None:
    http_panel.controls["amp"].value = 10
    http_panel.controls["psm"].value = 1
    assert http_panel.controller.edits
    http_panel.discard_button.click()
    assert http_panel.controller.edits == {}
    assert http_panel.controls["amp"].value == http_sim.state["amp"]
    assert "No changes" in http_panel.preview.value
    assert "discarded 2 pending change(s)" in http_panel.result_log.entries[0]
    enable_writes(http_panel)
    applied = http_sim.sets_applied
    http_panel.apply_button.click()
    assert http_sim.sets_applied == applied


def test_choices_and_status_are_words(http_panel: GoePanel) -> None:
    options = [text for text, _ in http_panel.controls["frc"].options]
    assert options == ["Neutral (0)", "Off (1)", "On (2)"]
    assert http_panel.controls["frc"].description == "Force state (frc)"
    for control in http_panel.controls.values():  # about 7 px per character, or the label is cut
        width = float(str(control.style.description_width).removesuffix("px"))
        assert width >= 7 * len(control.description), control.description


def test_words_of_device_names() -> None:
    from evkit.widgets.common import words

    assert words("ChargingBecauseFallbackDefault") == "Charging because fallback default"
    assert words("NotChargingBecausePVSurplus") == "Not charging because PV surplus"
    assert words("nrg.power_total") == "nrg.power_total"
