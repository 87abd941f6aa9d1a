"""Transcribe go-e's published API key tables into ``goe_keys.csv`` (run by hand, not a test).

The CSV is the fixture the conformance tests read: go-e's word, not evkit's. Each row cites its source
(repository, commit, file, line). Re-run after the docs change::

    python tests/conformance/transcribe_goe.py /path/to/go-eCharger-API-v2.git [COMMIT]

Only mechanical clean-up is done: HTML entities are unescaped; the stray tab characters the 60.x
tables have inside words (``str\ti\tng``, ``pvopt_avera\tg\tePGrid``, ``Unknow\tn/Error``) are
removed; whitespace is collapsed; a row listing several keys (``c0n c1n ... (introduced in 60.0)``)
becomes one row per key (the note stays in the description); a source line holding two rows
(apikeys-en.md:33) gives both. Enum values are the ``Name=N`` / ``N=Name`` pairs the description
spells out (and ``var``'s ``11: 11kW/16A`` form).
"""

from __future__ import annotations

import csv
import html
import re
import subprocess
import sys
from pathlib import Path

REPO = "goecharger/go-eCharger-API-v2"
HERE = Path(__file__).parent
OUT = HERE / "goe_keys.csv"

#: (table name, file, column order) of the tables transcribed.
TABLES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("generic", "API_KEYS_FIRMWARE/apikeys-en.md", ("key", "rw", "type", "category", "description")),
    (
        "59.4",
        "API_KEYS_FIRMWARE/apikeys_Firmware_59.4_sorted.md",
        ("key", "rw", "type", "category", "description"),
    ),
    (
        "60.2",
        "API_KEYS_FIRMWARE/apikeys_Firmware_60.2_sortet.md",
        ("key", "rw", "type", "category", "description"),
    ),
    (
        "60.3",
        "API_KEYS_FIRMWARE/apikeys_Firmware_60.3_sortet.md",
        ("key", "rw", "type", "category", "description"),
    ),
    (
        "60.4",
        "API_KEYS_FIRMWARE/apikeys_Firmware_60.4_sorted.md",
        ("key", "rw", "type", "category", "description"),
    ),
    ("mqtt", "mqtt-en.md", ("key", "description", "type", "rw", "category")),
)
FIELDS = ("table", "key", "rw", "type", "enums", "description", "repo", "commit", "file", "line")
_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_NAME_EQ_CODE = re.compile(r"([A-Za-z][A-Za-z0-9_/]*)\s*=\s*(\d+)\b")
_CODE_EQ_NAME = re.compile(r"(?<![\w.])(\d+)\s*=\s*([A-Za-z][A-Za-z0-9_/]*)")
#: ``cdi``'s "type=0 counter going up, type=1 duration in ms" names a field of the object, not an enum value.
_NOT_ENUM_NAMES = frozenset({"type"})
_VARIANT = re.compile(r"\b(\d+):\s*(\d+kW/\d+A)")


def clean(cell: str) -> str:
    # The 60.x tables wrap long cells with a tab at a fixed column, mostly inside a word (Unknow\tn/Error,
    # str\ti\tng): tabs are removed, which keeps the names whole (and glues "send\tan" to "sendan").
    text = cell.replace("\t", "")
    return re.sub(r"\s+", " ", html.unescape(text)).strip().rstrip(" +").strip()


def enums(description: str) -> str:
    pairs: dict[int, str] = {}
    for name, code in _NAME_EQ_CODE.findall(description):
        if name not in _NOT_ENUM_NAMES:
            pairs.setdefault(int(code), name)
    for code, name in _CODE_EQ_NAME.findall(description):
        pairs.setdefault(int(code), name)
    for code, name in _VARIANT.findall(description):
        pairs.setdefault(int(code), name)
    return ";".join(f"{code}={name}" for code, name in sorted(pairs.items()))


def rows_of(table: str, path: str, columns: tuple[str, ...], text: str, commit: str) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.lstrip().startswith("|"):
            continue
        cells = line.strip().strip("|").split("|")
        for start in range(0, len(cells) - len(columns) + 1, len(columns)):
            chunk = cells[start : start + len(columns)]
            record = {name: clean(c) for name, c in zip(columns, chunk, strict=True)}
            names = record["key"]
            note = ""
            if "(" in names:
                names, note = names.split("(", 1)
                note = "(" + note
            keys = names.split()
            if (
                not keys
                or not all(_KEY.match(k) for k in keys)
                or keys == ["Key"]
                or record["rw"] not in ("R", "W", "R/W")
            ):
                continue
            description = f"{record['description']} {note}".strip()
            for key in keys:
                rows.append({
                    "table": table, "key": key, "rw": record["rw"], "type": record["type"],
                    "enums": enums(record["description"]), "description": description,
                    "repo": REPO, "commit": commit, "file": path, "line": str(number),
                })  # fmt: skip
    return rows


def main(git_dir: str, commit: str = "HEAD") -> None:
    full = subprocess.run(
        ["git", "-C", git_dir, "rev-parse", commit], check=True, capture_output=True, text=True
    )
    sha = full.stdout.strip()
    rows: list[dict[str, str]] = []
    for table, path, columns in TABLES:
        shown = subprocess.run(
            ["git", "-C", git_dir, "show", f"{sha}:{path}"], check=True, capture_output=True, text=True
        )
        rows.extend(rows_of(table, path, columns, shown.stdout, sha))
    with OUT.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} rows -> {OUT}")


if __name__ == "__main__":
    main(*sys.argv[1:])
