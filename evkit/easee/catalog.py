"""The Easee charger observation catalog: ids, names, units, data types, tags and enum labels.

Sources: Easee's AMQP observation list and the EASEECHG template (see docs/reference). Ids are the
stable key: names drift between sources, so everything downstream keys on the numeric id. Unknown ids
and unknown enum codes are not errors: ``observation`` and ``label`` return ``None`` for them.
``tests/conformance/easee_*.py`` hold what Easee's documents and public sources say, with citations;
this catalog is tested against them. Equalizers (serials ``QP…``) have their own id table:
``evkit.easee.equalizer``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

from evkit.easee._enums import OUTPUT_PHASE as _OUTPUT_PHASE
from evkit.easee._enums import POWER_GRID_TYPE as _POWER_GRID_TYPE
from evkit.easee._enums import REASON_FOR_NO_CURRENT as _REASON_FOR_NO_CURRENT
from evkit.easee._obstable import TABLE

if TYPE_CHECKING:
    import polars as pl


class DataType(IntEnum):
    """Masterloop / Easee data type codes (the ``dataType`` field of stream messages)."""

    BINARY = 1
    BOOLEAN = 2
    DOUBLE = 3
    INTEGER = 4
    POSITION = 5
    STRING = 6
    STATISTICS = 7

    @property
    def title(self) -> str:
        """The name Easee uses (``Boolean``, ``Double`` ...)."""
        return self.name.capitalize()


class Obs(IntEnum):
    """Observation ids that evkit's analysis, control and simulators use by name."""

    DETECTED_POWER_GRID_TYPE = 21
    CIRCUIT_MAX_CURRENT_P1 = 22
    CIRCUIT_MAX_CURRENT_P2 = 23
    CIRCUIT_MAX_CURRENT_P3 = 24
    LOCK_CABLE_PERMANENTLY = 30
    IS_ENABLED = 31
    PHASE_MODE = 38
    SMART_BUTTON_ENABLED = 44
    OFFLINE_CHARGING_MODE = 45
    MAX_CHARGER_CURRENT = 47
    DYNAMIC_CHARGER_CURRENT = 48
    SOFTWARE_RELEASE = 80
    REBOOT_REASON = 89
    REASON_FOR_NO_CURRENT = 96
    SMART_CHARGING = 102
    CABLE_LOCKED = 103
    CABLE_RATING = 104
    USER_ID_TOKEN_REVERSED = 108
    OP_MODE = 109
    OUTPUT_PHASE = 110
    DYNAMIC_CIRCUIT_CURRENT_P1 = 111
    DYNAMIC_CIRCUIT_CURRENT_P2 = 112
    DYNAMIC_CIRCUIT_CURRENT_P3 = 113
    TOTAL_POWER = 120
    SESSION_ENERGY = 121
    ENERGY_PER_HOUR = 122
    LIFETIME_ENERGY = 124
    USER_ID_TOKEN = 128
    CHARGING_SESSION = 129
    CELL_RSSI = 130
    WIFI_RSSI = 132
    CHARGER_RAT = 141
    TEMP_MAX = 150
    CURRENT_T2 = 182
    CURRENT_T3 = 183
    CURRENT_T4 = 184
    CURRENT_T5 = 185
    VOLT_T1_T2 = 190
    VOLT_T1_T3 = 191
    VOLT_T1_T4 = 192
    VOLT_T1_T5 = 193
    VOLT_T2_T3 = 194
    VOLT_T2_T4 = 195
    VOLT_T2_T5 = 196
    CHARGING_SESSION_START = 223
    CONNECTED_TO_CLOUD = 250
    CLOUD_DISCONNECT_REASON = 251


# Short module-level names for the ids analysis code uses most.
DETECTED_POWER_GRID_TYPE: Final = Obs.DETECTED_POWER_GRID_TYPE
SOFTWARE_RELEASE: Final = Obs.SOFTWARE_RELEASE
REBOOT_REASON: Final = Obs.REBOOT_REASON
REASON_FOR_NO_CURRENT: Final = Obs.REASON_FOR_NO_CURRENT
USER_ID_TOKEN_REVERSED: Final = Obs.USER_ID_TOKEN_REVERSED
OP_MODE: Final = Obs.OP_MODE
OUTPUT_PHASE: Final = Obs.OUTPUT_PHASE
TOTAL_POWER: Final = Obs.TOTAL_POWER
SESSION_ENERGY: Final = Obs.SESSION_ENERGY
ENERGY_PER_HOUR: Final = Obs.ENERGY_PER_HOUR
LIFETIME_ENERGY: Final = Obs.LIFETIME_ENERGY
USER_ID_TOKEN: Final = Obs.USER_ID_TOKEN
CELL_RSSI: Final = Obs.CELL_RSSI
WIFI_RSSI: Final = Obs.WIFI_RSSI
TEMP_MAX: Final = Obs.TEMP_MAX
CONNECTED_TO_CLOUD: Final = Obs.CONNECTED_TO_CLOUD
CLOUD_DISCONNECT_REASON: Final = Obs.CLOUD_DISCONNECT_REASON
PHASE_CURRENTS: Final = (Obs.CURRENT_T2, Obs.CURRENT_T3, Obs.CURRENT_T4, Obs.CURRENT_T5)
VOLTAGES: Final = (
    Obs.VOLT_T1_T2,
    Obs.VOLT_T1_T3,
    Obs.VOLT_T1_T4,
    Obs.VOLT_T1_T5,
    Obs.VOLT_T2_T3,
    Obs.VOLT_T2_T4,
    Obs.VOLT_T2_T5,
)
REBOOT_OBSERVATIONS: Final = (Obs.SOFTWARE_RELEASE, Obs.REBOOT_REASON)
#: Observations Easee stamps on a schedule, not when the charger sends them: 122 EnergyPerHour carries
#: the full hour and arrives minutes later (evcc #10428: stamped 17:00:00, received 17:03:24; #15556);
#: 124 LifetimeEnergy is "updated once per hour", 2-10 min past it (easee_hass #174). Their
#: ArrivalTime minus stamp is not transport latency.
SCHEDULED_OBSERVATIONS: Final = (Obs.ENERGY_PER_HOUR, Obs.LIFETIME_ENERGY)
CLOUD_OBSERVATIONS: Final = (Obs.CONNECTED_TO_CLOUD, Obs.CLOUD_DISCONNECT_REASON)


class OpMode(IntEnum):
    """Observation 109 ChargerOpMode."""

    OFFLINE = 0
    DISCONNECTED = 1
    AWAITING_START = 2
    CHARGING = 3
    COMPLETED = 4
    ERROR = 5
    READY_TO_CHARGE = 6
    AWAITING_AUTHENTICATION = 7
    DEAUTHENTICATING = 8


#: Op modes in which a car is plugged in.
CAR_CONNECTED_OP_MODES: Final = frozenset(
    {
        OpMode.AWAITING_START,
        OpMode.CHARGING,
        OpMode.COMPLETED,
        OpMode.READY_TO_CHARGE,
        OpMode.AWAITING_AUTHENTICATION,
        OpMode.DEAUTHENTICATING,
    }
)


@dataclass(frozen=True, slots=True)
class ObservationInfo:
    """What the catalog knows about one observation id."""

    id: int
    name: str
    #: ``None``: no source gives the type (the value is decoded as a number when it reads as one).
    data_type: DataType | None
    unit: str | None
    tags: tuple[str, ...]
    description: str
    #: True where the template and pyeasee disagree on the type: decode numerically, as float.
    numeric_override: bool = False
    #: True where sources disagree between Boolean and String: a text that is no Boolean is kept as
    #: text, without a decode error.
    text_tolerant: bool = False

    @property
    def is_numeric(self) -> bool:
        """Whether ``value`` carries a number (Boolean, Double, Integer)."""
        return self.numeric_override or self.data_type in _NUMERIC_TYPES


_NUMERIC_TYPES = frozenset({DataType.BOOLEAN, DataType.DOUBLE, DataType.INTEGER})

_TYPE_CODES = {
    "Bin": DataType.BINARY,
    "Bool": DataType.BOOLEAN,
    "Dbl": DataType.DOUBLE,
    "Int": DataType.INTEGER,
    "Pos": DataType.POSITION,
    "Str": DataType.STRING,
    "Stat": DataType.STATISTICS,
}


def _parse_table(text: str) -> dict[int, ObservationInfo]:
    table: dict[int, ObservationInfo] = {}
    for line in text.strip().splitlines():
        obs_id, name, type_code, unit, tags, description = line.split("|")
        override = type_code == "Num"
        tolerant = type_code == "Bool/Str"
        data_type = (
            DataType.DOUBLE
            if override
            else DataType.BOOLEAN
            if tolerant
            else None
            if type_code == "?"
            else _TYPE_CODES[type_code]
        )
        table[int(obs_id)] = ObservationInfo(
            id=int(obs_id),
            name=name,
            data_type=data_type,
            unit=unit or None,
            tags=tuple(tag for tag in tags.split(",") if tag),
            description=description,
            numeric_override=override,
            text_tolerant=tolerant,
        )
    return table


#: Every known observation, by id (read-only).
OBSERVATIONS: Final = MappingProxyType(_parse_table(TABLE))

#: Number of phases used for each OutputPhase code.
OUTPUT_PHASE_COUNT: Final = MappingProxyType({code: code // 10 for code in _OUTPUT_PHASE})

_ENUMS: dict[int, dict[int, str]] = {
    21: _POWER_GRID_TYPE,
    32: {0: "Off", -1: "Monitoring", 1: "Active"},
    38: {1: "Locked1Phase", 2: "Auto", 3: "Locked3Phase"},
    45: {0: "Always", 1: "IfWhitelisted", 2: "Never"},
    96: _REASON_FOR_NO_CURRENT,
    99: {0: "None", 1: "Radio", 2: "WifiUdp", 3: "RadioAndWifiUdp"},
    109: {mode.value: "".join(part.capitalize() for part in mode.name.split("_")) for mode in OpMode},
    110: _OUTPUT_PHASE,
    123: {0: "NotLegacy", 1: "Legacy", 2: "Reviving"},
    141: {0: "Cellular", 1: "WiFi"},
    146: {0: "Unconfigured", 1: "Master", 2: "Extender", 3: "EndDevice"},
}

#: Enum labels by observation id, then code (read-only).
ENUM_LABELS: Final = MappingProxyType({obs_id: MappingProxyType(codes) for obs_id, codes in _ENUMS.items()})


def observation(obs_id: int) -> ObservationInfo | None:
    """The catalog entry of ``obs_id``, or ``None`` for an id the catalog does not know."""
    return OBSERVATIONS.get(obs_id)


def name(obs_id: int) -> str | None:
    """The observation name of ``obs_id``, or ``None`` when unknown."""
    info = OBSERVATIONS.get(obs_id)
    return None if info is None else info.name


def label(obs_id: int, code: int | float | None) -> str | None:
    """The enum label of ``code`` for ``obs_id``; ``None`` for non-enum ids, unknown or non-integral codes."""
    if code is None:
        return None
    labels = ENUM_LABELS.get(obs_id)
    if labels is None:
        return None
    if isinstance(code, float):
        if not code.is_integer():
            return None
        code = int(code)
    return labels.get(code)


def ids_tagged(tag: str) -> tuple[int, ...]:
    """Ids carrying ``tag`` (``boot``, ``event``, ``telemetry`` ...), ascending."""
    return tuple(obs_id for obs_id, info in OBSERVATIONS.items() if tag in info.tags)


def by_name(obs_name: str) -> ObservationInfo | None:
    """The catalog entry whose name matches ``obs_name`` (case-insensitive), or ``None``."""
    return _BY_NAME.get(obs_name.lower())


_BY_NAME = {info.name.lower(): info for info in OBSERVATIONS.values()}


def catalog_frame() -> pl.DataFrame:
    """The catalog as a table (id, name, unit, data_type, tags, description), e.g. to join units onto data."""
    import polars as pl

    infos = sorted(OBSERVATIONS.values(), key=lambda info: info.id)
    return pl.DataFrame(
        {
            "observation_id": [info.id for info in infos],
            "observation": [info.name for info in infos],
            "unit": [info.unit for info in infos],
            "data_type": [None if info.data_type is None else info.data_type.title for info in infos],
            "tags": [list(info.tags) for info in infos],
            "description": [info.description for info in infos],
        },
        schema={
            "observation_id": pl.Int32(),
            "observation": pl.String(),
            "unit": pl.String(),
            "data_type": pl.String(),
            "tags": pl.List(pl.String()),
            "description": pl.String(),
        },
    )


def labels_frame() -> pl.DataFrame:
    """Every enum label as a table (observation_id, code, label)."""
    import polars as pl

    rows = [(obs_id, code, text) for obs_id, codes in ENUM_LABELS.items() for code, text in codes.items()]
    return pl.DataFrame(
        rows, schema={"observation_id": pl.Int32(), "code": pl.Int64(), "label": pl.String()}, orient="row"
    )
