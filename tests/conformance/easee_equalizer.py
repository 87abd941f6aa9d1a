"""The Easee Equalizer's observation table as pyeasee defines it.

Source: nordicopen/pyeasee @ 43f04c3dea8e500d382b22ddc11440c3ebdbe7e3, ``pyeasee/const.py:278-371``
(class ``EqualizerStreamData``: "Data IDs for Equalizer from signalr stream"). Each row: id, pyeasee's
name (without its ``state_``/``config_`` prefix), the bracketed type of its comment (``None`` where it
gives none), the unit its comment names ("in Amps" -> A, "in Volts" -> V, kW, kVAR, kWh, kVARh, dBm,
Celsius -> °C, percent -> %), and the line in const.py.
"""

from __future__ import annotations

from typing import NamedTuple

SOURCE = "nordicopen/pyeasee@43f04c3d pyeasee/const.py:278-371 EqualizerStreamData"


class EqualizerObservation(NamedTuple):
    id: int
    name: str
    data_type: str | None
    unit: str | None
    line: int  # line of pyeasee/const.py


EQUALIZER_OBSERVATIONS: tuple[EqualizerObservation, ...] = (
    EqualizerObservation(1, "selfTestResult", "String", None, 279),
    EqualizerObservation(2, "selfTestDetails", "String", None, 280),
    EqualizerObservation(13, "easeeLinkCommandResponse", "Integer", None, 281),
    EqualizerObservation(14, "easeeLinkDataReceived", "String", None, 284),
    EqualizerObservation(19, "siteIDNumeric", "Integer", None, 285),
    EqualizerObservation(20, "siteStructure", "String", None, 286),
    EqualizerObservation(21, "softwareRelease", "Integer", None, 287),
    EqualizerObservation(23, "deviceMode", "Integer", None, 288),
    EqualizerObservation(25, "meterType", "String", None, 289),
    EqualizerObservation(26, "meterID", "String", None, 290),
    EqualizerObservation(27, "OBISListIdentifier", "String", None, 291),
    EqualizerObservation(29, "gridType", "Integer", None, 292),
    EqualizerObservation(30, "numPhases", "Integer", None, 293),
    EqualizerObservation(31, "currentL1", "Double", "A", 294),
    EqualizerObservation(32, "currentL2", "Double", "A", 295),
    EqualizerObservation(33, "currentL3", "Double", "A", 296),
    EqualizerObservation(34, "voltageNL1", "Double", "V", 297),
    EqualizerObservation(35, "voltageNL2", "Double", "V", 298),
    EqualizerObservation(36, "voltageNL3", "Double", "V", 299),
    EqualizerObservation(37, "voltageL1L2", "Double", "V", 300),
    EqualizerObservation(38, "voltageL1L3", "Double", "V", 301),
    EqualizerObservation(39, "voltageL2L3", "Double", "V", 302),
    EqualizerObservation(40, "activePowerImport", "Double", "kW", 303),
    EqualizerObservation(41, "activePowerExport", "Double", "kW", 304),
    EqualizerObservation(42, "reactivePowerImport", "Double", "kVAR", 305),
    EqualizerObservation(43, "reactivePowerExport", "Double", "kVAR", 306),
    EqualizerObservation(44, "maxPowerImport", "Double", None, 307),
    EqualizerObservation(45, "cumulativeActivePowerImport", "Double", "kWh", 308),
    EqualizerObservation(46, "cumulativeActivePowerExport", "Double", "kWh", 311),
    EqualizerObservation(47, "cumulativeReactivePowerImport", "Double", "kVARh", 314),
    EqualizerObservation(48, "cumulativeReactivePowerExport", "Double", "kVARh", 317),
    EqualizerObservation(49, "clockAndDateMeter", "String", None, 320),
    EqualizerObservation(50, "rcpi", "Double", "dBm", 321),
    EqualizerObservation(51, "ssid", "String", None, 322),
    EqualizerObservation(55, "masterBackPlateID", "String", None, 323),
    EqualizerObservation(56, "equalizerID", "String", None, 324),
    EqualizerObservation(57, "childReport", "String", None, 325),
    EqualizerObservation(58, "connectivityReport", "String", None, 326),
    EqualizerObservation(60, "exceptionData", "String", None, 327),
    EqualizerObservation(61, "bootReason", "String", None, 328),
    EqualizerObservation(64, "highCurrentTransitions", "Integer", None, 329),
    EqualizerObservation(65, "vCap", "Double", "V", 332),
    EqualizerObservation(66, "vBusMin", "Double", "V", 333),
    EqualizerObservation(67, "vbusMax", "Double", "V", 334),
    EqualizerObservation(68, "internalTemperature", "Double", "°C", 335),
    EqualizerObservation(69, "meterDataSnapshot", "String", None, 336),
    EqualizerObservation(70, "localRSSI", "Integer", "dBm", 337),
    EqualizerObservation(71, "localTxPower", "Integer", "dBm", 338),
    EqualizerObservation(72, "localRadioChannel", "Integer", None, 339),
    EqualizerObservation(73, "localShortAddress", "Integer", None, 340),
    EqualizerObservation(74, "localNodeType", "Integer", None, 343),
    EqualizerObservation(75, "localParentAddress", "Integer", None, 344),
    EqualizerObservation(80, "circuitPhaseMapping", "String", None, 345),
    EqualizerObservation(81, "phaseMappingReport", "String", None, 346),
    EqualizerObservation(82, "phaseLearningStatus", "String", None, 347),
    EqualizerObservation(85, "modbusConfiguration", "String", None, 348),
    EqualizerObservation(86, "loadbalanceThrottle", "Integer", "%", 349),
    EqualizerObservation(87, "availableCurrentL1", "Double", "A", 350),
    EqualizerObservation(88, "availableCurrentL2", "Double", "A", 351),
    EqualizerObservation(89, "availableCurrentL3", "Double", "A", 352),
    EqualizerObservation(90, "meterErrors", "Integer", None, 353),
    EqualizerObservation(91, "APMacAddress", "String", None, 354),
    EqualizerObservation(92, "wifiReconnects", "Integer", None, 355),
    EqualizerObservation(100, "ledMode", "Integer", None, 356),
    EqualizerObservation(105, "equalizedChargeCurrentL1", "Double", "A", 357),
    EqualizerObservation(106, "equalizedChargeCurrentL2", "Double", "A", 360),
    EqualizerObservation(107, "equalizedChargeCurrentL3", "Double", "A", 363),
    EqualizerObservation(110, "currentTransformerConfig", "String", None, 366),
    EqualizerObservation(111, "meterEncryptionStatus", "String", None, 367),
    EqualizerObservation(115, "surplusCharging", "String", None, 368),
    EqualizerObservation(120, "connectedAmps", None, None, 369),
    EqualizerObservation(250, "connectedToCloud", "Boolean", None, 370),
    EqualizerObservation(251, "cloudDisconnectReason", "String", None, 371),
)

#: Equalizer grid type (obs 29): "0=Unknown, 1=TN, 2=IT" (const.py:292); local node type (obs 74):
#: "0-Unconfigured, 1 - Coordinator, 2 - Range extender, 3 - End device, 4- Sleepy end device" (const.py:343).
EQUALIZER_ENUMS: dict[int, frozenset[int]] = {29: frozenset({0, 1, 2}), 74: frozenset({0, 1, 2, 3, 4})}
