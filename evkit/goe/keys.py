"""The go-e Charger API v2 key table: types, ranges, read/write access and enum labels.

One place for go-e knowledge. Control (validation before sending), the simulator (applying sets by the
same rules) and MQTT capture (decoding labels) all import from here.

Sources: go-eCharger-API-v2 ``apikeys-en.md`` and ``apikeys_Firmware_60.4_sorted.md``, the modbus doc
(``psm``), evcc's go-e charger and the Home Assistant integrations (see
``shared/reference/evcc-and-goe.md`` part B). Enum tables differ between firmware versions, so labels
are open-ended: an unknown code gets ``None`` from :func:`label`, never an exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

#: What a key's value is on the wire (always JSON).
Kind = Literal["int", "float", "bool", "string", "color", "url", "object", "array", "any"]

#: "R" read only, "RW" read and write, "W" write only (reads give nothing or something else).
Access = Literal["R", "RW", "W"]

# ------------------------------------------------------------------------------------------------
# Enum labels (short, human-readable; firmware differences noted)

CAR_LABELS: Mapping[int, str] = MappingProxyType(
    {
        0: "unknown/error",
        1: "idle",
        2: "charging",
        3: "wait car",
        4: "complete",
        5: "error",
        6: "initializing",  # firmware 60.x
    }
)

#: ``err`` in the generic key table (``apikeys-en.md``).
ERR_LABELS: Mapping[int, str] = MappingProxyType(
    {
        0: "none",
        1: "FiAc",
        2: "FiDc",
        3: "Phase",
        4: "Overvolt",
        5: "Overamp",
        6: "Diode",
        7: "PpInvalid",
        8: "GndInvalid",
        9: "ContactorStuck",
        10: "ContactorMiss",
        11: "FiUnknown",
        12: "Unknown",
        13: "Overtemp",
        14: "NoComm",
        15: "StatusLockStuckOpen",
        16: "StatusLockStuckLocked",
    }
)

#: ``err`` in the firmware 60.x tables: codes 11..18 moved.
ERR_LABELS_FW60: Mapping[int, str] = MappingProxyType(
    {
        0: "none",
        1: "FiAc",
        2: "FiDc",
        3: "Phase",
        4: "Overvolt",
        5: "Overamp",
        6: "Diode",
        7: "PpInvalid",
        8: "GndInvalid",
        9: "ContactorStuck",
        10: "ContactorMiss",
        12: "StatusLockStuckOpen",
        13: "StatusLockStuckLocked",
        14: "FiUnknown",
        15: "Unknown",
        16: "Overtemp",
        17: "NoComm",
        18: "CpInvalid",
        23: "RdcSelfTestFailed",
    }
)

#: ``modelStatus``: why the charger allows charging right now or not. New codes keep appearing.
MODEL_STATUS_LABELS: Mapping[int, str] = MappingProxyType(
    {
        0: "NotChargingBecauseNoChargeCtrlData",
        1: "NotChargingBecauseOvertemperature",
        2: "NotChargingBecauseAccessControlWait",
        3: "ChargingBecauseForceStateOn",
        4: "NotChargingBecauseForceStateOff",
        5: "NotChargingBecauseScheduler",
        6: "NotChargingBecauseEnergyLimit",
        7: "ChargingBecauseAwattarPriceLow",
        8: "ChargingBecauseAutomaticStopTestLadung",
        9: "ChargingBecauseAutomaticStopNotEnoughTime",
        10: "ChargingBecauseAutomaticStop",
        11: "ChargingBecauseAutomaticStopNoClock",
        12: "ChargingBecausePvSurplus",
        13: "ChargingBecauseFallbackGoEDefault",
        14: "ChargingBecauseFallbackGoEScheduler",
        15: "ChargingBecauseFallbackDefault",
        16: "NotChargingBecauseFallbackGoEAwattar",
        17: "NotChargingBecauseFallbackAwattar",
        18: "NotChargingBecauseFallbackAutomaticStop",
        19: "ChargingBecauseCarCompatibilityKeepAlive",
        20: "ChargingBecauseChargePauseNotAllowed",
        22: "NotChargingBecauseSimulateUnplugging",
        23: "NotChargingBecausePhaseSwitch",
        24: "NotChargingBecauseMinPauseDuration",
        26: "NotChargingBecauseError",
        27: "NotChargingBecauseLoadManagementDoesntWant",
        28: "NotChargingBecauseOcppDoesntWant",
        29: "NotChargingBecauseReconnectDelay",
        30: "NotChargingBecauseAdapterBlocking",
        31: "NotChargingBecauseUnderfrequencyControl",
        32: "NotChargingBecauseUnbalancedLoad",
        33: "ChargingBecauseDischargingPvBattery",
        34: "NotChargingBecauseGridMonitoring",
        35: "NotChargingBecauseOcppFallback",
        36: "NotChargingBecauseFloorDetected",
        37: "NotChargingBecauseOcppInoperable",
        38: "NotChargingBecauseUndervoltageControl",
        39: "NotChargingBecauseZeroSetpoint",
        40: "NotChargingBecauseInitializing",
        41: "NotChargingBecauseFailsafeLimit",
    }
)

FRC_LABELS: Mapping[int, str] = MappingProxyType({0: "neutral", 1: "off", 2: "on"})
PSM_LABELS: Mapping[int, str] = MappingProxyType({0: "auto", 1: "1-phase", 2: "3-phase"})
LMO_LABELS: Mapping[int, str] = MappingProxyType(
    {3: "default", 4: "eco (awattar)", 5: "next trip (automatic stop)"}
)
ACS_LABELS: Mapping[int, str] = MappingProxyType({0: "open", 1: "wait (authentication)", 2: "EVCMS"})
UST_LABELS: Mapping[int, str] = MappingProxyType({0: "normal", 1: "auto unlock", 2: "always locked"})
FRM_LABELS: Mapping[int, str] = MappingProxyType(
    {0: "prefer power from grid", 1: "default", 2: "prefer power to grid"}
)
BUTTON_LOCK_LABELS: Mapping[int, str] = MappingProxyType(
    {0: "unlocked", 1: "locked", 2: "locked except reset", 3: "locked except reset and start/stop"}
)
CDI_TYPE_LABELS: Mapping[int, str] = MappingProxyType({0: "counter", 1: "duration ms"})


@dataclass(frozen=True)
class KeySpec:
    """One API key: what it is, how it is written, and what values are allowed.

    ``minimum``/``maximum`` bound numbers (inclusive). ``max_key`` names a key whose *current* value
    caps this one (``amp`` <= ``ama``), checked when that state is known. ``choices`` limits an int
    key to an enum (its labels). ``use_instead`` tells people what to write when a key is read-only.
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

    @property
    def writable(self) -> bool:
        """True when the key has a setter (``RW`` or ``W``)."""
        return self.access != "R"

    def allowed(self) -> str:
        """What values are allowed, in words, for error messages and help text."""
        if self.choices is not None:
            text = ", ".join(f"{code} ({name})" for code, name in self.choices.items())
            text = f"one of {text}"
        elif self.kind in ("int", "float"):
            what = "a whole number" if self.kind == "int" else "a number"
            low = _number_text(self.minimum)
            high = _number_text(self.maximum)
            if self.max_key and high:
                high = f"{high} and at most the current {self.max_key}"
            elif self.max_key:
                high = f"the current {self.max_key}"
            if low and high:
                text = f"{what} from {low} to {high}"
            elif low:
                text = f"{what} >= {low}"
            elif high:
                text = f"{what} <= {high}"
            else:
                text = what
            if self.unit:
                text += f" ({self.unit})"
        elif self.kind == "bool":
            text = "true or false"
        elif self.kind == "string":
            text = "a text" + (f" of at most {self.max_length} characters" if self.max_length else "")
        elif self.kind == "color":
            text = 'a colour "#RRGGBB"'
        elif self.kind == "url":
            text = 'a broker URL such as "mqtt://host:1883"'
        elif self.kind == "object":
            text = "a JSON object"
        elif self.kind == "array":
            text = "a JSON array"
        else:
            text = "any JSON value"
        if self.nullable:
            text += ", or null"
        return text


def _number_text(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


def _rw(name: str, kind: Kind, description: str, **extra: Any) -> KeySpec:
    return KeySpec(name=name, access="RW", kind=kind, description=description, **extra)


def _w(name: str, kind: Kind, description: str, **extra: Any) -> KeySpec:
    return KeySpec(name=name, access="W", kind=kind, description=description, **extra)


def _r(name: str, kind: Kind, description: str, **extra: Any) -> KeySpec:
    return KeySpec(name=name, access="R", kind=kind, description=description, **extra)


#: Absolute current bounds of go-e hardware (22 kW units go to 32 A; 6 A is the IEC 61851 minimum).
MIN_CURRENT_A = 6
MAX_CURRENT_A = 32

_WRITABLE: tuple[KeySpec, ...] = (
    _rw(
        "amp",
        "int",
        "requested current (the user setting; a ceiling in eco/PV mode)",
        unit="A",
        minimum=MIN_CURRENT_A,
        maximum=MAX_CURRENT_A,
        max_key="ama",
    ),
    _rw(
        "ama",
        "int",
        "absolute maximum current (installation limit)",
        unit="A",
        minimum=MIN_CURRENT_A,
        maximum=MAX_CURRENT_A,
    ),
    _rw(
        "frc",
        "int",
        "force state: let the charger decide, force off or force on",
        choices=FRC_LABELS,
        labels=FRC_LABELS,
    ),
    _rw("psm", "int", "phase switch mode", choices=PSM_LABELS, labels=PSM_LABELS),
    _rw("lmo", "int", "logic mode", choices=LMO_LABELS, labels=LMO_LABELS),
    _rw("acs", "int", "access control", choices=ACS_LABELS, labels=ACS_LABELS),
    _rw("fna", "string", "friendly name", max_length=64),
    _rw(
        "dwo",
        "float",
        "energy limit for the session (null = off)",
        unit="Wh",
        nullable=True,
        minimum=1,
        maximum=1_000_000,
    ),
    _rw("fup", "bool", "use PV surplus"),
    _rw("fzf", "bool", "zero feed-in"),
    _rw("pgt", "float", "grid target power", unit="W", minimum=-100_000, maximum=100_000),
    _rw("fst", "float", "starting power for PV surplus charging", unit="W", minimum=0, maximum=100_000),
    _rw("zfo", "float", "zero feed-in offset", unit="W", minimum=-100_000, maximum=100_000),
    _rw(
        "mca",
        "int",
        "minimum charging current",
        unit="A",
        minimum=MIN_CURRENT_A,
        maximum=MAX_CURRENT_A,
        max_key="ama",
    ),
    _rw(
        "tcl",
        "int",
        "temporary current limit (resets after 10 min unless refreshed; null = none)",
        unit="A",
        nullable=True,
        minimum=MIN_CURRENT_A,
        maximum=MAX_CURRENT_A,
        max_key="ama",
    ),
    _rw("acp", "bool", "allow charge pause (car compatibility)"),
    _rw("frm", "int", "rounding mode for PV surplus", choices=FRM_LABELS, labels=FRM_LABELS),
    _w("ids", "object", 'inverter data {"pGrid": W, "pPv": W, "pAkku": W}; refresh about every 5 s'),
    _rw("cch", "color", "LED colour while charging"),
    _rw("cfi", "color", "LED colour when finished"),
    _rw("cid", "color", "LED colour when idle"),
    _rw("cwc", "color", "LED colour waiting for the car"),
    _rw("lbr", "int", "LED brightness", minimum=0, maximum=255),
    _rw("lse", "bool", "LED energy saving"),
    _rw("ust", "int", "cable unlock mode", choices=UST_LABELS, labels=UST_LABELS),
    _rw(
        "bac", "int", "button lock: current selection", choices=BUTTON_LOCK_LABELS, labels=BUTTON_LOCK_LABELS
    ),
    _rw("sdp", "int", "button lock: start/stop", choices=BUTTON_LOCK_LABELS, labels=BUTTON_LOCK_LABELS),
    _w("rst", "any", "reboot the charger (send true)"),
    _rw("mce", "bool", "MQTT enabled"),
    _rw("mcu", "url", "MQTT broker URL"),
    _rw("mcr", "bool", "MQTT read-only (true = ignore writes from the broker)"),
    _rw("mtp", "string", "MQTT topic prefix (null = default go-eCharger)", nullable=True, max_length=64),
    _rw("hai", "bool", "HTTP API v2 enabled (/api/status, /api/set)"),
    _rw("hla", "bool", "legacy HTTP API enabled (/status, /mqtt)"),
)

_READ_ONLY: tuple[KeySpec, ...] = (
    _r("alw", "bool", "car allowed to charge now", use_instead="frc"),
    _r("car", "int", "car state", nullable=True, labels=CAR_LABELS, use_instead="frc"),
    _r("err", "int", "error code (table differs by firmware)", nullable=True, labels=ERR_LABELS),
    _r("modelStatus", "int", "why charging is allowed or not", labels=MODEL_STATUS_LABELS, use_instead="frc"),
    _r("nrg", "array", "energy array: voltages, currents, powers, power factors (see evkit.goe.status)"),
    _r("eto", "int", "total energy", unit="Wh"),
    _r("wh", "float", "energy since the car was connected", unit="Wh", use_instead="dwo"),
    _r("tma", "array", "temperature sensors", unit="°C"),
    _r("tpa", "float", "30 s average total power", unit="W"),
    _r("cdi", "object", "charging duration info"),
    _r("acu", "int", "current allowed right now", unit="A", nullable=True, use_instead="amp"),
    _r("pha", "array", "phases present before and after the contactor"),
    _r("pnp", "int", "number of phases", use_instead="psm"),
    _r("fsp", "bool", "force single phase (stale on newer firmware)", use_instead="psm"),
    _r("cbl", "int", "cable current limit", unit="A", nullable=True),
    _r("var", "int", "variant: 11 or 22 kW"),
    _r("trx", "int", "transaction (null none, 0 no card, n = card index + 1)", nullable=True),
    _r("rbt", "int", "time since boot", unit="ms"),
    _r("utc", "string", "UTC time"),
    _r("loc", "string", "local time"),
    _r("fwv", "string", "firmware version"),
    _r("sse", "string", "serial number"),
    _r("typ", "string", "device type"),
    _r("oem", "string", "manufacturer"),
    _r("pgrid", "float", "last inverter grid power", unit="W", nullable=True, use_instead="ids"),
    _r("ppv", "float", "last inverter PV power", unit="W", nullable=True, use_instead="ids"),
    _r("pakku", "float", "last inverter battery power", unit="W", nullable=True, use_instead="ids"),
    _r("rssi", "int", "Wi-Fi signal strength", unit="dBm", nullable=True),
    _r("fhz", "float", "grid frequency", unit="Hz", nullable=True),
    _r("mcs", "bool", "MQTT started", use_instead="mce"),
    _r("mcc", "bool", "MQTT connected", use_instead="mce"),
    _r("mcca", "int", "MQTT connected age", unit="ms", nullable=True),
    _r("mlr", "string", "MQTT last error", nullable=True),
    _r("mlra", "int", "MQTT last error age", unit="ms", nullable=True),
    _r("amt", "int", "temperature current limit", unit="A"),
    _r("adi", "bool", "16 A adapter in use"),
    _r("lmsc", "int", "last model status change", unit="ms"),
)

#: Every key evkit knows, by name.
KEYS: Mapping[str, KeySpec] = MappingProxyType({spec.name: spec for spec in (*_WRITABLE, *_READ_ONLY)})

#: Names of the keys evkit will write (validated).
WRITABLE_KEYS: tuple[str, ...] = tuple(spec.name for spec in _WRITABLE)

#: Names of the read-only keys.
READ_ONLY_KEYS: tuple[str, ...] = tuple(spec.name for spec in _READ_ONLY)

#: Labels per enum key, for decoding captured values.
ENUM_LABELS: Mapping[str, Mapping[int, str]] = MappingProxyType(
    {spec.name: spec.labels for spec in KEYS.values() if spec.labels is not None}
)


def key_spec(name: str) -> KeySpec | None:
    """The spec of ``name``, or ``None`` when evkit does not know the key."""
    return KEYS.get(name)


def label(key: str, value: object, *, firmware: str | None = None) -> str | None:
    """The human label of an enum value (``label("car", 2) == "charging"``); ``None`` if unknown.

    ``firmware`` (the ``fwv`` text) selects the 60.x ``err`` table, whose codes 11..18 differ.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float):
        if not value.is_integer():
            return None
        value = int(value)
    if key == "err" and firmware is not None and _major_version(firmware) >= 60:
        return ERR_LABELS_FW60.get(value)
    labels = ENUM_LABELS.get(key)
    return None if labels is None else labels.get(value)


def _major_version(firmware: str) -> int:
    digits = ""
    for char in firmware.strip():
        if not char.isdigit():
            break
        digits += char
    return int(digits) if digits else 0


__all__ = [
    "ACS_LABELS",
    "BUTTON_LOCK_LABELS",
    "CAR_LABELS",
    "CDI_TYPE_LABELS",
    "ENUM_LABELS",
    "ERR_LABELS",
    "ERR_LABELS_FW60",
    "FRC_LABELS",
    "FRM_LABELS",
    "KEYS",
    "LMO_LABELS",
    "MAX_CURRENT_A",
    "MIN_CURRENT_A",
    "MODEL_STATUS_LABELS",
    "PSM_LABELS",
    "READ_ONLY_KEYS",
    "UST_LABELS",
    "WRITABLE_KEYS",
    "Access",
    "KeySpec",
    "Kind",
    "key_spec",
    "label",
]
