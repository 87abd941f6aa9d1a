"""evcc state knowledge: topic parsing, payload decoding, evcc's value encoding."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from evkit.evcc.state import (
    Kind,
    decode,
    decode_payload,
    encode_state,
    parse_topic,
    unit_of,
)


def test_parse_loadpoint_vehicle_site_root_and_set_topics() -> None:
    lp = parse_topic("evcc/loadpoints/2/chargeCurrents/l1")
    assert lp is not None and (lp.scope, lp.device_id, lp.key, lp.is_set) == (
        "loadpoint",
        "loadpoints/2",
        "chargeCurrents/l1",
        False,
    )
    vehicle = parse_topic("evcc/vehicles/db:3/limitSoc/set")
    assert vehicle is not None and (vehicle.device_id, vehicle.key, vehicle.is_set) == (
        "vehicles/db:3",
        "limitSoc",
        True,
    )
    site = parse_topic("home/evcc/site/grid/power", prefix="home/evcc")
    assert site is not None and (site.scope, site.key, site.path) == ("site", "grid/power", "site/grid/power")
    root = parse_topic("evcc/updated")
    assert root is not None and (root.scope, root.device_id, root.key) == ("root", None, "updated")
    assert parse_topic("other/loadpoints/1/mode") is None
    assert parse_topic("evcc") is None


def test_units_follow_the_code_not_the_docs() -> None:
    assert unit_of("evcc/loadpoints/1/sessionEnergy") == "Wh"
    assert unit_of("evcc/loadpoints/1/chargeTotalImport") == "kWh"
    assert unit_of("evcc/loadpoints/1/chargeDuration") == "s"
    assert unit_of("evcc/site/grid/power") == "W"
    assert unit_of("evcc/loadpoints/1/someFutureKey") is None


def test_decode_known_kinds() -> None:
    assert decode("evcc/loadpoints/1/charging", b"true").value == 1.0
    assert decode("evcc/loadpoints/1/mode", b"pv").value is None
    assert decode("evcc/loadpoints/1/mode", b"pv").text == "pv"
    assert decode("evcc/loadpoints/1/chargePower", b"7360.5").value == 7360.5
    bad = decode("evcc/loadpoints/1/chargePower", b"lots")
    assert bad.value is None and bad.text == "lots" and bad.error is not None


def test_empty_payload_is_no_value_never_zero() -> None:
    for kind in (*Kind, None):
        decoded = decode_payload(b"", kind)
        assert decoded.value is None and decoded.text is None and decoded.error is None


def test_not_utf8_is_kept_with_an_error() -> None:
    decoded = decode_payload(b"\xff\xfe", Kind.FLOAT)
    assert decoded.error is not None and decoded.value is None


def test_encode_state_like_evcc() -> None:
    assert encode_state(2.0) == "2"
    assert encode_state(1.5) == "1.5"
    assert encode_state(0.1234) == "0.123"
    assert encode_state(80) == "80"
    assert encode_state(True) == "true"
    assert encode_state(None) == ""
    assert encode_state(math.nan) == "NaN"
    assert encode_state(math.inf) == "+Inf"


@settings(deadline=None)  # a busy 2-core CI box must not fail on timing
@given(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False))
def test_encoded_floats_decode_to_the_value_rounded_to_3_decimals(number: float) -> None:
    text = encode_state(number)
    assert not text.endswith(".") and not (("." in text) and text.endswith("0"))
    decoded = decode_payload(text.encode(), Kind.FLOAT)
    assert decoded.value is not None
    assert math.isclose(decoded.value, number, abs_tol=0.0005 + abs(number) * 1e-12)


@settings(deadline=None)  # a busy 2-core CI box must not fail on timing
@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_ints_round_trip(number: int) -> None:
    assert decode_payload(encode_state(number).encode(), Kind.INT).value == float(number)
