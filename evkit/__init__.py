"""evkit: record, analyse and steer EV chargers from JupyterLab.

Public names are re-exported here; heavy parts (pika, widgets) load on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

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

# Public names whose modules pull heavy dependencies; imported on first attribute access.
_LAZY: dict[str, str] = {}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'evkit' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)


__all__ = [
    "AuthError",
    "ConfigError",
    "ControlError",
    "DatasetError",
    "EvkitError",
    "NoAnswerError",
    "RejectedError",
    "SourceError",
    "StoreError",
    "ValidationError",
    "__version__",
    "scan",
]
