"""The Easee Equalizer observation catalog: the same id space as a charger's, other meanings.

An Equalizer (the meter-side load balancer) streams observations on the same hub as the chargers, but
its ids mean other things: 31 is a phase current in A (a charger's 31 is IsEnabled, a Boolean), 40 is
imported power in kW, 45 the imported energy meter in kWh, 120 "connected amps". Decoding an
Equalizer's message with the charger catalog would null its values or mislabel them, so the decoder
uses this table for devices whose serial starts with ``QP`` (:func:`is_equalizer`).

Source: pyeasee (nordicopen/pyeasee @ 43f04c3d) ``pyeasee/const.py:278-371`` ``EqualizerStreamData``
(ids, names, bracketed types and units); easee_hass subscribes Equalizers on the same stream
(``custom_components/easee/controller.py:785-789``). 120 has no published type: it is decoded as a
number when it reads as one, else kept as text. Whether the operator AMQP queue carries Equalizers at
all is not documented (Easee's AMQP list names charger observations only); the ``QP`` serial prefix is
the project's convention for telling them apart, not a published rule. Descriptions are our words.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from evkit.easee.catalog import DataType

#: Serials of Equalizers start with this (chargers: ``EH``/``EC``…).
EQUALIZER_SERIAL_PREFIX: Final = "QP"


def is_equalizer(serial: str | None) -> bool:
    """Whether ``serial`` names an Equalizer (by its ``QP`` prefix)."""
    return serial is not None and serial.startswith(EQUALIZER_SERIAL_PREFIX)


@dataclass(frozen=True, slots=True)
class EqualizerObservation:
    """What the Equalizer catalog knows about one observation id."""

    id: int
    name: str
    data_type: DataType | None  # None: no source gives the type
    unit: str | None
    description: str


_TYPES = {"Str": DataType.STRING, "Int": DataType.INTEGER, "Dbl": DataType.DOUBLE, "Bool": DataType.BOOLEAN}

# id | name | type ("?" = unpublished) | unit | description (our words)
_TABLE = """
1|SelfTestResult|Str||self-test result: passed, or error codes
2|SelfTestDetails|Str||self-test details (JSON text)
13|EaseeLinkCommandResponse|Int||response to an Easee Link command sent to another device
14|EaseeLinkDataReceived|Str||data received over Easee Link
19|SiteIDNumeric|Int||site identifier as a number
20|SiteStructure|Str||site structure description
21|SoftwareRelease|Int||firmware release number
23|DeviceMode|Int||current device mode
25|MeterType|Str||type of the connected meter
26|MeterID|Str||identification of the connected meter
27|OBISListIdentifier|Str||version of the meter's OBIS list
29|GridType|Int||grid type (0 unknown, 1 TN, 2 IT)
30|NumPhases|Int||number of phases
31|CurrentL1|Dbl|A|current on L1
32|CurrentL2|Dbl|A|current on L2
33|CurrentL3|Dbl|A|current on L3
34|VoltageNL1|Dbl|V|voltage N-L1
35|VoltageNL2|Dbl|V|voltage N-L2
36|VoltageNL3|Dbl|V|voltage N-L3
37|VoltageL1L2|Dbl|V|voltage L1-L2
38|VoltageL1L3|Dbl|V|voltage L1-L3
39|VoltageL2L3|Dbl|V|voltage L2-L3
40|ActivePowerImport|Dbl|kW|active power drawn from the grid
41|ActivePowerExport|Dbl|kW|active power fed into the grid
42|ReactivePowerImport|Dbl|kVAR|reactive power imported
43|ReactivePowerExport|Dbl|kVAR|reactive power exported
44|MaxPowerImport|Dbl||highest power import
45|CumulativeActivePowerImport|Dbl|kWh|meter: active energy imported
46|CumulativeActivePowerExport|Dbl|kWh|meter: active energy exported
47|CumulativeReactivePowerImport|Dbl|kVARh|meter: reactive energy imported
48|CumulativeReactivePowerExport|Dbl|kVARh|meter: reactive energy exported
49|ClockAndDateMeter|Str||the meter's clock and date
50|Rcpi|Dbl|dBm|received channel power indicator
51|Ssid|Str||Wi-Fi network in use
55|MasterBackPlateID|Str||back plate id of the master charger
56|EqualizerID|Str||back plate id of the Equalizer
57|ChildReport|Str||configuration of the Equalizer's children
58|ConnectivityReport|Str||connectivity of the children
60|ExceptionData|Str||exception debug information
61|BootReason|Str||why the Equalizer (re)booted
64|HighCurrentTransitions|Int||transitions to high-current mode (debug)
65|VCap|Dbl|V|capacitor voltage
66|VBusMin|Dbl|V|lowest bus voltage
67|VbusMax|Dbl|V|highest bus voltage
68|InternalTemperature|Dbl|°C|internal temperature
69|MeterDataSnapshot|Str||snapshot of the meter data
70|LocalRSSI|Int|dBm|signal strength of the local radio
71|LocalTxPower|Int|dBm|transmit power of the local radio
72|LocalRadioChannel|Int||local radio channel (0-11)
73|LocalShortAddress|Int||address on the local radio network
74|LocalNodeType|Int||role on the local radio network
75|LocalParentAddress|Int||parent on the local radio network (0: master)
80|CircuitPhaseMapping|Str||mapping of Equalizer phases to charger phases
81|PhaseMappingReport|Str||charger vs meter phase correlation
82|PhaseLearningStatus|Str||status of phase learning / load balancing
85|ModbusConfiguration|Str||Modbus configuration
86|LoadbalanceThrottle|Int|%|throttle level
87|AvailableCurrentL1|Dbl|A|current available for balancing, L1
88|AvailableCurrentL2|Dbl|A|current available for balancing, L2
89|AvailableCurrentL3|Dbl|A|current available for balancing, L3
90|MeterErrors|Int||meter errors
91|APMacAddress|Str||MAC address of the Wi-Fi access point
92|WifiReconnects|Int||successful reconnects to the access point
100|LedMode|Int||current LED pattern
105|EqualizedChargeCurrentL1|Dbl|A|charge current set by the Equalizer, L1
106|EqualizedChargeCurrentL2|Dbl|A|charge current set by the Equalizer, L2
107|EqualizedChargeCurrentL3|Dbl|A|charge current set by the Equalizer, L3
110|CurrentTransformerConfig|Str||current transformer configuration
111|MeterEncryptionStatus|Str||meter encryption status
115|SurplusCharging|Str||surplus charging configuration
120|ConnectedAmps|?||connected amps report (type unpublished)
250|ConnectedToCloud|Bool||the Equalizer is connected to the cloud
251|CloudDisconnectReason|Str||why it lost the cloud connection
"""


def _parse(text: str) -> dict[int, EqualizerObservation]:
    table: dict[int, EqualizerObservation] = {}
    for line in text.strip().splitlines():
        obs_id, name, type_code, unit, description = line.split("|")
        table[int(obs_id)] = EqualizerObservation(
            int(obs_id), name, _TYPES.get(type_code), unit or None, description
        )
    return table


#: Every known Equalizer observation, by id (read-only).
EQUALIZER_OBSERVATIONS: Final = MappingProxyType(_parse(_TABLE))

#: Enum labels of Equalizer observations, by id then code (pyeasee const.py:292 and 343 comments).
EQUALIZER_ENUM_LABELS: Final = MappingProxyType(
    {
        29: MappingProxyType({0: "Unknown", 1: "TN", 2: "IT"}),
        74: MappingProxyType(
            {0: "Unconfigured", 1: "Coordinator", 2: "RangeExtender", 3: "EndDevice", 4: "SleepyEndDevice"}
        ),
    }
)


def equalizer_observation(obs_id: int) -> EqualizerObservation | None:
    """The Equalizer catalog entry of ``obs_id``, or ``None`` for an id it does not know."""
    return EQUALIZER_OBSERVATIONS.get(obs_id)


__all__ = [
    "EQUALIZER_ENUM_LABELS",
    "EQUALIZER_OBSERVATIONS",
    "EQUALIZER_SERIAL_PREFIX",
    "EqualizerObservation",
    "equalizer_observation",
    "is_equalizer",
]
