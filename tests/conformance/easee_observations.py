"""Easee's documented AMQP observation list (DOC-AMQP): the 48 observations AMQP v2 carries.

Source: Easee developer docs, "Connecting to AMQP" (developer.easee.com/docs/amqp-connect), stored as
``/work/shared/seeds/easee-amqp-connect.txt`` (the user's copy; "List of available observations",
lines 37-84). Each row gives the id, the name as printed, the data type in the last bracket, the unit in
the doc's brackets (``[Amperes]`` -> A, ``[Volt]`` -> V, ``[Celsius]`` -> °C; 47/48 say "(A)" in the
text), the doc's tags and the line of that file.

The doc types 104 CableRating and 150 TempMax as Integer, Easee's 2021 template (EASEECHG.cs) as Double:
evkit decodes both numerically (``numeric_override``), which the conformance test allows.
"""

from __future__ import annotations

from typing import NamedTuple

#: The file the ``line`` numbers refer to.
DOC_AMQP = "developer.easee.com/docs/amqp-connect (seed copy: shared/seeds/easee-amqp-connect.txt)"


class DocObservation(NamedTuple):
    id: int
    name: str
    data_type: str  # Boolean / Double / Integer / String, as the doc prints it
    unit: str | None
    line: int  # line of the seed copy of DOC-AMQP
    tags: tuple[str, ...] = ()  # the doc's bracketed [boot] / [event] / [telemetry]


DOC_AMQP_OBSERVATIONS: tuple[DocObservation, ...] = (
    DocObservation(21, "DetectedPowerGridType", "Integer", None, 37, ("boot",)),
    DocObservation(22, "CircuitMaxCurrentP1", "Double", "A", 38, ()),
    DocObservation(23, "CircuitMaxCurrentP2", "Double", "A", 39, ()),
    DocObservation(24, "CircuitMaxCurrentP3", "Double", "A", 40, ()),
    DocObservation(30, "LockCablePermanently", "Boolean", None, 41, ()),
    DocObservation(31, "IsEnabled", "Boolean", None, 42, ()),
    DocObservation(44, "SmartButtonEnabled", "Boolean", None, 43, ()),
    DocObservation(46, "LEDMode", "Integer", None, 44, ("event",)),
    DocObservation(47, "MaxChargerCurrent", "Double", "A", 45, ()),
    DocObservation(48, "DynamicChargerCurrent", "Double", "A", 46, ()),
    DocObservation(50, "MaxCurrentOfflineFallback_P1", "Integer", None, 47, ("event",)),
    DocObservation(51, "MaxCurrentOfflineFallback_P2", "Integer", None, 48, ("event",)),
    DocObservation(52, "MaxCurrentOfflineFallback_P3", "Integer", None, 49, ("event",)),
    DocObservation(80, "SoftwareRelease", "Integer", None, 50, ("boot",)),
    DocObservation(89, "RebootReason", "Integer", None, 51, ()),
    DocObservation(96, "ReasonForNoCurrent", "Integer", None, 52, ()),
    DocObservation(102, "SmartCharging", "Boolean", None, 53, ("event",)),
    DocObservation(103, "CableLocked", "Boolean", None, 54, ("event",)),
    DocObservation(104, "CableRating", "Integer", "A", 55, ("event",)),
    DocObservation(108, "UserIDTokenReversed", "String", None, 56, ("event",)),
    DocObservation(109, "ChargerOpMode", "Integer", None, 57, ("event",)),
    DocObservation(110, "OutputPhase", "Integer", None, 58, ("event",)),
    DocObservation(111, "DynamicCircuitCurrentP1", "Double", "A", 59, ("event",)),
    DocObservation(112, "DynamicCircuitCurrentP2", "Double", "A", 60, ("event",)),
    DocObservation(113, "DynamicCircuitCurrentP3", "Double", "A", 61, ("event",)),
    DocObservation(120, "TotalPower", "Double", "kW", 62, ("telemetry",)),
    DocObservation(121, "SessionEnergy", "Double", "kWh", 63, ("telemetry",)),
    DocObservation(122, "EnergyPerHour", "Double", "kWh", 64, ("event",)),
    DocObservation(124, "LifetimeEnergy", "Double", "kWh", 65, ()),
    DocObservation(128, "UserIDToken", "String", None, 66, ("event",)),
    DocObservation(130, "CellRSSI", "Integer", "dBm", 67, ("telemetry",)),
    DocObservation(132, "WiFiRSSI", "Integer", "dBm", 68, ("telemetry",)),
    DocObservation(141, "ChargerRAT", "Integer", None, 69, ()),
    DocObservation(146, "LocalNodeType", "Integer", None, 70, ()),
    DocObservation(150, "TempMax", "Integer", "°C", 71, ("telemetry",)),
    DocObservation(182, "InCurrent_T2", "Double", "A", 72, ("telemetry",)),
    DocObservation(183, "InCurrent_T3", "Double", "A", 73, ("telemetry",)),
    DocObservation(184, "InCurrent_T4", "Double", "A", 74, ("telemetry",)),
    DocObservation(185, "InCurrent_T5", "Double", "A", 75, ("telemetry",)),
    DocObservation(190, "InVolt_T1_T2", "Double", "V", 76, ("telemetry",)),
    DocObservation(191, "InVolt_T1_T3", "Double", "V", 77, ("telemetry",)),
    DocObservation(192, "InVolt_T1_T4", "Double", "V", 78, ("telemetry",)),
    DocObservation(193, "InVolt_T1_T5", "Double", "V", 79, ("telemetry",)),
    DocObservation(194, "InVolt_T2_T3", "Double", "V", 80, ("telemetry",)),
    DocObservation(195, "InVolt_T2_T4", "Double", "V", 81, ("telemetry",)),
    DocObservation(196, "InVolt_T2_T5", "Double", "V", 82, ("telemetry",)),
    DocObservation(250, "ConnectedToCloud", "Boolean", None, 83, ()),
    DocObservation(251, "CloudDisconnectReason", "String", None, 84, ()),
)

#: The doc says "All observations include a custom header ArrivalTime ... the time the message arrived in
#: the cloud from the device" (seed line 33).
ARRIVAL_TIME_HEADER = ("ArrivalTime", 33)
