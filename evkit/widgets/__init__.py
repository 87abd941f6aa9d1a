"""Widget panels for JupyterLab: ``EvccPanel`` (evcc), ``GoePanel`` (go-e), ``EaseePanel`` (Easee fleet).

Imported lazily so ``import evkit.widgets`` stays cheap until a panel is used.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "EaseePanel": "evkit.widgets.easee_panel",
    "EaseePanelController": "evkit.widgets.easee_panel",
    "EvccPanel": "evkit.widgets.evcc_panel",
    "EvccPanelController": "evkit.widgets.evcc_panel",
    "GoePanel": "evkit.widgets.goe_panel",
    "GoePanelController": "evkit.widgets.goe_panel",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'evkit.widgets' has no attribute {name!r}")
    return getattr(importlib.import_module(module_name), name)


__all__ = [
    "EaseePanel",
    "EaseePanelController",
    "EvccPanel",
    "EvccPanelController",
    "GoePanel",
    "GoePanelController",
]
