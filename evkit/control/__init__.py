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

__all__ = [
    "AuditLog",
    "CommandResult",
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
