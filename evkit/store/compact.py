"""Merge the many small parts of a long capture into one sorted part per day, safely beside running captures.

A capture flushes often (acknowledging only what is on disk), so a day of steady traffic leaves
thousands of small files; scans slow down with the file count. Compaction rewrites a day's parts
(``date=YYYY-MM-DD``) into one part sorted by (``charger_id``, ``observed_at``, ``received_at``) in
row groups with statistics (``row_group_rows``), keeping every row and every byte of every column
(one exception: a day whose parts keep the contract's times in different units or zones, a pandas
export beside the capture's parts, is written in the contract's microseconds in UTC, the same instants
to the microsecond, which is all any reader reads; ``evkit.store.parts``):
a question about a few chargers (``evkit sessions DIR --charger ID``) then reads only the row groups
whose charger range holds them (``evkit.store.narrow``); copies of one message keep their arrival
order. A day of one part is rewritten too unless that part is a compacted one: a compacted part says
so in its footer's key-value metadata (``SORTED_BY_KEY``: the sort key), which no capture writes and
no other writer copies, so compacting twice changes nothing, while a capture's single part (arrival
order) is sorted; on object storage too (``evkit.store.s3compact``). (A part compacted before the
marker existed has none: its day is rewritten once.)

Protocol (one day directory ``D``; nothing but files inside ``D`` is created or removed):

1. List ``D``'s live parts: these, and only these, are the inputs. A part a capture renames into ``D``
   later is not among them and is never touched.
2. Check them (magic bytes, footer, column types). Damaged parts stop the run before anything is
   written (``DatasetError`` naming them); with ``skip_damaged`` they are left where they are.
3. Merge the inputs into ``D/.compacted-<id>.parquet.tmp`` (hidden: no reader lists it), check its row
   count against the inputs' footers, fsync it.
4. Write the journal ``D/.compact-<id>.json`` (output name and input names; written to a temporary
   name, fsynced and renamed, so it is whole or absent) and fsync ``D``.
5. Commit: rename the merged file to ``D/part-compacted-<id>.parquet``; fsync ``D``.
6. Unlink exactly the inputs; fsync ``D``; unlink the journal; fsync ``D``.

Readers (``evkit.store.parts.live_parts``) drop the inputs of any journal whose output they listed,
so between 5 and 6 they see the merged part only, before 5 the inputs only: never a row twice. A
crash is repaired by the next compaction, before it does anything else: a journal whose output
exists is rolled forward (its remaining inputs unlinked), one whose output does not exist is rolled
back (the hidden merged file removed); stray ``.compacted-*.tmp`` files go too. A failed merge
removes its own hidden file and journal before it raises: nothing is left behind.

Coordination: captures hold a shared lease per day (``evkit.store.lease``, see
``evkit.store.writer``). By default only finished days are compacted -- older than today (UTC) and
whose lease compaction gets exclusively without waiting; it holds the lease while it merges, so a
capture with a late row for that day (received at 23:59:59, written after midnight) waits for the
merge and then writes a new part beside it. A day a capture still holds is left for a later run and
reported. ``include_today`` also compacts days captures are writing into: safe by the protocol
above (a capture's new parts are not inputs), the day simply gains new parts again.
We chose leases over "captures never write into a day being compacted" alone because a capture
cannot know whether a compaction will start; the lease is what lets compaction know a day is done.

One compaction at a time per dataset: a second one finds the store's compaction lock taken and does
nothing (:attr:`Compaction.already_running`).

Wrong targets are refused (``DatasetError``) before anything is locked or written: a day directory
(``date=YYYY-MM-DD``: compact its store), a directory or ``s3://`` prefix without a part in a day
directory and without a capture's lease or manifest (a store a capture just started is no error:
:attr:`Compaction.no_parts_yet`), an ``s3://`` URL with a ``?query`` or ``#fragment`` (no prefix has
one; tokens go in ``AWS_*`` variables).

Limits: a reader outside evkit (a DuckDB or Polars glob over ``**/*.parquet``) does not know the
journal and may count the merged rows twice for the instant between steps 5 and 6. A lazy frame
from ``evkit.scan`` names its files when it is made: collected after a compaction removed one of
them, it fails with a missing-file error (it never returns rows twice or silently fewer); scan again.
Locks are ``flock`` locks: local file systems, or NFS v4 where Linux maps them to POSIX locks.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from evkit.errors import DatasetError, StoreError, first_line
from evkit.secrets import mask_secrets
from evkit.store.compact_target import day_dirs, day_of, refuse_local, refuse_s3, s3_holds_parts
from evkit.store.footers import Footer, local_footer
from evkit.store.lease import try_claim_day, try_compaction_lock
from evkit.store.objstore import is_s3
from evkit.store.parts import Damaged, VanishedPart, inspect_parts, journals, read_journal
from evkit.store.reader import damaged_message, scan_parts
from evkit.store.writer import fsync_path

log = logging.getLogger("evkit.store")

TMP_PREFIX = ".compacted-"
#: Rows per row group of a compacted part, at least: one charger of a fleet of hundreds is about one
#: group a day, so a narrow read (``evkit.store.narrow``) of one charger over a month reads ~2 % of the
#: column bytes plus the footers (~2 %); a whole scan pays ~0.05 s CPU per 6M rows and 6 % more disk
#: than with 8,192 (``benchmarks/narrow.py``).
ROW_GROUP_ROWS = 4_096
#: Row groups of one part, at most: a footer grows with its row groups (~1.2 kB each, 14 columns), and
#: every narrow read parses every day's footer. A fleet of thousands (2M rows a day) in 4,096-row
#: groups made 600 kB footers: parsing 30 of them was most of a one-charger question; in 128 groups
#: (16k rows) they are 150 kB and a charger-day is still one or two groups (~1 % of the day's bytes).
MAX_ROW_GROUPS = 128


def row_group_rows(rows: int) -> int:
    """The row-group size of a compacted part of ``rows`` rows: ``ROW_GROUP_ROWS``, or larger groups of
    equal size when that would make more than ``MAX_ROW_GROUPS`` of them."""
    return max(ROW_GROUP_ROWS, -(-rows // MAX_ROW_GROUPS))


#: The order a compacted part is written in (see the module docstring).
SORT_KEY = ("charger_id", "observed_at", "received_at")
#: The key of a compacted part's Parquet key-value metadata saying it is sorted (value: ``SORT_KEY``
#: joined by commas). Polars and pyarrow drop it when they rewrite a file, so only compaction's own
#: output carries it.
SORTED_BY_KEY = "evkit.sorted_by"
_SORTED_BY = ",".join(SORT_KEY)
#: A day of more rows is sorted a range of chargers at a time (about this many rows each), each range
#: into a hidden file of its own, then the ranges streamed in order into the merged file: memory
#: follows a range, not the day. Sorted at once, a 6M-row day (a fleet of 17,000 chargers) peaked at
#: 2.27 GB and a 12M-row day at 3.5 GB; in ranges, 0.78 and 0.82 GB, the same bytes, 8.05 s instead of
#: 6.07 s and 13.7 s instead of 11.0 s (benchmarks/RESULTS.md).
SORT_ROWS = 1_000_000


def in_sort_order(plan: pl.LazyFrame) -> pl.LazyFrame:
    """``plan`` in a compacted part's order (``SORT_KEY``, rows without a charger or time last; copies
    of one message keep their arrival order), locally and on object storage."""
    return plan.sort(list(SORT_KEY), maintain_order=True, nulls_last=True)


def sink_sorted(plan: pl.LazyFrame, target: Path | str, rows: int, **options: Any) -> None:
    """Write ``plan`` (``rows`` rows, in ``SORT_KEY`` order) as a compacted part to ``target``: zstd,
    statistics, ``row_group_rows`` groups, the ``SORTED_BY_KEY`` marker (``options``: more
    ``sink_parquet`` arguments, an object store's)."""
    plan.sink_parquet(
        target,
        compression="zstd",
        statistics=True,
        row_group_size=row_group_rows(rows),
        metadata={SORTED_BY_KEY: _SORTED_BY},
        **options,
    )


def marked_sorted(footer: Footer) -> bool:
    """Whether a part's ``footer`` says compaction wrote it (sorted by ``SORT_KEY``): ``ValueError``
    when the footer cannot be parsed."""
    pairs = footer.metadata().metadata or {}
    return pairs.get(SORTED_BY_KEY.encode()) == _SORTED_BY.encode()


def _sorted_into(frame: pl.LazyFrame, tmp: Path, rows: int) -> None:
    """``frame`` (``rows`` rows) sorted by ``SORT_KEY`` into the Parquet file ``tmp`` (zstd, statistics,
    ``row_group_rows`` groups): at once, or, above ``SORT_ROWS``, a range of chargers at a time through
    hidden files beside ``tmp`` (named like it: a crash leaves nothing :func:`recover` does not remove)."""

    def write(plan: pl.LazyFrame) -> None:
        sink_sorted(plan, tmp, rows)

    if rows <= SORT_ROWS:
        write(in_sort_order(frame))
        return

    def range_file(index: int) -> Path:
        return tmp.with_name(f"{tmp.name}.range-{index:04d}.tmp")

    sorted_in_ranges(frame, write, range_file)


def sorted_in_ranges(
    frame: pl.LazyFrame, write: Callable[[pl.LazyFrame], None], range_file: Callable[[int], Path]
) -> None:
    """``write(in_sort_order(frame))`` in bounded memory: each range of ``SORT_ROWS`` rows of the sort's
    first key (``key_ranges``) sorted into its file ``range_file(index)``, one after another, then the
    files streamed in order to ``write``; the files are removed afterwards, whatever happens."""
    ranges = key_ranges(frame, SORT_KEY[0], SORT_ROWS, nulls_last=True)
    paths = [range_file(index) for index in range(len(ranges))]
    try:
        for where, path in zip(ranges, paths, strict=True):
            in_sort_order(frame.filter(where)).sink_parquet(path, compression="lz4")
        write(pl.scan_parquet(paths, hive_partitioning=False))
    finally:
        for path in paths:
            path.unlink(missing_ok=True)


def key_ranges(frame: pl.LazyFrame, column: str, rows: int, *, nulls_last: bool) -> list[pl.Expr]:
    """Filters of contiguous ranges of ``column``'s values of about ``rows`` rows each, in sort order,
    rows without a value in a range of their own (last with ``nulls_last``, else first, as the sort
    puts them); the rows of one value stay in one range. From that column alone."""
    key = pl.col(column)
    counts = frame.group_by(column).len().collect()
    spans = (
        counts.drop_nulls(column)
        .sort(column)
        .group_by(((pl.col("len").cum_sum() - pl.col("len")) // rows).alias("__range"), maintain_order=True)
        .agg(key.first().alias("low"), key.last().alias("high"))
    )
    ranges = [
        key.is_between(pl.lit(low), pl.lit(high)) for low, high in spans.select("low", "high").iter_rows()
    ]
    if counts.height > counts[column].count():  # a group without a value
        ranges = [*ranges, key.is_null()] if nulls_last else [key.is_null(), *ranges]
    return ranges


@dataclass(frozen=True)
class CompactedDay:
    """What compaction did to one day."""

    day: str
    parts_before: int
    rows: int


@dataclass
class Compaction:
    """What one ``compact`` run did."""

    days: list[CompactedDay] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)  # finished-looking days a capture still holds
    damaged: list[Damaged] = field(default_factory=list)  # skipped (only with skip_damaged)
    unmerged: list[str] = field(default_factory=list)  # days whose rows could not be read (skip_damaged)
    already_running: bool = False
    no_parts_yet: bool = False  # a store a capture started, without a part so far


def _parts(directory: Path) -> list[Path]:
    """The live parts directly in a day directory (call after :func:`recover`: no journal is open)."""
    return sorted(p for p in directory.glob("*.parquet") if not p.name.startswith("."))


def is_compacted(part: Path) -> bool:
    """Whether ``part`` is a compacted part: its footer says it is sorted by ``SORT_KEY`` (the footer
    only is read; an unreadable part is not)."""
    try:
        return marked_sorted(local_footer(part))
    except (OSError, ValueError, pl.exceptions.PolarsError):
        return False


def _to_rewrite(parts: list[Path]) -> bool:
    """Whether a day of these parts needs compaction: several, or one not sorted by compaction."""
    return len(parts) > 1 or (len(parts) == 1 and not is_compacted(parts[0]))


def compactable_days(root: Path | str, include_today: bool = False) -> list[Path]:
    """Day directories below ``root`` compaction would rewrite (more than one part, or one part that
    is not a compacted one), days before today (UTC) by default.

    Leases are not looked at here: :func:`compact` skips the days a capture still holds.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root} is not a dataset directory")
    today = datetime.now(UTC).date()
    return [
        d
        for d in day_dirs(root)
        if (include_today or (day_of(d) or today) < today) and _to_rewrite(_parts(d))
    ]


def _fsync_dir(directory: Path) -> None:
    fsync_path(directory, directory=True)


def recover(root: Path) -> None:
    """Finish or undo what an interrupted compaction left (hold the compaction lock to call this)."""
    for directory in day_dirs(root):
        changed = False
        for journal in journals(directory):
            entry = read_journal(journal)
            if entry is not None and (directory / entry[0]).exists():
                for name in entry[1]:
                    (directory / name).unlink(missing_ok=True)
                log.info("finished an interrupted compaction of %s", directory.name)
            else:
                log.info("undid an interrupted compaction of %s", directory.name)
            _fsync_dir(directory)  # the inputs are gone for good before their journal goes
            journal.unlink(missing_ok=True)
            changed = True
        for stray in [*directory.glob(f"{TMP_PREFIX}*"), *directory.glob(".compact-*.json.part")]:
            stray.unlink(missing_ok=True)
            changed = True
        if changed:
            _fsync_dir(directory)
    # Earlier versions swapped whole directories and could leave empty hidden ones behind.
    for leftover in root.glob(".date=*.compacting-*"):
        if leftover.is_dir() and not any(leftover.iterdir()):
            leftover.rmdir()


def _write_journal(directory: Path, ident: str, output: str, inputs: list[Path]) -> Path:
    journal = directory / f".compact-{ident}.json"
    tmp = directory / f".compact-{ident}.json.part"
    tmp.write_text(json.dumps({"output": output, "inputs": [p.name for p in inputs]}) + "\n")
    fsync_path(tmp)
    tmp.rename(journal)
    _fsync_dir(directory)
    return journal


def merge_steps(
    directory: Path,
    inputs: list[Path],
    schema: dict[str, pl.DataType],
    empty: Mapping[str, frozenset[str]] | None = None,
) -> Iterator[tuple[str, int]]:
    """Steps 3-6 of the protocol, yielding (step, rows merged) after each one: ``merged``,
    ``journaled``, ``committed``, ``unlinked`` per input, ``done``. ``empty``: by input, columns of
    another type holding no value (``Inspection.empty``), merged as nulls of ``schema``'s type.

    No clean-up in here: stopping the generator part-way leaves the directory exactly as a crash at
    that point would (tests use that; :func:`merge_day` cleans up)."""
    ident = uuid.uuid4().hex[:12]
    output = f"part-compacted-{ident}.parquet"
    tmp = directory / f"{TMP_PREFIX}{ident}.parquet.tmp"
    expected = sum(pl.scan_parquet(p).select(pl.len()).collect().item() for p in inputs)
    frame = scan_parts(inputs, schema, empty=empty, as_stored=True)
    _sorted_into(frame, tmp, expected)
    rows = pl.scan_parquet(tmp).select(pl.len()).collect().item()
    if rows != expected:
        raise StoreError(f"compaction of {directory} wrote {rows} rows instead of {expected}")
    fsync_path(tmp)
    yield "merged", rows
    journal = _write_journal(directory, ident, output, inputs)
    yield "journaled", rows
    tmp.rename(directory / output)  # the commit point
    _fsync_dir(directory)
    yield "committed", rows
    for part in inputs:
        part.unlink(missing_ok=True)
        yield "unlinked", rows
    _fsync_dir(directory)
    journal.unlink()
    _fsync_dir(directory)
    yield "done", rows


def _undo(directory: Path) -> None:
    """Remove what an uncommitted merge left in ``directory`` (its hidden file and journal)."""
    for journal in journals(directory):
        entry = read_journal(journal)
        if entry is None or not (directory / entry[0]).exists():
            journal.unlink(missing_ok=True)
    for stray in [*directory.glob(f"{TMP_PREFIX}*"), *directory.glob(".compact-*.json.part")]:
        stray.unlink(missing_ok=True)


def merge_day(
    directory: Path,
    inputs: list[Path],
    schema: dict[str, pl.DataType],
    empty: Mapping[str, frozenset[str]] | None = None,
) -> CompactedDay:
    """Steps 3-6 of the protocol for ``inputs`` (checked parts of ``directory``; ``empty`` as for
    :func:`merge_steps`).

    Before the commit any failure undoes the merge (nothing is left behind); after it, a failure
    leaves the journal for the next compaction to finish (readers are not affected).
    """
    committed = False
    rows = 0
    try:
        for step, merged in merge_steps(directory, inputs, schema, empty):
            committed, rows = committed or step == "committed", merged
    except BaseException as exc:
        if committed:
            if isinstance(exc, OSError):
                raise StoreError(
                    f"compacted {directory} but could not remove the merged parts ({exc.strerror or exc}); "
                    "readers are not affected and the next evkit compact finishes the job"
                ) from exc
            raise
        _undo(directory)
        if isinstance(exc, pl.exceptions.PolarsError):
            first = first_line(exc)
            raise DatasetError(
                f"cannot read the parts of {directory} to merge them ({first}){_unreadable(inputs)}; "
                "nothing was changed"
            ) from exc
        if isinstance(exc, OSError):
            raise StoreError(
                f"cannot compact {directory}: {exc.strerror or exc}; nothing was changed"
            ) from exc
        raise
    return CompactedDay(day=directory.name.removeprefix("date="), parts_before=len(inputs), rows=rows)


def _unreadable(inputs: list[Path]) -> str:
    """The ``inputs`` whose data pages cannot be read, named (``evkit.store.pages``): read one by one
    only after a merge failed, so the operator knows which part to move out."""
    from evkit.store.pages import pyarrow_problem

    found = []
    for part in inputs:
        try:
            why = pyarrow_problem(part)
        except OSError:  # gone meanwhile: the merge's own error says enough
            continue
        if why is not None:
            found.append(f"{part.name} ({why})")
    return f": damaged {'; '.join(found)}" if found else ""


def compact(
    root: Path | str,
    include_today: bool = False,
    skip_damaged: bool = False,
    on_day: Callable[[CompactedDay], None] | None = None,
) -> Compaction:
    """Compact the dataset at ``root`` (finished days; with ``include_today`` every day).

    ``on_day`` is called after each merged day (progress). ``s3://bucket/prefix``: the same protocol
    on object storage (``evkit.store.s3compact``).
    """
    if is_s3(root):
        from evkit.store.s3compact import compact_s3

        refuse_s3(str(root))
        done = compact_s3(str(root), include_today, skip_damaged, on_day)
        if not (done.already_running or done.days or done.busy or done.damaged or done.unmerged):
            done.no_parts_yet = not s3_holds_parts(str(root))  # listed only when nothing was to do
        return done
    root = Path(root)
    result = Compaction(no_parts_yet=not refuse_local(root))
    try:
        lock = try_compaction_lock(root)
    except OSError as exc:
        raise StoreError(f"cannot lock {root} for compaction: {exc.strerror or exc}") from exc
    if lock is None:
        result.already_running = True
        return result
    with lock:
        try:
            recover(root)
        except OSError as exc:
            raise StoreError(f"cannot repair an interrupted compaction in {root}: {exc}") from exc
        today = datetime.now(UTC).date()
        plan = []
        for directory in day_dirs(root):
            if not include_today and (day_of(directory) or today) >= today:
                continue
            parts = _parts(directory)
            if not _to_rewrite(parts):
                continue
            try:
                found = inspect_parts(parts)
            except VanishedPart as exc:
                raise DatasetError(f"a part of {directory} vanished while compacting: {exc}") from None
            result.damaged += found.damaged
            plan.append((directory, found.good, found.schema, found.empty))
        if result.damaged and not skip_damaged:
            raise DatasetError(damaged_message(root, result.damaged))
        if result.damaged:
            log.warning(
                "left %d damaged part(s) alone: %s",
                len(result.damaged),
                mask_secrets("; ".join(map(str, result.damaged))),
            )
        for directory, good, schema, empty in plan:
            if not _to_rewrite(good):
                continue
            claim = try_claim_day(root, directory.name.removeprefix("date="))
            if claim is None and not include_today:
                result.busy.append(directory.name.removeprefix("date="))
                continue
            try:
                result.days.append(merge_day(directory, good, schema, empty))
            except DatasetError as exc:  # damage behind a sound footer, found while merging
                if not skip_damaged:
                    raise
                log.warning("%s; left as it was", mask_secrets(str(exc)))
                result.unmerged.append(directory.name.removeprefix("date="))
                continue
            finally:
                if claim is not None:
                    claim.release()
            if on_day is not None:
                on_day(result.days[-1])
    return result


__all__ = [
    "SORTED_BY_KEY",
    "CompactedDay",
    "Compaction",
    "compact",
    "compactable_days",
    "is_compacted",
    "merge_day",
    "recover",
]
