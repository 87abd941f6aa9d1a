"""Pure decoding: evcc plain text, go-e JSON (nrg, labels), other topics; hypothesis: never raises."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from evkit.evcc import decode as evcc
from evkit.goe import decode as goe
from evkit.goe.status import NRG_FIELDS
from evkit.sources.mqtt import CAPTURE_SCHEMA, Message, RowBuilder, TopicRules, decode_other
from evkit.store import REQUIRED_COLUMNS


def evcc_row(topic: str, payload: bytes) -> tuple[str, evcc.Reading]:
    decoded = evcc.decode_topic(topic, payload)
    assert decoded is not None
    return decoded


# -- evcc ------------------------------------------------------------------------------------------


def test_evcc_loadpoint_energy_is_wh_and_meter_is_kwh() -> None:
    device, row = evcc_row("evcc/loadpoints/1/sessionEnergy", b"1234.5")
    assert (device, row.key, row.value, row.unit, row.error) == (
        "evcc/loadpoints/1",
        "sessionEnergy",
        1234.5,
        "Wh",
        None,
    )
    _, meter = evcc_row("evcc/loadpoints/2/chargeTotalImport", b"1520.25")
    assert (meter.value, meter.unit) == (1520.25, "kWh")


def test_evcc_booleans_are_one_and_zero() -> None:
    assert evcc_row("evcc/loadpoints/1/charging", b"true")[1].value == 1.0
    assert evcc_row("evcc/loadpoints/1/connected", b"false")[1].value == 0.0


def test_evcc_empty_payload_is_deleted_not_zero() -> None:
    _, row = evcc_row("evcc/loadpoints/1/sessionEnergy", b"")
    assert row.value is None
    assert row.value_text == ""
    assert row.error is None


def test_evcc_updated_gives_observed_at() -> None:
    stamp = 1_795_300_000
    device, row = evcc_row("evcc/updated", str(stamp).encode())
    assert device == "evcc"
    assert row.observed_at_us == stamp * 1_000_000
    assert row.unit == "s"


def test_evcc_durations_are_seconds_and_times_are_unix_seconds() -> None:
    assert evcc_row("evcc/loadpoints/1/chargeDuration", b"3600")[1][1:] == (
        3600.0,
        "3600",
        None,
        "s",
        None,
        None,
    )
    plan = evcc_row("evcc/loadpoints/1/planTime", b"1795300000")[1]
    assert plan.value == 1795300000.0
    assert plan.observed_at_us is None  # a plan's time is not when the message was observed


def test_evcc_nan_and_inf_keep_text_not_a_number() -> None:
    for text in (b"NaN", b"+Inf", b"-Inf"):
        row = evcc_row("evcc/site/tariffGrid", text)[1]
        assert row.value is None
        assert row.value_text == text.decode()


def test_evcc_phase_currents_site_and_vehicle_paths() -> None:
    device, row = evcc_row("evcc/loadpoints/1/chargeCurrents/l2", b"15.9")
    assert (device, row.key, row.unit) == ("evcc/loadpoints/1", "chargeCurrents/l2", "A")
    device, row = evcc_row("evcc/site/grid/power", b"-1500")
    assert (device, row.key, row.value, row.unit) == ("evcc/site", "grid/power", -1500.0, "W")
    device, row = evcc_row("evcc/vehicles/db:3/limitSoc", b"80")
    assert (device, row.key, row.value) == ("evcc/vehicles/db:3", "limitSoc", 80.0)


def test_evcc_strings_json_and_set_commands() -> None:
    assert evcc_row("evcc/loadpoints/1/mode", b"pv")[1][1:3] == (None, "pv")
    plan = b'[{"start":"2026-11-22T01:00:00Z","end":"2026-11-22T02:00:00Z","value":0.2}]'
    assert evcc_row("evcc/loadpoints/1/plan", plan)[1].value_text == plan.decode()
    _, cmd = evcc_row("evcc/loadpoints/1/mode/set", b"now")
    assert cmd.key == "mode/set"


def test_evcc_bad_number_kept_with_error() -> None:
    row = evcc_row("evcc/loadpoints/1/chargePower", b"lots")[1]
    assert row.value is None and row.value_text == "lots" and row.error


def test_evcc_unknown_key_numeric_when_it_parses() -> None:
    row = evcc_row("evcc/loadpoints/1/someNewKey", b"42")[1]
    assert (row.value, row.unit, row.error) == (42.0, None, None)


def test_evcc_custom_root() -> None:
    decoded = evcc.decode_topic("home/evcc/loadpoints/1/chargePower", b"7000", root="home/evcc")
    assert decoded is not None
    assert decoded[0] == "home/evcc/loadpoints/1"
    assert evcc.decode_topic("other/loadpoints/1/chargePower", b"1") is None


# -- go-e ------------------------------------------------------------------------------------------


def goe_rows(topic: str, payload: bytes, firmware: str | None = None) -> tuple[str, list[evcc.Reading]]:
    decoded = goe.decode_topic(topic, payload, firmware=firmware)
    assert decoded is not None
    return decoded


NRG = [231.5, 230.1, 229.9, 0.4, 15.9, 16.0, 16.1, 3680, 3690, 3670, 0, 11040, 99, 98, 97, 0]


def test_goe_nrg_expands_to_named_fields_with_units() -> None:
    serial, rows = goe_rows("go-eCharger/012345/nrg", json.dumps(NRG).encode())
    assert serial == "012345"
    assert [r.key for r in rows] == [f"nrg.{f.name}" for f in NRG_FIELDS]
    by_key = {r.key: r for r in rows}
    assert by_key["nrg.voltage_l1"].value == 231.5 and by_key["nrg.voltage_l1"].unit == "V"
    assert by_key["nrg.current_l3"].value == 16.1 and by_key["nrg.current_l3"].unit == "A"
    assert by_key["nrg.power_total"].value == 11040 and by_key["nrg.power_total"].unit == "W"
    assert by_key["nrg.pf_l2"].value == 98 and by_key["nrg.pf_l2"].unit == "%"
    assert all(r.error is None for r in rows)


def test_goe_short_nrg_keeps_what_is_there_and_says_so() -> None:
    _, rows = goe_rows("go-eCharger/012345/nrg", b"[230, 231]")
    assert len(rows) == len(NRG_FIELDS)
    assert rows[0].value == 230 and rows[2].value is None
    assert all(r.error and "2 values" in r.error for r in rows)


def test_goe_nrg_not_an_array_is_one_row_with_error() -> None:
    _, rows = goe_rows("go-eCharger/012345/nrg", b'"oops"')
    assert len(rows) == 1 and rows[0].key == "nrg" and rows[0].error


def test_goe_labels_car_err_model_status_and_unknown_codes() -> None:
    assert goe_rows("go-eCharger/1/car", b"2")[1][0].label == "Charging"  # apikeys-en.md:27
    assert goe_rows("go-eCharger/1/err", b"0")[1][0].label == "None"
    assert goe_rows("go-eCharger/1/modelStatus", b"12")[1][0].label == "ChargingBecausePvSurplus"
    unknown = goe_rows("go-eCharger/1/modelStatus", b"250")[1][0]
    assert (unknown.value, unknown.label, unknown.error) == (250.0, None, None)


def test_goe_null_string_bool_object() -> None:
    null = goe_rows("go-eCharger/1/car", b"null")[1][0]
    assert (null.value, null.value_text, null.error) == (None, "null", None)
    name = goe_rows("go-eCharger/1/fna", b'"my charger"')[1][0]
    assert (name.value, name.value_text) == (None, "my charger")
    assert goe_rows("go-eCharger/1/fup", b"true")[1][0].value == 1.0
    cdi = goe_rows("go-eCharger/1/cdi", b'{"type":1,"value":1200}')[1][0]
    assert cdi.value_text == '{"type":1,"value":1200}'


def test_goe_energy_units() -> None:
    eto = goe_rows("go-eCharger/1/eto", b"1234567")[1][0]
    assert (eto.value, eto.unit) == (1234567.0, "Wh")
    assert goe_rows("go-eCharger/1/wh", b"5230.5")[1][0].unit == "Wh"


def test_goe_result_is_plain_text_and_set_is_json() -> None:
    serial, rows = goe_rows("go-eCharger/1/amp/result", b"value must be string 0")
    assert (serial, rows[0].key, rows[0].value_text, rows[0].error) == (
        "1",
        "amp/result",
        "value must be string 0",
        None,
    )
    setting = goe_rows("go-eCharger/1/amp/set", b"16")[1][0]
    assert (setting.key, setting.value) == ("amp/set", 16.0)


def test_goe_leading_slash_prefix() -> None:
    serial, rows = goe_rows("/go-eCharger/012345/amp", b"10")
    assert serial == "012345" and rows[0].value == 10.0


def test_goe_utc_gives_observed_at() -> None:
    row = goe_rows("go-eCharger/1/utc", b'"2026-11-21T12:00:00.500"')[1][0]
    assert row.observed_at_us == round(
        datetime(2026, 11, 21, 12, 0, 0, 500_000, tzinfo=UTC).timestamp() * 1e6
    )


def test_goe_bad_json_kept_with_error() -> None:
    row = goe_rows("go-eCharger/1/fna", b"{bad")[1][0]
    assert row.value_text == "{bad" and row.error and "JSON" in row.error


def test_goe_err_label_follows_firmware() -> None:
    generic = goe_rows("go-eCharger/1/err", b"13")[1][0].label
    fw60 = goe_rows("go-eCharger/1/err", b"13", firmware="60.4")[1][0].label
    assert generic != fw60


# -- rows ------------------------------------------------------------------------------------------


def message(topic: str, payload: bytes, retained: bool = False) -> Message:
    return Message(1_795_300_000_000_000, topic, payload, retained, 1, False, 1)


def test_frame_has_every_required_column_with_contract_types() -> None:
    frame = RowBuilder().frame([message("evcc/loadpoints/1/chargePower", b"7400")])
    for name, dtype in REQUIRED_COLUMNS.items():
        assert frame.schema[name] == dtype, name
    assert dict(frame.schema) == CAPTURE_SCHEMA
    row = frame.row(0, named=True)
    assert row["kind"] == "mqtt" and row["routing_key"] is None and row["arrival_time"] is None
    assert row["charger_id"] == "evcc/loadpoints/1" and row["observation"] == "chargePower"
    assert row["received_at"] == datetime.fromtimestamp(1_795_300_000, UTC)


def test_frame_sources_and_raw_bytes() -> None:
    payloads = [
        ("evcc/site/pvPower", b"5000"),
        ("go-eCharger/000042/amp", b"16"),
        ("zigbee2mqtt/plug", b'{"power": 12}'),
        ("binary/blob", b"\xff\xfe\x00"),
    ]
    frame = RowBuilder().frame([message(t, p) for t, p in payloads])
    assert frame["source"].to_list() == ["evcc", "go-e", "other", "other"]
    assert frame["raw"].to_list() == [p for _, p in payloads]
    assert frame["key"].to_list()[2:] == ["zigbee2mqtt/plug", "binary/blob"]
    assert frame["value_text"][3] is None and frame["error"][3] is None


def test_frame_firmware_seen_earlier_labels_err() -> None:
    builder = RowBuilder()
    frame = builder.frame([message("go-eCharger/7/fwv", b'"60.4"'), message("go-eCharger/7/err", b"13")])
    later = goe_rows("go-eCharger/7/err", b"13", firmware="60.4")[1][0].label
    assert frame["label"][1] == later


def test_frame_labels_every_firmware_dependent_key_by_the_chargers_firmware() -> None:
    # lmo 5 is AutomaticStop in the generic table (apikeys-en.md:106) and NextTrip from 59.4 on
    builder = RowBuilder()
    before = builder.frame([message("go-eCharger/8/lmo", b"5")])  # firmware not known yet: both readings
    assert before["label"][0] == "NextTrip (firmware 59.4+) or AutomaticStop (before 59.4)"
    after = builder.frame([message("go-eCharger/8/fwv", b'"060.4"'), message("go-eCharger/8/lmo", b"5")])
    assert after["label"][1] == "NextTrip"  # not the cached row of the same topic and payload
    old = builder.frame([message("go-eCharger/9/fwv", b'"056.2"'), message("go-eCharger/9/lmo", b"5")])
    assert old["label"][1] == "AutomaticStop"


def test_frame_custom_rules() -> None:
    builder = RowBuilder(TopicRules(evcc_roots=("house/evcc",), goe_prefixes=("wallbox",)))
    frame = builder.frame([message("house/evcc/site/homePower", b"300"), message("wallbox/9/car", b"1")])
    assert frame["source"].to_list() == ["evcc", "go-e"]
    assert frame["device_id"].to_list() == ["house/evcc/site", "9"]


def test_other_numbers_and_text() -> None:
    assert decode_other(b" 21.5 ").value == 21.5
    assert decode_other(b"true").value == 1.0
    assert decode_other(b"on").value is None
    assert decode_other(b"1_000").value is None  # not a number people write on a wire
    assert decode_other(b"nan").value is None


# -- properties ------------------------------------------------------------------------------------

TOPICS = st.sampled_from(
    [
        "evcc/loadpoints/1/sessionEnergy",
        "evcc/loadpoints/1/charging",
        "evcc/updated",
        "evcc/site/grid/power",
        "evcc/vehicles/db:1/limitSoc",
        "evcc/loadpoints/1/mode/set",
        "go-eCharger/1/nrg",
        "go-eCharger/1/car",
        "go-eCharger/1/utc",
        "go-eCharger/1/amp/result",
        "/go-eCharger/1/fna",
        "something/else",
    ]
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=20) | st.dictionaries(st.text(max_size=5), inner, max_size=5),
    max_leaves=30,
)
PAYLOADS = (
    st.binary(max_size=200)
    | JSONISH.map(lambda v: json.dumps(v).encode())
    | st.text(max_size=40).map(str.encode)
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(TOPICS, PAYLOADS), min_size=1, max_size=10))
def test_any_payload_gives_rows_with_raw_and_never_raises(batch: list[tuple[str, bytes]]) -> None:
    builder = RowBuilder()
    frame = builder.frame([message(t, p) for t, p in batch])
    expected = sum(len(NRG_FIELDS) if t.endswith("/nrg") and _is_list(p) else 1 for t, p in batch)
    assert frame.height == expected
    raws = frame["raw"].to_list()
    assert set(raws) == {p for _, p in batch}
    for value in frame["value"].drop_nulls().to_list():
        assert math.isfinite(value)
    assert frame.filter(pl.col("received_at").is_null()).height == 0


def _is_list(payload: bytes) -> bool:
    try:
        return isinstance(json.loads(payload.decode("utf-8")), list)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12))
def test_evcc_number_round_trips_through_evcc_encoding(number: float) -> None:
    from evkit.evcc.state import encode_state

    text = encode_state(number)
    row = evcc_row("evcc/loadpoints/1/chargePower", text.encode())[1]
    assert row.value == float(text)
    assert row.value_text == text


def test_goe_nrg_with_an_absurd_number_is_kept_with_error() -> None:
    _, rows = goe_rows("go-eCharger/1/nrg", json.dumps([10**400, *NRG[1:]]).encode())
    assert len(rows) == 16 and rows[0].value is None and rows[0].error
    assert rows[1].value == NRG[1] and rows[1].error is None
