"""What a frame from ``evkit.store.reader``'s ``scan`` (or ``narrow``) tells without reading its rows:
counts and bytes from the parts' footers the check already read, its first rows, whether a predicate
matches nothing (also asked of rows held in memory: one look). Any other frame gets ``None`` (or is
counted, where a count is asked)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from evkit.store.frame_memo import FrameMemo
from evkit.store.narrow import Narrowing, admitted_groups, footer_of, rows_per_range
from evkit.store.objstore import is_s3
from evkit.store.reader import ScanRecipe, scan_recipe
from evkit.store.schema import is_in_memory


def _footer_counted(frame: pl.LazyFrame) -> list[Path | str] | None:
    """The parts of a whole-store frame from ``scan`` without ``dedupe`` or ``where`` (its rows
    are the parts' rows, in their footers); None for any other frame."""
    made = scan_recipe(frame)
    if made is not None and not made[1] and not made[0].dedupe and made[0].where is None:
        return list(made[0].files)
    return None


def row_count(frame: pl.LazyFrame) -> int:
    """The rows of ``frame``; for a whole-store frame from ``scan`` without ``dedupe`` or
    ``where``, summed from the footers the check already read (no data read)."""
    parts = _footer_counted(frame)
    if parts is not None:
        return sum(footer_of(part).num_rows() for part in parts)
    return int(frame.select(pl.len()).collect().item())


def rows_at_most(frame: pl.LazyFrame) -> int | None:
    """At most how many rows a narrowed frame of ``s3://`` parts from ``scan`` or ``narrow``
    holds: the rows of the row groups its statistics admit, from the footers alone (no request, no
    data read; deduplication and ``where`` only remove rows). None for any other frame: local narrow
    reads are counted (reading the admitted groups' few rows, kept for the next query)."""
    made = scan_recipe(frame)
    if made is None or not made[1] or not made[0].files or not is_s3(made[0].files[0]):
        return None
    return _admitted_rows(*made)


def rows_bound(frame: pl.LazyFrame) -> int | None:
    """At most how many rows ``frame`` holds, from its parts' footers alone (no data read), for a frame
    from ``scan`` or ``narrow`` (deduplication and ``where`` only remove rows); None for any
    other frame. What a progress bar over a whole read counts up to."""
    made = scan_recipe(frame)
    if made is None:
        return None
    return _admitted_rows(*made)


def rows_per_charger_range(
    frame: pl.LazyFrame, ranges: Sequence[tuple[str, str]]
) -> tuple[int, list[int]] | None:
    """For a frame from ``scan`` or ``narrow``: the rows of the row groups it reads, and for
    each (first, last) range of charger ids, the rows a filter on the range reads (the groups whose
    statistics overlap it), from the footers alone; None for any other frame. A store compacted by
    charger reads each group for about one range; one in arrival order, every group for every range."""
    made = scan_recipe(frame)
    if made is None:
        return None
    return rows_per_range(made[0].files, made[1], ranges)


def first_rows(frame: pl.LazyFrame, columns: Sequence[str], rows: int) -> pl.DataFrame | None:
    """For a frame from ``scan`` or ``narrow`` without ``dedupe``: its first ``rows`` rows of
    ``columns`` (the first row groups are read: milliseconds). None for any other frame (its first
    rows may cost a whole computation) or when they cannot be read (the analysis will say why)."""
    made = scan_recipe(frame)
    if made is None or made[0].dedupe:
        return None
    try:
        return frame.head(rows).select(columns).collect()
    except pl.exceptions.PolarsError:
        return None


def none_match(frame: pl.LazyFrame, predicate: pl.Expr) -> bool:
    """Whether no row of ``frame``, a whole local store's frame from ``scan`` without ``dedupe``
    or rows held in memory (``evkit.store.schema.in_memory``), matches ``predicate`` (then a filter
    of its negation keeps every row, and need not be made). Asked once per frame and predicate: for
    a store the first match ends the read, and the parts' statistics answer for most stores without
    reading their data; rows in memory are looked at once. False for any other frame (a narrowed one
    is read by row groups, without statistics: small, filtered as it is; on ``s3://`` the question
    would fetch every part's footer once more, a request each; a plan's rows may cost a whole
    computation), or on an error."""
    return _none_match(frame, predicate) is True


def any_match(frame: pl.LazyFrame, predicate: pl.Expr) -> bool:
    """Whether a row of ``frame`` matches ``predicate``: :func:`none_match`'s answer where it has
    one (a match ends its read), else every row is read."""
    known = _none_match(frame, predicate)
    if known is not None:
        return not known
    return bool(frame.select(predicate.fill_null(False).any()).collect().item())


def _none_match(frame: pl.LazyFrame, predicate: pl.Expr) -> bool | None:
    """:func:`none_match`, or None where it cannot tell (a frame of another kind, an error)."""
    made = scan_recipe(frame)
    if made is None:
        if not is_in_memory(frame):
            return None
    elif made[1] or made[0].dedupe or any(is_s3(part) for part in made[0].files[:1]):
        return None
    answers = _NONE_MATCH.get(frame)
    if answers is None:
        answers = _NONE_MATCH.put(frame, {})
    key = predicate.meta.serialize(format="json")
    if key not in answers:
        try:
            found = frame.filter(predicate).head(1).select(pl.len()).collect().item()
        except pl.exceptions.PolarsError:
            return None  # the analysis will say why
        answers[key] = found == 0
    return answers[key]


#: :func:`none_match`'s answers, by frame and predicate.
_NONE_MATCH: FrameMemo[dict[str, bool]] = FrameMemo()


def stored_bytes_of(frame: pl.LazyFrame, columns: Sequence[str]) -> int | None:
    """For a frame from ``scan`` or ``narrow``: the compressed bytes of ``columns`` in the row
    groups it reads, from the footers alone (``evkit.store.narrow.stored_bytes``); None for any other."""
    made = scan_recipe(frame)
    if made is None:
        return None
    from evkit.store.narrow import stored_bytes

    return stored_bytes(made[0].files, made[1], columns)


def _admitted_rows(how: ScanRecipe, narrowing: Narrowing) -> int:
    """The rows of the row groups of ``how``'s parts that ``narrowing``'s statistics admit (all of
    them when it narrows nothing)."""
    total = 0
    for part in how.files:
        footer = footer_of(part)
        if not narrowing:
            total += footer.num_rows()
            continue
        metadata = footer.metadata()
        total += sum(metadata.row_group(group).num_rows for group in admitted_groups(footer, narrowing))
    return total


def has_rows(frame: pl.LazyFrame) -> bool:
    """Whether ``frame`` holds a row: for a whole-store frame (see :func:`row_count`) the footers
    are asked until one part has rows (usually the first), not all of them."""
    parts = _footer_counted(frame)
    if parts is not None:
        return any(footer_of(part).num_rows() > 0 for part in parts)
    return bool(frame.select(pl.len()).collect().item() > 0)


__all__ = [
    "any_match",
    "first_rows",
    "has_rows",
    "none_match",
    "row_count",
    "rows_at_most",
    "rows_bound",
    "rows_per_charger_range",
    "stored_bytes_of",
]
