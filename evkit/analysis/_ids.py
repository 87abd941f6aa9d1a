"""The Easee observation ids and op modes the analysis needs, from ``evkit.easee.catalog``."""

from __future__ import annotations

from evkit.easee.catalog import PHASE_CURRENTS as _PHASES
from evkit.easee.catalog import SCHEDULED_OBSERVATIONS, Obs, OpMode

SOFTWARE_RELEASE = int(Obs.SOFTWARE_RELEASE)
REBOOT_REASON = int(Obs.REBOOT_REASON)
USER_ID_TOKEN_REVERSED = int(Obs.USER_ID_TOKEN_REVERSED)
OP_MODE = int(Obs.OP_MODE)
OUTPUT_PHASE = int(Obs.OUTPUT_PHASE)
TOTAL_POWER = int(Obs.TOTAL_POWER)
PHASE_CURRENTS = tuple(int(obs_id) for obs_id in _PHASES)
SESSION_ENERGY = int(Obs.SESSION_ENERGY)
ENERGY_PER_HOUR = int(Obs.ENERGY_PER_HOUR)
LIFETIME_ENERGY = int(Obs.LIFETIME_ENERGY)
USER_ID_TOKEN = int(Obs.USER_ID_TOKEN)
CELL_RSSI = int(Obs.CELL_RSSI)
WIFI_RSSI = int(Obs.WIFI_RSSI)
CONNECTED_TO_CLOUD = int(Obs.CONNECTED_TO_CLOUD)
CLOUD_DISCONNECT_REASON = int(Obs.CLOUD_DISCONNECT_REASON)

OFFLINE = int(OpMode.OFFLINE)
DISCONNECTED = int(OpMode.DISCONNECTED)
CHARGING = int(OpMode.CHARGING)

#: Stamped on a schedule (not transport): reported apart in the latency statistics.
SCHEDULED = tuple(int(obs_id) for obs_id in SCHEDULED_OBSERVATIONS)
