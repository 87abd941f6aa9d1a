"""The few Easee observation ids and op-mode names the figures need.

Kept in this one private module until ``evkit.easee.catalog`` lands, so switching is one import.
"""

from __future__ import annotations

OP_MODE = 109
TOTAL_POWER = 120  # kW
PHASE_CURRENTS: dict[int, str] = {182: "T2", 183: "L1 (T3)", 184: "L2 (T4)", 185: "L3 (T5)"}
CELL_RSSI = 130
WIFI_RSSI = 132
SOFTWARE_RELEASE = 80  # sent at boot
REBOOT_REASON = 89
CONNECTED_TO_CLOUD = 250
CLOUD_DISCONNECT_REASON = 251

OP_MODE_NAMES: dict[int, str] = {
    0: "Offline",
    1: "Disconnected",
    2: "AwaitingStart",
    3: "Charging",
    4: "Completed",
    5: "Error",
    6: "ReadyToCharge",
    7: "AwaitingAuthentication",
    8: "Deauthenticating",
}


def op_mode_name(code: int) -> str:
    """The op-mode name of ``code``; unknown codes stay visible as ``OpMode <n>``."""
    return OP_MODE_NAMES.get(code, f"OpMode {code}")
