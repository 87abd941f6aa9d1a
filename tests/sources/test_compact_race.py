"""``evkit compact --include-today`` run again and again while two real ``evkit capture amqp`` processes
drain one RabbitMQ queue into the same store: every acknowledged message stays, captures exit 0.

Before compaction only removed what it merged, this lost thousands of rows and killed captures with
"No such file or directory" (it swapped the whole day directory away under them).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import polars as pl
import pytest

import evkit
from tests.conftest import REPO_ROOT
from tests.sources.test_amqp_capture import Broker, broker, numbered_messages
from tests.sources.test_amqp_cli import start, wait_for

pytestmark = pytest.mark.broker
__all__ = ["broker"]  # the fixture, re-used

MESSAGES = 60_000
CHUNKS = 4


class CompactionLoop(threading.Thread):
    """Runs ``evkit compact DIR --include-today`` back to back until stopped; keeps every result."""

    def __init__(self, out: Path) -> None:
        super().__init__(daemon=True)
        self.out = out
        self.stop = threading.Event()
        self.results: list[subprocess.CompletedProcess[str]] = []

    @property
    def merges(self) -> int:
        """Runs that merged parts; a failed run fails the test at once."""
        failed = [r for r in self.results if r.returncode != 0]
        assert not failed, f"evkit compact failed: {failed[0].stderr}"
        return sum("compacted" in r.stdout for r in self.results)

    def run(self) -> None:
        command = [sys.executable, "-m", "evkit", "compact", str(self.out), "--include-today", "--quiet"]
        while not self.stop.is_set():
            if self.out.exists():
                self.results.append(
                    subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
                )
            else:
                self.stop.wait(0.05)


class ReaderLoop(threading.Thread):
    """Reads the store again and again (as a notebook would) while it is written and compacted."""

    def __init__(self, out: Path) -> None:
        super().__init__(daemon=True)
        self.out = out
        self.stop = threading.Event()
        self.reads: list[tuple[int, int]] = []  # (rows, distinct message ids)
        self.failures: list[str] = []

    def run(self) -> None:
        while not self.stop.wait(0.1):
            try:
                # A message RabbitMQ delivers for the first time is delivered once: its row (not
                # flagged redelivered) is counted twice only if a reader sees merged parts and inputs.
                frame = (
                    evkit.scan(self.out, dedupe=False)
                    .filter(~pl.col("redelivered"))
                    .select(pl.len(), pl.col("value").n_unique())
                )
                rows, distinct = frame.collect().row(0)
            except (evkit.DatasetError, FileNotFoundError, pl.exceptions.PolarsError) as exc:
                # No parts yet, or a part a compaction removed after this read listed it: read again.
                self.failures.append(f"{type(exc).__name__}: {exc}")
                continue
            self.reads.append((rows, distinct))


def test_compaction_racing_two_captures_loses_no_acknowledged_message(
    broker: Broker, dataset_dir: Path
) -> None:
    args = ("--url", broker.url, "--queue", broker.queue, "--out", str(dataset_dir))
    tuning = ("--prefetch", "1000", "--flush-rows", "500", "--flush-interval", "0.2", "--quiet")
    captures = [start(*args, *tuning) for _ in range(2)]
    loop = CompactionLoop(dataset_dir)
    reader = ReaderLoop(dataset_dir)
    try:
        wait_for(lambda: broker.consumers() == 2, what="two consumers")
        loop.start()
        reader.start()
        per_chunk = MESSAGES // CHUNKS
        for chunk in range(CHUNKS):
            merged = loop.merges
            broker.publish(numbered_messages(per_chunk, start=chunk * per_chunk))
            # A compaction merged parts while the captures were writing this chunk's parts.
            wait_for(lambda merged=merged: loop.merges > merged, timeout=180, what="a compaction")
        wait_for(lambda: broker.depth() == 0, timeout=180, what="the captures to drain the queue")
        loop.stop.set()
        reader.stop.set()
        loop.join(120)
        reader.join(60)
        for capture in captures:
            os.killpg(capture.pid, signal.SIGTERM)  # flush, acknowledge, exit 0
        outcomes = [capture.communicate(timeout=120) for capture in captures]
    finally:
        loop.stop.set()
        reader.stop.set()
        for capture in captures:
            if capture.poll() is None:
                capture.kill()
    for capture, (_out, err) in zip(captures, outcomes, strict=True):
        assert capture.returncode == 0, err
        assert "No such file" not in err
    assert broker.depth() == 0  # every message acknowledged: none requeued when the captures left
    assert loop.results and all(r.returncode == 0 for r in loop.results), [r.stderr for r in loop.results]
    assert not any("Traceback" in r.stderr for r in loop.results)

    # No read ever counted a row twice (a merged part and its inputs at once).
    assert reader.reads, reader.failures[-3:]
    print(f"{len(reader.reads)} reads, {len(reader.failures)} read again; {loop.merges} merging compactions")
    assert [r for r in reader.reads if r[0] != r[1]] == []

    frame = evkit.scan(dataset_dir).collect()
    assert frame["value"].n_unique() == MESSAGES
    assert sorted(frame["value"].to_list()) == [float(i) for i in range(MESSAGES)]
    assert frame["capture_id"].n_unique() == 2  # both really consumed
    assert not list(dataset_dir.rglob(".compact*")) and not list(dataset_dir.rglob("*.tmp"))
