"""Validating and encoding go-e settings: the rules every write goes through before it is sent.

``prepare_setting("amp", "16")`` turns what a person typed into a :class:`GoeSetting` holding the value
and the exact JSON payload (``16``), or raises :class:`evkit.errors.ValidationError` whose message says
what is allowed. The simulator applies incoming sets with :func:`validate_value`, so it refuses exactly
what the kit refuses.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from evkit.errors import ValidationError
from evkit.goe.keys import KEYS, KeySpec, hardware_current_limit
from evkit.goe.status import encode_json
from evkit.secrets import is_secret_key

_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")
_URL_SCHEMES = ("mqtt://", "mqtts://", "ws://", "wss://")
_INT_TEXT = re.compile(r"^[+-]?\d+$")
_TRUE_WORDS = frozenset({"true", "1", "on", "yes"})
_FALSE_WORDS = frozenset({"false", "0", "off", "no"})
_NULL_WORDS = frozenset({"null", "none"})
_IDS_FIELDS = ("pGrid", "pPv", "pAkku")
#: Line breaks allowed in PEM certificates and keys (mck, mqcc, msc, ocpp*).
_PEM_CONTROL = frozenset("\n\r")
SECRET_SHOWN = "***"


def _shown(key: str, value: Any) -> str:
    """``repr`` of a value for a message; ``***`` for a secret key (``mck``, ``wifis``, ...)."""
    spec = KEYS.get(key)
    if is_secret_key(key) or (spec is not None and spec.secret):
        return SECRET_SHOWN
    return repr(value)


def normalized_name(text: str) -> str:
    """An enum name as compared: case-insensitive, ignoring ``_``, ``-`` and spaces
    (``NeverLock`` == ``never-lock`` == ``never lock``)."""
    return re.sub(r"[\s_\-]+", "", text).lower()


@dataclass(frozen=True)
class GoeSetting:
    """A validated setting: the key, the Python value and the exact JSON payload to send."""

    key: str
    value: Any
    payload: str
    raw_key: bool = False

    @property
    def secret(self) -> bool:
        """True when the value is a secret (``mck``, ``ocppck``, ``wifis``...): never shown or logged."""
        spec = KEYS.get(self.key)
        return is_secret_key(self.key) or (spec is not None and spec.secret)

    @property
    def shown_payload(self) -> str:
        """The payload as it may be shown and logged: ``***`` for a secret."""
        return SECRET_SHOWN if self.secret else self.payload

    def __str__(self) -> str:
        return f"{self.key}={self.shown_payload}"


def prepare_setting(
    key: str,
    value: Any,
    *,
    state: Mapping[str, Any] | None = None,
    raw_key: bool = False,
) -> GoeSetting:
    """Validate ``value`` for ``key`` and encode it; ``value`` may be typed text (CLI, widgets).

    Text is parsed by the key's type first (``"16"`` -> 16, ``"on"`` -> 2 for ``frc``,
    ``"null"`` for nullable keys, plain or JSON-quoted text for strings). ``state`` holds the
    charger's current values and enables cross-key limits (``amp`` <= ``ama``).
    ``raw_key`` allows a key evkit does not know (newer firmware): its value is sent as the JSON
    given, unchecked. Known keys are always checked; read-only keys are always refused.
    Raises :class:`ValidationError` (nothing may be sent) with what is allowed.
    """
    check_key(key, raw_key=raw_key)
    spec = KEYS.get(key)
    if spec is None:
        parsed = _parse_raw_json(key, value) if isinstance(value, str) else value
        try:
            payload = encode_json(parsed)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"{key}: the value cannot be sent as JSON ({exc})") from exc
        return GoeSetting(key, parsed, payload, raw_key=True)
    parsed = parse_text(spec, value) if isinstance(value, str) else value
    checked = validate_value(spec, parsed, state=state)
    return GoeSetting(key, checked, encode_json(checked), raw_key=False)


_TEXT_KINDS = frozenset({"string", "color", "url"})


def check_key(key: str, *, raw_key: bool = False) -> KeySpec | None:
    """The key's spec if it may be written; raises :class:`ValidationError` for read-only keys, and
    for unknown keys unless ``raw_key``.
    """
    spec = KEYS.get(key)
    if spec is None:
        if raw_key:
            return None
        close = difflib.get_close_matches(key, [name for name, spec in KEYS.items() if spec.writable], n=3)
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        raise ValidationError(
            f"unknown go-e key {key!r}: not in go-e's key tables; {hint}`evkit set goe --list` shows the "
            f"{sum(spec.writable for spec in KEYS.values())} writable keys (amp, frc, lmo, fna, ...). For "
            "a key of newer firmware pass --raw-key (raw_key=True) to send the JSON value as given"
        )
    if not spec.writable:
        hint = ""
        if spec.use_instead:
            other = KEYS[spec.use_instead]
            hint = f"; write {other.name!r} instead ({other.description}: {other.allowed()})"
        raise ValidationError(f"{key!r} is read-only ({spec.description}){hint}")
    return spec


def parse_text(spec: KeySpec, text: str) -> Any:
    """Turn typed text into the Python value for ``spec`` (not yet range-checked)."""
    stripped = text.strip()
    lowered = stripped.lower()
    if spec.nullable and lowered in _NULL_WORDS:
        return None
    if spec.kind in _TEXT_KINDS:
        return _parse_text_value(spec, text)
    if lowered in _NULL_WORDS and not (spec.choices and _is_choice_name(spec, stripped)):
        raise ValidationError(f"{spec.name}: null is not allowed; expected {spec.allowed()}")
    if spec.choices is not None:
        if spec.accepts_bool and lowered in ("true", "false"):
            return lowered == "true"
        return _parse_choice(spec, stripped)
    if spec.kind == "int":
        return _parse_number(spec, stripped)
    if spec.kind == "float":
        return _parse_number(spec, stripped)
    if spec.kind == "bool":
        if lowered in _TRUE_WORDS:
            return True
        if lowered in _FALSE_WORDS:
            return False
        raise ValidationError(f"{spec.name}: {_shown(spec.name, text)} is not {spec.allowed()}")
    return _parse_raw_json(spec.name, stripped)


def _parse_text_value(spec: KeySpec, text: str) -> Any:
    # Strings may be typed plain (my charger) or JSON-quoted ("my charger"); both mean the same text.
    if spec.nullable and text.strip().lower() in _NULL_WORDS:
        return None
    stripped = text.strip()
    if len(stripped) >= 2 and stripped[0] == '"' and stripped[-1] == '"':
        try:
            decoded = json.loads(stripped)
        except json.JSONDecodeError:
            return text
        if isinstance(decoded, str):
            return decoded
    return text


def _choice_names(spec: KeySpec) -> dict[str, int]:
    names: dict[str, int] = {}
    for table in (spec.labels_before_59_4 or {}, spec.choices or {}):
        names.update({normalized_name(name): code for code, name in table.items()})
    names.update({normalized_name(alias): code for alias, code in spec.aliases.items()})
    return names


def _is_choice_name(spec: KeySpec, text: str) -> bool:
    return normalized_name(text) in _choice_names(spec)  # tds 0 is named "None"


def _parse_choice(spec: KeySpec, text: str) -> Any:
    """The code of a number or documented name (any firmware's table, or an alias); case, ``_``, ``-``
    and spaces do not matter."""
    assert spec.choices is not None
    if _INT_TEXT.match(text):
        return int(text)
    wanted = normalized_name(text)
    names = _choice_names(spec)
    if wanted in names:
        return names[wanted]
    raise ValidationError(f"{spec.name}: {text!r} is not {spec.allowed()}")


def _parse_number(spec: KeySpec, text: str) -> Any:
    if _INT_TEXT.match(text):
        return int(text)
    try:
        number = float(text)
    except ValueError:
        raise ValidationError(f"{spec.name}: {_shown(spec.name, text)} is not {spec.allowed()}") from None
    if not math.isfinite(number):
        raise ValidationError(f"{spec.name}: {_shown(spec.name, text)} is not {spec.allowed()}")
    return number


def _parse_raw_json(key: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        example = "'\"...\"'" if _shown(key, text) == SECRET_SHOWN else f"'\"{text}\"'"
        raise ValidationError(
            f"{key}: {_shown(key, text)} is not JSON; the value is sent as JSON as given, so quote text "
            f"(e.g. {example}), and write numbers, true/false or null plainly"
        ) from None


def validate_value(spec: KeySpec, value: Any, *, state: Mapping[str, Any] | None = None) -> Any:
    """Check a Python value against ``spec``; returns the value to send (``16.0`` -> ``16``).

    Raises :class:`ValidationError` with what is allowed. Read-only keys are refused.
    """
    if not spec.writable:
        check_key(spec.name)
    if value is None:
        if spec.nullable:
            return None
        raise ValidationError(f"{spec.name}: null is not allowed; expected {spec.allowed()}")
    if spec.kind == "int":
        return _check_int(spec, value, state)
    if spec.kind == "float":
        return _check_float(spec, value)
    if spec.kind == "bool":
        if isinstance(value, bool):
            return value
        raise ValidationError(f"{spec.name}: {_shown(spec.name, value)} is not {spec.allowed()}")
    if spec.kind in _TEXT_KINDS:
        return _check_text(spec, value)
    if spec.name == "ids":
        return _check_ids(value)
    if spec.kind == "array" and not isinstance(value, list):
        raise ValidationError(f"{spec.name}: expected {spec.allowed()}")
    if spec.name == "rst":
        if value is True:
            return True
        raise ValidationError("rst: send true to reboot the charger")
    if spec.kind == "object" and not isinstance(value, dict):
        raise ValidationError(f"{spec.name}: expected {spec.allowed()}")
    _check_json(spec.name, value)
    return value


def _check_int(spec: KeySpec, value: Any, state: Mapping[str, Any] | None) -> int | bool:
    if isinstance(value, bool) and spec.accepts_bool:
        # The setter takes any JSON (JsonVariantConst, e.g. 59.4:22) and go-e's own example sends
        # `bac=false&sdp=true` (http-en.md:40). What the charger makes of it is not documented: the
        # boolean is sent as given and the read-back shows the resulting number.
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{spec.name}: {value!r} is not {spec.allowed()}")
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise ValidationError(f"{spec.name}: {value!r} is not {spec.allowed()}")
    number = int(value)
    if spec.choices is not None:
        if number not in spec.choices:
            raise ValidationError(f"{spec.name}: {number} is not {spec.allowed()}")
        return number
    _check_range(spec, number)
    hardware = hardware_current_limit(state) if spec.hardware_limited else None
    if hardware is not None and number > hardware[0]:
        amps, why = hardware
        raise ValidationError(f"{spec.name} {number} is above this charger's limit of {amps} A ({why})")
    limit = _current_limit(spec, state)
    if limit is not None and number > limit:
        raise ValidationError(
            f"{spec.name}: {number} is above the charger's current {spec.max_key} ({limit}); "
            f"expected {spec.allowed()}"
        )
    return number


def _current_limit(spec: KeySpec, state: Mapping[str, Any] | None) -> int | None:
    if spec.max_key is None or state is None:
        return None
    limit = state.get(spec.max_key)
    if isinstance(limit, bool) or not isinstance(limit, int | float) or not math.isfinite(limit):
        return None
    return int(limit)


def _check_float(spec: KeySpec, value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(f"{spec.name}: {value!r} is not {spec.allowed()}")
    _check_range(spec, value)
    if isinstance(value, float) and value.is_integer():
        return int(value)  # compact and exact: 5000 rather than 5000.0
    return value


def _check_range(spec: KeySpec, number: float) -> None:
    low, high = spec.minimum, spec.maximum
    if (low is not None and number < low) or (high is not None and number > high):
        raise ValidationError(f"{spec.name}: {number} is out of range; expected {spec.allowed()}")


def _check_text(spec: KeySpec, value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{spec.name}: {_shown(spec.name, value)} is not {spec.allowed()}")
    if spec.max_length is not None and len(value) > spec.max_length:
        raise ValidationError(f"{spec.name}: {len(value)} characters is too long; expected {spec.allowed()}")
    allowed_control = _PEM_CONTROL if spec.multiline else frozenset()
    if any(ord(char) < 0x20 and char not in allowed_control for char in value):
        what = (
            "control characters other than line breaks"
            if spec.multiline
            else "control characters (newlines, tabs)"
        )
        raise ValidationError(f"{spec.name}: {what} are not allowed")
    if spec.kind == "color" and not _COLOR.match(value):
        raise ValidationError(f"{spec.name}: {value!r} is not {spec.allowed()}")
    if spec.kind == "url" and value and not value.startswith(_URL_SCHEMES):  # "" = no broker
        raise ValidationError(f"{spec.name}: {value!r} is not {spec.allowed()}")
    return value


def _check_ids(value: Any) -> dict[str, float | int]:
    allowed = 'a JSON object {"pGrid": W, "pPv": W, "pAkku": W} (pGrid required; numbers)'
    if not isinstance(value, dict):
        raise ValidationError(f"ids: expected {allowed}")
    unknown = sorted(set(value) - set(_IDS_FIELDS))
    if unknown:
        raise ValidationError(f"ids: unknown field(s) {', '.join(unknown)}; expected {allowed}")
    if "pGrid" not in value:
        raise ValidationError(f"ids: pGrid is missing; expected {allowed}")
    checked: dict[str, float | int] = {}
    for name in _IDS_FIELDS:
        if name not in value:
            continue
        number = value[name]
        if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number):
            raise ValidationError(f"ids: {name}={number!r} is not a number; expected {allowed}")
        checked[name] = number
    return checked


def _check_json(key: str, value: Any) -> None:
    try:
        encode_json(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{key}: the value cannot be sent as JSON ({exc})") from exc


def values_equal(left: Any, right: Any) -> bool:
    """True when two JSON values are the same setting (``16`` == ``16.0``; ``True`` != ``1``)."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(values_equal(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(values_equal(a, b) for a, b in zip(left, right, strict=True))
    return bool(left == right)


__all__ = [
    "SECRET_SHOWN",
    "GoeSetting",
    "check_key",
    "normalized_name",
    "parse_text",
    "prepare_setting",
    "validate_value",
    "values_equal",
]
