"""The Easee observation ids and op-mode names the figures use, from the one catalog (``evkit.easee``)."""

from __future__ import annotations

from evkit.easee import catalog

OP_MODE = int(catalog.OP_MODE)
TOTAL_POWER = int(catalog.TOTAL_POWER)  # kW
#: Phase-current ids and their legend names (evcc maps T3/T4/T5 to L1/L2/L3).
PHASE_CURRENTS: dict[int, str] = dict(
    zip((int(i) for i in catalog.PHASE_CURRENTS), ("T2", "L1 (T3)", "L2 (T4)", "L3 (T5)"), strict=True)
)
CELL_RSSI = int(catalog.CELL_RSSI)
WIFI_RSSI = int(catalog.WIFI_RSSI)
SOFTWARE_RELEASE = int(catalog.SOFTWARE_RELEASE)  # sent at boot
REBOOT_REASON = int(catalog.REBOOT_REASON)
CONNECTED_TO_CLOUD = int(catalog.CONNECTED_TO_CLOUD)
CLOUD_DISCONNECT_REASON = int(catalog.CLOUD_DISCONNECT_REASON)


def op_mode_name(code: int) -> str:
    """The op-mode name of ``code``; unknown codes stay visible as ``OpMode <n>``."""
    return catalog.label(OP_MODE, code) or f"OpMode {code}"
