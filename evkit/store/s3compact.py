"""``evkit compact s3://bucket/prefix``: the compaction protocol of ``evkit.store.compact`` on
object storage, where there are no file locks and no rename.

Per day prefix ``date=D/`` (nothing outside it is created or removed):

1. List ``D``'s live parts: these, and only these, are the inputs (a part a capture stores later is
   not among them and is never touched), and check them (magic bytes, footer, column types). They are
   read with the union of their columns, as locally: a part of an older schema (a column fewer) gets
   nulls in it. As locally, a day of one part is rewritten too unless that part is a compacted one
   (its footer carries ``SORTED_BY_KEY``, as every part steps 2-4 write does): a capture's single part
   is sorted, compacting twice changes nothing.
2. Write the journal ``D/.compact-<id>.json`` (output and input names) with a conditional PUT.
3. Stream the merge, in the local order, row groups and marker (sorted by ``SORT_KEY``: charger,
   observed and received time; ``row_group_rows`` rows a group, with statistics, so a narrow read of a
   few chargers fetches a few groups; ``SORTED_BY_KEY`` in the footer), into
   ``D/part-compacted-<id>.parquet`` (Polars ``sink_parquet``: the object appears whole or not at all;
   a day of more than ``SORT_ROWS`` rows is sorted a range of chargers at a time through local scratch
   files, so memory follows a range) and check its row count against the inputs'. The object
   appearing is the commit point: from then on readers (``evkit.store.s3parts.live_objects``) drop the
   inputs the journal names.
4. Delete exactly the inputs, then the journal.

Unlike locally (where the count is checked before the rename that commits), the merged object is
counted after it is visible. So whatever stops steps 2-3 (an error, Ctrl-C), the journal is removed
only when the merged object is known not to exist and cannot still appear (no upload of it under
way); otherwise it stays, and readers see either the inputs or the merged object, never both.

The next compaction repairs what an interrupted one left, before anything else: a journal whose
output exists is rolled forward, its remaining inputs deleted -- when none was deleted yet (the
output's count may never have been checked), only after the output's row count matches theirs; an
output that does not is deleted instead (rolled back) --, one whose output does not exist is deleted
(the merge never became visible).

Coordination without locks: one compaction at a time holds ``.evkit-compact.lock``, taken with a
conditional PUT (``If-None-Match``). It is a lease: its holder renews it (``If-Match`` its ETag) from a
background thread every quarter of its time to live (``evkit.store.s3lease.lease_ttl``:
``EVKIT_S3_LEASE_S``, 120 s by default, written into the lock), so a lock not renewed for longer by the
server's clock belongs to a compaction that died (``kill -9``, a lost machine) and is taken over with
``If-Match`` on its ETag (two compactions never both take it), while a live merge of any length keeps
it. A compaction that finds its lock taken over, or could not renew it for most of its time to live,
stops before its next merge. Locks of earlier versions (which were never renewed) count as held for
``LEGACY_LOCK_TTL``. Limit: a compaction frozen as a whole (SIGSTOP, a suspended machine) for longer
than the time to live in the middle of a merge may commit it after another compaction took over.

A day is finished when it is before today (UTC) and no capture holds a live lease on it
(``evkit.store.s3lease``; looked up right before the day is merged, by the server's clock): a held day
is left for a later run and reported, as locally. A capture that still writes a late row into a merged
day simply adds a part beside the merged one (compaction removes only its inputs).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from evkit.errors import DatasetError, StoreError, first_line
from evkit.store import compact as _local
from evkit.store.compact import (
    CompactedDay,
    Compaction,
    in_sort_order,
    marked_sorted,
    sink_sorted,
    sorted_in_ranges,
)
from evkit.store.objstore import S3Location, open_store, polars_options, store_error
from evkit.store.parts import JOURNAL_PREFIX, JOURNAL_SUFFIX, Damaged
from evkit.store.reader import damaged_message, scan_parts
from evkit.store.s3lease import LEASE_DIR, lease_ttl, live_holders, remove_litter, server_now
from evkit.store.s3parts import S3VanishedPart, inspect_objects, list_objects, live_objects

log = logging.getLogger("evkit.store")

LOCK_NAME = ".evkit-compact.lock"
#: A lock without a time to live in it (written by a version that never renewed it) is stale only
#: this long after it was taken.
LEGACY_LOCK_TTL = timedelta(hours=6)
#: Written (and removed) to read the server's clock when the lock is found taken.
_CLOCK_NAME = f"{LOCK_NAME}.clock"


def _lock_ttl(body: bytes) -> timedelta:
    """How long the lock whose content is ``body`` lives without a renewal."""
    try:
        return timedelta(seconds=max(0, int(json.loads(body)["ttl_s"])))
    except (ValueError, KeyError, TypeError):
        return LEGACY_LOCK_TTL


def _server_clock(store: Any) -> datetime | None:
    """The S3 server's clock now (that of the lock's ``Last-Modified``; ours may differ): the
    ``Last-Modified`` of a tiny hidden object written for it. None when another compaction removed it
    before we looked (then the lock counts as live)."""
    import obstore
    from obstore.exceptions import NotFoundError

    try:
        obstore.put(store, _CLOCK_NAME, b"", use_multipart=False)
        return server_now(store, _CLOCK_NAME)
    except (NotFoundError, FileNotFoundError):
        return None
    finally:
        try:
            obstore.delete(store, _CLOCK_NAME)
        except Exception as exc:  # a few hidden bytes; the next contender overwrites them
            log.debug("could not remove %s: %s", _CLOCK_NAME, exc)


def _lock_body(owner: str, ttl_s: int, renewal: int) -> bytes:
    # A new body (so a new ETag: S3's is a hash of the content) on every renewal: a takeover
    # ``If-Match`` the ETag of a lock that looked stale fails once its holder renewed it.
    return json.dumps({"owner": owner, "ttl_s": ttl_s, "renewal": renewal}).encode()


class HeldLock:
    """The compaction lock while this compaction holds it, renewed every ``ttl_s / 4`` seconds from a
    background thread (see the module docs): a dead compaction's lock lapses within ``ttl_s`` seconds,
    a live one's never does."""

    def __init__(self, store: Any, etag: str, owner: str, ttl_s: int) -> None:
        self.ttl_s = ttl_s
        self._store, self._etag, self._owner, self._renewals = store, etag, owner, 0
        self._renewed = time.monotonic()  # when the last renewal that landed was sent
        self._lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="evkit-s3-compact-lock", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.ttl_s / 4):
            self.renew()

    def renew(self) -> None:
        import obstore
        from obstore.exceptions import AlreadyExistsError, NotFoundError, PreconditionError

        sent = time.monotonic()
        self._renewals += 1
        body = _lock_body(self._owner, self.ttl_s, self._renewals)
        try:
            mode: Any = {"e_tag": self._etag}
            put = obstore.put(self._store, LOCK_NAME, body, mode=mode, use_multipart=False)
        except (AlreadyExistsError, PreconditionError, NotFoundError, FileNotFoundError):
            self._lost = True  # taken over (we stalled past its time to live) or removed
            self._stop.set()
            return
        except Exception as exc:  # a network blip: the next renewal tries again
            log.warning("could not renew the compaction lock: %s", exc)
            return
        self._etag, self._renewed = str(put["e_tag"]), sent

    def check(self) -> None:
        """StoreError unless the lock is surely still ours (called before each merge)."""
        if time.monotonic() - self._renewed > self.ttl_s * 3 / 4:
            self._lost = True  # soon (or already) takeable: stop rather than race a successor
        if self._lost:
            raise StoreError(
                f"this compaction lost its lock (not renewed within {self.ttl_s} s, or taken over): "
                "stopped before merging another day; run evkit compact again"
            )

    def release(self) -> None:
        import obstore

        self._stop.set()
        self._thread.join()
        if not self._lost:  # else it may be another compaction's by now
            obstore.delete(self._store, LOCK_NAME)


def _take_lock(store: Any, owner: str, ttl_s: int) -> HeldLock | None:
    """Take the store's compaction lock (renewed until released); ``None`` while another compaction
    holds it."""
    import obstore
    from obstore.exceptions import AlreadyExistsError, NotFoundError, PreconditionError

    body = _lock_body(owner, ttl_s, 0)
    try:
        put = obstore.put(store, LOCK_NAME, body, mode="create", use_multipart=False)
        return HeldLock(store, str(put["e_tag"]), owner, ttl_s)
    except (AlreadyExistsError, PreconditionError):
        pass
    try:
        found = obstore.get(store, LOCK_NAME)
        meta, held = found.meta, bytes(found.bytes())
    except (NotFoundError, FileNotFoundError):  # obstore raises either
        return None  # released meanwhile: a later run takes it
    now = _server_clock(store)
    # S3 times are whole seconds: one more, as for capture leases
    if now is None or now - meta["last_modified"] <= _lock_ttl(held) + timedelta(seconds=1):
        return None
    try:  # a stale lock: take it over only if nobody else did (or renewed it) since we looked
        mode: Any = {"e_tag": meta["e_tag"]}
        put = obstore.put(store, LOCK_NAME, body, mode=mode, use_multipart=False)
    except (AlreadyExistsError, PreconditionError, NotFoundError, FileNotFoundError):
        return None
    log.info("took over the compaction lock of a compaction that stopped renewing it")
    return HeldLock(store, str(put["e_tag"]), owner, ttl_s)


def _journals(objects: list[Any]) -> list[str]:
    names = (str(m["path"]) for m in objects)
    return sorted(
        p for p in names if p.rsplit("/", 1)[-1].startswith(JOURNAL_PREFIX) and p.endswith(JOURNAL_SUFFIX)
    )


def recover_s3(location: S3Location) -> None:
    """Finish (or undo) what an interrupted compaction left: see the module docs."""
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
            left = [directory + name for name in inputs if directory + name in present]
            # Inputs are deleted only once the count matched: with all of them left it may never have
            # been checked (the compaction stopped right after the merged object appeared).
            urls = [location.child(key) for key in left]
            if (
                left
                and len(left) == len(inputs)
                and _rows([location.child(directory + output)]) != _rows(urls)
            ):
                obstore.delete(store, directory + output)
                log.warning("removed the merged part of %s: it does not hold its inputs' rows", journal)
            else:
                for key in left:
                    obstore.delete(store, key)
                log.info("finished an interrupted compaction of %s", directory.rstrip("/"))
        else:
            log.info("undid an interrupted compaction of %s", directory.rstrip("/"))
        obstore.delete(store, journal)


def _rows(urls: list[str]) -> int:
    """The rows of the parts ``urls`` (from their footers), whatever their columns."""
    plan = pl.scan_parquet(
        urls, missing_columns="insert", extra_columns="ignore", hive_partitioning=False, **polars_options()
    )
    total: int = plan.select(pl.len()).collect().item()
    return total


def _sorted_to(frame: pl.LazyFrame, target: str, inputs: list[str], rows: int) -> None:
    """``frame`` (the ``rows`` rows of ``inputs``) into the object ``target`` as a local compaction
    writes it (``evkit.store.compact``: ``SORT_KEY`` order, ``row_group_rows`` groups, statistics): sorted
    at once, or, above ``SORT_ROWS``, a range of chargers at a time through local scratch files
    (``evkit.store.scratch``), so memory follows a range, not the day. Without room for them locally,
    at once (said)."""
    from evkit.store.narrow import Narrowing, stored_bytes
    from evkit.store.scratch import has_room, scratch_dir

    def write(plan: pl.LazyFrame) -> None:
        sink_sorted(plan, target, rows, **polars_options())

    def room() -> bool:  # for the scratch files: a range at a time, else the day in memory
        stored = stored_bytes(inputs, Narrowing(), frame.collect_schema().names())
        return has_room(stored, "the day is sorted in memory")

    if rows > _local.SORT_ROWS and room():
        with scratch_dir() as tmp:
            sorted_in_ranges(frame, write, lambda index: tmp / f"range-{index:04d}.parquet")
        return
    write(in_sort_order(frame))


def _after_failure(store: Any, journal: str, output: str, exc: BaseException, writing: bool) -> bool:
    """Whatever stopped a merge in steps 2-3 (``writing``: once the merged object ``output`` may have
    started to be written): remove the journal only when ``output`` surely does not exist and cannot
    still appear (before the write, or the write failed with an error: Polars abandoned the upload);
    else leave it for the next compaction (rolled forward or back). True when ``output`` exists."""
    import obstore
    from obstore.exceptions import NotFoundError

    exists: bool | None = False
    if writing:
        try:
            obstore.head(store, output)
            exists = True
        except (NotFoundError, FileNotFoundError):
            exists = False
        except Exception:
            exists = None  # unknown
    if exists is False and (not writing or isinstance(exc, Exception)):
        try:
            obstore.delete(store, journal)  # the merge never became visible
        except Exception as err:  # left: the next compaction removes it
            log.warning("could not remove the journal %s: %s", journal, err)
    else:
        log.warning("left %s for the next evkit compact to finish", journal)
    return exists is True


def merge_day_s3(
    location: S3Location,
    day: str,
    inputs: list[str],
    schema: dict[str, pl.DataType],
    check_lock: Callable[[], None] | None = None,
    *,
    empty: Mapping[str, frozenset[str]] | None = None,
) -> CompactedDay:
    """Steps 2-4 for ``inputs`` (checked part URLs of ``date=<day>/``; ``schema``: their union;
    ``empty``: by input, columns of another type holding no value, merged as nulls). ``check_lock``
    raises when the compaction lost its lock (called right before the merge)."""
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
    writing = False
    try:
        frame = scan_parts(inputs, schema, empty=empty, as_stored=True)
        expected = _rows(inputs)
        if check_lock is not None:
            check_lock()
        writing = True
        _sorted_to(frame, target, inputs, expected)  # the commit point: the merged object appears
        rows = _rows([target])
        if rows != expected:
            obstore.delete(store, directory + output)
            raise StoreError(
                f"compaction of {location.child(directory)} wrote {rows} rows instead of {expected}"
            )
    except BaseException as exc:
        # Not simply "delete the journal": once the merged object exists, that would leave it beside
        # its inputs for good (every row counted twice, merged again by the next run).
        committed = _after_failure(store, journal, directory + output, exc, writing)
        if committed and isinstance(exc, Exception) and not isinstance(exc, StoreError):
            first = first_line(exc)
            raise StoreError(
                f"merged {location.child(directory)} but could not check it ({first}); readers are "
                "not affected and the next evkit compact finishes the job"
            ) from exc
        raise
    try:
        for name in names:
            obstore.delete(store, directory + name)
        obstore.delete(store, journal)
    except Exception as exc:
        raise StoreError(
            f"compacted {location.child(directory)} but could not remove the merged parts ({exc}); "
            "readers are not affected and the next evkit compact finishes the job"
        ) from exc
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


def _inspected(
    location: S3Location, parts: list[str]
) -> tuple[list[str], list[Damaged], dict[str, pl.DataType], dict[str, frozenset[str]], bool]:
    """(good URLs, damaged, schema, columns holding no value by URL, whether to rewrite) of one day's
    ``parts``: rewritten when several are good, or one that is not a compacted part (its footer, just
    fetched, says)."""
    from evkit.store.narrow import footer_of

    good, bad, schema, empty, _ = inspect_objects(location, parts)
    try:
        rewrite = len(good) > 1 or (len(good) == 1 and not marked_sorted(footer_of(good[0])))
    except ValueError:  # a footer pyarrow cannot parse (Polars could): not a part compaction wrote
        rewrite = True
    return good, [Damaged(where, why) for where, why in bad], schema, empty, rewrite


def compact_s3(
    url: str,
    include_today: bool = False,
    skip_damaged: bool = False,
    on_day: Callable[[CompactedDay], None] | None = None,
) -> Compaction:
    """:func:`evkit.store.compact.compact` for ``s3://bucket/prefix``."""
    location = S3Location.parse(url)
    store = open_store(location)
    result = Compaction()
    try:
        lock = _take_lock(store, uuid.uuid4().hex, lease_ttl())
    except Exception as exc:
        raise store_error(exc, location, "lock for compaction") from exc
    if lock is None:
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
        days = [
            (day, parts)
            for day, parts in sorted(_days(live_objects(location, objects)).items())
            if (day < today or include_today) and day != "unknown"
        ]
        plan: list[tuple[str, list[str], dict[str, pl.DataType], dict[str, frozenset[str]]]] = []
        try:  # days at once: a day of one part costs a footer's round trips, a year of them adds up
            with ThreadPoolExecutor(max_workers=4) as pool:
                checked = list(pool.map(lambda item: _inspected(location, item[1]), days))
        except S3VanishedPart as exc:
            raise DatasetError(f"a part of {url} vanished while compacting: {exc}") from None
        for (day, _parts), (good, damaged, schema, empty, rewrite) in zip(days, checked, strict=True):
            result.damaged += damaged
            if rewrite:
                plan.append((day, good, schema, empty))
        if result.damaged and not skip_damaged:
            raise DatasetError(damaged_message(url, result.damaged))
        for day, good, schema, empty in plan:
            lock.check()
            if not include_today and live_holders(store, day, now()):
                result.busy.append(day)  # a capture may still write into it
                continue
            try:
                result.days.append(merge_day_s3(location, day, good, schema, lock.check, empty=empty))
            except pl.exceptions.PolarsError as exc:  # reading the inputs (after: a StoreError)
                if not skip_damaged:
                    first = first_line(exc)
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
            lock.release()
        except Exception as exc:  # the lock lapses by itself, unrenewed
            log.warning("could not release the compaction lock of %s: %s", url, exc)
    return result


__all__ = ["LEGACY_LOCK_TTL", "LOCK_NAME", "HeldLock", "compact_s3", "merge_day_s3", "recover_s3"]
