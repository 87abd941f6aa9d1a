"""The go-e Charger API v2 key table: types, ranges, read/write access and enum labels.

One place for go-e knowledge. Control (validation before sending), the simulator (applying sets by the
same rules) and MQTT capture (decoding labels) all import from here.

Every key go-e's key tables document is known (:mod:`evkit.goe._keytable`, transcribed from
``goecharger/go-eCharger-API-v2`` at b4d7f853 with table and line): its access (the newest table that
lists it wins: ``trx``, ``utc``, ``fsp`` and ``frm`` are writable), its type (``uint8_t`` -> a whole
number 0..255, ``optional<...>`` -> null allowed, ...) and its enum names, which are the labels
(``bac`` 0 = ``AlwaysLock``). The keys evkit uses most are refined below (units, the 6 A minimum,
``amp`` <= ``ama``, current limits by hardware). ``psm`` is in no key table; its labels come from the
modbus doc (``modbus-en.md:73``: "only accepts values 0, 1, 2") and evcc.

Enum tables differ between firmware versions (``err`` is renumbered from 59.4 on); :func:`label`
takes the charger's ``fwv``. Labels are open-ended: an unknown code gets ``None``, never an exception.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Literal

from evkit.goe._keytable import DOCUMENTED, ENUMS_BEFORE_59_4, ENUMS_FROM_59_4
from evkit.secrets import is_secret_key

#: What a key's value is on the wire (always JSON).
Kind = Literal["int", "float", "bool", "string", "color", "url", "object", "array", "any"]

#: "R" read only, "RW" read and write, "W" write only (reads give nothing or something else).
Access = Literal["R", "RW", "W"]

#: The firmware from which the renumbered enum tables apply (``apikeys_Firmware_59.4_sorted.md:64``
#: already has ``StatusLockStuckOpen=12 ... Overtemp=16, NoComm=17, CpInvalid=18``).
NEW_TABLES_FROM: tuple[int, int] = (59, 4)


def _labels(key: str, table: Mapping[str, Mapping[int, str]]) -> Mapping[int, str]:
    return MappingProxyType(dict(table[key]))


CAR_LABELS = _labels("car", ENUMS_FROM_59_4)
#: ``err`` as numbered by firmware before 59.4 (the generic table, ``apikeys-en.md:68``).
ERR_LABELS = _labels("err", ENUMS_BEFORE_59_4)
#: ``err`` as numbered from firmware 59.4 on (59.4:64, 60.2:95, 60.3:93, 60.4:93).
ERR_LABELS_FROM_59_4 = _labels("err", ENUMS_FROM_59_4)
ERR_LABELS_FW60 = ERR_LABELS_FROM_59_4  # the former name (the switch was wrongly placed at 60)
MODEL_STATUS_LABELS = _labels("modelStatus", ENUMS_FROM_59_4)
FRC_LABELS = _labels("frc", ENUMS_FROM_59_4)
LMO_LABELS = _labels("lmo", ENUMS_FROM_59_4)
ACS_LABELS = _labels("acs", ENUMS_FROM_59_4)
UST_LABELS = _labels("ust", ENUMS_FROM_59_4)
FRM_LABELS = _labels("frm", ENUMS_FROM_59_4)
#: ``bac`` and ``sdp`` (apikeys-en.md:25, :232): *when* the button is locked.
BUTTON_LOCK_LABELS = _labels("bac", ENUMS_FROM_59_4)
#: Not in any key table: the modbus doc names the values only; these words are evcc's.
PSM_LABELS: Mapping[int, str] = MappingProxyType({0: "auto", 1: "1-phase", 2: "3-phase"})
#: ``cdi``'s ``type`` field (apikeys-en.md:39).
CDI_TYPE_LABELS: Mapping[int, str] = MappingProxyType({0: "counter", 1: "duration ms"})

#: Enum keys whose documented list is open ("Austria=0, Germany=1,..."): any value of the type is sent.
_OPEN_ENUMS = frozenset({"awc"})
#: Keys holding PEM certificates or keys (line breaks allowed).
_PEM_KEYS = frozenset({"mck", "mqcc", "msc", "ocppcc", "ocppck", "ocppsc"})


@dataclass(frozen=True)
class KeySpec:
    """One API key: what it is, how it is written, and what values are allowed.

    ``minimum``/``maximum`` bound numbers (inclusive). ``max_key`` names a key whose *current* value
    caps this one (``amp`` <= ``ama``), checked when that state is known; ``hardware_limited`` keys are
    also capped by the unit (``var`` 11 or the 16 A adapter ``adi``: 16 A). ``choices`` limits an int
    key to an enum (its labels); ``aliases`` are further accepted names. ``labels_before_59_4`` is the
    enum of older firmware where it differs. ``accepts_bool`` is set where the doc's setter takes any
    JSON (``JsonVariantConst``) and its own example sends a boolean (``bac=false&sdp=true``).
    ``reset_to`` is what a nullable key reads back after ``null`` (``mtp`` -> ``go-eCharger``).
    ``use_instead`` tells people what to write when a key is read-only.
    """

    name: str
    access: Access
    kind: Kind
    description: str
    unit: str = ""
    nullable: bool = False
    minimum: float | None = None
    maximum: float | None = None
    max_key: str | None = None
    choices: Mapping[int, str] | None = None
    max_length: int | None = None
    use_instead: str | None = None
    labels: Mapping[int, str] | None = field(default=None, repr=False)
    labels_before_59_4: Mapping[int, str] | None = field(default=None, repr=False)
    aliases: Mapping[str, int] = field(default_factory=dict, repr=False)
    hardware_limited: bool = False
    accepts_bool: bool = False
    reset_to: Any = None
    secret: bool = False
    multiline: bool = False
    doc_type: str = ""
    source: str = ""

    @property
    def writable(self) -> bool:
        """True when the key has a setter (``RW`` or ``W``)."""
        return self.access != "R"

    def allowed(self) -> str:
        """What values are allowed, in words, for error messages and help text."""
        if self.choices is not None:
            text = ", ".join(f"{code} ({name})" for code, name in self.choices.items())
            text = f"one of {text} (the number or the name)"
            if self.accepts_bool:
                text += ", or true/false as in go-e's HTTP example"
        elif self.kind in ("int", "float"):
            text = _number_allowed(self)
        elif self.kind == "bool":
            text = "true or false"
        elif self.kind == "string":
            text = "a text" + (f" of at most {self.max_length} characters" if self.max_length else "")
        elif self.kind == "color":
            text = 'a colour "#RRGGBB"'
        elif self.kind == "url":
            text = 'a broker URL such as "mqtt://host:1883" ("" for none)'
        elif self.kind == "object":
            text = "a JSON object"
        elif self.kind == "array":
            text = "a JSON array"
        else:
            text = "any JSON value"
        if self.nullable:
            text += ", or null"
        return text


def _number_allowed(spec: KeySpec) -> str:
    what = "a whole number" if spec.kind == "int" else "a number"
    low = _number_text(spec.minimum)
    high = _number_text(spec.maximum)
    caps = [f"the current {spec.max_key}"] if spec.max_key else []
    if spec.hardware_limited:
        caps.append("the charger's hardware limit (16 A for var=11 or the 16 A adapter)")
    cap = " and ".join(caps)
    if cap:
        high = f"{high} and at most {cap}" if high else cap
    if low and high:
        text = f"{what} from {low} to {high}"
    elif low:
        text = f"{what} >= {low}"
    elif high:
        text = f"{what} <= {high}"
    else:
        text = what
    return text + (f" ({spec.unit})" if spec.unit else "")


def _number_text(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


# ------------------------------------------------------------------------------------------------
# Documented types -> how evkit checks them

_INT_RANGES: Mapping[str, tuple[int, int]] = {
    "uint8": (0, 2**8 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
    "unsigned int": (0, 2**32 - 1),
    "uint64": (0, 2**64 - 1),
    "int8": (-(2**7), 2**7 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
}
_TIME_UNITS: Mapping[str, str] = {"milliseconds": "ms", "seconds": "s", "minutes": "min"}
#: A unit the description spells out: "pGrid in W", "measured in Wh", "(in ms)".
_DESCRIBED_UNIT = re.compile(
    r"\b(?:in|measured in)\s+(Wh|W|A|Volt|Hz|ct|watts|seconds|milliseconds|minutes|ms|%/s)(?![\w/])"
)
_UNIT_WORDS: Mapping[str, str] = {
    "watts": "W",
    "Volt": "V",
    "seconds": "s",
    "milliseconds": "ms",
    "minutes": "min",
}
_NULLABLE_TYPE = re.compile(r"^optional<(?P<inner>.*)>$|^(?P<a>.*) or null$|^null or (?P<b>.*)$")


def doc_type_part(doc_type: str, part: Literal["get", "set"]) -> str:
    """The reading (``get``) or writing (``set``) half of a documented type such as
    ``get: uint8_t set: JsonVariantConst``; a plain type is both."""
    match = re.match(r"^get:\s*(?P<get>.*?)\s+set:\s*(?P<set>.*)$", doc_type.strip())
    return match.group(part).strip() if match else doc_type.strip()


def kind_of(doc_type: str) -> tuple[Kind, bool, int | None, int | None, str]:
    """``(kind, nullable, minimum, maximum, unit)`` for one documented type (not ``get:/set:``)."""
    text = doc_type.strip()
    nullable = False
    match = _NULLABLE_TYPE.match(text)
    if match:
        nullable = True
        text = next(g for g in (match["inner"], match["a"], match["b"]) if g is not None).strip()
    base = text.removesuffix("_t")
    if base in _INT_RANGES:
        low, high = _INT_RANGES[base]
        return "int", nullable, low, high, ""
    if base in _TIME_UNITS:
        return "int", nullable, None, None, _TIME_UNITS[base]
    simple: Mapping[str, Kind] = {
        "bool": "bool",
        "float": "float",
        "double": "float",
        "string": "string",
        "array": "array",
        "JsonArray": "array",
        "object": "object",
        "JsonObject": "object",
    }
    return simple.get(base, "any"), nullable, None, None, ""


def _documented(name: str) -> KeySpec:
    access, doc_type, source, description = DOCUMENTED[name]
    half = doc_type_part(doc_type, "get" if access == "R" else "set")
    kind, nullable, low, high, unit = kind_of(half)
    described = _DESCRIBED_UNIT.search(description)
    if not unit and described:
        unit = _UNIT_WORDS.get(described[1], described[1])
    new, old = ENUMS_FROM_59_4.get(name), ENUMS_BEFORE_59_4.get(name)
    labels = new or old
    if kind not in ("int", "any") or labels is None:
        labels = old = None  # an enum inside an object (sch_*) or array (scan) is not the key's value
    choices = None
    if labels is not None and access != "R" and name not in _OPEN_ENUMS:
        choices = MappingProxyType(dict(labels))
    return KeySpec(
        name=name,
        access=access,
        kind=kind if kind != "any" or labels is None else "int",
        description=description,
        unit=unit,
        nullable=nullable,
        minimum=low,
        maximum=high,
        choices=choices,
        labels=None if labels is None else MappingProxyType(dict(labels)),
        labels_before_59_4=None if old is None or old == labels else MappingProxyType(dict(old)),
        accepts_bool=choices is not None and half == "JsonVariantConst",
        secret=is_secret_key(name),
        multiline=name in _PEM_KEYS,
        doc_type=doc_type,
        source=source,
    )


def _refine(name: str, **changes: Any) -> KeySpec:
    return replace(_documented(name), **changes)


#: Absolute current bounds of go-e hardware (``modbus-en.md:71-72`` "6-32A"; 6 A is the IEC minimum).
MIN_CURRENT_A = 6
MAX_CURRENT_A = 32
_CURRENT = {"unit": "A", "minimum": MIN_CURRENT_A, "maximum": MAX_CURRENT_A, "hardware_limited": True}

#: The keys evkit knows best: the documented spec with evkit's units, ranges and words.
_REFINED: tuple[KeySpec, ...] = (
    _refine(
        "amp",
        description="requested current (the user setting; a ceiling in eco/PV mode)",
        max_key="ama",
        **_CURRENT,
    ),
    _refine("ama", description="absolute maximum current (installation limit)", **_CURRENT),
    _refine("mca", description="minimum charging current", max_key="ama", **_CURRENT),
    _refine(
        "tcl",
        description="temporary current limit (resets after 10 min unless refreshed; null = none)",
        max_key="ama",
        **_CURRENT,
    ),
    _refine("frc", description="force state: let the charger decide, force off or force on"),
    KeySpec(
        "psm",
        "RW",
        "int",
        "phase switch mode (not in the key tables; modbus-en.md:73)",
        choices=PSM_LABELS,
        labels=PSM_LABELS,
        source="modbus-en.md:73",
    ),
    _refine("lmo", description="logic mode", aliases={"eco": 4, "nexttrip": 5, "automaticstop": 5}),
    _refine("acs", description="access control"),
    _refine("fna", description="friendly name", max_length=64),
    _refine(
        "dwo",
        description="energy limit for the session (null = off)",
        unit="Wh",
        minimum=1,
        maximum=1_000_000,
    ),
    _refine("pgt", description="grid target power", unit="W", minimum=-100_000, maximum=100_000),
    _refine(
        "fst", description="starting power for PV surplus charging", unit="W", minimum=0, maximum=100_000
    ),
    _refine("zfo", description="zero feed-in offset", unit="W", minimum=-100_000, maximum=100_000),
    _refine(
        "ids",
        kind="object",
        description='inverter data {"pGrid": W, "pPv": W, "pAkku": W}; refresh about every 5 s (null clears)',
    ),
    _refine("cch", kind="color", description="LED colour while charging"),
    _refine("cfi", kind="color", description="LED colour when finished"),
    _refine("cid", kind="color", description="LED colour when idle"),
    _refine("cwc", kind="color", description="LED colour waiting for the car"),
    _refine("bac", description="button lock: changing the current"),
    _refine("sdp", description="button lock: start/stop (force state)"),
    _refine("rst", kind="any", description="reboot the charger (send true)"),
    _refine("mcu", kind="url", description="MQTT broker URL"),
    _refine("mcr", description="MQTT read-only (true = ignore writes from the broker)"),
    _refine(
        "mtp",
        description="MQTT topic prefix (null = default go-eCharger)",
        max_length=64,
        reset_to="go-eCharger",
    ),
    _refine(
        "trx", description="transaction: null none; write 0 to start one without a card, n = card index + 1"
    ),
    _refine("utc", description="UTC time (the charger's clock)"),
    _refine("fsp", description="force single phase (writable from firmware 59.4 on)"),
    _refine("alw", use_instead="frc"),
    _refine("car", description="car state", use_instead="frc"),
    _refine("err", description="error code (numbering differs before firmware 59.4)"),
    _refine("modelStatus", description="why charging is allowed or not", use_instead="frc"),
    _refine(
        "nrg",
        kind="array",
        description="energy array: voltages, currents, powers, power factors (see evkit.goe.status)",
    ),
    _refine("eto", unit="Wh", description="total energy"),
    _refine("wh", unit="Wh", description="energy since the car was connected", use_instead="dwo"),
    _refine("tma", unit="°C", description="temperature sensors"),
    _refine("tpa", unit="W", description="30 s average total power"),
    _refine("acu", unit="A", description="current allowed right now", use_instead="amp"),
    _refine("pnp", description="number of phases", use_instead="psm"),
    _refine("cbl", unit="A", description="cable current limit"),
    _refine("var", description="variant: 11 (11 kW / 16 A) or 22 (22 kW / 32 A)"),
    _refine("pgrid", unit="W", use_instead="ids"),
    _refine("ppv", unit="W", use_instead="ids"),
    _refine("pakku", unit="W", use_instead="ids"),
    _refine("rssi", unit="dBm", description="Wi-Fi signal strength"),
    _refine("fhz", unit="Hz", description="grid frequency"),
    _refine("mcs", use_instead="mce"),
    _refine("mcc", use_instead="mce"),
    _refine("mcca", unit="ms", description="MQTT connected at (ms since boot; subtract from rbt)"),
    _refine("mlra", unit="ms", description="MQTT last error at (ms since boot; subtract from rbt)"),
    _refine("amt", unit="A", description="temperature current limit"),
    _refine("adi", description="16 A adapter in use (limits the current to 16 A)"),
)

_SPECS: dict[str, KeySpec] = {name: _documented(name) for name in DOCUMENTED}
_SPECS.update({spec.name: spec for spec in _REFINED})

#: Every key evkit knows, by name.
KEYS: Mapping[str, KeySpec] = MappingProxyType(dict(sorted(_SPECS.items(), key=lambda kv: kv[0].lower())))

#: Names of the keys evkit will write (validated).
WRITABLE_KEYS: tuple[str, ...] = tuple(name for name, spec in KEYS.items() if spec.writable)

#: Names of the read-only keys.
READ_ONLY_KEYS: tuple[str, ...] = tuple(name for name, spec in KEYS.items() if not spec.writable)

#: Labels per enum key, for decoding captured values (from firmware 59.4 on; see :func:`label`).
ENUM_LABELS: Mapping[str, Mapping[int, str]] = MappingProxyType(
    {spec.name: spec.labels for spec in KEYS.values() if spec.labels is not None}
)


#: Keys whose labels depend on the charger's firmware (their tables differ before 59.4), and ``fwv``.
FIRMWARE_DEPENDENT_KEYS: frozenset[str] = frozenset(
    {"fwv", *(spec.name for spec in KEYS.values() if spec.labels_before_59_4 is not None)}
)


def key_spec(name: str) -> KeySpec | None:
    """The spec of ``name``, or ``None`` when evkit does not know the key."""
    return KEYS.get(name)


def firmware_version(firmware: object) -> tuple[int, int] | None:
    """``(major, minor)`` of a go-e ``fwv`` text (``"059.4"`` -> ``(59, 4)``); ``None`` if unreadable."""
    if not isinstance(firmware, str):
        return None
    match = re.match(r"^\s*v?(\d+)(?:\.(\d+))?", firmware)
    if match is None:
        return None
    return int(match[1]), int(match[2] or 0)


def label(key: str, value: object, *, firmware: str | None = None) -> str | None:
    """The documented name of an enum value (``label("car", 2) == "Charging"``); ``None`` if unknown.

    ``firmware`` (the ``fwv`` text) picks the table where they differ (``err`` is renumbered from 59.4
    on). When the firmware is not known and the two tables disagree, both readings are given
    (``"FiUnknown (firmware 59.4+) or NoComm (before 59.4)"``) rather than guessing one.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float):
        if not value.is_integer():
            return None
        value = int(value)
    spec = KEYS.get(key)
    if spec is None or spec.labels is None:
        return None
    new = spec.labels.get(value)
    if spec.labels_before_59_4 is None:
        return new
    old = spec.labels_before_59_4.get(value)
    version = firmware_version(firmware)
    if version is not None:
        return new if version >= NEW_TABLES_FROM else old
    if old is None or new is None or old == new:
        return new or old
    return f"{new} (firmware 59.4+) or {old} (before 59.4)"


#: The unit's current limit in A when ``var``/``adi`` say so (apikeys-en.md:265 ``var`` "max Ampere value
#: of unit (11: 11kW/16A, 22: 22kW/32A)"; apikeys-en.md:10 ``adi`` "Limits the current to 16A").
_VARIANT_LIMITS: Mapping[int, int] = MappingProxyType({11: 16, 22: 32})
ADAPTER_LIMIT_A = 16


def hardware_current_limit(state: Mapping[str, Any] | None) -> tuple[int, str] | None:
    """``(amps, why)`` this charger allows at most, from its ``var`` and ``adi``; ``None`` if unknown.

    >>> hardware_current_limit({"var": 11})
    (16, 'var=11: 11 kW / 16 A')
    """
    if not state:
        return None
    if state.get("adi") is True:
        return ADAPTER_LIMIT_A, "adi=true: the 16 A adapter is in use"
    variant = state.get("var")
    if isinstance(variant, bool) or not isinstance(variant, int | float) or variant not in _VARIANT_LIMITS:
        return None
    amps = _VARIANT_LIMITS[int(variant)]
    return amps, f"var={int(variant)}: {int(variant)} kW / {amps} A"


__all__ = [
    "ACS_LABELS",
    "ADAPTER_LIMIT_A",
    "BUTTON_LOCK_LABELS",
    "CAR_LABELS",
    "CDI_TYPE_LABELS",
    "ENUM_LABELS",
    "ERR_LABELS",
    "ERR_LABELS_FROM_59_4",
    "ERR_LABELS_FW60",
    "FIRMWARE_DEPENDENT_KEYS",
    "FRC_LABELS",
    "FRM_LABELS",
    "KEYS",
    "LMO_LABELS",
    "MAX_CURRENT_A",
    "MIN_CURRENT_A",
    "MODEL_STATUS_LABELS",
    "NEW_TABLES_FROM",
    "PSM_LABELS",
    "READ_ONLY_KEYS",
    "UST_LABELS",
    "WRITABLE_KEYS",
    "Access",
    "KeySpec",
    "Kind",
    "doc_type_part",
    "firmware_version",
    "hardware_current_limit",
    "key_spec",
    "kind_of",
    "label",
]
