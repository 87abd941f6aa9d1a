"""Device names as words for people: ``ChargingBecauseFallbackDefault`` -> ``Charging because fallback
default``. Shared by the panels, the live view and the explorer (no heavy imports)."""

from __future__ import annotations

import re

_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def words(name: str) -> str:
    """A device's CamelCase or snake_case status name as words: ``ChargingBecauseFallbackDefault`` ->
    ``Charging because fallback default``; acronyms stay (``NotChargingBecausePVSurplus`` -> ``... PV
    surplus``). Text that is not such a name comes back unchanged."""
    parts = _WORD.findall(name)
    if not parts or "".join(parts) != re.sub(r"[\s_\-]", "", name):
        return name
    shown = [p if (p.isupper() and len(p) > 1) or p.isdigit() else p.lower() for p in parts]
    first = shown[0]
    shown[0] = first if first.isupper() else first[:1].upper() + first[1:]
    return " ".join(shown)


__all__ = ["words"]
