"""Easee observation ids and op modes the analysis needs, in one place.

Mirrors ``evkit.easee.catalog`` (the single source of device knowledge) until it is importable here.
"""

from __future__ import annotations

SOFTWARE_RELEASE = 80
REBOOT_REASON = 89
USER_ID_TOKEN_REVERSED = 108
OP_MODE = 109
OUTPUT_PHASE = 110
TOTAL_POWER = 120
SESSION_ENERGY = 121
ENERGY_PER_HOUR = 122
LIFETIME_ENERGY = 124
USER_ID_TOKEN = 128
CELL_RSSI = 130
WIFI_RSSI = 132
CONNECTED_TO_CLOUD = 250
CLOUD_DISCONNECT_REASON = 251

# OpMode (observation 109)
OFFLINE = 0
DISCONNECTED = 1
CHARGING = 3
