"""The bucket files of a large analysis never outlive it: removed at its end, on SIGTERM, and (after a
kill that left no chance) by the next run."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from evkit.store import scratch
from evkit.store.scratch import PREFIX, scratch_dir, sweep
from tests.conftest import REPO_ROOT

SAMPLE = REPO_ROOT / "data" / "sample-session"


def _gone_pid() -> int:
    """The pid of a process that has ended (not reused within the test)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_run_that_is_gone_leaves_nothing_for_long(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)  # TMPDIR is read again
    host = "".join(c if c.isalnum() else "_" for c in socket.gethostname())
    dead = tmp_path / f"{PREFIX}{host}.{_gone_pid()}-abc"
    (dead / "__bucket=0").mkdir(parents=True)
    (dead / "__bucket=0" / "00000000.parquet").write_bytes(b"x" * 1000)
    live = tmp_path / f"{PREFIX}{host}.{os.getppid()}-def"  # a process that runs (the runner's parent)
    live.mkdir()
    elsewhere = tmp_path / f"{PREFIX}otherhost.{_gone_pid()}-ghi"  # another container's: no telling
    elsewhere.mkdir()
    old_style = tmp_path / f"{PREFIX}xyz"  # no host or pid in the name: nothing tells whose it is
    old_style.mkdir()
    with scratch_dir() as mine:
        assert mine.parent == tmp_path and mine.name.startswith(f"{PREFIX}{host}.{os.getpid()}-")
        assert not dead.exists() and live.exists() and old_style.exists() and elsewhere.exists()
    assert not mine.exists()
    assert sweep(tmp_path) == []


def test_sigterm_during_a_split_removes_its_files(tmp_path: Path) -> None:
    """`evkit sessions` terminated while its data goes to bucket files: exit 143, no file left."""
    script = textwrap.dedent(
        f"""
        import sys, time
        from evkit.analysis import buckets
        from evkit.cli import entry

        buckets.ROWS_PER_BUCKET = 20_000   # the sample in several buckets ...
        buckets.SPLIT_READS = 0            # ... through bucket files
        written = buckets._write_buckets

        def slow(*args, **kwargs):
            sources = written(*args, **kwargs)
            print("split", flush=True)
            time.sleep(120)
            return sources

        buckets._write_buckets = slow
        sys.argv = ["evkit", "sessions", {str(SAMPLE)!r}, "--format", "json"]
        entry()
        """
    )
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(REPO_ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "split"
    assert [p.name[: len(PREFIX)] for p in tmp_path.iterdir()] == [PREFIX]  # the files are there
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=60) == 143
    assert list(tmp_path.iterdir()) == []


def test_without_room_for_the_bucket_files_the_buckets_filter_the_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A temporary folder too small for the split: the same sessions, read bucket by bucket from the
    data (slower) instead of failing for a full disk half-way, and a warning that says what to do."""
    import logging
    import shutil

    import polars as pl
    from polars.testing import assert_frame_equal

    from evkit.analysis import buckets, sessions
    from evkit.store import scan
    from evkit.store.frame_facts import stored_bytes_of

    lf = scan(SAMPLE, dedupe=False)
    whole = sessions(lf).collect()
    filters = buckets.bucket_filters(lf, 20_000)
    columns = buckets.reads_of(sessions, lf).columns
    stored = stored_bytes_of(lf, columns)
    assert stored is not None and 0 < stored < sum(p.stat().st_size for p in SAMPLE.rglob("*.parquet"))
    real = shutil.disk_usage
    for free, files in ((10**15, True), (stored, False)):  # room for twice the stored bytes is asked
        monkeypatch.setattr("shutil.disk_usage", lambda path, free=free: real(path)._replace(free=free))
        caplog.clear()
        caplog.set_level(logging.WARNING, logger="evkit")
        with buckets.bucket_sources(lf, filters, columns, spill=True) as sources:
            read = [s.explain() for s in sources]
            got = pl.concat([sessions(s).collect() for s in sources]).sort("charger_id", "started_at")
        assert any(PREFIX in plan for plan in read) == files
        assert_frame_equal(got, whole)
        warned = [r.getMessage() for r in caplog.records if "temporary folder" in r.getMessage()]
        assert bool(warned) == (not files)
        if warned:
            assert "set TMPDIR to a folder with more room" in warned[0]


def test_no_room_says_how_much_in_units_a_reader_sees(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A small folder was said to have "0.0 GB free, less than the 0.0 GB asked"."""
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(scratch.shutil, "disk_usage", lambda _folder: usage(10**8, 6 * 10**7, 4 * 10**7))
    with caplog.at_level(logging.WARNING, logger="evkit.store"):
        assert not scratch.has_room(30 * 10**6, "reading again")
    assert "has 40.0 MB free, less than the 60.0 MB asked" in caplog.text
    assert scratch.has_room(10**7, "reading again")
