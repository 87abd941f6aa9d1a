"""Easee command encoding and response parsing, checked against the documented wire form.

Fixtures are Easee's and Masterloop's own text (see ``evkit/easee/commands.py`` for the sources):
the DOC-CMD body example, Masterloop's routing-key grammar and CommandResponse fields, and a live
SignalR CommandResponse from evcc issue #8572.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evkit.easee.commands import (
    COMMANDS,
    READBACK,
    build_command,
    check_serial,
    command_arguments,
    command_expires_at,
    command_table,
    expand_alias,
    find_command,
    parse_command_message,
    parse_command_response,
    readback_matches,
    ticks_of,
    time_of_ticks,
)
from evkit.errors import ValidationError

#: DOC-CMD (developer.easee.com/docs/amqp-commands): SetDynamicChargerCurrent 13 A for 5 minutes.
DOC_EXAMPLE = (
    '{"Id":48,"ExpiresAt":"2023-05-04T17:00:23.6305199Z",'
    '"Arguments":[{"Id":1,"Value":"13"},{"Id":2,"Value":"5"}]}'
)
#: evcc #8572 (SignalR CommandResponse, evcc charger/easee/signalr.go:50-59 field names).
EVCC_LIVE_TICKS = 638229301050930920
AT = datetime(2023, 5, 4, 16, 55, 23, 630519, tzinfo=UTC)


def test_documented_table_ids_names_and_argument_counts() -> None:
    expected = {
        1: ("Reboot", 0), 4: ("UpgradeFirmware", 0), 11: ("SetSmartCharging", 1),
        21: ("SetDynamicCurrentOfflineFallback", 3), 22: ("SetDynamicCircuitCurrent", 4),
        24: ("SetMaxCircuitCurrent", 3), 25: ("AuthorizeCharging", 2), 26: ("DeauthorizeCharging", 2),
        29: ("SetEnabled", 1), 30: ("SetLockCablePermanently", 1), 47: ("SetMaxChargerCurrent", 1),
        48: ("SetDynamicChargerCurrent", 2), 63: ("OverrideSchedule", 0),
    }  # fmt: skip
    assert {i: (s.name, len(s.args)) for i, s in COMMANDS.items()} == expected
    assert {i for i, s in COMMANDS.items() if s.flash} == {24, 47}


def test_body_matches_the_documented_example() -> None:
    command = build_command("EH123456", "SetDynamicChargerCurrent", ["13", "5"], at=AT, expires_in=300)
    doc = json.loads(DOC_EXAMPLE)
    body = json.loads(command.body)
    assert body["Id"] == doc["Id"]
    assert body["Arguments"] == doc["Arguments"]
    assert body["ExpiresAt"] == doc["ExpiresAt"][:-2] + "0Z"  # .NET form, 7 digits (µs precision here)
    assert body["Timestamp"] == "2023-05-04T16:55:23.6305190Z"
    assert list(body) == ["Id", "Timestamp", "ExpiresAt", "Arguments"]


def test_routing_key_carries_dotnet_ticks_of_the_command_time() -> None:
    command = build_command("eh123456", 48, [13, 5], at=AT)
    # 2023-05-04T16:55:23.630519Z in .NET ticks: 100 ns since 0001-01-01.
    span = AT - datetime(1, 1, 1, tzinfo=UTC)
    ticks = (span.days * 86400 + span.seconds) * 10**7 + span.microseconds * 10
    assert command.routing_key == f"EH123456.C.48.{ticks}"
    assert command.response_key == f"EH123456.CR.48.{ticks}"
    assert time_of_ticks(EVCC_LIVE_TICKS).year == 2023  # the live value is a plausible 2023 time


def test_values_are_strings_with_one_based_ids() -> None:
    command = build_command("EH123456", 22, [10.5, 16, 0, 15], at=AT)
    args = json.loads(command.body)["Arguments"]
    assert args == [
        {"Id": 1, "Value": "10.5"},
        {"Id": 2, "Value": "16"},
        {"Id": 3, "Value": "0"},
        {"Id": 4, "Value": "15"},
    ]


def test_booleans_are_written_as_masterloop_writes_them() -> None:
    # Masterloop DataTypeStringConverter.cs:9-12: "1"/"0" (ParseBooleanValue accepts nothing else).
    assert build_command("EH123456", "setenabled", ["on"], at=AT).arguments == ("1",)
    assert build_command("EH123456", 29, [False], at=AT).arguments == ("0",)
    assert build_command("EH123456", 30, ["TRUE"], at=AT).arguments == ("1",)


@pytest.mark.parametrize(
    ("command", "args", "fragment"),
    [
        (48, ["5", "5"], "0 (pause) or 6-32"),
        (48, ["33", "5"], "0 (pause) or 6-32"),
        (48, ["13.5", "5"], "not a whole number"),
        (48, ["13", "0"], "1-1440"),
        (48, ["13", "1441"], "1-1440"),
        (48, ["13"], "takes 2 argument(s), got 1"),
        (48, ["13", "5", "1"], "takes 2 argument(s), got 3"),
        (48, ["nan", "5"], "0 (pause)"),
        (48, ["inf", "5"], "0 (pause)"),
        (22, ["40", "16", "16", "5"], "CurrentP1"),
        (29, ["maybe"], "true/false"),
        (1, ["now"], "takes 0 argument(s)"),
        (25, ["has space", "1"], "RFID token"),
        (25, ["ABC", "-1"], "whole number"),
        ("SetFoo", [], "unknown Easee command"),
        (2, [], "unknown Easee command"),  # PollSingle: in the template, not in the partner doc
    ],
)
def test_refusals_say_what_is_allowed(command: object, args: list[str], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        build_command("EH123456", command, args, at=AT)  # type: ignore[arg-type]


@pytest.mark.parametrize("serial", ["EH12345", "EH1234567", "12345678", "EH-12345", "", "EH 12345"])
def test_bad_serials_are_refused(serial: str) -> None:
    with pytest.raises(ValidationError, match="EH123456"):
        check_serial(serial)


def test_equalizer_serial_is_refused_with_a_reason() -> None:
    with pytest.raises(ValidationError, match="Equalizer"):
        check_serial("QP123456")


def test_names_are_case_insensitive_and_ids_work() -> None:
    assert find_command("setdynamicchargercurrent").id == 48
    assert find_command("48").name == "SetDynamicChargerCurrent"
    assert find_command(" OverrideSchedule ").id == 63


def test_aliases() -> None:
    assert expand_alias("pause", []) == ("48", ["0", "60"])
    assert expand_alias("current", ["13"], ttl=5) == ("48", ["13", "5"])
    assert expand_alias("resume", [], ttl=30) == ("48", ["32", "30"])
    assert expand_alias("disable", []) == ("29", ["false"])
    assert expand_alias("SetEnabled", ["true"]) == ("SetEnabled", ["true"])
    with pytest.raises(ValidationError, match="--ttl does not apply"):
        expand_alias("enable", [], ttl=5)
    with pytest.raises(ValidationError, match="takes 1 argument"):
        expand_alias("current", [])
    with pytest.raises(ValidationError, match="--ttl goes with"):
        expand_alias("SetDynamicChargerCurrent", ["13", "5"], ttl=5)


def test_readback_table_as_the_issue_lists_it() -> None:
    assert [o for o, _ in READBACK[48]] == [48]
    assert [o for o, _ in READBACK[47]] == [47]
    assert [o for o, _ in READBACK[29]] == [31]
    assert [o for o, _ in READBACK[30]] == [30]
    assert [o for o, _ in READBACK[11]] == [102]
    assert [o for o, _ in READBACK[22]] == [111, 112, 113]
    command = build_command("EH123456", 22, ["10", "11", "12", "5"], at=AT)
    assert command.readback == ((111, "10"), (112, "11"), (113, "12"))
    assert build_command("EH123456", 1, [], at=AT).readback == ()


def test_readback_matching() -> None:
    assert readback_matches("13", 13.0)
    assert readback_matches("13", "13.0")
    assert readback_matches("1", True)
    assert readback_matches("1", "true")
    assert readback_matches("0", "0")
    assert not readback_matches("13", "12.9")
    assert not readback_matches("1", "false")
    assert not readback_matches("13", None)


# ------------------------------------------------------------------------------------ responses


def test_masterloop_response_parsed() -> None:
    # ML Commands/CommandResponse.cs:7-17: Id, Timestamp, DeliveredAt, WasAccepted, ResultCode, Comment.
    body = {
        "Id": 48,
        "Timestamp": "2023-05-04T16:55:24.1000000Z",
        "DeliveredAt": "2023-05-04T16:55:24.0000000Z",
        "WasAccepted": True,
        "ResultCode": 0,
        "Comment": None,
    }
    response = parse_command_response("EH123456.CR.48.638188557236305190", json.dumps(body).encode())
    assert response is not None
    assert (response.serial, response.command_id, response.ticks) == ("EH123456", 48, 638188557236305190)
    assert response.was_accepted is True and response.result_code == 0 and response.comment is None
    assert response.delivered_at == datetime(2023, 5, 4, 16, 55, 24, tzinfo=UTC)


def test_signalr_style_response_parsed_from_the_body() -> None:
    # evcc #8572: "ID:22 ... WasAccepted:true ResultCode:0 Comment: Ticks:638229301050930920"
    body = {"SerialNumber": "EH123456", "ID": 22, "WasAccepted": True, "ResultCode": 0, "Comment": "",
            "Ticks": EVCC_LIVE_TICKS}  # fmt: skip
    response = parse_command_response("whatever", body)
    assert response is not None
    assert (response.serial, response.command_id, response.ticks) == ("EH123456", 22, EVCC_LIVE_TICKS)
    assert response.was_accepted is True and response.comment is None


def test_camel_case_rejection() -> None:
    body = b'{"id":48,"wasAccepted":false,"resultCode":3,"comment":"busy","deliveredAt":null}'
    response = parse_command_response("EH123456.CR.48.1", body)
    assert response is not None
    assert response.was_accepted is False and response.result_code == 3 and response.comment == "busy"


def test_not_a_response() -> None:
    assert parse_command_response("EH123456.O.48", b'{"Timestamp":"x","Value":1}') is None
    assert parse_command_response("EH123456.CR.48.1", b"not json") is not None  # key is enough


def test_command_message_round_trip() -> None:
    command = build_command("EH123456", 48, ["13", "5"], at=AT, expires_in=60)
    serial, cid, ticks, body = parse_command_message(command.routing_key, command.body)
    assert (serial, cid, ticks) == ("EH123456", 48, command.ticks)
    assert command_arguments(body) == ["13", "5"]
    assert command_expires_at(body) == AT + timedelta(seconds=60)
    assert command_arguments(json.loads(DOC_EXAMPLE)) == ["13", "5"]
    with pytest.raises(ValueError, match="not a command"):
        parse_command_message("EH123456.O.48", b"{}")


def test_command_table_lists_everything() -> None:
    rows = command_table()
    assert [r["id"] for r in rows] == sorted(COMMANDS)
    assert rows[-2]["readback"] == [48]


# ---------------------------------------------------------------------------------- properties

_moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@given(_moments)
def test_ticks_round_trip(moment: datetime) -> None:
    assert time_of_ticks(ticks_of(moment)) == moment


@given(_moments, _moments)
def test_ticks_are_monotonic(a: datetime, b: datetime) -> None:
    assert (ticks_of(a) < ticks_of(b)) == (a < b)


@given(st.one_of(st.just(0), st.integers(6, 32)), st.integers(1, 1440), _moments)
def test_valid_dynamic_current_always_builds(amps: int, ttl: int, moment: datetime) -> None:
    command = build_command("EH123456", 48, [amps, ttl], at=moment)
    body = json.loads(command.body)
    assert body["Arguments"] == [{"Id": 1, "Value": str(amps)}, {"Id": 2, "Value": str(ttl)}]
    assert all(isinstance(a["Value"], str) for a in body["Arguments"])
    assert command.routing_key.split(".")[-1] == str(ticks_of(moment))


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_out_of_range_currents_never_build(amps: float) -> None:
    allowed = amps == 0 or 6 <= amps <= 32
    try:
        build_command("EH123456", 22, [amps, 16, 16, 5], at=datetime(2024, 1, 1, tzinfo=UTC))
    except ValidationError:
        assert not allowed
    else:
        assert allowed


@given(st.integers(-5000, 5000))
def test_ttl_range(ttl: int) -> None:
    try:
        build_command("EH123456", 48, [16, ttl], at=datetime(2024, 1, 1, tzinfo=UTC))
    except ValidationError:
        assert not 1 <= ttl <= 1440
    else:
        assert 1 <= ttl <= 1440


@given(st.text(max_size=12))
def test_serial_check_is_total(serial: str) -> None:
    try:
        checked = check_serial(serial)
    except ValidationError:
        return
    assert len(checked) == 8 and checked.startswith("E") and checked == checked.upper()


@given(
    st.sampled_from(["Id", "id", "ID"]),
    st.sampled_from(["WasAccepted", "wasAccepted", "wasaccepted"]),
    st.booleans(),
    st.one_of(st.none(), st.integers(-5, 500)),
)
def test_response_parsing_ignores_casing(id_key: str, ok_key: str, ok: bool, code: int | None) -> None:
    body = json.dumps({id_key: 48, ok_key: ok, "ResultCode": code}).encode()
    response = parse_command_response("EH123456.CR.48.42", body)
    assert response is not None
    assert response.was_accepted is ok and response.result_code == code and response.ticks == 42
