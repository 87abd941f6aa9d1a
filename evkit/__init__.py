"""evkit: record, analyse and steer EV chargers from JupyterLab.

Public names are re-exported here; heavy parts (pika, widgets) load on first use.
"""

from __future__ import annotations

import gc
import sys
from typing import Any

__version__ = "0.1.0"

# Importing Polars and evkit makes tens of thousands of objects and no garbage: the cyclic collector's
# passes in between find nothing (16 ms of every command's start-up). It is paused while they load.
_collecting = gc.isenabled()
gc.disable()
try:
    from evkit import _allocator

    _allocator.tune()  # batch commands: one jemalloc arena per CPU for Polars, set before anything loads it
    if _allocator.is_batch(sys.orig_argv):  # and Ctrl-C as evkit handles it, set before Polars loads
        from evkit.commands._signals import own_sigint

        own_sigint()

    from evkit.errors import (
        AuthError,
        ConfigError,
        ControlError,
        DatasetError,
        EvkitError,
        NoAnswerError,
        RejectedError,
        SourceError,
        StoreError,
        ValidationError,
    )
    from evkit.store.reader import scan
finally:
    if _collecting:
        gc.enable()

# Public names whose modules pull heavy dependencies; imported on first attribute access.
_LAZY: dict[str, str] = {
    "AuditLog": "evkit.control.audit",
    "EaseeController": "evkit.control.easee",
    "EaseeFleet": "evkit.sim.easee",
    "EaseePanel": "evkit.widgets.easee_panel",
    "EvccClient": "evkit.control.evcc",
    "EvccPanel": "evkit.widgets.evcc_panel",
    "EvccSimulator": "evkit.sim.evcc",
    "build_report": "evkit.report",
    "GoeController": "evkit.control.goe",
    "GoePanel": "evkit.widgets.goe_panel",
    "GoeSimulator": "evkit.sim.goe",
    "decode_deliveries": "evkit.easee.decode",
    "energy_per_day": "evkit.analysis",
    "explore": "evkit.explore.app",
    "latency_stats": "evkit.analysis",
    "quality_summary": "evkit.analysis",
    "record_amqp": "evkit.sources.amqp",
    "record_mqtt": "evkit.sources.mqtt",
    "replay_dataset": "evkit.replay",
    "sessions": "evkit.analysis",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'evkit' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)


__all__ = [
    "AuditLog",
    "AuthError",
    "ConfigError",
    "ControlError",
    "DatasetError",
    "EaseeController",
    "EaseeFleet",
    "EaseePanel",
    "EvccClient",
    "EvccPanel",
    "EvccSimulator",
    "EvkitError",
    "GoeController",
    "GoePanel",
    "GoeSimulator",
    "NoAnswerError",
    "RejectedError",
    "SourceError",
    "StoreError",
    "ValidationError",
    "__version__",
    "build_report",
    "decode_deliveries",
    "energy_per_day",
    "explore",
    "latency_stats",
    "quality_summary",
    "record_amqp",
    "record_mqtt",
    "replay_dataset",
    "scan",
    "sessions",
]
