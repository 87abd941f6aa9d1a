"""evkit's go-e key table (``evkit.goe.keys``) against go-e's own tables (``goe_keys.csv``).

Each failure names the doc row (repository, commit, file, line) that evkit disagrees with.
"""

from __future__ import annotations

import re

import pytest

from evkit.errors import ValidationError
from evkit.goe.keys import KEYS, label
from evkit.goe.values import normalized_name, prepare_setting, validate_value
from tests.conformance.goe_doc import (
    INT_RANGES,
    SEED_MQTT_KEYS,
    by_key,
    documented_keys,
    firmware_enums,
    newest,
    plain_type,
)

DOCUMENTED = documented_keys()
WRITABLE = [key for key in DOCUMENTED if newest(key).access != "R"]


def test_the_fixture_is_go_es_tables() -> None:
    assert len(DOCUMENTED) > 340  # generic + 59.4 + 60.2 + 60.3 + 60.4 + MQTT page
    assert newest("bac").source.endswith("apikeys_Firmware_60.2_sortet.md:23")
    assert newest("mck").source.endswith("mqtt-en.md:37")


@pytest.mark.parametrize("key", DOCUMENTED)
def test_every_documented_key_is_known_with_the_newest_tables_access(key: str) -> None:
    doc = newest(key)
    assert key in KEYS, f"{key} is documented ({doc.source}) but unknown to evkit"
    assert KEYS[key].access == doc.access, f"{key}: evkit {KEYS[key].access}, go-e {doc.rw} ({doc.source})"


@pytest.mark.parametrize("key", SEED_MQTT_KEYS)
def test_the_seed_documents_mqtt_keys_are_writable(key: str) -> None:
    doc = by_key()[key]["mqtt"]
    assert doc.rw == "R/W"
    assert KEYS[key].writable, doc.source


@pytest.mark.parametrize("key", ["trx", "utc", "fsp", "frm"])
def test_keys_the_review_found_read_only_are_writable(key: str) -> None:
    assert KEYS[key].writable, newest(key).source


def _enum_keys(table: str) -> list[str]:
    keys = []
    for key, tables in by_key().items():
        row = tables.get(table)
        if row is None or not row.enums:
            continue
        base, _ = plain_type(row.part("get"))
        if base in INT_RANGES or base == "int":  # an enum inside an object/array is not the key's value
            keys.append(key)
    return sorted(keys)


@pytest.mark.parametrize("key", [*_enum_keys("60.4"), "bac", "sdp", "ust"])
def test_enum_labels_of_firmware_59_4_and_later_are_go_es_names(key: str) -> None:
    for code, name in firmware_enums(key).items():
        for firmware in ("059.4", "060.4"):
            assert label(key, code, firmware=firmware) == name, f"{key}={code} ({newest(key).source})"


@pytest.mark.parametrize("key", _enum_keys("generic"))
def test_enum_labels_of_older_firmware_are_the_generic_tables_names(key: str) -> None:
    row = by_key()[key]["generic"]
    for code, name in row.enums.items():
        assert label(key, code, firmware="056.2") == name, f"{key}={code} ({row.source})"


def test_err_switches_to_the_new_numbering_at_59_4_not_60() -> None:
    new = by_key()["err"]["59.4"].enums
    old = by_key()["err"]["generic"].enums
    for code in (13, 14, 15, 16):
        assert label("err", code, firmware="059.4") == new[code]
        assert label("err", code, firmware="059.9") == new[code]
        assert label("err", code, firmware="058.0") == old[code]
    assert label("err", 18, firmware="59.4") == "CpInvalid"


def test_err_without_firmware_gives_both_readings_where_the_tables_disagree() -> None:
    assert label("err", 14) == "FiUnknown (firmware 59.4+) or NoComm (before 59.4)"
    assert label("err", 5) == "Overamp"  # the same in both tables


@pytest.mark.parametrize("key", [k for k in WRITABLE if firmware_enums(k) and KEYS[k].choices is not None])
def test_writable_enums_take_the_number_or_the_documented_name(key: str) -> None:
    for code, name in firmware_enums(key).items():
        assert prepare_setting(key, str(code)).value == code
        assert prepare_setting(key, name).value == code, f"{key} {name} ({newest(key).source})"
        assert prepare_setting(key, name.upper().replace("_", "-")).value == code
    beyond = max(firmware_enums(key)) + 1
    with pytest.raises(ValidationError):
        prepare_setting(key, str(beyond))


def _int_writable() -> list[str]:
    return [k for k in WRITABLE if plain_type(newest(k).part("set"))[0] in INT_RANGES]


@pytest.mark.parametrize("key", _int_writable())
def test_integer_settings_never_go_beyond_the_documented_type(key: str) -> None:
    base, _ = plain_type(newest(key).part("set"))
    low, high = INT_RANGES[base]
    spec = KEYS[key]
    for outside in (low - 1, high + 1):
        with pytest.raises(ValidationError):
            validate_value(spec, outside)
    if spec.choices is None and spec.minimum == low and spec.maximum == high:  # not refined by evkit
        assert validate_value(spec, low) == low and validate_value(spec, high) == high


@pytest.mark.parametrize("key", [k for k in WRITABLE if plain_type(newest(k).part("set"))[0] == "bool"])
def test_bool_settings_take_booleans_only(key: str) -> None:
    spec = KEYS[key]
    assert validate_value(spec, True) is True and validate_value(spec, False) is False
    with pytest.raises(ValidationError):
        validate_value(spec, 1)


@pytest.mark.parametrize("key", WRITABLE)
def test_null_is_accepted_exactly_where_the_setter_is_optional(key: str) -> None:
    set_type = newest(key).part("set")
    _, nullable = plain_type(set_type)
    if set_type in ("JsonVariantConst", "any", "TYPE", "legacy") or "JsonVariantConst" in set_type:
        return  # the doc does not say
    spec = KEYS[key]
    if nullable:
        assert validate_value(spec, None) is None, newest(key).source
    else:
        with pytest.raises(ValidationError):
            validate_value(spec, None)


@pytest.mark.parametrize("key", ["bac", "sdp"])
def test_button_lock_names_follow_the_doc(key: str) -> None:
    doc = by_key()[key]["generic"]  # apikeys-en.md:25 / :232
    assert doc.enums == {
        0: "AlwaysLock",
        1: "LockWhenCarIsConnected",
        2: "LockWhenCarIsCharging",
        3: "NeverLock",
    }
    assert dict(KEYS[key].choices or {}) == doc.enums
    for text in ("NeverLock", "never-lock", "never lock", "NEVER_LOCK", "3"):
        assert prepare_setting(key, text).payload == "3"
    assert prepare_setting(key, "AlwaysLock").payload == "0"


def test_bac_unlocked_no_longer_sends_always_lock() -> None:
    # Old evkit named 0 "unlocked": `bac unlocked` sent 0, which locks the button for good.
    with pytest.raises(ValidationError, match="NeverLock"):
        prepare_setting("bac", "unlocked")


def test_the_http_examples_booleans_are_accepted_where_the_setter_takes_any_json() -> None:
    # http-en.md:40 `api/set?bac=false&sdp=true`; 59.4:22 `bac ... set: JsonVariantConst`
    assert "JsonVariantConst" in by_key()["bac"]["59.4"].type
    assert prepare_setting("bac", "false").payload == "false"
    assert prepare_setting("sdp", "true").payload == "true"
    # ... but not where the setter is a plain uint8 (ust: apikeys-en.md:263)
    with pytest.raises(ValidationError):
        prepare_setting("ust", "true")


def test_names_compare_case_insensitively_ignoring_separators() -> None:
    assert normalized_name("Never_Lock") == normalized_name("never-lock") == normalized_name("NEVER LOCK")


_UNIT_IN_TEXT = re.compile(r"\b(?:in|measured in)\s+(Wh|W|A|Volt|Hz|ct|watts|seconds|milliseconds|minutes)\b")
_UNIT = {"watts": "W", "Volt": "V", "seconds": "s", "milliseconds": "ms", "minutes": "min"}


@pytest.mark.parametrize("key", [k for k in DOCUMENTED if _UNIT_IN_TEXT.search(newest(k).description)])
def test_units_the_doc_names_are_evkits_units(key: str) -> None:
    doc = newest(key)
    match = _UNIT_IN_TEXT.search(doc.description)
    assert match is not None
    assert KEYS[key].unit == _UNIT.get(match[1], match[1]), f"{key}: {doc.description!r} ({doc.source})"
