"""``evkit compact s3://bucket/prefix``: the compaction protocol of ``evkit.store.compact`` on
object storage, where there are no file locks and no rename.

Per day prefix ``date=D/`` (nothing outside it is created or removed):

1. List ``D``'s live parts: these, and only these, are the inputs (a part a capture stores later is
   not among them and is never touched), and check them (magic bytes, footer, column types).
2. Write the journal ``D/.compact-<id>.json`` (output and input names) with a conditional PUT.
3. Stream the merge, sorted by ``received_at``, into ``D/part-compacted-<id>.parquet`` (Polars
   ``sink_parquet``: the object appears whole or not at all; a day of more than ``SORT_ROWS`` rows is
   sorted a range of arrival times at a time through local scratch files, so memory follows a range)
   and check its row count against the inputs' footers.
   The object appearing is the commit point: from then on readers
   (``evkit.store.s3parts.live_objects``) drop the inputs the journal names.
4. Delete exactly the inputs, then the journal.

A crash is repaired by the next compaction first: a journal whose output exists is rolled forward
(its remaining inputs deleted), one whose output does not exist is deleted (the merge never became
visible). A merged object that fails its row count is deleted before the journal.

Coordination without locks: one compaction at a time holds ``.evkit-compact.lock``, taken with a
conditional PUT (``If-None-Match``); a lock older than ``LOCK_TTL`` (a compaction that died) is taken
over with ``If-Match`` on its ETag, so two compactions never both take it. A day is finished when it
is before today (UTC) and no capture holds a live lease on it (``evkit.store.s3lease``; looked up
right before the day is merged, by the server's clock): a held day is left for a later run and
reported, as locally. A capture that still writes a late row into a merged day simply adds a part
beside the merged one (compaction removes only its inputs).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from evkit.errors import DatasetError, StoreError
from evkit.store.compact import CompactedDay, Compaction
from evkit.store.objstore import S3Location, open_store, polars_options, store_error
from evkit.store.parts import JOURNAL_PREFIX, JOURNAL_SUFFIX, Damaged
from evkit.store.reader import damaged_message
from evkit.store.s3lease import LEASE_DIR, live_holders, remove_litter, server_now
from evkit.store.s3parts import S3VanishedPart, inspect_objects, list_objects, live_objects

log = logging.getLogger("evkit.store")

LOCK_NAME = ".evkit-compact.lock"
#: A compaction lock older than this belongs to a compaction that died: it may be taken over.
LOCK_TTL = timedelta(hours=6)


def _take_lock(store: Any, owner: str, now: datetime) -> str | None:
    """Take the store's compaction lock; its ETag, or ``None`` while another compaction holds it."""
    import obstore
    from obstore.exceptions import AlreadyExistsError, NotFoundError, PreconditionError

    body = json.dumps({"owner": owner, "taken_at": now.isoformat()}).encode()
    try:
        return str(obstore.put(store, LOCK_NAME, body, mode="create", use_multipart=False)["e_tag"])
    except (AlreadyExistsError, PreconditionError):
        pass
    try:
        meta = obstore.head(store, LOCK_NAME)
    except (NotFoundError, FileNotFoundError):  # obstore raises either
        return None  # released meanwhile: a later run takes it
    if now - meta["last_modified"] < LOCK_TTL:
        return None
    try:  # a stale lock: take it over only if nobody else did since we looked
        mode: Any = {"e_tag": meta["e_tag"]}
        return str(obstore.put(store, LOCK_NAME, body, mode=mode, use_multipart=False)["e_tag"])
    except (AlreadyExistsError, PreconditionError):
        return None


def _journals(objects: list[Any]) -> list[str]:
    names = (str(m["path"]) for m in objects)
    return sorted(
        p for p in names if p.rsplit("/", 1)[-1].startswith(JOURNAL_PREFIX) and p.endswith(JOURNAL_SUFFIX)
    )


def recover_s3(location: S3Location) -> None:
    """Finish (or drop) what an interrupted compaction left: see the module docs."""
    import obstore

    store = open_store(location)
    objects = list_objects(location)
    present = {str(m["path"]) for m in objects}
    for journal in _journals(objects):
        directory = journal.rsplit("/", 1)[0] + "/" if "/" in journal else ""
        try:
            entry = json.loads(bytes(obstore.get(store, journal).bytes()))
            output, inputs = str(entry["output"]), [str(n) for n in entry["inputs"]]
        except (ValueError, KeyError, TypeError):
            output, inputs = "", []
        if output and directory + output in present:
            for name in inputs:
                if directory + name in present:
                    obstore.delete(store, directory + name)
        obstore.delete(store, journal)


def _rows(urls: list[str]) -> int:
    total: int = pl.scan_parquet(urls, **polars_options()).select(pl.len()).collect().item()
    return total


def _sorted_to(frame: pl.LazyFrame, target: str, inputs: list[str], rows: int) -> None:
    """``frame`` (the ``rows`` rows of ``inputs``) sorted by ``received_at`` into the object ``target``:
    at once, or, above ``SORT_ROWS`` (``evkit.store.compact``), a range of arrival times at a time
    through local scratch files (``evkit.store.scratch``), so memory follows a range, not the day.
    Without room for them locally, at once (said)."""
    from evkit.store.compact import SORT_ROWS, sorted_in_ranges
    from evkit.store.narrow import Narrowing, stored_bytes
    from evkit.store.scratch import has_room, scratch_dir

    def write(plan: pl.LazyFrame) -> None:
        plan.sink_parquet(target, compression="zstd", **polars_options())

    def ordered(plan: pl.LazyFrame) -> pl.LazyFrame:
        return plan.sort("received_at", maintain_order=True)

    def room() -> bool:  # for the scratch files: a range at a time, else the day in memory
        stored = stored_bytes(inputs, Narrowing(), frame.collect_schema().names())
        return has_room(stored, "the day is sorted in memory")

    if rows > SORT_ROWS and room():
        with scratch_dir() as tmp:
            sorted_in_ranges(
                frame,
                "received_at",
                ordered,
                write,
                lambda index: tmp / f"range-{index:04d}.parquet",
                nulls_last=False,
            )
        return
    write(ordered(frame))


def merge_day_s3(
    location: S3Location, day: str, inputs: list[str], schema: dict[str, pl.DataType]
) -> CompactedDay:
    """Steps 2-4 for ``inputs`` (checked part URLs of ``date=<day>/``)."""
    import obstore

    store = open_store(location)
    ident = uuid.uuid4().hex[:12]
    directory = f"date={day}/"
    output = f"part-compacted-{ident}.parquet"
    journal = f"{directory}{JOURNAL_PREFIX}{ident}{JOURNAL_SUFFIX}"
    names = [url.rsplit("/", 1)[-1] for url in inputs]
    body = json.dumps({"output": output, "inputs": names}).encode()
    obstore.put(store, journal, body, mode="create", use_multipart=False)
    target = location.child(directory + output)
    try:
        frame = pl.scan_parquet(
            inputs,
            schema=schema,
            missing_columns="insert",
            hive_partitioning=False,
            **polars_options(),
        )
        expected = _rows(inputs)
        _sorted_to(frame, target, inputs, expected)
        rows = _rows([target])
        if rows != expected:
            obstore.delete(store, directory + output)
            raise StoreError(
                f"compaction of {location.child(directory)} wrote {rows} rows instead of {expected}"
            )
    except BaseException:
        obstore.delete(store, journal)  # the merge never counted: readers still see the inputs
        raise
    for name in names:
        obstore.delete(store, directory + name)
    obstore.delete(store, journal)
    return CompactedDay(day=day, parts_before=len(inputs), rows=rows)


def _lease_days(objects: list[Any]) -> set[str]:
    prefix = f"{LEASE_DIR}/date="
    paths = (str(m["path"]) for m in objects)
    return {p[len(prefix) :].split("/", 1)[0] for p in paths if p.startswith(prefix)}


def _days(parts: list[str]) -> dict[str, list[str]]:
    days: dict[str, list[str]] = {}
    for part in parts:
        head, _, _name = part.partition("/")
        if head.startswith("date=") and "/" not in _name:
            days.setdefault(head.removeprefix("date="), []).append(part)
    return days


def compact_s3(
    url: str,
    include_today: bool = False,
    skip_damaged: bool = False,
    on_day: Callable[[CompactedDay], None] | None = None,
) -> Compaction:
    """:func:`evkit.store.compact.compact` for ``s3://bucket/prefix``."""
    import obstore

    location = S3Location.parse(url)
    store = open_store(location)
    result = Compaction()
    try:
        etag = _take_lock(store, uuid.uuid4().hex, datetime.now(UTC))
    except Exception as exc:
        raise store_error(exc, location, "lock for compaction") from exc
    if etag is None:
        result.already_running = True
        return result
    try:
        # The server's clock (the lock just written), for the leases' expiry: captures' clocks may differ.
        started, clock_at = server_now(store, LOCK_NAME), time.monotonic()

        def now() -> datetime:
            return started + timedelta(seconds=time.monotonic() - clock_at)

        recover_s3(location)
        objects = list_objects(location)
        for day in sorted(_lease_days(objects)):
            remove_litter(store, day, now())
        today = datetime.now(UTC).date().isoformat()
        plan: list[tuple[str, list[str], dict[str, pl.DataType]]] = []
        for day, parts in sorted(_days(live_objects(location, objects)).items()):
            if (day >= today and not include_today) or day == "unknown" or len(parts) < 2:
                continue
            try:
                good, bad, schema = inspect_objects(location, parts)
            except S3VanishedPart as exc:
                raise DatasetError(f"a part of {url} vanished while compacting: {exc}") from None
            result.damaged += [Damaged(where, why) for where, why in bad]
            plan.append((day, good, schema))
        if result.damaged and not skip_damaged:
            raise DatasetError(damaged_message(url, result.damaged))
        for day, good, schema in plan:
            if len(good) < 2:
                continue
            if not include_today and live_holders(store, day, now()):
                result.busy.append(day)  # a capture may still write into it
                continue
            try:
                result.days.append(merge_day_s3(location, day, good, schema))
            except pl.exceptions.PolarsError as exc:
                if not skip_damaged:
                    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                    raise DatasetError(
                        f"cannot read the parts of date={day} to merge them ({first})"
                    ) from exc
                result.unmerged.append(day)
                continue
            if on_day is not None:
                on_day(result.days[-1])
    except (DatasetError, StoreError):
        raise
    except Exception as exc:
        raise store_error(exc, location, "compact") from exc
    finally:
        try:
            obstore.delete(store, LOCK_NAME)
        except Exception as exc:  # the lock expires by itself after LOCK_TTL
            log.warning("could not release the compaction lock of %s: %s", url, exc)
    return result


__all__ = ["LOCK_TTL", "compact_s3", "merge_day_s3", "recover_s3"]
