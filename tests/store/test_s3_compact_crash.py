"""``evkit compact s3://...`` stopped at any step (an error, Ctrl-C, ``kill -9``) on the real S3
server: readers never see a row twice or miss one, and the next run finishes or undoes the merge; a
dead compaction's lock lapses within its time to live, a live one's never does."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import time

import obstore
import polars as pl
import pytest

from evkit.errors import StoreError
from evkit.store import s3compact
from evkit.store.compact import compact
from evkit.store.objstore import polars_options
from evkit.store.s3compact import LOCK_NAME
from evkit.store.s3write import S3PartWriter
from tests.conftest import REPO_ROOT
from tests.store.test_narrow import _rows as narrow_rows
from tests.store.test_s3_compact import _day, _fill, _marked, _parts, _sorted, _store
from tests.store.test_store import _rows

DAY = "2026-11-03"  # _fill: three parts, the only finished day with more than one


def _bookkeeping(url: str) -> list[str]:
    """Journals and the compaction lock below ``url``."""
    keys = [str(m["path"]) for chunk in obstore.list(_store(url)) for m in chunk]
    return sorted(k for k in keys if ".compact-" in k or k.startswith(LOCK_NAME))


STEPS = {
    # step: (what stops the compaction, whether the merged object was visible then)
    "inputs counted": (KeyboardInterrupt, False),
    "upload failed": (StoreError, False),
    "merged object written": (KeyboardInterrupt, True),  # Ctrl-C as the upload completes
    "merged object counted": (KeyboardInterrupt, True),
    "merged object count failed": (StoreError, True),
    "first input deleted": (KeyboardInterrupt, True),
}


def _stopped_then_rerun(url: str, day: str, step: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Stop a compaction of ``url`` at ``step`` of merging ``day`` (the first day it merges), check
    what readers and the store show, run it again: the days the rerun merged."""
    before = _sorted(url)
    inputs = _parts(url, day)
    real_rows, real_sorted_to, real_delete = s3compact._rows, s3compact._sorted_to, obstore.delete
    counted: list[list[str]] = []

    def rows(urls: list[str]) -> int:  # 1st call: the inputs, 2nd: the merged object
        counted.append(urls)
        call = (step, len(counted))
        if call in {("inputs counted", 1), ("merged object counted", 2)}:
            raise KeyboardInterrupt
        if call == ("merged object count failed", 2):
            raise OSError("connection reset by peer")
        return real_rows(urls)

    def sorted_to(*args: object) -> None:
        if step == "upload failed":
            raise OSError("connection reset by peer")
        real_sorted_to(*args)  # type: ignore[arg-type]
        if step == "merged object written":
            raise KeyboardInterrupt

    def delete(store: object, path: str) -> None:
        real_delete(store, path)  # type: ignore[arg-type]
        if step == "first input deleted" and path.rsplit("/", 1)[-1] in inputs:
            raise KeyboardInterrupt

    stopped, visible = STEPS[step]
    with monkeypatch.context() as patch, pytest.raises(stopped):
        patch.setattr(s3compact, "_rows", rows)
        patch.setattr(s3compact, "_sorted_to", sorted_to)
        patch.setattr(obstore, "delete", delete)
        compact(url)
    assert _sorted(url).equals(before)  # never a row twice, never one missing
    merged = [p for p in _parts(url, day) if p.startswith("part-compacted-")]
    assert len(merged) == visible
    journals = [k for k in _bookkeeping(url) if ".compact-" in k]
    assert len(journals) == visible  # kept exactly while the merged object supersedes the inputs
    assert LOCK_NAME not in _bookkeeping(url)

    done = compact(url)  # finishes (rolls forward) or merges again
    (part,) = _parts(url, day)
    assert part.startswith("part-compacted-")
    assert _marked(f"{url}/date={day}/{part}")
    assert _sorted(url).equals(before)
    assert _bookkeeping(url) == []
    return [d.day for d in done.days]


@pytest.mark.parametrize("step", list(STEPS))
def test_a_compaction_stopped_at_any_step_never_doubles_rows_and_a_rerun_finishes_it(
    s3_dataset: str, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    _fill(s3_dataset)
    merged_again = [] if STEPS[step][1] else [DAY]
    assert _stopped_then_rerun(s3_dataset, DAY, step, monkeypatch) == merged_again


@pytest.mark.parametrize("step", list(STEPS))
def test_a_one_part_day_stopped_at_any_step_never_doubles_rows_and_a_rerun_finishes_it(
    s3_dataset: str, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    """A finished day of a single capture part is rewritten sorted under the protocol of a merge of
    several (journal, conditional lock, repair by the next run): stopped anywhere, readers see its rows
    once, and the rerun leaves one marked part."""
    with S3PartWriter(s3_dataset, capture_id="a") as writer:
        writer.write(narrow_rows(-4, 50, 1))
    day = _day(-4)
    merged_again = [] if STEPS[step][1] else [day]
    assert _stopped_then_rerun(s3_dataset, day, step, monkeypatch) == merged_again


def test_a_merged_object_short_of_its_inputs_rows_is_rolled_back_not_forward(s3_dataset: str) -> None:
    """Stopped right after a (wrong) merged object appeared, before its count was checked: the next
    run checks it against the inputs (all still there) before deleting any, and removes it."""
    before = _fill(s3_dataset)
    inputs = _parts(s3_dataset, DAY)
    store = _store(s3_dataset)
    short = pl.read_parquet(f"{s3_dataset}/date={DAY}/{inputs[0]}", **polars_options())  # 1 row of 3
    buffer = io.BytesIO()
    short.write_parquet(buffer)
    obstore.put(store, f"date={DAY}/part-compacted-short.parquet", buffer.getvalue())
    journal = {"output": "part-compacted-short.parquet", "inputs": inputs}
    obstore.put(store, f"date={DAY}/.compact-short.json", json.dumps(journal).encode())
    done = compact(s3_dataset)
    assert [(d.day, d.parts_before, d.rows) for d in done.days] == [(DAY, 3, 3)]
    assert "part-compacted-short.parquet" not in _parts(s3_dataset, DAY)
    assert _sorted(s3_dataset).equals(before)
    assert _bookkeeping(s3_dataset) == []


def test_a_killed_compactions_lock_lapses_within_its_time_to_live(
    s3_dataset: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``kill -9`` in the middle of a merge: the lock (time to live ``EVKIT_S3_LEASE_S``, here 5 s: a
    loaded machine may delay a renewal a few seconds) is respected while fresh, then taken over, and
    the rerun merges the day with every row."""
    before = _fill(s3_dataset)
    monkeypatch.setenv("EVKIT_S3_LEASE_S", "5")
    script = (
        "import sys, time\n"
        "import evkit.store.s3compact as sc\n"
        "def stuck(*args):\n"
        "    print('merging', flush=True)\n"
        "    time.sleep(600)\n"
        "sc._sorted_to = stuck\n"
        "sc.compact_s3(sys.argv[1])\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, s3_dataset], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "merging"
        time.sleep(7)  # longer than the time to live: the lock stays, renewed
        assert compact(s3_dataset).already_running
    finally:
        process.kill()  # SIGKILL: no clean-up of any kind
        process.wait()
    killed = time.monotonic()
    while (done := compact(s3_dataset)).already_running:
        assert time.monotonic() - killed < 60, "the dead compaction's lock never lapsed"
        time.sleep(0.25)
    assert [(d.day, d.rows) for d in done.days] == [(DAY, 3)]
    assert _sorted(s3_dataset).equals(before)
    assert _bookkeeping(s3_dataset) == []


def test_a_live_compaction_keeps_its_lock_past_its_time_to_live(
    s3_dataset: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _fill(s3_dataset)
    monkeypatch.setenv("EVKIT_S3_LEASE_S", "4")
    real = s3compact._sorted_to
    merging, go_on = threading.Event(), threading.Event()

    def slow(*args: object) -> None:
        merging.set()
        go_on.wait(60)
        real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(s3compact, "_sorted_to", slow)
    results: list[object] = []
    worker = threading.Thread(target=lambda: results.append(compact(s3_dataset)))
    worker.start()
    try:
        assert merging.wait(30)
        time.sleep(8)  # twice the time to live
        assert compact(s3_dataset).already_running
    finally:
        go_on.set()
        worker.join(60)
    (result,) = results
    assert [d.day for d in result.days] == [DAY]  # type: ignore[attr-defined]
    assert _sorted(s3_dataset).equals(before)
    assert _bookkeeping(s3_dataset) == []


def test_a_compaction_whose_lock_was_taken_over_stops_before_its_next_merge(
    s3_dataset: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compaction that stalled past its lock's time to live (taken over meanwhile) merges no more
    days and leaves the new holder's lock alone."""
    writer = S3PartWriter(s3_dataset, capture_id="a")
    for day, prefix in ((3, "EH1"), (3, "EH2"), (4, "EH3"), (4, "EH4")):
        writer.write(_rows(1, day=day, key_prefix=prefix))
    writer.close()
    monkeypatch.setenv("EVKIT_S3_LEASE_S", "1")
    other = json.dumps({"owner": "another compaction", "ttl_s": 600}).encode()

    def taken_over(_day: object) -> None:
        obstore.put(_store(s3_dataset), LOCK_NAME, other)
        time.sleep(1)  # a renewal (every 0.25 s) finds the lock is not ours any more

    with pytest.raises(StoreError, match="lost its lock"):
        compact(s3_dataset, on_day=taken_over)
    assert len(_parts(s3_dataset, "2026-11-03")) == 1
    assert len(_parts(s3_dataset, "2026-11-04")) == 2  # not merged
    assert bytes(obstore.get(_store(s3_dataset), LOCK_NAME).bytes()) == other


def test_a_renewal_changes_the_locks_etag_so_a_takeover_of_what_looked_stale_fails(s3_dataset: str) -> None:
    """S3's ETag is a hash of the content: a renewal writing the same bytes would keep it, and a
    takeover ``If-Match`` the ETag seen while the lock looked stale would then win over the renewal."""
    store = _store(s3_dataset)
    held = s3compact._take_lock(store, "me", 600)
    assert held is not None
    try:
        seen = obstore.head(store, LOCK_NAME)["e_tag"]
        held.renew()
        with pytest.raises(obstore.exceptions.PreconditionError):
            obstore.put(store, LOCK_NAME, b"{}", mode={"e_tag": seen}, use_multipart=False)
        held.check()  # still ours
    finally:
        held.release()
    assert _bookkeeping(s3_dataset) == []
