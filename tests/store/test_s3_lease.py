"""Per-day leases on the real S3 server: a day a capture may still write into is not compacted, a
stale lease (a capture that died) is ignored, renewals keep a lease alive; and captures writing while
``evkit compact s3://...`` runs again and again lose and duplicate nothing."""

from __future__ import annotations

import gc
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import obstore
import polars as pl
import pytest

import evkit
from evkit.cli import main
from evkit.store.compact import compact
from evkit.store.objstore import S3Location, open_store
from evkit.store.s3lease import LEASE_DIR, S3Leases, expires_at, live_holders, remove_litter, server_now
from evkit.store.s3write import S3PartWriter
from tests.conftest import REPO_ROOT
from tests.helpers import wait_until
from tests.sources.test_amqp_capture import Broker, broker, numbered_messages
from tests.sources.test_amqp_cli import start
from tests.store.test_store import _rows

__all__ = ["broker"]


def _midnight(days_ago: int) -> datetime:
    today = datetime.now(UTC).date()
    return datetime(today.year, today.month, today.day, tzinfo=UTC) - timedelta(days=days_ago)


def _batch(at: datetime, n: int, tag: str) -> pl.DataFrame:
    return _rows(n).with_columns(
        pl.Series("received_at", [at + timedelta(milliseconds=i) for i in range(n)]),
        pl.Series("raw", [f"{tag}-{i}".encode() for i in range(n)]),
    )


def _parts(url: str, day: str) -> list[str]:
    store = open_store(S3Location.parse(url))
    listed = [str(m["path"]) for chunk in obstore.list(store, prefix=f"date={day}/") for m in chunk]
    return sorted(p.rsplit("/", 1)[1] for p in listed if p.endswith(".parquet"))


def _leases(url: str) -> list[str]:
    store = open_store(S3Location.parse(url))
    return sorted(str(m["path"]) for chunk in obstore.list(store, prefix=LEASE_DIR) for m in chunk)


def _raws(url: str) -> list[bytes]:
    return sorted(evkit.scan(url, dedupe=False).collect()["raw"].to_list())


def _fill(url: str, day: datetime, parts: int, tag: str) -> list[bytes]:
    writer = S3PartWriter(url, capture_id=f"fill-{tag}", clock=lambda: day + timedelta(hours=12))
    for k in range(parts):
        writer.write(_batch(day + timedelta(hours=1, minutes=k), 3, f"{tag}{k}"))
    writer.close()
    return [f"{tag}{k}-{i}".encode() for k in range(parts) for i in range(3)]


def test_a_day_a_capture_still_holds_is_left_alone_and_reported(
    s3_dataset: str, capsys: pytest.CaptureFixture[str]
) -> None:
    d = _midnight(1)
    day = d.date().isoformat()
    _fill(s3_dataset, d, 2, "old")
    late = S3PartWriter(s3_dataset, capture_id="late", clock=lambda: d + timedelta(hours=23, minutes=59))
    late.write(_batch(d + timedelta(hours=23, minutes=59), 2, "late"))
    assert late.held_days == [day]
    assert [x.day for x in compact(s3_dataset).days] == []
    assert main(["compact", s3_dataset, "--quiet"]) == 0
    assert f"date={day}: a running capture may still write into it" in capsys.readouterr().out
    assert len(_parts(s3_dataset, day)) == 3
    late.close()
    assert _leases(s3_dataset) == []
    assert [(x.day, x.parts_before, x.rows) for x in compact(s3_dataset).days] == [(day, 3, 8)]


def test_a_writer_holds_a_day_until_it_has_written_a_row_of_a_later_one(s3_dataset: str) -> None:
    """23:59:5x rows of day D are written after midnight: D stays held until a row of D+1 is written."""
    d = _midnight(1)
    now = [d + timedelta(hours=23, minutes=59, seconds=50)]
    writer = S3PartWriter(s3_dataset, capture_id="w", clock=lambda: now[0])
    other = S3PartWriter(s3_dataset, capture_id="o", clock=lambda: now[0])
    other.write(_batch(d + timedelta(hours=23, minutes=59), 5, "other"))
    other.close()
    writer.write(_batch(d + timedelta(hours=23, minutes=59, seconds=50), 3, "a"))
    now[0] = d + timedelta(days=1, seconds=5)  # midnight has passed; the 23:59:59 batch is on its way
    assert [x.day for x in compact(s3_dataset).days] == []  # D is still held
    writer.write(_batch(d + timedelta(hours=23, minutes=59, seconds=58), 2, "late"))
    writer.write(_batch(d + timedelta(days=1, seconds=1), 4, "new"))  # first row of D+1: D released
    assert writer.held_days == [(d + timedelta(days=1)).date().isoformat()]
    assert [(x.parts_before, x.rows) for x in compact(s3_dataset).days] == [(3, 10)]
    writer.close()
    expected = [
        f"{t}-{i}".encode() for t, n in (("other", 5), ("a", 3), ("late", 2), ("new", 4)) for i in range(n)
    ]
    assert _raws(s3_dataset) == sorted(expected)


def test_a_stale_lease_of_a_capture_that_died_is_ignored_and_later_removed(s3_dataset: str) -> None:
    d = _midnight(2)
    day = d.date().isoformat()
    rows = _fill(s3_dataset, d, 3, "x")
    location = S3Location.parse(s3_dataset)
    dead = S3Leases(location, "dead-capture", ttl_s=1, renew=False)  # never renewed, never released
    dead.hold(day)
    store = open_store(location)
    assert live_holders(store, day, server_now(store, _leases(s3_dataset)[0])) != []  # live just now
    # wait for the server's clock (not ours) to pass its expiry
    assert wait_until(lambda: not live_holders(store, day, _server_clock(store)), timeout=60)
    assert [x.day for x in compact(s3_dataset).days] == [day]
    assert _raws(s3_dataset) == sorted(rows)
    assert len(_leases(s3_dataset)) == 1  # expired, but not yet litter: kept
    (lease,) = [m for chunk in obstore.list(store, prefix=LEASE_DIR) for m in chunk]
    end = expires_at(lease)
    assert end is not None
    remove_litter(store, day, end + timedelta(hours=2))  # two hours later, by the server's clock
    assert _leases(s3_dataset) == []


def _server_clock(store: object) -> datetime:
    obstore.put(store, ".evkit-test-clock", b"", use_multipart=False)  # type: ignore[arg-type]
    return server_now(store, ".evkit-test-clock")


def test_a_held_lease_is_renewed_in_the_background_and_survives_its_ttl(s3_dataset: str) -> None:
    location = S3Location.parse(s3_dataset)
    store = open_store(location)
    day = _midnight(3).date().isoformat()
    leases = S3Leases(location, "renewing", ttl_s=2)  # renewed every 0.5 s
    leases.hold(day)
    first = server_now(store, _leases(s3_dataset)[0])
    # the lease object is rewritten (a later Last-Modified) while held, and stays live
    assert wait_until(lambda: server_now(store, _leases(s3_dataset)[0]) > first + timedelta(seconds=2), 60)
    leases.close()
    assert _leases(s3_dataset) == []


def _captured(url: str, filled: list[bytes]) -> int:
    """Distinct messages the real capture stored (rows not written by the test's writers)."""
    try:
        frame = evkit.scan(url, dedupe=False).filter(pl.col("raw").is_in(filled).not_())
        count: int = frame.select(pl.col("value").n_unique()).collect().item()
    except (evkit.DatasetError, FileNotFoundError, pl.exceptions.PolarsError):
        return 0  # a part a compaction removed after this read listed it: read again
    return count


class CompactionLoop(threading.Thread):
    """``evkit compact URL`` back to back until stopped; keeps every result."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.results: list[subprocess.CompletedProcess[str]] = []

    def run(self) -> None:
        command = [sys.executable, "-m", "evkit", "compact", self.url, "--quiet"]
        while not self.stop.is_set():
            self.results.append(
                subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
            )


def test_captures_writing_while_compaction_runs_lose_nothing_and_the_held_day_is_not_merged(
    broker: Broker, s3_dataset: str
) -> None:
    """A real ``evkit capture amqp --out s3://`` (today) and a capture still writing the last rows of
    yesterday, while ``evkit compact s3://`` runs again and again: the finished day is merged, the
    held day is not, every row is there exactly once."""
    finished, held = _midnight(2), _midnight(1)
    expected = _fill(s3_dataset, finished, 6, "done")
    late = S3PartWriter(s3_dataset, capture_id="late", clock=lambda: held + timedelta(hours=23, minutes=59))
    capture = start(
        "--url", broker.url, "--queue", broker.queue, "--out", s3_dataset, "--flush-interval", "0.2"
    )
    loop = CompactionLoop(s3_dataset)
    try:
        loop.start()
        messages = 3000
        for chunk in range(3):
            broker.publish(numbered_messages(1000, start=chunk * 1000))
            for k in range(4):  # the late capture keeps writing into the held day meanwhile
                late.write(
                    _batch(
                        held + timedelta(hours=23, minutes=59, seconds=chunk * 4 + k), 5, f"late{chunk}{k}"
                    )
                )
                expected += [f"late{chunk}{k}-{i}".encode() for i in range(5)]
        # every message stored (a capture stopped earlier leaves the rest in the queue, unacknowledged)
        assert wait_until(lambda: _captured(s3_dataset, expected) == messages, 180)
        today = datetime.now(UTC).date().isoformat()
        assert any(f"/date={today}/" in f"/{k}" for k in _leases(s3_dataset))  # the capture holds today
        assert wait_until(lambda: len(loop.results) >= 3, 120)  # compactions ran meanwhile
        capture.send_signal(signal.SIGTERM)
        _out, err = capture.communicate(timeout=120)
        assert capture.returncode == 0, err
        assert broker.depth() == 0
    finally:
        loop.stop.set()
        loop.join(120)
        if capture.poll() is None:
            capture.kill()
    assert all(r.returncode == 0 for r in loop.results), [r.stderr for r in loop.results]
    assert _parts(s3_dataset, finished.date().isoformat())[0].startswith("part-compacted-")
    assert len(_parts(s3_dataset, finished.date().isoformat())) == 1
    held_parts = _parts(s3_dataset, held.date().isoformat())
    assert len(held_parts) == 12 and not any(p.startswith("part-compacted-") for p in held_parts)
    frame = evkit.scan(s3_dataset, dedupe=False).collect()
    captured = frame.filter(pl.col("raw").is_in(expected).not_())
    # each message once (a copy RabbitMQ redelivered after a lost connection is flagged, not a duplicate)
    first = captured.filter(~pl.col("redelivered").fill_null(False))
    assert sorted(first["value"].to_list()) == [float(i) for i in range(messages)], (
        captured.height,
        first.height,
        captured["value"].n_unique(),
    )
    assert sorted(frame.filter(pl.col("raw").is_in(expected))["raw"].to_list()) == sorted(expected)
    late.close()
    assert _leases(s3_dataset) == []  # the capture released today's lease when it stopped, late its own
    assert [x.day for x in compact(s3_dataset).days] == [held.date().isoformat()]
    assert evkit.scan(s3_dataset, dedupe=False).collect().height == frame.height


def test_a_writer_dropped_without_close_stops_renewing_at_once(s3_dataset: str) -> None:
    """Its renewal thread ends as the writer is collected, not at its next wake (a quarter of the
    time to live: 30 s by default), and never renews for a writer nobody can close any more."""
    writer = S3PartWriter(s3_dataset, capture_id="dropped")
    writer.write(_rows(2))
    renewal = writer._leases._thread
    assert renewal is not None and renewal.is_alive()
    del writer
    gc.collect()
    renewal.join(timeout=5)
    assert not renewal.is_alive()


def test_a_writer_nobody_closed_releases_its_leases_when_the_process_exits(
    s3_dataset: str, s3_env: dict[str, str]
) -> None:
    """A writer left open (a notebook's audit log nobody closed): its process leaves no lease behind
    to expire."""
    code = (
        "import sys; from evkit.store.s3write import S3PartWriter; from tests.store.test_store import _rows; "
        "w = S3PartWriter(sys.argv[1], capture_id='unclosed'); w.write(_rows(2)); "
        "assert len(w.held_days) == 2, w.held_days"
    )
    subprocess.run([sys.executable, "-c", code, s3_dataset], cwd=REPO_ROOT, check=True, timeout=120)
    assert len(_raws(s3_dataset)) == 2
    assert _leases(s3_dataset) == []
