"""Easee's documented AMQP command table (DOC-CMD), with argument lists.

Source: Easee developer docs "Controlling the charger" (developer.easee.com/docs/amqp-commands) for the
command ids operators may send; argument ids, names and types from Easee's own template export in
easee/masterloop-amqp-example @ 8c2725c9, ``MasterloopAmqp/EASEECHG.cs`` (argument ``Id`` = 1-based
position). Collected in the project's ``shared/reference/easee-amqp.md`` §2.1 (table lines 163-177).
63 OverrideSchedule is only on the newer copy of DOC-CMD. Body shape (DOC-CMD example):
``{"Id":48,"ExpiresAt":"…Z","Arguments":[{"Id":1,"Value":"13"},{"Id":2,"Value":"5"}]}`` — argument values
are always strings.

This is the table only; sending commands lives elsewhere.
"""

from __future__ import annotations

from typing import NamedTuple


class Argument(NamedTuple):
    id: int
    name: str
    data_type: str  # Boolean / Double / Integer / String
    unit: str | None = None


class DocCommand(NamedTuple):
    id: int
    name: str
    arguments: tuple[Argument, ...]
    source: str


_DOC = "DOC-CMD; args EASEECHG.cs (easee-amqp.md §2.1 line {line})"

DOC_COMMANDS: tuple[DocCommand, ...] = (
    DocCommand(1, "Reboot", (), _DOC.format(line=165)),
    DocCommand(4, "UpgradeFirmware", (), _DOC.format(line=166)),
    DocCommand(11, "SetSmartCharging", (Argument(1, "SmartCharging", "Boolean"),), _DOC.format(line=167)),
    DocCommand(
        21,
        "SetDynamicCurrentOfflineFallback",
        (
            Argument(1, "MaxDynamicCurrentP1", "Integer", "A"),
            Argument(2, "MaxDynamicCurrentP2", "Integer", "A"),
            Argument(3, "MaxDynamicCurrentP3", "Integer", "A"),
        ),
        _DOC.format(line=168),
    ),
    DocCommand(
        22,
        "SetDynamicCircuitCurrent",
        (
            Argument(1, "CurrentP1", "Double", "A"),
            Argument(2, "CurrentP2", "Double", "A"),
            Argument(3, "CurrentP3", "Double", "A"),
            Argument(4, "TTL_Minutes", "Integer", "min"),
        ),
        _DOC.format(line=169),
    ),
    DocCommand(
        24,
        "SetMaxCircuitCurrent",
        (
            Argument(1, "CurrentP1", "Integer", "A"),
            Argument(2, "CurrentP2", "Integer", "A"),
            Argument(3, "CurrentP3", "Integer", "A"),
        ),
        _DOC.format(line=170),
    ),
    DocCommand(
        25,
        "AuthorizeCharging",
        (Argument(1, "IDToken", "String"), Argument(2, "Status", "Integer")),
        _DOC.format(line=171),
    ),
    DocCommand(
        26,
        "DeauthorizeCharging",
        (Argument(1, "IDToken", "String"), Argument(2, "Status", "Integer")),
        _DOC.format(line=172),
    ),
    DocCommand(29, "SetEnabled", (Argument(1, "IsEnabled", "Boolean"),), _DOC.format(line=173)),
    DocCommand(30, "SetLockCablePermanently", (Argument(1, "Locked", "Boolean"),), _DOC.format(line=174)),
    DocCommand(
        47, "SetMaxChargerCurrent", (Argument(1, "Current_Amp", "Integer", "A"),), _DOC.format(line=175)
    ),
    DocCommand(
        48,
        "SetDynamicChargerCurrent",
        (Argument(1, "Current_Amp", "Integer", "A"), Argument(2, "TTL_Minutes", "Integer", "min")),
        _DOC.format(line=176),
    ),
    DocCommand(63, "OverrideSchedule", (), _DOC.format(line=177) + "; newer DOC-CMD copy only"),
)

#: Read-back observations after a command (template "readback on setting"; evcc waits for 48/31/109).
READ_BACK: dict[int, tuple[int, ...]] = {11: (102,), 22: (111, 112, 113), 29: (31,), 30: (30,), 48: (48,)}
