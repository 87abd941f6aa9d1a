"""What a freshly booted simulated go-e charger reports: every key's first value (pure data)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from evkit.goe.status import NRG_LENGTH

NOMINAL_VOLTAGE = 230.0
#: Keys a newer firmware would have but evkit's table does not (for trying ``--raw-key``).
DEFAULT_EXTRA_KEYS: Mapping[str, Any] = {"xfw": False}  # in no key table: a newer firmware's key
READ_ONLY_TEXT = "api writes are disabled on this charger (simulated read-only)"


#: The first firmware that answers on ``<key>/result`` (mqtt-de.md:79).
RESULT_TOPIC_FROM = (51, 5)


def initial_state(
    serial: str,
    prefix: str,
    broker_url: str,
    read_only: bool,
    *,
    firmware: str = "056.2",
    variant: int = 22,
    adapter: bool = False,
) -> dict[str, Any]:
    """The key values a freshly booted simulated charger reports (car connected, idle)."""
    return {
        # settings
        "amp": 16,
        "ama": 16 if variant == 11 else 32,
        "frc": 0,
        "psm": 0,
        "lmo": 3,
        "acs": 0,
        "fna": "evkit simulator",
        "dwo": None,
        "fup": False,
        "fzf": False,
        "pgt": 0,
        "fst": 1400,
        "zfo": 0,
        "mca": 6,
        "tcl": None,
        "acp": True,
        "frm": 1,
        "cch": "#00FFFF",
        "cfi": "#00FF00",
        "cid": "#0000FF",
        "cwc": "#FFFF00",
        "lbr": 255,
        "lse": False,
        "ust": 0,
        "bac": 3,
        "sdp": 3,
        "mce": True,
        "mcu": broker_url,
        "mcr": read_only,
        "mtp": prefix,
        "hai": True,
        "hla": False,
        "mqg": False,
        "mqcn": False,
        "mqss": False,
        # status
        "alw": False,
        "car": 3,
        "err": 0,
        "modelStatus": 15,
        "nrg": [NOMINAL_VOLTAGE] * 3 + [0.0] * (NRG_LENGTH - 3),
        "eto": 1_234_567,
        "wh": 0.0,
        "tma": [24.5, 26.0],
        "tpa": 0.0,
        "cdi": None,
        "acu": None,
        "pha": [False, False, False, True, True, True],
        "pnp": 0,
        "fsp": False,
        "cbl": 32,
        "var": variant,
        "adi": adapter,
        "trx": None,
        "rbt": 0,
        "utc": "",
        "loc": "",
        "fwv": firmware,
        "sse": serial,
        "typ": "go-eCharger_V3",
        "oem": "go-e",
        "pgrid": None,
        "ppv": None,
        "pakku": None,
        "rssi": -61,
        "fhz": 50.0,
        "mcs": True,
        "mcc": True,
    }


__all__ = ["DEFAULT_EXTRA_KEYS", "NOMINAL_VOLTAGE", "READ_ONLY_TEXT", "RESULT_TOPIC_FROM", "initial_state"]
