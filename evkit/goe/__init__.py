"""go-e Charger knowledge (API v2): key table, enum labels, ``nrg`` layout, value validation. No I/O."""

from __future__ import annotations

from evkit.goe.keys import ENUM_LABELS, KEYS, READ_ONLY_KEYS, WRITABLE_KEYS, KeySpec, key_spec, label
from evkit.goe.status import (
    DEFAULT_PREFIX,
    NRG_FIELDS,
    decode_nrg,
    encode_json,
    parse_payload,
    parse_topic,
    result_topic,
    set_topic,
    state_topic,
)
from evkit.goe.values import GoeSetting, prepare_setting, validate_value, values_equal

__all__ = [
    "DEFAULT_PREFIX",
    "ENUM_LABELS",
    "KEYS",
    "NRG_FIELDS",
    "READ_ONLY_KEYS",
    "WRITABLE_KEYS",
    "GoeSetting",
    "KeySpec",
    "decode_nrg",
    "encode_json",
    "key_spec",
    "label",
    "parse_payload",
    "parse_topic",
    "prepare_setting",
    "result_topic",
    "set_topic",
    "state_topic",
    "validate_value",
    "values_equal",
]
