"""Charger control: validated, never-retained, confirmed and audited settings for evcc and go-e.

Shared pieces live in :mod:`evkit.control.base` (outcomes, results, transports) and
:mod:`evkit.control.audit` (the Parquet audit log).
"""

from __future__ import annotations

from evkit.control.audit import AuditLog
from evkit.control.base import (
    CommandResult,
    HttpResponse,
    HttpTransport,
    MemoryBroker,
    MemoryTransport,
    MqttMessage,
    MqttTransport,
    Outcome,
    exit_code,
    mask_secrets,
)

# controllers load on first use
_LAZY = {"EvccClient": "evkit.control.evcc", "GoeController": "evkit.control.goe"}


def __getattr__(name: str) -> object:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'evkit.control' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)


__all__ = [
    "AuditLog",
    "CommandResult",
    "EvccClient",
    "GoeController",
    "HttpResponse",
    "HttpTransport",
    "MemoryBroker",
    "MemoryTransport",
    "MqttMessage",
    "MqttTransport",
    "Outcome",
    "exit_code",
    "mask_secrets",
]
