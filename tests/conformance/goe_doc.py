"""Reading the go-e fixture (``goe_keys.csv``): go-e's own key tables, one row per key and table.

The fixture is go-e's word (transcribed by ``transcribe_goe.py`` with repo, commit, file and line per
row); evkit and its simulator are tested against it, never the reverse. This module only reads it.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

FIXTURE = Path(__file__).with_name("goe_keys.csv")
#: The firmware tables, oldest first; ``mqtt`` is the MQTT page's table (mck, mqcc, msc ...).
FIRMWARE_TABLES = ("59.4", "60.2", "60.3", "60.4")
ORDER = ("mqtt", "generic", *FIRMWARE_TABLES)
#: The MQTT keys of the seed document (mqtt-en.md:29-31, 37-39).
SEED_MQTT_KEYS = ("mqg", "mqcn", "mqss", "mck", "mqcc", "msc")


@dataclass(frozen=True)
class DocRow:
    """One key in one of go-e's tables."""

    table: str
    key: str
    rw: str
    type: str
    enums: dict[int, str]
    description: str
    source: str  # "repo@commit file:line", for messages

    @property
    def access(self) -> str:
        """``R``, ``RW`` or ``W`` (evkit's spelling of ``R/W``)."""
        return {"R/W": "RW"}.get(self.rw, self.rw)

    def part(self, which: str) -> str:
        """The ``get`` or ``set`` half of ``get: X set: Y``; a plain type is both."""
        match = re.match(r"^get:\s*(?P<get>.*?)\s+set:\s*(?P<set>.*)$", self.type)
        return match.group(which).strip() if match else self.type


@cache
def rows() -> tuple[DocRow, ...]:
    with FIXTURE.open(encoding="utf-8") as handle:
        return tuple(
            DocRow(
                table=row["table"],
                key=row["key"],
                rw=row["rw"],
                type=row["type"],
                enums={int(c): n for c, n in (p.split("=", 1) for p in row["enums"].split(";") if p)},
                description=row["description"],
                source=f"{row['repo']}@{row['commit'][:8]} {row['file']}:{row['line']}",
            )
            for row in csv.DictReader(handle)
        )


@cache
def by_key() -> dict[str, dict[str, DocRow]]:
    table: dict[str, dict[str, DocRow]] = {}
    for row in rows():
        table.setdefault(row.key, {})[row.table] = row
    return table


def newest(key: str) -> DocRow:
    """The row of the newest table that lists ``key`` (60.4 > ... > 59.4 > generic > mqtt)."""
    tables = by_key()[key]
    return next(tables[name] for name in reversed(ORDER) if name in tables)


def documented_keys() -> list[str]:
    return sorted(by_key())


def firmware_enums(key: str) -> dict[int, str]:
    """The enum of firmware 59.4 and later: every table's codes, the newest name winning."""
    merged: dict[int, str] = {}
    for name in FIRMWARE_TABLES:
        row = by_key()[key].get(name)
        if row is not None:
            merged.update(row.enums)
    return merged


#: Integer types as documented -> their range.
INT_RANGES = {
    "uint8": (0, 255),
    "uint16": (0, 65535),
    "uint32": (0, 2**32 - 1),
    "unsigned int": (0, 2**32 - 1),
    "uint64": (0, 2**64 - 1),
    "int8": (-128, 127),
    "int32": (-(2**31), 2**31 - 1),
}


def plain_type(doc_type: str) -> tuple[str, bool]:
    """``(type without optional<> and _t, nullable)``."""
    text = doc_type.strip()
    nullable = False
    for pattern in (r"^optional<(.*)>$", r"^(.*) or null$", r"^null or (.*)$"):
        match = re.match(pattern, text)
        if match:
            text, nullable = match.group(1).strip(), True
    return text.removesuffix("_t"), nullable
