"""``evkit capture amqp --out s3://...`` against the real RabbitMQ and the real S3 server (SeaweedFS):
ack only after the part is stored and verified, kill -9 and restart, two captures into one bucket,
a store that cannot be written (missing bucket, denied, endpoint down mid-capture), no credential
anywhere."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import obstore
import pytest

import evkit
from evkit.store import read_manifest
from evkit.store.objstore import S3Location, open_store
from tests.conftest import REPO_ROOT
from tests.helpers import wait_until
from tests.s3fixtures import (
    ACCESS_KEY,
    READONLY_ACCESS_KEY,
    READONLY_SECRET_KEY,
    S3_HOST,
    S3_PORT,
    SECRET_KEY,
)
from tests.sources.tcp_proxy import TcpProxy
from tests.sources.test_amqp_capture import Broker, broker, numbered_messages
from tests.sources.test_amqp_cli import _writers_for, run, start

pytestmark = pytest.mark.broker
__all__ = ["broker"]


def s3_rows(url: str) -> int:
    try:
        return evkit.scan(url).collect().height
    except evkit.DatasetError:
        return 0


def values(url: str, dedupe: bool = True) -> list[float]:
    return sorted(evkit.scan(url, dedupe=dedupe).collect()["value"].to_list())


def every_object_text(url: str) -> str:
    location = S3Location.parse(url)
    store = open_store(S3Location(location.bucket, ""))
    keys = [str(m["path"]) for chunk in obstore.list(store) for m in chunk]
    return "\n".join(keys + [bytes(obstore.get(store, k).bytes()).decode("latin-1") for k in keys])


def test_kill_9_then_restart_to_s3_loses_nothing_and_duplicates_nothing(
    broker: Broker, s3_dataset: str
) -> None:
    n = 12_000
    broker.publish(numbered_messages(n))
    proc = start("--url", broker.url, "--queue", broker.queue, "--out", s3_dataset, "--prefetch", "400")
    try:
        assert wait_until(lambda: s3_rows(s3_dataset) >= 1500, 90), "no part reached the bucket"
        assert broker.depth() > 0, "the capture finished before it could be killed; publish more"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    assert wait_until(lambda: not _writers_for(s3_dataset), 30), "the orphaned writer did not exit"  # type: ignore[arg-type]
    second = run("--url", broker.url, "--queue", broker.queue, "--out", s3_dataset, "--idle-exit", "2")
    assert second.returncode == 0, second.stderr
    assert values(s3_dataset) == [float(i) for i in range(n)]  # each message exactly once
    assert len(values(s3_dataset, dedupe=False)) >= n
    assert broker.depth() == 0
    captures = read_manifest(s3_dataset)["captures"]
    assert len(captures) == 2
    assert {c["status"] for c in captures} >= {"finished"}


def test_two_captures_into_one_bucket_store_each_message_once(broker: Broker, s3_dataset: str) -> None:
    args = ("--url", broker.url, "--queue", broker.queue, "--out", s3_dataset, "--prefetch", "100")
    procs = [start(*args, "--idle-exit", "3", "--quiet") for _ in range(2)]
    try:
        assert wait_until(lambda: broker.consumers() == 2, 60)
        broker.publish(numbered_messages(4000))
        for proc in procs:
            _out, err = proc.communicate(timeout=180)
            assert proc.returncode == 0, err
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert values(s3_dataset, dedupe=False) == [float(i) for i in range(4000)]
    captures = read_manifest(s3_dataset)["captures"]
    assert len({c["capture_id"] for c in captures}) == 2
    assert sum(c["rows_written"] for c in captures) == 4000
    assert all(c["status"] == "finished" for c in captures)


def test_missing_bucket_exits_non_zero_and_acks_nothing(broker: Broker, s3_env: dict[str, str]) -> None:
    broker.publish(numbered_messages(50))
    result = run("--url", broker.url, "--queue", broker.queue, "--out", "s3://evkit-no-such-bucket/x")
    assert result.returncode == 1, result.stderr
    assert "the bucket 'evkit-no-such-bucket' does not exist" in result.stderr
    assert "Traceback" not in result.stderr
    assert broker.depth() == 50


def test_denied_exits_non_zero_acks_nothing_and_shows_no_key(broker: Broker, s3_dataset: str) -> None:
    broker.publish(numbered_messages(50))
    env = {"AWS_ACCESS_KEY_ID": READONLY_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": READONLY_SECRET_KEY}
    result = run("--url", broker.url, "--queue", broker.queue, "--out", s3_dataset, env=env)
    assert result.returncode == 1, result.stderr
    assert "access denied" in result.stderr
    assert READONLY_SECRET_KEY not in result.stderr + result.stdout
    assert broker.depth() == 50


@pytest.fixture
def s3_proxy(s3_env: dict[str, str]) -> Iterator[TcpProxy]:
    forwarder = TcpProxy(S3_HOST, S3_PORT)
    yield forwarder
    forwarder.cut()


def test_endpoint_down_mid_capture_exits_non_zero_and_leaves_the_rest_queued(
    broker: Broker, s3_dataset: str, s3_proxy: TcpProxy
) -> None:
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{s3_proxy.port}", "EVKIT_S3_RETRY_S": "2"}
    proc = start(
        "--url",
        broker.url,
        "--queue",
        broker.queue,
        "--out",
        s3_dataset,
        "--prefetch",
        "200",
        "--flush-interval",
        "0.2",
        env=env,
    )
    try:
        assert wait_until(lambda: broker.consumers() == 1, 60)
        broker.publish(numbered_messages(1000))
        assert wait_until(lambda: s3_rows(s3_dataset) >= 1000, 90), "the first messages were not stored"
        s3_proxy.cut()
        broker.publish(numbered_messages(500, start=1000))
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    assert "does not answer" in err
    stored = values(s3_dataset)
    assert stored[:1000] == [float(i) for i in range(1000)]
    assert len(stored) + broker.depth() == 1500  # whatever was not stored is still queued
    assert "Traceback" not in err


def test_a_short_endpoint_outage_is_retried_and_loses_nothing(
    broker: Broker, s3_dataset: str, s3_proxy: TcpProxy
) -> None:
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{s3_proxy.port}", "EVKIT_S3_RETRY_S": "60"}
    proc = start(
        "--url", broker.url, "--queue", broker.queue, "--out", s3_dataset, "--prefetch", "200",
        "--flush-interval", "0.2", "--idle-exit", "6", env=env,
    )  # fmt: skip
    try:
        assert wait_until(lambda: broker.consumers() == 1, 60)
        broker.publish(numbered_messages(500))
        assert wait_until(lambda: s3_rows(s3_dataset) >= 500, 90)
        s3_proxy.cut()
        broker.publish(numbered_messages(500, start=500))
        time.sleep(1.5)  # writes fail meanwhile and are retried with backoff
        s3_proxy.restore()
        _out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert values(s3_dataset) == [float(i) for i in range(1000)]
    assert broker.depth() == 0


def test_no_credential_in_any_object_or_output(broker: Broker, s3_dataset: str) -> None:
    broker.publish(numbered_messages(300))
    result = run(
        "--url", broker.url, "--queue", broker.queue, "--out", s3_dataset, "--idle-exit", "2", "--json"
    )
    assert result.returncode == 0, result.stderr
    stored = every_object_text(s3_dataset)
    record = json.dumps(read_manifest(s3_dataset))
    for secret in (SECRET_KEY, ACCESS_KEY, "guest:guest"):
        assert secret not in result.stdout + result.stderr
        assert secret not in stored
        assert secret not in record
    assert values(s3_dataset) == [float(i) for i in range(300)]


def test_replay_reads_s3_and_a_capture_back_to_s3_has_every_message(broker: Broker, s3_dataset: str) -> None:
    broker.publish(numbered_messages(200))
    assert (
        run("--url", broker.url, "--queue", broker.queue, "--out", s3_dataset, "--idle-exit", "2").returncode
        == 0
    )
    replayed = subprocess.run(
        [sys.executable, "-m", "evkit", "replay", s3_dataset, "--url", broker.url,
         "--exchange", broker.exchange, "--speed", "0", "--quiet"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert replayed.returncode == 0, replayed.stderr
    again = f"{s3_dataset}-again"
    assert (
        run("--url", broker.url, "--queue", broker.queue, "--out", again, "--idle-exit", "2").returncode == 0
    )
    assert values(again) == [float(i) for i in range(200)]
