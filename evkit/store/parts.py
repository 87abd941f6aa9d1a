"""Which Parquet parts of a dataset are live, and which of them are damaged.

Live parts: every visible ``*.parquet`` file (no path component starting with ``.``), minus the
inputs of a compaction that has committed but not yet removed them. Compaction (``evkit.store.compact``)
leaves a journal ``.compact-<id>.json`` in the day directory from before its merged part appears until
after its inputs are gone; a reader that lists the merged part drops the inputs the journal names, so
it never counts a row twice. Journals are read *after* listing, and every listed part is opened while
checking it: a part removed meanwhile (a compaction finished between the two) makes the reader list
again (:class:`VanishedPart`).

A part is checked cheaply, without reading its rows: the ``PAR1`` magic at both ends (a zero-byte,
truncated or non-Parquet file fails here) and its footer's schema. Column types are compared across
parts: where parts disagree, the dataset contract's type wins when one of them has it, else the type
most parts have (ties: the first part's); the parts that differ are the odd ones, named as damaged.
All-null columns fit any type. Damage inside the data pages behind a sound footer is only found when
the rows are read; the parts such a read then finds unreadable (``evkit.store.pages``) are damaged for
every check within :func:`marked_damaged` (how ``--skip-damaged`` leaves them out of the next read).
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import polars as pl

from evkit.store.footers import BadFooter, local_footer
from evkit.store.schema import CAPTURE_ID_COLUMN, EASEE_SCHEMA, MQTT_SCHEMA

JOURNAL_PREFIX = ".compact-"
JOURNAL_SUFFIX = ".json"
MAGIC = b"PAR1"

#: Every column type the contract knows (required, Easee, MQTT, capture id).
CONTRACT_TYPES: dict[str, pl.DataType] = {**EASEE_SCHEMA, **MQTT_SCHEMA, CAPTURE_ID_COLUMN: pl.String()}


class VanishedPart(Exception):
    """A listed part disappeared before it was checked (a compaction removed it): list again."""


@dataclass(frozen=True)
class Damaged:
    """A part readers skip or refuse, and why (``path`` is an ``s3://`` URL on object storage)."""

    path: Path | str
    reason: str

    def __str__(self) -> str:
        return f"{self.path} ({self.reason})"


@dataclass(frozen=True)
class Inspection:
    """The checked parts of a dataset: healthy ones, damaged ones, the schema they share."""

    good: list[Path]
    damaged: list[Damaged]
    schema: dict[str, pl.DataType]


#: Parts found damaged by reading them (their pages), by ``str`` of their path or URL: the reason.
_marked: ContextVar[Mapping[str, str]] = ContextVar("evkit_marked_damaged", default=MappingProxyType({}))


@contextlib.contextmanager
def marked_damaged(found: Iterable[Damaged]) -> Iterator[None]:
    """Within the block every check (:func:`inspect_parts`, ``s3parts.inspect_objects``) counts the
    parts in ``found`` as damaged, for their reason, without opening them."""
    token = _marked.set({**_marked.get(), **{str(d.path): d.reason for d in found}})
    try:
        yield
    finally:
        _marked.reset(token)


def marked_reason(path: Path | str) -> str | None:
    """Why ``path`` is damaged when :func:`marked_damaged` says so, else None."""
    return _marked.get().get(str(path))


def read_journal(path: Path) -> tuple[str, list[str]] | None:
    """(merged part name, input names) of a compaction journal, ``None`` if unreadable."""
    try:
        data = json.loads(path.read_text())
        output, inputs = data["output"], data["inputs"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(output, str) or not isinstance(inputs, list):
        return None
    return output, [str(name) for name in inputs]


def journals(directory: Path) -> list[Path]:
    """Compaction journals in a day directory."""
    return sorted(directory.glob(f"{JOURNAL_PREFIX}*{JOURNAL_SUFFIX}"))


def _visible(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*.parquet")
        if not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def live_parts(root: Path) -> list[Path]:
    """Visible parts below the directory ``root``, minus inputs a committed compaction superseded."""
    files = _visible(root)
    listed = set(files)
    superseded: set[Path] = set()
    for journal in sorted(root.rglob(f"{JOURNAL_PREFIX}*{JOURNAL_SUFFIX}")):
        entry = read_journal(journal)
        if entry is not None and journal.parent / entry[0] in listed:
            superseded.update(journal.parent / name for name in entry[1])
    return [p for p in files if p not in superseded]


def _magic_problem(path: Path) -> str | None:
    try:
        size = path.stat().st_size
        with path.open("rb", buffering=0) as fh:  # 4 bytes, not a 4 KiB buffer
            head = fh.read(4)
    except FileNotFoundError:
        raise VanishedPart(str(path)) from None
    except OSError as exc:
        return f"cannot be opened: {exc.strerror or exc}"
    if size == 0:
        return "empty file (0 bytes)"
    if head != MAGIC:
        return "not a Parquet file (no PAR1 header)"
    return None


def part_schema(path: Path) -> tuple[dict[str, pl.DataType] | None, str | None]:
    """(schema, None) of a sound part, or (None, why it is damaged). Reads the footer only (kept for
    the reader: ``evkit.store.footers``)."""
    problem = _magic_problem(path)
    if problem is not None:
        return None, problem
    try:
        return local_footer(path).schema(), None
    except FileNotFoundError:
        raise VanishedPart(str(path)) from None
    except BadFooter as exc:
        return None, str(exc)
    except (pl.exceptions.PolarsError, OSError) as exc:
        lines = str(exc).strip().splitlines()
        return None, f"unreadable Parquet footer: {lines[0] if lines else type(exc).__name__}"


def expected_types(schemas: list[dict[str, pl.DataType]]) -> dict[str, pl.DataType]:
    """The type each column should have: the contract's where a part has it, else the most common
    (ties: the first part's). All-null columns (``Null``) do not vote."""
    seen: dict[str, Counter[pl.DataType]] = {}
    first: dict[str, pl.DataType] = {}
    for schema in schemas:
        for name, dtype in schema.items():
            if dtype == pl.Null():
                continue
            seen.setdefault(name, Counter())[dtype] += 1
            first.setdefault(name, dtype)
    expected: dict[str, pl.DataType] = {}
    for name, counts in seen.items():
        contract = CONTRACT_TYPES.get(name)
        if contract is not None and contract in counts:
            expected[name] = contract
            continue
        top = max(counts.values())
        expected[name] = first[name] if counts[first[name]] == top else counts.most_common(1)[0][0]
    return expected


def odd_columns(schema: dict[str, pl.DataType], expected: dict[str, pl.DataType]) -> list[str]:
    """Why a part's schema is odd (one sentence per column), empty when it fits."""
    return [
        f"column {name!r} is {dtype}, expected {expected[name]}"
        for name, dtype in schema.items()
        if dtype != pl.Null() and dtype != expected[name]
    ]


def inspect_parts(files: list[Path]) -> Inspection:
    """Check every part (magic bytes, footer, column types); raises :class:`VanishedPart`."""
    damaged: list[Damaged] = []
    sound: list[tuple[Path, dict[str, pl.DataType]]] = []
    for path in files:
        if (marked := marked_reason(path)) is not None:
            damaged.append(Damaged(path, marked))
            continue
        schema, problem = part_schema(path)
        if schema is None:
            damaged.append(Damaged(path, problem or "unreadable"))
        else:
            sound.append((path, schema))
    expected = expected_types([schema for _, schema in sound])
    good: list[Path] = []
    union: dict[str, pl.DataType] = {}
    for path, schema in sound:
        if odd := odd_columns(schema, expected):
            damaged.append(Damaged(path, "; ".join(odd)))
            continue
        good.append(path)
        for name, dtype in schema.items():
            if union.get(name) in (None, pl.Null()):
                union[name] = dtype
    return Inspection(good=good, damaged=sorted(damaged, key=lambda d: str(d.path)), schema=union)
