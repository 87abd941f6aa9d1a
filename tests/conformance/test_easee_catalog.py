"""evkit's Easee catalog, enumerations and decoder against the documented tables (tests/conformance)."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from evkit.easee import catalog
from evkit.easee.catalog import DataType
from evkit.easee.decode import Delivery, decode_deliveries_python
from evkit.easee.encode import encode_observation
from evkit.easee.equalizer import EQUALIZER_ENUM_LABELS, EQUALIZER_OBSERVATIONS, is_equalizer
from tests.conformance import easee_enums, easee_equalizer
from tests.conformance.easee_observations import DOC_AMQP_OBSERVATIONS, DocObservation

_T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_the_doc_lists_48_observations() -> None:
    assert len(DOC_AMQP_OBSERVATIONS) == 48
    assert len({row.id for row in DOC_AMQP_OBSERVATIONS}) == 48


@pytest.mark.parametrize("doc", DOC_AMQP_OBSERVATIONS, ids=lambda row: f"{row.id}-{row.name}")
def test_every_documented_observation_is_in_the_catalog_as_documented(doc: DocObservation) -> None:
    info = catalog.observation(doc.id)
    assert info is not None, f"DOC-AMQP line {doc.line}: id {doc.id} missing"
    assert info.name == doc.name
    expected = DataType[doc.data_type.upper()]
    if info.numeric_override:
        # documented Integer, template Double: evkit decodes either numerically
        assert expected in (DataType.INTEGER, DataType.DOUBLE)
    else:
        assert info.data_type is expected
    if doc.unit is not None:
        assert info.unit == doc.unit
    assert info.tags == doc.tags  # no tag the doc does not give (124 is not "telemetry": it is hourly)


def test_op_modes_match_the_enumeration() -> None:
    assert {int(mode) for mode in catalog.OpMode} == set(easee_enums.OP_MODES)
    for code, name in easee_enums.OP_MODES.items():
        assert catalog.label(109, code) == name


def test_output_phases_match_the_enumeration() -> None:
    assert set(catalog.ENUM_LABELS[110]) == set(easee_enums.OUTPUT_PHASES)
    assert dict(catalog.OUTPUT_PHASE_COUNT) == easee_enums.OUTPUT_PHASES


def test_power_grid_types_include_the_futurehome_warnings_32_to_38() -> None:
    assert set(catalog.ENUM_LABELS[21]) == set(easee_enums.POWER_GRID_TYPES)
    assert all(catalog.label(21, code) for code in range(32, 39))


def test_reason_for_no_current_codes() -> None:
    assert set(catalog.ENUM_LABELS[96]) == easee_enums.REASON_FOR_NO_CURRENT
    assert set(catalog.ENUM_LABELS[96]) >= easee_enums.SCHEDULE_REASONS


@pytest.mark.parametrize("obs_id", sorted(easee_enums.SMALL_ENUMS))
def test_small_enumerations(obs_id: int) -> None:
    codes, _source = easee_enums.SMALL_ENUMS[obs_id]
    assert set(catalog.ENUM_LABELS[obs_id]) == codes


def test_data_type_codes() -> None:
    assert {member.value: member.title for member in DataType} == easee_enums.DATA_TYPES


def test_pilot_levels_are_millivolts() -> None:
    # evcc #32721 live log: PILOT_HIGH 6051, PILOT_LOW -11673 in state C (about +6 V / -12 V).
    assert catalog.observation(105).unit == "mV"  # type: ignore[union-attr]
    assert catalog.observation(106).unit == "mV"  # type: ignore[union-attr]


@pytest.mark.parametrize("obs_id", [5, 156, 157])
def test_ids_seen_in_sources_are_known_without_an_invented_type(obs_id: int) -> None:
    info = catalog.observation(obs_id)
    assert info is not None
    assert info.data_type is None  # nobody published one
    assert "unpublished" in info.description or "no type" in info.description


def _decode(serial: str, obs_id: int, body: bytes) -> dict[str, object]:
    rows = decode_deliveries_python([Delivery(f"{serial}.O.{obs_id}", body, None, False, 1)])
    return rows.to_dicts()[0]


def test_156_and_157_decode_like_live_traffic() -> None:
    row = _decode("EH000001", 156, b'{"Timestamp":"2026-01-01T00:00:00Z","Value":170}')
    assert (row["observation"], row["value"], row["error"]) == ("Observation156", 170.0, None)
    text = _decode("EH000001", 157, b'{"Timestamp":"2026-01-01T00:00:00Z","Value":"abc"}')
    assert (text["value"], text["value_text"], text["error"]) == (None, "abc", None)


@pytest.mark.parametrize(
    ("value", "number", "text"),
    [
        ("true", 1.0, "true"),
        ("1", 1.0, "1"),
        ('"0"', 0.0, "0"),
        ('"Yes"', 1.0, "Yes"),
        ('"Always"', None, "Always"),
    ],
)
def test_54_decodes_as_boolean_or_string_without_error(value: str, number: float | None, text: str) -> None:
    # pyeasee const.py:66 says Boolean; evcc signalr.go:128 String ("aligned with official docs")
    row = _decode("EH000001", 54, f'{{"Timestamp":"2026-01-01T00:00:00Z","Value":{value}}}'.encode())
    assert row["error"] is None
    assert (row["value"], row["value_text"]) == (number, text)


def test_54_as_string_in_the_signalr_form_decodes_without_error() -> None:
    _, body = encode_observation("EH000001", 54, "false", _T0, "signalr", data_type=DataType.STRING)
    row = _decode("EH000001", 54, body)
    assert row["error"] is None and row["value_text"] == "false"


# -- Equalizer -----------------------------------------------------------------------------------


def test_equalizer_catalog_matches_pyeasee() -> None:
    expected = {row.id: row for row in easee_equalizer.EQUALIZER_OBSERVATIONS}
    assert set(EQUALIZER_OBSERVATIONS) == set(expected)
    for obs_id, row in expected.items():
        info = EQUALIZER_OBSERVATIONS[obs_id]
        assert info.name.lower() == row.name.lower(), (obs_id, row.line)
        assert (None if info.data_type is None else info.data_type.title) == row.data_type, (obs_id, row.line)
        assert info.unit == row.unit, (obs_id, row.line)
    for obs_id, codes in easee_equalizer.EQUALIZER_ENUMS.items():
        assert set(EQUALIZER_ENUM_LABELS[obs_id]) == codes


def test_equalizer_serials() -> None:
    assert is_equalizer("QP123456")
    assert not is_equalizer("EH123456") and not is_equalizer(None) and not is_equalizer("")


@pytest.mark.parametrize(
    ("obs_id", "value", "name", "number"),
    [
        (31, "12.3", "CurrentL1", 12.3),  # a charger's 31 is IsEnabled: 12.3 would be a Boolean error
        (40, "3.2", "ActivePowerImport", 3.2),  # charger: LedStripBrightness
        (45, "1234.5", "CumulativeActivePowerImport", 1234.5),  # charger: OfflineChargingMode
        (21, "322", "SoftwareRelease", 322.0),  # charger: DetectedPowerGridType (label for 322: none anyway)
        (120, "16", "ConnectedAmps", 16.0),  # charger: TotalPower
    ],
)
def test_equalizer_messages_decode_with_the_equalizer_table(
    obs_id: int, value: str, name: str, number: float
) -> None:
    row = _decode("QP123456", obs_id, f'{{"Timestamp":"2026-01-01T00:00:00Z","Value":{value}}}'.encode())
    assert (row["observation"], row["value"], row["error"]) == (name, number, None)


def test_equalizer_grid_type_gets_equalizer_labels_not_charger_ones() -> None:
    row = _decode("QP123456", 29, b'{"Timestamp":"2026-01-01T00:00:00Z","Value":2}')
    assert (row["observation"], row["label"]) == ("GridType", "IT")
    charger = _decode("EH123456", 21, b'{"Timestamp":"2026-01-01T00:00:00Z","Value":1}')
    assert charger["label"] == catalog.label(21, 1)


def test_equalizer_in_the_signalr_form_uses_the_body_serial() -> None:
    _, body = encode_observation("QP123456", 31, 12.5, _T0, "signalr", data_type=DataType.DOUBLE)
    rows = decode_deliveries_python([Delivery("anything", body, None, False, 1)])
    row = rows.row(0, named=True)
    assert (row["charger_id"], row["observation"], row["value"]) == ("QP123456", "CurrentL1", 12.5)


def test_equalizer_ids_never_get_charger_names_in_a_batch() -> None:
    from evkit.easee.decode import decode_deliveries

    batch = [
        Delivery(
            f"QP00000{i % 3}.O.31", b'{"Timestamp":"2026-01-01T00:00:00Z","Value":7.5}', None, False, i, 1
        )
        for i in range(64)
    ]
    frame = decode_deliveries(batch)
    assert frame["observation"].unique().to_list() == ["CurrentL1"]
    assert frame["error"].null_count() == frame.height
    assert frame.schema["value"] == pl.Float64


def test_the_command_table_is_the_documented_one() -> None:
    from tests.conformance.easee_commands import DOC_COMMANDS

    assert [c.id for c in DOC_COMMANDS] == [1, 4, 11, 21, 22, 24, 25, 26, 29, 30, 47, 48, 63]
    for command in DOC_COMMANDS:
        assert [a.id for a in command.arguments] == list(range(1, len(command.arguments) + 1))
        assert all(a.data_type in {"Boolean", "Double", "Integer", "String"} for a in command.arguments)
        assert command.source
