"""Chargers asked for by id (``--charger``) that have no rows: a mistyped id must not read as "no
sessions" or an empty table. The commands say so on stderr (the report refuses when none has rows),
naming the closest ids the data does hold."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from datetime import datetime

import polars as pl

#: How alike (``difflib``'s ratio) an id must be to be suggested for a missing one.
CUTOFF = 0.6
#: Ids suggested for a missing one (the closest first), and ids shown as examples when none is close.
SUGGESTIONS = 3


def chargers_without_rows(
    lf: pl.LazyFrame,
    chargers: Sequence[str],
    seen: Iterable[str] = (),
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[str]:
    """The ids of ``chargers`` (in their order, once each) with no row in ``lf`` observed in
    [``start``, ``end``) (each optional). Ids in ``seen`` (say, the chargers of the sessions found) have
    rows: only the others are looked up, reading their rows' ``charger_id`` alone, and only the row
    groups that may hold them (``evkit.analysis._prep.narrowed``)."""
    from evkit.analysis._prep import narrowed

    wanted = unseen(chargers, seen)
    if not wanted:
        return []
    rows = narrowed(lf, wanted, start, end).select(pl.col("charger_id").unique())
    found = set(rows.collect().get_column("charger_id").drop_nulls().to_list())
    return [c for c in wanted if c not in found]


def unseen(chargers: Sequence[str], seen: Iterable[str] = ()) -> list[str]:
    """``chargers`` in their order, once each, without those in ``seen``."""
    known = set(seen)
    return [c for c in dict.fromkeys(chargers) if c not in known]


def charger_ids(lf: pl.LazyFrame) -> list[str]:
    """Every charger id of ``lf``, sorted (reads that column only)."""
    ids = lf.select(pl.col("charger_id").drop_nulls().unique().sort()).collect()
    return [str(c) for c in ids.get_column("charger_id").to_list()]


def window_text(start: datetime | None, end: datetime | None) -> str:
    """`` observed from START to END`` (either end open), or nothing without a window."""

    def at(moment: datetime) -> str:
        return moment.isoformat().replace("+00:00", "Z")

    if start is not None and end is not None:
        return f" observed from {at(start)} to {at(end)}"
    if start is not None:
        return f" observed from {at(start)} on"
    return f" observed before {at(end)}" if end is not None else ""


def closest(ident: str, known: Sequence[str], n: int = SUGGESTIONS) -> list[str]:
    """The ``n`` ids of ``known`` most like ``ident`` (``difflib``'s similarity of the lower-cased ids,
    at least ``CUTOFF``), the most alike first and, among equally alike ones, in the ids' order: a missing
    zero in ``EH00001`` is as far from ``EH000001`` as from ``EH000401``, and ``EH000001`` comes first."""
    matcher = difflib.SequenceMatcher()
    matcher.set_seq2(ident.lower())
    scored = []
    for candidate in known:
        matcher.set_seq1(candidate.lower())
        if matcher.real_quick_ratio() < CUTOFF or matcher.quick_ratio() < CUTOFF:
            continue  # cheap upper bounds of the ratio first, as difflib.get_close_matches does
        if (ratio := matcher.ratio()) >= CUTOFF:
            scored.append((-ratio, candidate))
    return [candidate for _, candidate in sorted(scored)[:n]]


def _subject(ids: Sequence[str]) -> str:
    quoted = ", ".join(repr(c) for c in ids)
    return f"charger {quoted} has" if len(ids) == 1 else f"chargers {quoted} have"


def absent_sentence(
    absent: Sequence[str],
    where: str,
    known: Sequence[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> str:
    """One sentence saying that ``absent`` (charger ids) have no rows in ``where`` (in the window, when
    given). With ``known`` (every id the data holds): the ids it does not hold at all are named with
    the closest known ids (or a few known ids as examples, when none is close), apart from the ids
    that have rows only outside the window."""
    if known is None:
        return f"{_subject(absent)} no rows in {where}{window_text(start, end)}"
    held = set(known)
    unknown = [c for c in absent if c not in held]
    outside = [c for c in absent if c in held]
    said = []
    if unknown:
        text = f"{_subject(unknown)} no rows in {where}"
        close = list(dict.fromkeys(c for ident in unknown for c in closest(ident, known)))
        if close:
            text += f": did you mean {' or '.join(repr(c) for c in close[:SUGGESTIONS])}?"
        elif known:
            examples = ", ".join(repr(c) for c in known[:SUGGESTIONS])
            text += f" (its {len(known):,} charger(s) include {examples})"
        else:
            text += " (it holds no charger id)"
        said.append(text)
    if outside:
        window = window_text(start, end)
        said.append(f"{_subject(outside)} no rows in {where}{window}, only outside that window")
    return "; ".join(said)


__all__ = [
    "CUTOFF",
    "SUGGESTIONS",
    "absent_sentence",
    "charger_ids",
    "chargers_without_rows",
    "closest",
    "unseen",
    "window_text",
]
