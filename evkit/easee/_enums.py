"""Code tables of Easee enumerations (labels in our words), used by ``evkit.easee.catalog``.

Codes are tested against ``tests/conformance/easee_enums.py``, which cites the sources: 21 power grid
type (Homey app, Futurehome adapter model.go:331-348), 96 reason for no current (Easee enumerations
0-4, pyeasee charger.py:43-80), 110 output phase (Easee enumerations OutputPhaseType).
"""

from __future__ import annotations

POWER_GRID_TYPE: dict[int, str] = {
    0: "NotYetDetected",
    1: "TN_3Phase",
    2: "TN_2Phase_Pin234",
    3: "TN_1Phase",
    4: "IT_3Phase",
    5: "IT_1Phase",
    30: "Warning_TN_2Phase_Pin235",
    31: "Warning_TN_1Phase_NeutralOnPin3",
    # 32-38: the Futurehome adapter's table (edge-easee-adapter src/internal/model/model.go:339-345).
    32: "Warning_IT_3Phase_GndFault",
    33: "Warning_IT_1Phase_GndFault",
    34: "Warning_IT_3Phase_GndFault_L3",
    35: "Warning_IT_1Phase_GndFault_L3",
    36: "Warning_TN_2Phase_Pin234",
    37: "Warning_TN_3Phase_GndFault",
    38: "Warning_TN_2Phase_GndFault",
    50: "Error_NoValidPowerGridFound",
    51: "Error_TN_400V_NeutralOnWrongPin",
    52: "Error_IT_GndConnectedToPin2Or3",
}

REASON_FOR_NO_CURRENT: dict[int, str] = {
    0: "OK",
    1: "MaxCircuitCurrentTooLow",
    2: "MaxDynamicCircuitCurrentTooLow",
    3: "MaxDynamicOfflineFallbackCircuitCurrentTooLow",
    4: "CircuitFuseTooLow",
    5: "WaitingInQueue",
    6: "WaitingInFullyChargedQueue",
    7: "IllegalGridType",
    8: "PrimaryUnitHasNotReceivedCurrentRequestFromSecondary",
    9: "MasterCommunicationLost",
    10: "EqualizerCurrentTooLow",
    11: "PhaseNotConnected",
    25: "LimitedByCircuitFuse",
    26: "LimitedByCircuitMaxCurrent",
    27: "LimitedByDynamicCircuitCurrent",
    28: "LimitedByEqualizer",
    29: "LimitedByCircuitLoadBalancing",
    30: "LimitedByOfflineSettings",
    50: "SecondaryUnitNotRequestingCurrent",
    51: "MaxChargerCurrentTooLow",
    52: "MaxDynamicChargerCurrentTooLow",
    53: "ChargerDisabled",
    54: "PendingScheduledCharging",
    55: "PendingAuthorization",
    56: "ChargerInErrorState",
    57: "ErraticEV",
    75: "LimitedByCableRating",
    76: "LimitedBySchedule",
    77: "LimitedByChargerMaxCurrent",
    78: "LimitedByDynamicChargerCurrent",
    79: "CarNotCharging",
    80: "LimitedByLocalAdjustment",
    81: "LimitedByCar",
    100: "Undefined",
}

OUTPUT_PHASE: dict[int, str] = {
    0: "Unassigned",
    10: "P1_T2_T3_TN",
    11: "P1_T2_T3_IT",
    12: "P1_T2_T4_TN",
    13: "P1_T2_T4_IT",
    14: "P1_T2_T5_TN",
    15: "P1_T3_T4_IT",
    20: "P2_T2_T3_T4_TN",
    21: "P2_T2_T4_T5_TN",
    22: "P2_T2_T3_T4_IT",
    30: "P3_T2_T3_T4_T5_TN",
}
