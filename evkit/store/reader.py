"""Reading a dataset directory back as one ``pl.LazyFrame``.

Every part is checked before it is read (``evkit.store.parts``: magic bytes, footer, column types).
A damaged part is a :class:`~evkit.errors.DatasetError` naming each damaged file; with
``skip_damaged`` the rest is read and a warning (logger ``evkit.store``) names what was skipped.
Commands set the policy for everything they read with :func:`damaged_parts_policy`
(``--skip-damaged``).
"""

from __future__ import annotations

import contextlib
import logging
from collections import OrderedDict
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from pathlib import Path
from typing import Any

import polars as pl

from evkit.errors import DatasetError
from evkit.store.copies import UNFLAGGED, copies_removed
from evkit.store.frame_memo import FrameMemo
from evkit.store.narrow import Narrowing, footer_of, narrow_scan
from evkit.store.objstore import S3Location, is_s3, polars_options
from evkit.store.parts import Damaged, Inspection, VanishedPart, inspect_parts, live_parts
from evkit.store.schema import (
    contract_error,
    contract_schema,
    known_nan_free,
    number_casts,
    number_problems,
    read_casts,
    time_casts,
)

log = logging.getLogger("evkit.store")

#: Tries at listing a dataset while compactions keep removing the parts just listed.
_LIST_ATTEMPTS = 5

_skip_damaged: ContextVar[bool] = ContextVar("evkit_skip_damaged", default=False)
#: How the sentence naming damaged parts says to read the rest (the CLI's and the library's way).
SKIP_HINT = "read the rest with --skip-damaged (evkit.scan(..., skip_damaged=True))"
_skip_hint: ContextVar[str] = ContextVar("evkit_skip_hint", default=SKIP_HINT)


@contextlib.contextmanager
def damaged_parts_policy(skip: bool, *, hint: str | None = None) -> Iterator[None]:
    """Within the block, :func:`scan` without an explicit ``skip_damaged`` uses ``skip``; ``hint``: how
    the sentence naming damaged parts says to read the rest (the explorer's way: its own option)."""
    tokens = (_skip_damaged.set(skip), _skip_hint.set(hint) if hint is not None else None)
    try:
        yield
    finally:
        if tokens[1] is not None:
            _skip_hint.reset(tokens[1])
        _skip_damaged.reset(tokens[0])


def skips_damaged() -> bool:
    """The current :func:`damaged_parts_policy` (what ``--skip-damaged`` asked for)."""
    return _skip_damaged.get()


def parquet_files(path: Path | str) -> list[Path]:
    """Every live ``*.parquet`` part at or below ``path`` (a directory or one file), sorted."""
    root = Path(path)
    if root.is_file():
        return [root]
    if not root.exists():
        raise DatasetError(f"{root} does not exist")
    files = live_parts(root)
    if not files:
        raise DatasetError(f"no Parquet files below {root}")
    return files


def damaged_message(where: Path | str, damaged: list[Damaged]) -> str:
    """The sentence naming every damaged part (what the CLI prints, exit 2)."""
    names = "; ".join(str(d) for d in damaged)
    return (
        f"{len(damaged)} damaged Parquet part(s) in {where}: {names}. Move them out of the dataset, "
        f"or {_skip_hint.get()}"
    )


def inspected(path: Path | str) -> Inspection:
    """The parts of ``path`` (a directory, a file or ``s3://``) listed and checked, listed again while
    a compaction removes parts just listed; damage is found, not judged (:func:`check_dataset`)."""
    if is_s3(path):
        return _inspected_s3(str(path))
    for attempt in range(_LIST_ATTEMPTS):
        try:
            return inspect_parts(parquet_files(path))
        except VanishedPart:
            if attempt == _LIST_ATTEMPTS - 1:
                raise DatasetError(f"parts of {path} keep disappearing while listed; try again") from None
    raise AssertionError("unreachable")


def check_dataset(path: Path | str, skip_damaged: bool | None = None, *, say: bool = True) -> Inspection:
    """List and check the parts of ``path``; raise DatasetError on damage unless skipping it, and name
    the skipped parts (unless ``say`` is False: a cluster's worker, whose client names them)."""
    skip = _skip_damaged.get() if skip_damaged is None else skip_damaged
    found = inspected(path)
    if found.damaged:
        if not skip:
            raise DatasetError(damaged_message(path, found.damaged))
        if say:
            log.warning(
                "skipped %d damaged Parquet part(s): %s",
                len(found.damaged),
                "; ".join(map(str, found.damaged)),
            )
        if not found.good:
            raise DatasetError(f"no readable Parquet part in {path} (all {len(found.damaged)} damaged)")
    return found


def _inspected_s3(url: str) -> Inspection:
    """:func:`inspected` for ``s3://bucket/prefix`` (``good`` holds ``s3://`` URLs)."""
    from evkit.store.s3parts import S3VanishedPart, inspect_objects, live_objects

    location = S3Location.parse(url)
    single = location.prefix.endswith(".parquet")  # one object, not a dataset prefix
    if single:
        parent, _, name = location.prefix.rpartition("/")
        location = S3Location(location.bucket, parent)
    for attempt in range(_LIST_ATTEMPTS):
        parts = [name] if single else live_objects(location)
        if not parts:
            raise DatasetError(f"no Parquet objects below {location.url}")
        try:
            good, bad, schema, empty, unflagged = inspect_objects(location, parts)
            break
        except S3VanishedPart:
            if attempt == _LIST_ATTEMPTS - 1:
                raise DatasetError(f"parts of {url} keep disappearing while listed; try again") from None
    damaged = [Damaged(where, reason) for where, reason in bad]
    return Inspection(good, damaged, schema, empty, unflagged)  # type: ignore[arg-type]


def scan(
    path: Path | str,
    dedupe: bool = True,
    require: bool = True,
    skip_damaged: bool | None = None,
    where: pl.Expr | None = None,
    *,
    chargers: Sequence[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> pl.LazyFrame:
    """Read a dataset (a directory of Parquet parts, one file, or ``s3://bucket/prefix``) lazily.

    On object storage the endpoint and credentials come from the ``AWS_*`` environment variables
    (``evkit.store.objstore``).

    Files may differ in their columns (Easee and MQTT parts in one store, older versions): missing
    columns read as null. With ``dedupe`` (the default) a message the broker redelivered appears once:
    a row flagged ``redelivered`` goes when another row has the same ``routing_key`` and ``raw`` body
    (the delivery not flagged is kept, else the first received); rows not flagged all stay. MQTT rows
    (no routing key) flagged DUP go only when the same topic and payload were received before them; a
    payload published again is a real repeat and stays. A store without the ``redelivered`` column
    (hand-made) keeps one row per (``routing_key``, ``raw``) instead, the first received.
    With ``require`` the contract's required columns must be present and its times be times
    (``DatasetError`` names the missing columns, or a time kept as text or a date; times of other units
    or zones are read as the contract's).

    Damaged parts (zero bytes, truncated, not Parquet, or a column type the other parts and the
    contract disagree with) raise ``DatasetError`` naming each file; with ``skip_damaged=True`` the
    rest is read and a warning names the skipped files (``None``: the policy of
    :func:`damaged_parts_policy`, by default refuse). No check sees bytes damaged inside a data page
    behind a sound footer: ``collect`` fails decoding it, with a Polars ``ComputeError`` naming no file.
    For a decoding error from collect, ``evkit.store.unreadable_parts(path)`` names the part (scan
    within ``evkit.store.parts.marked_damaged(found)`` with ``skip_damaged=True`` to leave it out).

    ``chargers``, ``start`` and ``end`` narrow the read to the rows of those chargers observed in
    [``start``, ``end``): only the row groups whose statistics admit them are read, and of them only
    the columns the query uses (``evkit.store.narrow``; a compacted store is sorted by charger and
    time, so one charger over a month is a few percent of the bytes). The rows are exactly those of
    a full read filtered afterwards. :func:`narrow` does the same to a frame ``scan`` returned.

    ``where`` (a predicate on one message's own columns, e.g. charger and time) is applied before the
    redelivery check, so Polars pushes it into the Parquet scan and reads only matching row groups; a
    redelivered copy has the charger, topic and device time of its original, so the result is the same
    as filtering afterwards.
    """
    narrowing = Narrowing.of(chargers, start, end)
    for attempt in range(_LIST_ATTEMPTS):
        found = check_dataset(path, skip_damaged)
        files, schema = found.good, found.schema
        if require and (error := contract_error(schema, str(path)) or _numbers_lost(found, str(path))):
            raise DatasetError(error)
        files = arranged(files, found.empty, found.unflagged)
        made = ScanRecipe(path, files, schema, dedupe, where, found.empty, found.unflagged)
        try:
            return made.frame(narrowing)
        except FileNotFoundError:
            # a compaction removed a part between listing and reading the redelivered rows: list again
            if attempt == _LIST_ATTEMPTS - 1:
                raise DatasetError(f"parts of {path} keep disappearing while read; try again") from None
    raise AssertionError("unreachable")


def _numbers_lost(found: Inspection, where: str) -> str | None:
    """Why a store whose ids another tool wrote as floats or wider integers (pandas) cannot be read as
    the contract's (an id not whole, or too large: ``number_problems``); reads that column only, only
    for such a store, and once for the same parts (an explorer scans the store for every view: 0.35 s
    each at 50M rows)."""
    if not number_casts(found.schema):
        return None
    key = (where, *map(_identity, found.good))
    if key in _NUMBERS_CHECKED:
        _NUMBERS_CHECKED.move_to_end(key)  # used: the last to go
        return _NUMBERS_CHECKED[key]
    lf = scan_parts(found.good, found.schema, empty=found.empty, as_stored=True)
    _NUMBERS_CHECKED[key] = number_problems(lf, where)
    while len(_NUMBERS_CHECKED) > _NUMBERS_KEPT:
        _NUMBERS_CHECKED.popitem(last=False)  # the least recently used
    return _NUMBERS_CHECKED[key]


#: ``_numbers_lost``'s answers by the parts checked (:func:`_identity`), the most recently used last.
_NUMBERS_CHECKED: OrderedDict[tuple[Any, ...], str | None] = OrderedDict()
_NUMBERS_KEPT = 64


def _identity(part: Path | str) -> tuple[str, int, int]:
    """What tells a part from another, or from itself rewritten: a local file's path, size and change
    time; an object's URL and size (objects are never overwritten, ``evkit.store.footers``)."""
    if is_s3(part):
        return str(part), footer_of(part).size, -1  # kept when the store was checked: no request
    stat = Path(part).stat()
    return str(part), stat.st_size, stat.st_mtime_ns


@dataclass(frozen=True)
class ScanRecipe:
    """How :func:`scan` made a frame: :func:`narrow` makes it again, narrowly, and
    ``evkit.store.frame_facts`` reads what its parts' footers tell."""

    path: Path | str
    files: list[Path] | list[str]
    schema: dict[str, pl.DataType]
    dedupe: bool
    where: pl.Expr | None
    empty: Mapping[str, frozenset[str]]
    unflagged: frozenset[str]

    def frame(self, narrowing: Narrowing) -> pl.LazyFrame:
        def parts(row_index: str | None = None, marked: bool = False) -> pl.LazyFrame:
            mark = (UNFLAGGED, self.unflagged) if marked else None
            if not narrowing:
                return scan_parts(self.files, self.schema, row_index, self.empty, mark)
            frame = narrow_scan(self.files, self.schema, narrowing, self.empty, mark)
            return frame if row_index is None else frame.with_row_index(row_index)

        if not self.dedupe:
            frame = _where(parts(), self.where)
        else:
            frame = copies_removed(parts, self.schema, self.where, bool(self.unflagged))
        _MADE.put(frame, (self, narrowing))
        return known_nan_free(frame)  # its parts are read so (``read_casts``)


#: Frames :func:`scan` returned: how, and how narrowed.
_MADE: FrameMemo[tuple[ScanRecipe, Narrowing]] = FrameMemo()


def scan_recipe(frame: pl.LazyFrame) -> tuple[ScanRecipe, Narrowing] | None:
    """How :func:`scan` (or :func:`narrow`) made ``frame``, and how narrowed; None for any other
    frame (``evkit.store.frame_facts`` answers questions about such a frame from its parts' footers)."""
    return _MADE.get(frame)


def narrow(
    frame: pl.LazyFrame,
    chargers: Sequence[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> pl.LazyFrame:
    """The rows of ``frame`` of ``chargers`` observed in [``start``, ``end``) (each optional).

    A frame straight from :func:`scan` is read again narrowly (only the row groups and columns
    needed, see ``scan``); any other frame is filtered. The rows are the same either way."""
    narrowing = Narrowing.of(chargers, start, end)
    if not narrowing:
        return frame
    made = scan_recipe(frame)
    if made is not None and not made[1]:
        return made[0].frame(narrowing)
    predicate = narrowing.predicate()
    return frame if predicate is None else frame.filter(predicate)


def _where(frame: pl.LazyFrame, where: pl.Expr | None) -> pl.LazyFrame:
    return frame if where is None else frame.filter(where)


def arranged(
    files: Sequence[Path] | Sequence[str],
    empty: Mapping[str, frozenset[str]] | None = None,
    unflagged: Collection[str] = (),
) -> list[Any]:
    """``files`` with the parts read alike next to each other (the same columns holding no value, see
    ``Inspection.empty``; then with or without the ``redelivered`` flag), each kind where its first
    part lists, otherwise in list order: one Parquet scan per kind, not per run. Polars' streaming
    engine spends ~10 ms on every scan of a concatenation that inserts a column: a day-by-day pandas
    export whose ``error`` column is text on some days and all-missing ``double`` on others made a
    scan per day (1,000 such parts alternating: 8 s instead of 0.7 s, 15 s deduplicated). The same
    list arranged again is unchanged (a whole and a narrow read keep one order)."""
    hollow = empty or {}
    flagless = {str(part) for part in unflagged}
    if not hollow and not flagless:
        return list(files)
    kinds: dict[frozenset[str], int] = {}
    pairs: dict[tuple[frozenset[str], bool], int] = {}
    keys = []
    for part in files:
        names = hollow.get(str(part), frozenset())
        pair = (names, str(part) in flagless)
        keys.append((kinds.setdefault(names, len(kinds)), pairs.setdefault(pair, len(pairs))))
    order = sorted(range(len(keys)), key=keys.__getitem__)
    return [files[index] for index in order]


def scan_parts(
    files: list[Path] | list[str],
    schema: dict[str, pl.DataType],
    row_index: str | None = None,
    empty: Mapping[str, frozenset[str]] | None = None,
    marked: tuple[str, Collection[str]] | None = None,
    *,
    as_stored: bool = False,
) -> pl.LazyFrame:
    """The rows of checked ``files`` (local paths or ``s3://`` URLs, credentials from ``AWS_*``) under
    ``schema``: a column missing from a file reads as null, and so do the columns ``empty`` names for a
    part (``Inspection.empty``: of another type, holding no value), which are not read. ``marked``
    (column, parts): a last Boolean column, true on the rows of those parts (by ``str``). The parts are
    read :func:`arranged` when some have such columns, or are ``marked``.

    Times come in the contract's type (``evkit.store.schema.contract_schema``: a hand-made store's
    nanoseconds or zone-less times as microseconds in UTC), whatever type each part keeps them in
    (``time_casts``), and NaN in ``value`` is null (``read_casts``), unless ``as_stored``: then in
    ``schema``'s, as stored (a compaction, which converts only the parts of a day that differ from the
    rest)."""
    options = polars_options() if files and is_s3(files[0]) else {}
    asked = schema if as_stored else contract_schema(schema)

    def plain(chunk: list[Any], kept: dict[str, pl.DataType], index: str | None) -> pl.LazyFrame:
        return pl.scan_parquet(
            chunk,
            schema=kept,
            missing_columns="insert",
            extra_columns="ignore",
            hive_partitioning=False,
            row_index_name=index,
            cast_options=time_casts(),
            **options,
        )

    hollow = empty or {}
    mark, listed = marked or ("", ())
    # pandas' float ids (Parquet casts no float to int), NaN values as null
    casts = [] if as_stored else read_casts(schema)
    if marked is None and not any(str(part) in hollow for part in files):
        frame = plain(files, asked, row_index)
        return frame.with_columns(casts) if casts else frame
    # rare: a scan per kind of part, those with columns holding no value read without them
    frames = []
    listed = {str(part) for part in listed}
    for (names, flag), run in groupby(
        arranged(files, hollow, listed),
        key=lambda part: (hollow.get(str(part), frozenset()), str(part) in listed),
    ):
        kept = {name: dtype for name, dtype in asked.items() if name not in names}
        nulls = [pl.lit(None, dtype=asked[name]).alias(name) for name in asked if name in names]
        marks = [pl.lit(flag).alias(mark)] if marked is not None else []
        frame = plain(list(run), kept, None).with_columns(*nulls, *marks)
        frames.append(frame.select(*schema, *(mark for _ in marks)))
    frame = pl.concat(frames, how="vertical").with_columns(casts)
    return frame if row_index is None else frame.with_row_index(row_index)


def without_copies(
    files: list[Path] | list[str],
    schema: dict[str, pl.DataType],
    *,
    where: pl.Expr | None = None,
    empty: Mapping[str, frozenset[str]] | None = None,
    unflagged: frozenset[str] = frozenset(),
) -> pl.LazyFrame:
    """The rows of ``files`` with every redelivered copy of an earlier message removed (``empty`` and
    ``unflagged`` as :class:`~evkit.store.parts.Inspection` says; rules: ``evkit.store.copies``).

    Only a row the broker marked ``redelivered`` can be a copy: the capture acknowledges a message only
    after it is on disk, so the broker delivers a message again only to a capture that may already
    have stored it, and then flags it. The plain rows therefore pass untouched (nothing is hashed
    when no row is redelivered); each redelivered row is compared with the earlier rows that share
    its routing key and device time (Easee; MQTT: its topic), searched only between the copies'
    first and last device time, and dropped when one of them, or a redelivered row received before it
    (``COPY_ORDER``; not file order, which compaction changes), has the same body: the original is kept
    wherever its part sorts (parts of several captures sort by capture id, not by time). On stores the
    capture writes this equals the full rule "every row not redelivered; of the redelivered rows of a
    (routing_key, raw) without one, the first received; for MQTT a redelivered repeat of (topic, raw)
    goes" (``tests/store/test_dedupe.py``), without hashing every body. Rows of parts without the flag
    (``unflagged``: written before it existed) keep one row per (routing_key, raw) among themselves.
    """

    files = arranged(files, empty, unflagged)  # one order, marked or not

    def parts(row_index: str | None = None, marked: bool = False) -> pl.LazyFrame:
        return scan_parts(files, schema, row_index, empty, (UNFLAGGED, unflagged) if marked else None)

    return copies_removed(parts, schema, where, bool(unflagged))
