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
All-null columns fit any type: a ``Null`` column, and one whose footer proves it holds no value (every
row group's statistics count all its rows as null, e.g. the ``double`` pandas writes for a column of
missing values) -- asked only of columns the parts disagree on, so pyarrow is imported only then; such
a column does not vote, and is read as nulls of the expected type (:attr:`Inspection.empty`). A time
of the contract (``received_at``, ``arrival_time``, ``observed_at``) in another unit or zone than the
other parts' fits too: pandas' nanoseconds beside the capture's microseconds are read as the expected
type, the same instants (``evkit.store.schema.time_casts``). Damage
inside the data pages behind a sound footer is only found when the rows are read; the parts such a
read then finds unreadable (``evkit.store.pages``) are damaged for every check within
:func:`marked_damaged` (how ``--skip-damaged`` leaves them out of the next read).
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

import polars as pl

from evkit.store.footers import EMPTY, NOT_PARQUET, BadFooter, Footer, local_footer, unreadable
from evkit.store.schema import (
    CAPTURE_ID_COLUMN,
    CONTRACT_NUMBERS,
    CONTRACT_TIMES,
    EASEE_SCHEMA,
    MQTT_SCHEMA,
    type_kind,
)

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
    """The checked parts of a dataset: healthy ones, damaged ones, the schema they share; by ``str``
    of a healthy part, its columns of another type that hold no value (read them as nulls); and the
    healthy parts (``str``) without a ``redelivered`` flag when others have one (``evkit.store.copies``)."""

    good: list[Path]
    damaged: list[Damaged]
    schema: dict[str, pl.DataType]
    empty: Mapping[str, frozenset[str]] = field(default_factory=dict)
    unflagged: frozenset[str] = frozenset()


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


def marked_now() -> dict[str, str]:
    """The parts :func:`marked_damaged` marks here and now, by ``str`` of their path: the reason (a
    Dask run ships them to the worker that lists the parts)."""
    return dict(_marked.get())


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
        return EMPTY
    if head != MAGIC:
        return NOT_PARQUET
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
        return None, unreadable(exc)


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
    names = _odd_names(schema, expected)
    return [
        f"column {name!r} is {schema[name]}, expected {expected[name]}{_why(schema[name], expected[name])}"
        for name in names
    ]


def _why(dtype: pl.DataType, expected: pl.DataType) -> str:
    """What :func:`odd_columns` adds for times with and without a zone in one column (any other unit or
    zone is read)."""
    if isinstance(dtype, pl.Datetime) and isinstance(expected, pl.Datetime):
        return " (times with and without a zone in one column: which instants are those without one?)"
    return ""


def _fits(name: str, dtype: pl.DataType, expected: pl.DataType) -> bool:
    """Whether a part's column of ``dtype`` (not ``Null``, which fits any) is read as ``expected``: the
    same type, a time of the contract in another unit or zone, a time of the user's own in another
    unit or zone (both with a zone or both without), or a number of the contract in another number
    type (pandas' float64 ids on a day with MQTT rows, int64 on the others: the reader converts
    them, ``evkit.store.schema.time_casts`` and ``number_casts``)."""
    if dtype == expected:
        return True
    if name in CONTRACT_NUMBERS:
        return _scan_number(dtype) and _scan_number(expected)
    if not (isinstance(dtype, pl.Datetime) and isinstance(expected, pl.Datetime)):
        return False
    # A contract time of any unit or zone. A time of the user's own of another unit, or of another
    # zone where both have one: the same instants (``settle`` reads them so). A time without a zone
    # beside one with a zone stays odd: nothing tells which instants it means.
    return name in CONTRACT_TIMES or (dtype.time_zone is None) == (expected.time_zone is None)


def _scan_number(dtype: pl.DataType) -> bool:
    """Whether a scan reads a number of ``dtype`` as the store's settled type (a float, or a signed
    integer of 64 bits: Polars' scan casts upcast and allow-float): a float, a signed integer, an
    unsigned one of at most 32 bits. A ``UInt64`` or a ``Decimal`` stays damaged, said so."""
    return dtype.is_float() or dtype.is_signed_integer() or dtype in (pl.UInt8(), pl.UInt16(), pl.UInt32())


P = TypeVar("P", Path, str)


def settle(
    sound: Sequence[tuple[P, dict[str, pl.DataType]]], footer: Callable[[P], Footer]
) -> tuple[list[P], list[tuple[P, str]], dict[str, pl.DataType], dict[str, frozenset[str]], frozenset[str]]:
    """(good parts, [(odd part, why)], union schema, {str(part): columns holding no value}, good parts
    without a ``redelivered`` flag -- no such column, or one holding no value -- when the union has
    one) of the sound parts (``(part, footer schema)``). A column of a type other than the expected one
    (not the contract's) is asked of its ``footer`` whether it holds any value: one that holds none
    fits (read as nulls), does not vote, and the types are settled again; if odd columns remain, the
    parts that outvoted them are asked too (rare: nothing is parsed while the parts agree)."""
    schemas = [dict(schema) for _, schema in sound]
    hollow: dict[int, set[str]] = {}
    asked: set[tuple[int, str]] = set()
    unproven: set[tuple[int, str]] = set()  # asked, but the footer counts no nulls to tell

    def ask(index: int, names: list[str]) -> bool:
        asked.update((index, name) for name in names)
        # a column of the contract's type is never the odd one, whatever it holds
        names = [name for name in names if schemas[index][name] != CONTRACT_TYPES.get(name)]
        found, unknown = _holding_no_value(sound[index][0], names, footer) if names else ([], [])
        unproven.update((index, name) for name in unknown)
        for name in found:
            schemas[index][name] = pl.Null()
            hollow.setdefault(index, set()).add(name)
        return bool(found)

    def unasked(index: int, names: Iterable[str]) -> list[str]:
        return [name for name in names if (index, name) not in asked]

    while True:
        expected = expected_types(schemas)
        odd = [_odd_names(schema, expected) for schema in schemas]
        # the odd columns first; when they hold values, the parts that outvoted them may hold none
        answers = [ask(i, names) for i, found in enumerate(odd) if (names := unasked(i, found))]
        if any(answers):
            continue
        disputed = {name for found in odd for name in found}
        if disputed:
            answers = [
                ask(i, names)
                for i, schema in enumerate(schemas)
                if (names := unasked(i, (n for n in disputed if schema.get(n) == expected[n])))
            ]
            if any(answers):
                continue
        # a contract column every part holding it has in a type of another kind (a store of pandas
        # parts alone: no part outvotes their ``double`` of missing text): asked too
        foreign = [name for name, dtype in expected.items() if _foreign(name, dtype)]
        answers = [
            ask(i, names)
            for i, schema in enumerate(schemas)
            if (names := unasked(i, (n for n in foreign if schema.get(n) == expected[n])))
        ]
        if not any(answers):
            break
    good: list[P] = []
    damaged: list[tuple[P, str]] = []
    union: dict[str, pl.DataType] = {}
    for index, ((path, _), schema) in enumerate(zip(sound, schemas, strict=True)):
        if odd_reasons := odd_columns(schema, expected):
            told = [
                f"{why} (no null count in its footer to show it holds no value)"
                if (index, name) in unproven
                else why
                for name, why in zip(_odd_names(schema, expected), odd_reasons, strict=True)
            ]
            damaged.append((path, "; ".join(told)))
            continue
        good.append(path)
        for name, dtype in schema.items():
            if union.get(name) in (None, pl.Null()):
                # the expected type: a part keeping a time in another unit or zone is read as it
                union[name] = expected[name] if dtype != pl.Null() else dtype
    for name, dtype in union.items():  # holding no value in every part: the contract's type
        if dtype == pl.Null() and name in CONTRACT_TYPES:
            union[name] = CONTRACT_TYPES[name]
    kept = set(map(str, good))
    kept_schemas = [schema for (path, _), schema in zip(sound, schemas, strict=True) if str(path) in kept]

    def types_of(name: str) -> set[pl.DataType]:
        return {schema[name] for schema in kept_schemas if name in schema} - {pl.Null()}

    for name, dtype in union.items():
        # parts keeping a time in other units or zones: microseconds, which hold every one of them (a
        # compaction writes it; a coarser unit would cut digits, nanoseconds end in 2262); the
        # contract's in UTC, one of the user's own in the zone most parts give it (or none)
        if isinstance(dtype, pl.Datetime) and len(types_of(name)) > 1:
            union[name] = (
                CONTRACT_TYPES[name] if name in CONTRACT_TIMES else pl.Datetime("us", dtype.time_zone)
            )
    for name in CONTRACT_NUMBERS:
        # parts keeping a number in other types: read as one that holds each exactly (a float when one
        # is, else the widest integer), then as the contract's (``number_casts``, ``number_problems``)
        kinds = types_of(name)
        if len(kinds) > 1:
            union[name] = pl.Float64() if any(k.is_float() for k in kinds) else pl.Int64()
    empty = {str(sound[index][0]): frozenset(names) for index, names in hollow.items()}
    unflagged: frozenset[str] = frozenset()
    if "redelivered" in union:
        flagless = (
            str(path)
            for index, (path, schema) in enumerate(sound)
            if "redelivered" not in schema or "redelivered" in hollow.get(index, ())
        )
        unflagged = frozenset(part for part in flagless if part in kept)
    return good, damaged, union, {part: names for part, names in empty.items() if part in kept}, unflagged


def _odd_names(schema: dict[str, pl.DataType], expected: dict[str, pl.DataType]) -> list[str]:
    """The columns :func:`odd_columns` names, in its order."""
    return [n for n, dtype in schema.items() if dtype != pl.Null() and not _fits(n, dtype, expected[n])]


def _foreign(name: str, dtype: pl.DataType) -> bool:
    """Whether ``dtype`` is of another kind than the contract's type of ``name`` (not number and
    number, nor date-time and date-time: those the analyses read; a date is another kind)."""
    contract = CONTRACT_TYPES.get(name)
    if contract is None or dtype == pl.Null():
        return False
    return type_kind(dtype) != type_kind(contract)


def _holding_no_value(
    part: P, columns: list[str], footer: Callable[[P], Footer]
) -> tuple[list[str], list[str]]:
    """(those of ``columns`` the footer of ``part`` proves hold no value, those it cannot tell of: a
    row group without a null count); none proven when the footer cannot be parsed."""
    try:
        found = footer(part)
        empty = [name for name in columns if found.holds_no_value(name)]
        return empty, [name for name in columns if name not in empty and not found.counts_nulls(name)]
    except Exception:  # a footer pyarrow cannot parse (Polars could): the columns stay odd
        return [], []


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
    good, odd, union, empty, unflagged = settle(sound, local_footer)
    damaged += [Damaged(path, why) for path, why in odd]
    ordered = sorted(damaged, key=lambda d: str(d.path))
    return Inspection(good=good, damaged=ordered, schema=union, empty=empty, unflagged=unflagged)
