"""The observation catalog: completeness against Easee's list, enum labels, pass-through of unknowns."""

from __future__ import annotations

import re

from evkit.easee import catalog
from evkit.easee.catalog import DataType, Obs, OpMode, label, observation
from tests.conftest import REPO_ROOT

SEED = REPO_ROOT.parent / "shared" / "seeds" / "easee-amqp-connect.txt"

# The ids of Easee's published AMQP observation list (the seed), with their documented types.
DOCUMENTED = {
    21: "Integer", 22: "Double", 23: "Double", 24: "Double", 30: "Boolean", 31: "Boolean",
    44: "Boolean", 46: "Integer", 47: "Double", 48: "Double", 50: "Integer", 51: "Integer",
    52: "Integer", 80: "Integer", 89: "Integer", 96: "Integer", 102: "Boolean", 103: "Boolean",
    104: "Integer", 108: "String", 109: "Integer", 110: "Integer", 111: "Double", 112: "Double",
    113: "Double", 120: "Double", 121: "Double", 122: "Double", 124: "Double", 128: "String",
    130: "Integer", 132: "Integer", 141: "Integer", 146: "Integer", 150: "Integer", 182: "Double",
    183: "Double", 184: "Double", 185: "Double", 190: "Double", 191: "Double", 192: "Double",
    193: "Double", 194: "Double", 195: "Double", 196: "Double", 250: "Boolean", 251: "String",
}  # fmt: skip


def test_every_documented_id_is_in_the_catalog_with_a_compatible_type() -> None:
    for obs_id, documented in DOCUMENTED.items():
        info = observation(obs_id)
        assert info is not None, obs_id
        if documented in {"Integer", "Double"}:
            assert info.is_numeric and info.data_type in {DataType.INTEGER, DataType.DOUBLE}, obs_id
        else:
            assert info.data_type.title == documented, obs_id


def test_seed_list_ids_all_known() -> None:
    if not SEED.exists():  # the seed lives beside the repo in the team workspace
        ids = set(DOCUMENTED)
    else:
        ids = {int(match) for match in re.findall(r"^(\d+)[A-Za-z]", SEED.read_text(), flags=re.M)}
    assert ids, "no ids parsed"
    assert not [obs_id for obs_id in ids if observation(obs_id) is None]


def test_disputed_types_decode_as_float_numbers() -> None:
    for obs_id in (104, 105, 106, 150, 151, 155, 160, 166, 170, 210, 211, 212):
        info = observation(obs_id)
        assert info is not None and info.numeric_override and info.data_type is DataType.DOUBLE


def test_entries_have_names_units_tags_and_descriptions() -> None:
    power = observation(Obs.TOTAL_POWER)
    assert power is not None
    assert (power.name, power.unit, power.data_type) == ("TotalPower", "kW", DataType.DOUBLE)
    assert "telemetry" in power.tags
    assert "boot" in observation(21).tags  # type: ignore[union-attr]
    assert all(info.description and info.name for info in catalog.OBSERVATIONS.values())
    assert len(catalog.OBSERVATIONS) >= 170


def test_unknown_id_is_none_not_an_error() -> None:
    assert observation(9999) is None
    assert catalog.name(9999) is None
    assert label(9999, 1) is None


def test_op_mode_labels_cover_every_mode() -> None:
    assert label(109, 3) == "Charging"
    assert label(109, 3.0) == "Charging"
    assert label(109, OpMode.READY_TO_CHARGE) == "ReadyToCharge"
    assert {label(109, mode) for mode in OpMode} == {
        "Offline", "Disconnected", "AwaitingStart", "Charging", "Completed", "Error",
        "ReadyToCharge", "AwaitingAuthentication", "Deauthenticating",
    }  # fmt: skip


def test_enum_labels_for_each_enum_observation() -> None:
    assert label(110, 30) == "P3_T2_T3_T4_T5_TN"
    assert label(110, 10) == "P1_T2_T3_TN"
    assert label(21, 1) == "TN_3Phase"
    assert label(96, 0) == "OK"
    assert label(96, 52) == "MaxDynamicChargerCurrentTooLow"
    assert label(38, 2) == "Auto"
    assert label(45, 2) == "Never"
    assert label(99, 3) == "RadioAndWifiUdp"
    assert label(123, 1) == "Legacy"
    assert label(141, 1) == "WiFi"
    assert label(146, 1) == "Master"
    assert catalog.OUTPUT_PHASE_COUNT[30] == 3


def test_unknown_and_non_integral_codes_have_no_label() -> None:
    assert label(109, 77) is None
    assert label(109, 3.5) is None
    assert label(109, None) is None
    assert label(120, 3) is None  # not an enum


def test_named_ids() -> None:
    assert (catalog.OP_MODE, catalog.OUTPUT_PHASE, catalog.TOTAL_POWER) == (109, 110, 120)
    assert (catalog.SESSION_ENERGY, catalog.ENERGY_PER_HOUR, catalog.LIFETIME_ENERGY) == (121, 122, 124)
    assert (catalog.USER_ID_TOKEN, catalog.USER_ID_TOKEN_REVERSED) == (128, 108)
    assert catalog.PHASE_CURRENTS == (182, 183, 184, 185)
    assert catalog.VOLTAGES == (190, 191, 192, 193, 194, 195, 196)
    assert (catalog.CELL_RSSI, catalog.WIFI_RSSI, catalog.TEMP_MAX) == (130, 132, 150)
    assert catalog.REBOOT_OBSERVATIONS == (80, 89)
    assert catalog.CLOUD_OBSERVATIONS == (250, 251)


def test_lookup_by_name_is_case_insensitive() -> None:
    assert catalog.by_name("chargeropmode") == observation(109)
    assert catalog.by_name("nope") is None
    assert 120 in catalog.ids_tagged("telemetry")


def test_catalog_and_labels_as_tables() -> None:
    table = catalog.catalog_frame()
    assert table.height == len(catalog.OBSERVATIONS)
    power = table.filter(table["observation_id"] == 120).row(0, named=True)
    assert (power["observation"], power["unit"], power["data_type"]) == ("TotalPower", "kW", "Double")
    labels = catalog.labels_frame()
    assert labels.filter((labels["observation_id"] == 109) & (labels["code"] == 3))["label"].to_list() == [
        "Charging"
    ]
