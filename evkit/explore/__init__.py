"""The fleet explorer: ``evkit.explore(store)`` in a notebook cell, and live views while recording.

Logic and widgets are apart: :class:`~evkit.explore.controller.ExploreController` (selection, the
reads, the views; no widgets) and :class:`~evkit.explore.app.ExploreApp` (the widgets wired to it).
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "ExploreApp": "evkit.explore.app",
    "ExploreController": "evkit.explore.controller",
    "Selection": "evkit.explore.controller",
    "explore": "evkit.explore.app",
    "latency_caveat": "evkit.store.manifest",
    "LiveView": "evkit.explore.live_view",
    "audit_table": "evkit.explore.tables",
    "quality_table": "evkit.explore.tables",
    "session_table": "evkit.explore.tables",
    "show": "evkit.explore.tables",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'evkit.explore' has no attribute {name!r}")
    return getattr(importlib.import_module(module_name), name)


__all__ = [
    "ExploreApp",
    "ExploreController",
    "LiveView",
    "Selection",
    "audit_table",
    "explore",
    "latency_caveat",
    "quality_table",
    "session_table",
    "show",
]
