"""decode_deliveries: every wire form, casing, value type, time form and malformed input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import polars as pl
import pytest

from evkit.easee.decode import Delivery, decode_deliveries, parse_routing_key, parse_timestamp_us
from evkit.store.schema import EASEE_SCHEMA

RECEIVED_US = 1_714_566_900_000_000  # 2024-05-01T12:35:00Z
TS = "2024-05-01T12:34:56.1234567Z"
TS_US = 1_714_566_896_123_456


def us(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def delivery(
    body: Any,
    routing_key: str = "EH123456.O.120",
    headers: dict[str, Any] | None = None,
    redelivered: bool = False,
) -> Delivery:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Delivery(routing_key, raw, headers, redelivered, RECEIVED_US, 3)


def row(body: Any, routing_key: str = "EH123456.O.120", **kwargs: Any) -> dict[str, Any]:
    frame = decode_deliveries([delivery(body, routing_key, **kwargs)])
    assert frame.schema == pl.Schema(EASEE_SCHEMA)
    assert frame.height == 1
    return frame.to_dicts()[0]


def micros(value: datetime | None) -> int | None:
    return None if value is None else us(value)


# ------------------------------------------------------------------------------------------ forms


def test_masterloop_form() -> None:
    got = row({"Timestamp": TS, "Value": 11.52}, headers={"ArrivalTime": "2024-05-01T12:34:56.5000000Z"})
    assert got["charger_id"] == "EH123456"
    assert got["observation_id"] == 120
    assert got["observation"] == "TotalPower"
    assert got["value"] == 11.52
    assert got["value_text"] == "11.52"
    assert got["kind"] == "observation"
    assert got["data_type"] == "Double"
    assert micros(got["observed_at"]) == TS_US
    assert micros(got["arrival_time"]) == 1_714_566_896_500_000
    assert micros(got["received_at"]) == RECEIVED_US
    assert got["error"] is None
    assert got["conn_epoch"] == 3
    assert got["redelivered"] is False


def test_signalr_form_value_as_text_and_type_code() -> None:
    body = {"mid": "EH999", "dataType": 3, "id": 121, "value": "7.25", "timestamp": TS}
    got = row(body, routing_key="anything")
    assert (got["charger_id"], got["observation_id"], got["value"]) == ("EH999", 121, 7.25)
    assert got["value_text"] == "7.25"
    assert got["kind"] == "observation"
    assert got["error"] is None


def test_flat_form_with_type_name() -> None:
    body = {"ChargerId": "EC1", "ObservationId": 109, "Value": 3, "Timestamp": TS, "DataType": "Integer"}
    got = row(body, routing_key="EC1.O.109")
    assert (got["charger_id"], got["observation_id"], got["value"], got["label"]) == (
        "EC1",
        109,
        3.0,
        "Charging",
    )
    assert got["data_type"] == "Integer"


def test_body_ids_win_over_routing_key() -> None:
    got = row({"ChargerId": "EC2", "ObservationId": 121, "Value": 1.0, "Timestamp": TS}, "EH1.O.120")
    assert (got["charger_id"], got["observation_id"]) == ("EC2", 121)


@pytest.mark.parametrize(
    "body",
    [
        {"TIMESTAMP": TS, "VALUE": 1.5},
        {"timestamp": TS, "value": 1.5},
        {"tImEsTaMp": TS, "vAlUe": "1.5"},
        {"Timestamp": TS, "Value": 1.5, "Extra": 1},
    ],
)
def test_keys_are_case_insensitive(body: dict[str, Any]) -> None:
    got = row(body)
    assert (got["value"], micros(got["observed_at"]), got["error"]) == (1.5, TS_US, None)


# ----------------------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("sent", "value", "text"),
    [(True, 1.0, "true"), (False, 0.0, "false"), ("1", 1.0, "1"), ("0", 0.0, "0"),
     ("True", 1.0, "True"), ("false", 0.0, "false"), (1, 1.0, "1")],
)  # fmt: skip
def test_booleans(sent: Any, value: float, text: str) -> None:
    got = row({"Timestamp": TS, "Value": sent}, "EH1.O.102")
    assert (got["value"], got["value_text"], got["data_type"], got["error"]) == (value, text, "Boolean", None)


def test_bad_boolean_is_kept_with_an_error() -> None:
    got = row({"Timestamp": TS, "Value": "maybe"}, "EH1.O.102")
    assert got["value"] is None and got["value_text"] == "maybe"
    assert "not a Boolean" in got["error"]


def test_message_data_type_overrides_catalog() -> None:
    got = row({"mid": "EH1", "id": 120, "dataType": 2, "value": "1", "timestamp": TS})
    assert (got["value"], got["data_type"]) == (1.0, "Boolean")
    got = row({"mid": "EH1", "id": 120, "dataType": "String", "value": "12", "timestamp": TS})
    assert (got["value"], got["value_text"], got["data_type"]) == (None, "12", "String")


def test_unknown_message_type_falls_back_to_catalog() -> None:
    got = row({"mid": "EH1", "id": 120, "dataType": 42, "value": "2.5", "timestamp": TS})
    assert (got["value"], got["data_type"], got["error"]) == (2.5, "Double", None)


def test_numbers_as_text_and_integers() -> None:
    assert row({"Timestamp": TS, "Value": "11.5"})["value"] == 11.5
    got = row({"Timestamp": TS, "Value": 16}, "EH1.O.48")
    assert (got["value"], got["value_text"]) == (16.0, "16")


def test_not_a_number_for_a_double_is_an_error_but_kept() -> None:
    got = row({"Timestamp": TS, "Value": "abc"})
    assert got["value"] is None and got["value_text"] == "abc"
    assert "not a number" in got["error"]
    got = row({"Timestamp": TS, "Value": {"a": 1}})
    assert got["value_text"] == '{"a":1}' and "not a number" in got["error"]


def test_disputed_type_ids_decode_as_float() -> None:
    got = row({"Timestamp": TS, "Value": 41}, "EH1.O.150")
    assert (got["value"], got["data_type"], got["error"]) == (41.0, "Double", None)
    assert row({"Timestamp": TS, "Value": "38.5"}, "EH1.O.150")["value"] == 38.5


def test_unknown_id_numeric_and_text() -> None:
    got = row({"Timestamp": TS, "Value": "12.5"}, "EH1.O.999")
    assert (got["observation"], got["value"], got["value_text"], got["error"]) == (None, 12.5, "12.5", None)
    got = row({"Timestamp": TS, "Value": "hello"}, "EH1.O.999")
    assert (got["value"], got["value_text"], got["error"]) == (None, "hello", None)
    got = row({"Timestamp": TS, "Value": 7}, "EH1.O.999")
    assert (got["value"], got["value_text"], got["data_type"]) == (7.0, "7", None)


def test_unknown_enum_code_passes_through() -> None:
    got = row({"Timestamp": TS, "Value": 77}, "EH1.O.109")
    assert (got["value"], got["label"], got["error"]) == (77.0, None, None)


def test_enum_labels() -> None:
    assert row({"Timestamp": TS, "Value": 30}, "EH1.O.110")["label"] == "P3_T2_T3_T4_T5_TN"
    assert row({"Timestamp": TS, "Value": "52"}, "EH1.O.96")["label"] == "MaxDynamicChargerCurrentTooLow"
    assert row({"Timestamp": TS, "Value": 1}, "EH1.O.21")["label"] == "TN_3Phase"


def test_strings_have_no_numeric_value() -> None:
    got = row({"Timestamp": TS, "Value": "04A1B2C3"}, "EH1.O.128")
    assert (got["value"], got["value_text"], got["value_reversed"]) == (None, "04A1B2C3", None)


def test_user_id_token_reversed_keeps_original_and_reversed() -> None:
    got = row({"Timestamp": TS, "Value": "3C2B1A40"}, "EH1.O.108")
    assert (got["value_text"], got["value_reversed"]) == ("3C2B1A40", "04A1B2C3")


def test_position_value_is_json_text() -> None:
    got = row({"Timestamp": TS, "Value": {"Latitude": 59.9, "Longitude": 10.7}}, "EH1.O.25")
    assert json.loads(got["value_text"]) == {"Latitude": 59.9, "Longitude": 10.7}
    assert (got["value"], got["data_type"], got["error"]) == (None, "Position", None)


def test_null_value_is_clean_but_empty() -> None:
    got = row({"Timestamp": TS, "Value": None}, "EH1.O.96")
    assert (got["value"], got["value_text"], got["error"]) == (None, None, None)


def test_missing_value_is_an_error() -> None:
    got = row({"Timestamp": TS})
    assert "missing Value" in got["error"]
    assert micros(got["observed_at"]) == TS_US


# ------------------------------------------------------------------------------------------ times


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T12:34:56Z", datetime(2024, 5, 1, 12, 34, 56, tzinfo=UTC)),
        ("2024-05-01T12:34:56.1Z", datetime(2024, 5, 1, 12, 34, 56, 100_000, tzinfo=UTC)),
        ("2024-05-01T12:34:56.123Z", datetime(2024, 5, 1, 12, 34, 56, 123_000, tzinfo=UTC)),
        ("2024-05-01T12:34:56.123456Z", datetime(2024, 5, 1, 12, 34, 56, 123_456, tzinfo=UTC)),
        ("2024-05-01T12:34:56.1234567Z", datetime(2024, 5, 1, 12, 34, 56, 123_456, tzinfo=UTC)),
        ("2024-05-01T12:34:56.1234567z", datetime(2024, 5, 1, 12, 34, 56, 123_456, tzinfo=UTC)),
        ("2024-05-01T12:34:56+00:00", datetime(2024, 5, 1, 12, 34, 56, tzinfo=UTC)),
        ("2024-05-01T14:34:56.5+02:00", datetime(2024, 5, 1, 12, 34, 56, 500_000, tzinfo=UTC)),
        ("2024-05-01T07:34:56-05:00", datetime(2024, 5, 1, 12, 34, 56, tzinfo=UTC)),
        ("2024-05-01T12:34:56.864375", datetime(2024, 5, 1, 12, 34, 56, 864_375, tzinfo=UTC)),
        ("2024-05-01T12:34:56", datetime(2024, 5, 1, 12, 34, 56, tzinfo=UTC)),
        (" 2024-05-01T12:34:56Z ", datetime(2024, 5, 1, 12, 34, 56, tzinfo=UTC)),
    ],
)
def test_body_timestamp_forms(text: str, expected: datetime) -> None:
    got = row({"Timestamp": text, "Value": 1.0})
    assert micros(got["observed_at"]) == us(expected)
    assert got["error"] is None


def test_bad_and_missing_timestamps_are_errors_but_kept() -> None:
    got = row({"Timestamp": "yesterday", "Value": 1.0})
    assert got["observed_at"] is None and "Timestamp" in got["error"]
    assert got["value"] == 1.0  # everything else salvaged
    got = row({"Value": 1.0})
    assert got["observed_at"] is None and "missing Timestamp" in got["error"]


NOW = datetime(2024, 5, 1, 12, 34, 56, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "expected", "raw"),
    [
        ("2024-05-01T12:34:56.0000000Z", NOW, "2024-05-01T12:34:56.0000000Z"),
        (b"2024-05-01T12:34:56Z", NOW, "2024-05-01T12:34:56Z"),
        (datetime(2024, 5, 1, 12, 34, 56), NOW, "2024-05-01T12:34:56"),  # pika: naive UTC
        (datetime(2024, 5, 1, 14, 34, 56, tzinfo=timezone(timedelta(hours=2))), NOW, None),
        (1_714_566_896, NOW, "1714566896"),  # epoch seconds
        (1_714_566_896_000, NOW, "1714566896000"),  # epoch ms
        (1_714_566_896_000_000, NOW, "1714566896000000"),  # epoch µs
        (638_501_636_960_000_000, NOW, "638501636960000000"),  # .NET ticks
        ("638501636960000000", NOW, "638501636960000000"),
        (Decimal("1714566896.0"), NOW, "1714566896.0"),
    ],
)
def test_arrival_time_header_forms(header: Any, expected: datetime, raw: str | None) -> None:
    got = row({"Timestamp": TS, "Value": 1.0}, headers={"ArrivalTime": header})
    assert micros(got["arrival_time"]) == us(expected)
    if raw is not None:
        assert got["arrival_time_raw"] == raw
    assert got["error"] is None
    assert "ArrivalTime" in json.loads(got["headers"])


def test_arrival_time_absent_is_null_never_invented() -> None:
    got = row({"Timestamp": TS, "Value": 1.0})
    assert (got["arrival_time"], got["arrival_time_raw"], got["headers"]) == (None, None, None)
    got = row({"Timestamp": TS, "Value": 1.0}, headers={"other": "x"})
    assert got["arrival_time"] is None and json.loads(got["headers"]) == {"other": "x"}


def test_arrival_time_header_key_is_case_insensitive() -> None:
    got = row({"Timestamp": TS, "Value": 1.0}, headers={"arrivaltime": "2024-05-01T12:34:56Z", "x": 1})
    assert micros(got["arrival_time"]) == us(NOW)


def test_bad_arrival_time_keeps_the_raw_header_and_says_why() -> None:
    got = row({"Timestamp": TS, "Value": 1.0}, headers={"ArrivalTime": "soon"})
    assert got["arrival_time"] is None and got["arrival_time_raw"] == "soon"
    assert "ArrivalTime" in got["error"]
    assert got["value"] == 1.0


def test_all_headers_kept_as_json() -> None:
    headers = {"ArrivalTime": "2024-05-01T12:34:56Z", "n": 5, "b": b"\x01x", "nested": {"a": [1, 2]}}
    got = row({"Timestamp": TS, "Value": 1.0}, headers=headers)
    kept = json.loads(got["headers"])
    assert (
        kept["n"] == 5 and kept["nested"] == {"a": [1, 2]} and kept["ArrivalTime"] == headers["ArrivalTime"]
    )


def test_parse_timestamp_magnitudes() -> None:
    assert parse_timestamp_us(1_714_566_896.5) == 1_714_566_896_500_000
    with pytest.raises(ValueError):
        parse_timestamp_us(True)
    with pytest.raises(ValueError):
        parse_timestamp_us(float("nan"))


# ---------------------------------------------------------------------------------- kinds, malformed


def test_routing_key_kinds() -> None:
    assert parse_routing_key("EH1.O.120")[:3] == ("observation", "EH1", 120)
    assert parse_routing_key("EH1.CR.48.638501636960000000")[:2] == ("command_response", "EH1")
    assert parse_routing_key("EH1.P")[:2] == ("pulse", "EH1")
    assert parse_routing_key("EH1.P.3")[:2] == ("pulse", "EH1")
    assert parse_routing_key("SYS.1")[0] == "unknown"
    assert parse_routing_key("")[0] == "unknown"


def test_command_response_is_kept_with_its_kind() -> None:
    body = {"Id": 48, "Timestamp": TS, "WasAccepted": False, "ResultCode": 3, "Comment": "busy"}
    got = row(body, "EH1.CR.48.638501636960000000")
    assert (got["kind"], got["charger_id"], got["observation_id"]) == ("command_response", "EH1", None)
    assert (got["value"], got["label"], got["value_text"]) == (0.0, "rejected", "busy")
    assert micros(got["observed_at"]) == TS_US and got["error"] is None


def test_pulse_is_kept_even_empty() -> None:
    got = row(b"", "EH1.P")
    assert (got["kind"], got["charger_id"], got["raw"], got["error"]) == ("pulse", "EH1", b"", None)
    got = row({"Timestamp": TS}, "EH1.P")
    assert micros(got["observed_at"]) == TS_US


def test_unknown_routing_key_without_ids_is_unknown_kind() -> None:
    got = row({"hello": "world"}, "something.else")
    assert got["kind"] == "unknown"
    assert got["raw"] == b'{"hello": "world"}'


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe\x00garbage", "not"),
        (b"", "empty body"),
        (b"[1, 2]", "not an object"),
        (b'"just text"', "not an object"),
        (b"\xed\xa0\x80", "UTF-8"),
    ],
)
def test_malformed_bodies_are_kept_with_an_error(raw: bytes, why: str) -> None:
    got = row(raw, "EH1.O.120", headers={"ArrivalTime": "2024-05-01T12:34:56Z"}, redelivered=True)
    assert got["raw"] == raw
    assert why in got["error"]
    assert micros(got["received_at"]) == RECEIVED_US
    assert (got["routing_key"], got["redelivered"], got["kind"]) == ("EH1.O.120", True, "observation")
    assert (got["charger_id"], got["observation_id"]) == ("EH1", 120)  # salvaged from the key
    assert micros(got["arrival_time"]) == us(NOW)


def test_bad_observation_ids() -> None:
    got = row({"Timestamp": TS, "Value": 1.0}, "EH1.O.abc")
    assert got["observation_id"] is None and "routing key" in got["error"]
    got = row({"ChargerId": "EH1", "ObservationId": "x", "Value": 1.0, "Timestamp": TS}, "q")
    assert got["observation_id"] is None and "not an integer" in got["error"]
    got = row({"ChargerId": "EH1", "ObservationId": 2**40, "Value": 1.0, "Timestamp": TS}, "q")
    assert got["observation_id"] is None and "out of range" in got["error"]


def test_lone_surrogates_do_not_break_the_batch() -> None:
    got = row(b'{"Timestamp": "2024-05-01T12:34:56Z", "Value": "\\ud800x"}', "EH1.O.128")
    assert got["value_text"] is not None and "x" in got["value_text"]
    assert got["raw"] == b'{"Timestamp": "2024-05-01T12:34:56Z", "Value": "\\ud800x"}'


def test_nonsense_delivery_still_gives_a_row() -> None:
    odd = Delivery("EH1.O.120", b"{}", {"ArrivalTime": object()}, False, RECEIVED_US)
    frame = decode_deliveries([odd, ("bad",), delivery({"Timestamp": TS, "Value": 1.0})])  # type: ignore[list-item]
    assert frame.height == 3
    assert frame["error"][1].startswith("decoder failed")
    assert frame["value"][2] == 1.0


def test_empty_batch_has_the_schema() -> None:
    frame = decode_deliveries([])
    assert frame.height == 0 and frame.schema == pl.Schema(EASEE_SCHEMA)


def test_batch_keeps_order_and_count() -> None:
    deliveries = [delivery({"Timestamp": TS, "Value": float(i)}) for i in range(500)]
    deliveries.insert(250, delivery(b"garbage"))
    frame = decode_deliveries(deliveries)
    assert frame.height == 501
    assert frame["value"].to_list()[:3] == [0.0, 1.0, 2.0]
    assert frame["error"].null_count() == 500


def test_plain_tuples_are_accepted() -> None:
    body = b'{"Timestamp": "2024-05-01T12:34:56Z", "Value": 2.5}'
    frame = decode_deliveries(
        [("EH1.O.120", body, None, False, RECEIVED_US, 4), ("EH1.O.120", body, None, True, RECEIVED_US)]  # type: ignore[list-item]
    )
    assert frame["value"].to_list() == [2.5, 2.5]
    assert frame["conn_epoch"].to_list() == [4, 0]
    assert frame["error"].null_count() == 2
