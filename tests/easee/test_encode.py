"""Wire encoding: forms, .NET-style times, ticks, command responses and pulses."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from evkit.easee.decode import Delivery, decode_deliveries
from evkit.easee.encode import (
    arrival_time_header,
    dotnet_ticks,
    encode_command_response,
    encode_observation,
    encode_pulse,
    format_timestamp,
)

MOMENT = datetime(2024, 5, 1, 12, 34, 56, 123456, tzinfo=UTC)


def test_times_look_like_dotnet() -> None:
    assert format_timestamp(MOMENT) == "2024-05-01T12:34:56.1234560Z"
    assert arrival_time_header(MOMENT) == "2024-05-01T12:34:56.1234560Z"
    assert format_timestamp(datetime(2024, 5, 1, 12, 34, 56)) == "2024-05-01T12:34:56.0000000Z"  # naive = UTC
    plus_two = MOMENT.astimezone(timezone(timedelta(hours=2)))
    assert format_timestamp(plus_two) == "2024-05-01T12:34:56.1234560Z"


def test_ticks() -> None:
    assert dotnet_ticks(datetime(1970, 1, 1, tzinfo=UTC)) == 621_355_968_000_000_000
    assert dotnet_ticks(datetime(2024, 5, 1, 12, 34, 56, tzinfo=UTC)) == 638_501_636_960_000_000


def test_masterloop_body_is_typed_json() -> None:
    key, body = encode_observation("EH1", 102, "1", MOMENT)
    assert key == "EH1.O.102"
    assert json.loads(body) == {"Timestamp": "2024-05-01T12:34:56.1234560Z", "Value": True}
    assert json.loads(encode_observation("EH1", 109, 3.0, MOMENT)[1])["Value"] == 3
    assert json.loads(encode_observation("EH1", 120, 7, MOMENT)[1])["Value"] == 7.0
    assert json.loads(encode_observation("EH1", 96, None, MOMENT)[1])["Value"] is None


def test_signalr_body_values_are_text() -> None:
    body = json.loads(encode_observation("EH1", 102, True, MOMENT, "signalr")[1])
    assert body == {
        "mid": "EH1",
        "dataType": 2,
        "id": 102,
        "value": "1",
        "timestamp": format_timestamp(MOMENT),
    }
    assert json.loads(encode_observation("EH1", 120, 7.5, MOMENT, "signalr")[1])["value"] == "7.5"


def test_flat_body() -> None:
    body = json.loads(encode_observation("EH1", 121, 2.5, MOMENT, "flat")[1])
    assert body == {
        "ChargerId": "EH1",
        "ObservationId": 121,
        "Value": 2.5,
        "Timestamp": format_timestamp(MOMENT),
        "DataType": "Double",
    }


def test_unknown_form_is_refused() -> None:
    with pytest.raises(ValueError, match="masterloop"):
        encode_observation("EH1", 120, 1.0, MOMENT, "xml")  # type: ignore[arg-type]


def test_command_response_and_pulse_decode_back() -> None:
    ticks = dotnet_ticks(MOMENT)
    key, body = encode_command_response("EH1", 48, ticks, accepted=True, at=MOMENT, comment="ok")
    assert key == f"EH1.CR.48.{ticks}"
    pulse_key, pulse_body = encode_pulse("EH1", MOMENT)
    frame = decode_deliveries(
        [Delivery(key, body, None, False, 1), Delivery(pulse_key, pulse_body, None, False, 1)]
    )
    assert frame["kind"].to_list() == ["command_response", "pulse"]
    assert frame["label"][0] == "accepted"
    assert frame["observed_at"].to_list() == [MOMENT.replace(microsecond=123456)] * 2
    assert frame["error"].null_count() == 2
