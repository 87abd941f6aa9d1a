"""The Easee observation ids and op-mode names the figures use: the analysis' ids (``evkit.analysis._ids``,
from the one catalog), with the figures' legend names."""

from __future__ import annotations

from evkit.analysis import _ids
from evkit.analysis._ids import (
    CELL_RSSI,
    CLOUD_DISCONNECT_REASON,
    CONNECTED_TO_CLOUD,
    OP_MODE,
    REBOOT_REASON,
    SOFTWARE_RELEASE,
    TOTAL_POWER,  # kW
    WIFI_RSSI,
)
from evkit.easee import catalog

#: Phase-current ids and their legend names (evcc maps T3/T4/T5 to L1/L2/L3).
PHASE_CURRENTS: dict[int, str] = dict(
    zip(_ids.PHASE_CURRENTS, ("T2", "L1 (T3)", "L2 (T4)", "L3 (T5)"), strict=True)
)


def op_mode_name(code: int) -> str:
    """The op-mode name of ``code``; unknown codes stay visible as ``OpMode <n>``."""
    return catalog.label(OP_MODE, code) or f"OpMode {code}"


__all__ = [
    "CELL_RSSI",
    "CLOUD_DISCONNECT_REASON",
    "CONNECTED_TO_CLOUD",
    "OP_MODE",
    "PHASE_CURRENTS",
    "REBOOT_REASON",
    "SOFTWARE_RELEASE",
    "TOTAL_POWER",
    "WIFI_RSSI",
    "op_mode_name",
]
