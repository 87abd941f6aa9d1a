"""go-e knowledge: the key table, validation before sending, JSON encoding, labels, nrg and topics.

Pure logic, no network.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evkit.errors import ValidationError
from evkit.goe import keys as goe_keys
from evkit.goe.keys import KEYS, READ_ONLY_KEYS, WRITABLE_KEYS, label
from evkit.goe.status import (
    NRG_FIELDS,
    PayloadError,
    decode_nrg,
    encode_json,
    parse_payload,
    parse_topic,
    result_topic,
    set_topic,
)
from evkit.goe.values import prepare_setting, validate_value, values_equal

# ------------------------------------------------------------------------------------------ key table


def test_the_keys_the_issue_names_are_writable_with_their_types() -> None:
    expected = {
        "amp": "int",
        "ama": "int",
        "frc": "int",
        "psm": "int",
        "lmo": "int",
        "acs": "int",
        "fna": "string",
        "dwo": "float",
        "fup": "bool",
        "mca": "int",
        "tcl": "int",
    }
    for name, kind in expected.items():
        assert KEYS[name].writable, name
        assert KEYS[name].kind == kind, name
    assert KEYS["dwo"].nullable and KEYS["tcl"].nullable
    assert dict(KEYS["frc"].choices or {}) == {0: "Neutral", 1: "Off", 2: "On"}  # apikeys-en.md:76
    assert set(KEYS["psm"].choices or {}) == {0, 1, 2}


def test_reference_writable_keys_are_all_in_the_table() -> None:
    for name in ("fzf", "pgt", "fst", "ids", "cch", "cfi", "cid", "cwc", "lbr", "ust", "bac", "sdp", "rst",
                 "mce", "mcu", "mcr", "mtp", "hai", "hla"):  # fmt: skip
        assert name in WRITABLE_KEYS, name


@pytest.mark.parametrize("name", ["alw", "car", "nrg", "eto", "err", "modelStatus", "wh", "tma", "var"])
def test_status_keys_are_read_only(name: str) -> None:
    assert name in READ_ONLY_KEYS
    assert not KEYS[name].writable


def test_every_read_only_hint_points_at_a_writable_key() -> None:
    for spec in KEYS.values():
        if spec.use_instead is not None:
            assert KEYS[spec.use_instead].writable, spec.name


def test_labels_decode_enums_and_stay_open_ended() -> None:
    assert label("car", 2) == "Charging"
    assert label("car", 4) == "Complete"
    assert label("frc", 1) == "Off"
    assert label("psm", 2) == "3-phase"
    assert label("lmo", 4) == "Awattar"
    assert label("modelStatus", 12) == "ChargingBecausePvSurplus"
    assert label("modelStatus", 250) is None  # new firmware codes appear: no exception
    assert label("car", None) is None
    assert label("car", True) is None
    assert label("car", 2.0) == "Charging"


def test_err_labels_follow_the_firmware_table() -> None:
    assert label("err", 14, firmware="056.2") == "NoComm"
    assert label("err", 14, firmware="060.4") == "FiUnknown"
    assert label("err", 18, firmware="60.4") == "CpInvalid"
    assert label("err", 18, firmware="056.2") is None
    assert goe_keys.ENUM_LABELS["car"] == goe_keys.CAR_LABELS


# ------------------------------------------------------------------------------------------ parsing text


@pytest.mark.parametrize(
    ("key", "text", "payload"),
    [
        ("amp", "16", "16"),
        ("amp", " 6 ", "6"),
        ("amp", "16.0", "16"),
        ("frc", "on", "2"),
        ("frc", "OFF", "1"),
        ("frc", "neutral", "0"),
        ("frc", "2", "2"),
        ("psm", "auto", "0"),
        ("psm", "1-phase", "1"),
        ("psm", "3-phase", "2"),
        ("lmo", "eco", "4"),
        ("lmo", "5", "5"),
        ("acs", "open", "0"),
        ("fna", "my charger", '"my charger"'),
        ("fna", '"my charger"', '"my charger"'),
        ("fna", "Garage ü", '"Garage ü"'),
        ("dwo", "null", "null"),
        ("dwo", "5000", "5000"),
        ("dwo", "5000.0", "5000"),
        ("dwo", "3.5", "3.5"),
        ("fup", "true", "true"),
        ("fup", "off", "false"),
        ("tcl", "none", "null"),
        ("cch", "#00ff00", '"#00ff00"'),
        ("mcu", "mqtt://broker:1883", '"mqtt://broker:1883"'),
        ("mtp", "null", "null"),
        ("ids", '{"pGrid": -1200.5, "pPv": 3000}', '{"pGrid":-1200.5,"pPv":3000}'),
        ("rst", "true", "true"),
    ],
)
def test_typed_text_becomes_the_exact_json_payload(key: str, text: str, payload: str) -> None:
    assert prepare_setting(key, text).payload == payload


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("amp", "5", "from 6 to 32"),
        ("amp", "33", "from 6 to 32"),
        ("amp", "16.5", "whole number"),
        ("amp", "sixteen", "whole number"),
        ("amp", "null", "null is not allowed"),
        ("amp", True, "whole number"),
        ("frc", "3", "0 (Neutral), 1 (Off), 2 (On)"),
        ("frc", "maybe", "0 (Neutral), 1 (Off), 2 (On)"),
        ("psm", "3", "1 (1-phase)"),
        ("lmo", "1", "3 (Default)"),
        ("fup", "yes please", "true or false"),
        ("fup", 1, "true or false"),
        ("fna", 5, "a text"),
        ("fna", "x" * 65, "at most 64"),
        ("fna", "two\nlines", "control characters"),
        ("dwo", "-1", "or null"),
        ("dwo", "nan", "or null"),
        ("dwo", "0", "from 1"),
        ("cch", "green", "#RRGGBB"),
        ("mcu", "http://x", "mqtt://"),
        ("lbr", "256", "from 0 to 255"),
        ("ids", '{"pGrid": "a"}', "pGrid"),
        ("ids", '{"pPv": 1}', "pGrid is missing"),
        ("ids", '{"pGrid": 1, "foo": 2}', "unknown field"),
        ("rst", "false", "send true"),
    ],
)
def test_bad_values_are_refused_with_what_is_allowed(key: str, value: Any, allowed: str) -> None:
    with pytest.raises(ValidationError) as caught:
        prepare_setting(key, value)
    assert allowed in str(caught.value)
    assert key in str(caught.value)


def test_read_only_key_is_refused_with_the_key_to_use_instead() -> None:
    with pytest.raises(ValidationError) as caught:
        prepare_setting("alw", "true")
    message = str(caught.value)
    assert "read-only" in message
    assert "'frc'" in message
    assert "2 (On)" in message


def test_read_only_key_is_refused_even_with_raw_key() -> None:
    with pytest.raises(ValidationError, match="read-only"):
        prepare_setting("car", "2", raw_key=True)


def test_unknown_key_is_refused_and_names_raw_key() -> None:
    with pytest.raises(ValidationError) as caught:
        prepare_setting("zzz", "1")
    assert "--raw-key" in str(caught.value)
    assert "amp" in str(caught.value)


def test_raw_key_sends_the_json_value_as_given() -> None:
    assert prepare_setting("xfw", "true", raw_key=True).payload == "true"
    assert prepare_setting("newkey", '{"a": [1, 2]}', raw_key=True).payload == '{"a":[1,2]}'
    assert prepare_setting("newkey", '"text"', raw_key=True).value == "text"
    with pytest.raises(ValidationError, match="quote text"):
        prepare_setting("newkey", "text", raw_key=True)


def test_raw_key_does_not_loosen_known_keys() -> None:
    with pytest.raises(ValidationError):
        prepare_setting("amp", "99", raw_key=True)


def test_amp_is_capped_by_the_chargers_current_ama() -> None:
    assert prepare_setting("amp", "16", state={"ama": 16}).value == 16
    with pytest.raises(ValidationError, match=r"current ama \(16\)"):
        prepare_setting("amp", "20", state={"ama": 16})
    with pytest.raises(ValidationError, match="current ama"):
        prepare_setting("mca", "20", state={"ama": 16})
    assert prepare_setting("amp", "20", state={"ama": None}).value == 20  # unknown cap: static rule only


# ------------------------------------------------------------------------------------------ properties


@settings(deadline=None)  # no timing: the box may be busy
@given(st.integers(min_value=6, max_value=32))
def test_every_allowed_current_encodes_as_a_plain_integer(amps: int) -> None:
    for given_value in (amps, float(amps), str(amps)):
        setting = prepare_setting("amp", given_value)
        assert setting.payload == str(amps)
        assert json.loads(setting.payload) == amps


@settings(deadline=None)  # no timing: the box may be busy
@given(st.integers().filter(lambda n: not 6 <= n <= 32))
def test_every_current_outside_the_range_is_refused(amps: int) -> None:
    with pytest.raises(ValidationError):
        prepare_setting("amp", amps)


@settings(deadline=None)  # no timing: the box may be busy
@given(st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not x.is_integer()))
def test_fractional_currents_are_refused(amps: float) -> None:
    with pytest.raises(ValidationError):
        prepare_setting("amp", amps)


@settings(deadline=None)  # no timing: the box may be busy
@given(st.text(alphabet=st.characters(min_codepoint=0x20, exclude_categories=("Cs",)), max_size=64))
def test_any_friendly_name_round_trips_through_json(name: str) -> None:
    setting = prepare_setting("fna", name)
    assert json.loads(setting.payload) == name


@settings(deadline=None)  # no timing: the box may be busy
@given(st.one_of(st.none(), st.floats(min_value=1, max_value=1_000_000)))
def test_energy_limit_payload_is_valid_json_of_the_same_value(limit: float | None) -> None:
    setting = prepare_setting("dwo", limit)
    decoded = json.loads(setting.payload)
    if limit is None:
        assert decoded is None
    else:
        assert math.isclose(decoded, limit)


_ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=80),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.sampled_from(["pGrid", "pPv", "pAkku", "x"]), st.floats(), max_size=3),
)


@settings(deadline=None)  # no timing: the box may be busy
@given(st.sampled_from(sorted(WRITABLE_KEYS)), _ANY_VALUE)
def test_validation_either_refuses_or_yields_encodable_json(key: str, value: object) -> None:
    try:
        checked = validate_value(KEYS[key], value)
    except ValidationError:
        return
    assert json.loads(encode_json(checked)) == json.loads(json.dumps(checked))


@settings(deadline=None)  # no timing: the box may be busy
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
        max_leaves=10,
    )
)
def test_encode_then_parse_payload_round_trips(value: Any) -> None:
    assert values_equal(parse_payload(encode_json(value).encode()), value)


def test_values_equal_treats_bools_and_numbers_apart() -> None:
    assert values_equal(16, 16.0)
    assert not values_equal(True, 1)
    assert values_equal(None, None)
    assert not values_equal(None, 0)


# ------------------------------------------------------------------------------- payloads, nrg, topics


def test_parse_payload_refuses_non_json_clearly() -> None:
    with pytest.raises(PayloadError, match="not JSON"):
        parse_payload(b"on")
    with pytest.raises(PayloadError, match="UTF-8"):
        parse_payload(b"\xff\xfe")
    assert parse_payload(b"") is None


def test_nrg_layout_names_all_sixteen_values() -> None:
    raw = [230.1, 231.0, 229.5, 0.0, 16.0, 15.9, 16.1, 3680.0, 3670.0, 3690.0, 0.0, 11040.0, 99, 98, 97, 0]
    decoded = decode_nrg(raw)
    assert len(NRG_FIELDS) == 16
    assert decoded["voltage_l1"] == 230.1
    assert decoded["current_l3"] == 16.1
    assert decoded["power_total"] == 11040.0
    assert decoded["pf_l1"] == 99.0


def test_nrg_tolerates_short_arrays_and_odd_items() -> None:
    decoded = decode_nrg([230, "err", None])
    assert decoded["voltage_l1"] == 230.0
    assert decoded["voltage_l2"] is None
    assert decoded["power_total"] is None
    assert all(value is None for value in decode_nrg(None).values())


def test_topics_with_and_without_leading_slash() -> None:
    assert set_topic("012345", "amp") == "go-eCharger/012345/amp/set"
    assert result_topic("012345", "amp", "home") == "home/012345/amp/result"
    parsed = parse_topic("/go-eCharger/012345/nrg")
    assert parsed is not None and parsed.leading_slash and parsed.key == "nrg"
    result = parse_topic("go-eCharger/012345/amp/result")
    assert result is not None and result.kind == "result" and result.serial == "012345"
    assert parse_topic("evcc/site/pvPower") is None
    assert parse_topic("go-eCharger/012345/amp/other") is None


# ------------------------------------------------------------------------------------------ enum names

_ENUM_SETTINGS = sorted(
    (key, code, name)
    for key, spec in KEYS.items()
    if spec.writable and spec.choices is not None
    for code, name in spec.choices.items()
)


@settings(max_examples=300, deadline=None)
@given(
    case=st.sampled_from(_ENUM_SETTINGS),
    flips=st.lists(st.booleans(), min_size=40, max_size=40),
    separators=st.lists(st.sampled_from(["", "", "", "_", "-", " "]), min_size=40, max_size=40),
)
def test_enum_names_parse_whatever_the_case_and_separators(
    case: tuple[str, int, str], flips: list[bool], separators: list[str]
) -> None:
    key, code, name = case
    typed = "".join(
        (char.upper() if flip else char.lower()) + sep
        for char, flip, sep in zip(name, flips, separators, strict=False)
    )
    assert prepare_setting(key, typed.strip(" _-") or name).value == code


@given(st.text(min_size=1, max_size=20))
def test_anything_that_is_no_name_or_number_of_bac_is_refused(text: str) -> None:
    names = {"alwayslock", "lockwhencarisconnected", "lockwhencarischarging", "neverlock", "true", "false"}
    squashed = re.sub(r"[\s_\-]+", "", text).lower()
    if squashed in names or text.strip().lstrip("+-").isdigit():
        return
    with pytest.raises(ValidationError):
        prepare_setting("bac", text)
