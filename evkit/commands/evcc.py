"""Sub-commands: not yet registered (filled in by the feature that owns this module)."""

from __future__ import annotations

import argparse
from typing import Any


def register(top: Any, groups: dict[str, Any]) -> None:
    """Add this module's sub-commands to ``top`` or to ``groups['capture' | 'sim' | 'set']``."""
    del top, groups


_ = argparse
