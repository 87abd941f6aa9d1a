"""Easee enumerations as the sources define them, each table citing where it comes from.

Sources (versions as in the project's fidelity review, ``shared/reference/fidelity-easee.md`` §0):

* DOC-ENUM: Easee developer docs "Enumerations" (developer.easee.cloud/docs/enumerations; the newer text
  with 0/7/8 is quoted on community.openhab.org/t/easee-binding/135492?page=5).
* EVCC: evcc-io/evcc @ b29b49e3, ``charger/easee/types.go``.
* FH: futurehomeno/edge-easee-adapter @ 3593260f, ``src/internal/model/model.go``.
* PY: nordicopen/pyeasee @ 43f04c3d, ``pyeasee/charger.py``.
* TPL: easee/masterloop-amqp-example @ 8c2725c9, ``MasterloopAmqp/EASEECHG.cs`` (template text).
* DOC-AMQP: the seed copy of "Connecting to AMQP", ``shared/seeds/easee-amqp-connect.txt``.

Only codes are fixed here; labels are evkit's own wording (sources disagree on spelling), except where a
meaning matters to the analysis (op modes).
"""

from __future__ import annotations

#: 109 ChargerOpMode: DOC-ENUM; EVCC types.go:25-33 (ModeOffline 0 ... ModeDeauthenticating 8).
OP_MODES: dict[int, str] = {
    0: "Offline",
    1: "Disconnected",  # DOC-ENUM: no car connected
    2: "AwaitingStart",  # DOC-ENUM: car connected, waiting for load balancer / remote auth (SuspendedEVSE)
    3: "Charging",
    4: "Completed",  # DOC-ENUM: "Car has paused/stopped charging"
    5: "Error",
    6: "ReadyToCharge",  # DOC-ENUM: waiting for car to take energy (SuspendedEV)
    7: "AwaitingAuthentication",
    8: "Deauthenticating",
}
OP_MODES_SOURCE = "DOC-ENUM; evcc charger/easee/types.go:25-33"

#: Op modes DOC-ENUM describes as the charger (EVSE) holding back a connected car: a schedule or smart
#: charging pause. evcc's inExpectedOpMode(false) also expects 2 (or 7) after a charger-side pause
#: (evcc charger/easee.go:557-571).
CHARGER_SIDE_PAUSE_OP_MODES = frozenset({2})
#: The car-side pause: 6 ReadyToCharge, "SuspendedEV" (DOC-ENUM).
CAR_SIDE_PAUSE_OP_MODES = frozenset({6})

#: 110 OutputPhase: DOC-ENUM OutputPhaseType; FH model.go:212-222 (same codes).
OUTPUT_PHASES: dict[int, int] = {  # code -> phases used
    0: 0,
    10: 1,
    11: 1,
    12: 1,
    13: 1,
    14: 1,
    15: 1,
    20: 2,
    21: 2,
    22: 2,
    30: 3,
}
OUTPUT_PHASES_SOURCE = "DOC-ENUM OutputPhaseType; FH src/internal/model/model.go:212-222"

#: 21 DetectedPowerGridType: FH model.go:331-348 (GridTypeNotYetDetected 0 ... ErrorITGroundConnectedToPin2Or3
#: 52), which adds the warnings 32-38 to the list of the Homey app (ricott/homey-no.easee lib/enums.js).
POWER_GRID_TYPES: dict[int, str] = {
    0: "NotYetDetected",
    1: "TN3Phase",
    2: "TN2PhasePin23",  # Homey/evkit say "pin 2,3,4"; FH has a separate warning 36 for pin 2,3,4
    3: "TN1Phase",
    4: "IT3Phase",
    5: "IT1Phase",
    30: "WarningTN2PhasePin235",
    31: "WarningTN1PhaseNeutralOnPin3",
    32: "WarningIT3PhaseGNDFault",
    33: "WarningIT1PhaseGNDFault",
    34: "WarningIT3PhaseGNDFaultL3",
    35: "WarningIT1PhaseGNDFaultL3",
    36: "WarningTN2PhasePIN234",
    37: "WarningTN3PhaseGNDFault",
    38: "WarningTN2PhaseGNDFault",
    50: "ErrorNoValidPowerGridFound",
    51: "ErrorTN400VNeutralOnWrongPin",
    52: "ErrorITGroundConnectedToPin2Or3",
}
POWER_GRID_TYPES_SOURCE = "FH src/internal/model/model.go:331-348"

#: 96 ReasonForNoCurrent: DOC-ENUM's text is official for 0-4 (every stored copy is cut after 4); the
#: rest is PY charger.py:43-80 ("reverse engineering of observations"), same ids in easee_hass and Homey.
REASON_FOR_NO_CURRENT_OFFICIAL = frozenset({0, 1, 2, 3, 4})
REASON_FOR_NO_CURRENT: frozenset[int] = frozenset(
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 25, 26, 27, 28, 29, 30}
    | {50, 51, 52, 53, 54, 55, 56, 57, 75, 76, 77, 78, 79, 80, 81, 100}
)
REASON_FOR_NO_CURRENT_SOURCE = "DOC-ENUM (0-4); pyeasee pyeasee/charger.py:43-80"
#: The reasons a schedule pause reports: 54 "Waiting for schedule/auth", 76 "Limited by schedule"
#: (PY charger.py:68, 73).
SCHEDULE_REASONS = frozenset({54, 76})

#: Smaller enumerations: id -> (codes, source).
SMALL_ENUMS: dict[int, tuple[frozenset[int], str]] = {
    32: (frozenset({0, -1, 1}), "TPL EASEECHG.cs TemperatureMonitorState: OFF=0, MONITORING=-1, ACTIVE=1"),
    38: (frozenset({1, 2, 3}), "PY pyeasee/charger.py:41 PHASE_MODE"),
    45: (frozenset({0, 1, 2}), "DOC-ENUM OfflineChargingMode: Always 0, IfWhitelisted 1, Never 2"),
    99: (frozenset({0, 1, 2, 3}), "TPL EASEECHG.cs LocalConnection"),
    123: (frozenset({0, 1, 2}), "TPL EASEECHG.cs LegacyEvStatus"),
    141: (frozenset({0, 1}), "DOC-AMQP seed line 69: 0 = cellular, 1 = wifi"),
    146: (
        frozenset({0, 1, 2, 3}),
        "DOC-AMQP seed line 70: 0-Unconfigured, 1-Master, 2-Extender, 3-End device",
    ),
}

#: Data type codes of the ``dataType`` field: Masterloop Base/DataType.cs; pyeasee const.py:375-382.
DATA_TYPES: dict[int, str] = {
    1: "Binary",
    2: "Boolean",
    3: "Double",
    4: "Integer",
    5: "Position",
    6: "String",
    7: "Statistics",
}
