"""``evkit capture amqp`` as a whole process against the real RabbitMQ: kill -9, SIGTERM, competing
consumers, unwritable and full disks, secrets, details files and the streams endpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
import pytest

import evkit
from evkit.easee.encode import encode_observation
from evkit.store import read_manifest
from tests.conftest import REPO_ROOT
from tests.helpers import wait_until
from tests.sources.test_amqp_capture import Broker, Message, broker, evkit_rows, numbered_messages

pytestmark = pytest.mark.broker
__all__ = ["broker"]  # the fixture, re-used


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "evkit", "capture", "amqp", *args]


def start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cli(*args),
        cwd=REPO_ROOT,
        start_new_session=True,  # its own process group, like a job in a terminal
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli(*args),
        check=False,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def wait_for(predicate: Callable[[], object], timeout: float = 60.0, what: str = "condition") -> None:
    if not wait_until(predicate, timeout):
        raise AssertionError(f"timed out waiting for {what}")


def _writers_for(out: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "evkit.sources.writer_process" in cmdline and str(out) in cmdline:
            found.append(process)
    return found


def values(out: Path, dedupe: bool = True) -> list[float]:
    return sorted(evkit.scan(out, dedupe=dedupe).collect()["value"].to_list())


def test_kill_9_mid_capture_then_capture_again_loses_nothing(broker: Broker, dataset_dir: Path) -> None:
    n = 20_000
    broker.publish(numbered_messages(n))
    proc = start("--url", broker.url, "--queue", broker.queue, "--out", str(dataset_dir), "--prefetch", "400")
    try:
        wait_for(lambda: evkit_rows(dataset_dir) >= 2000, what="first parts")
        assert broker.depth() > 0, "the capture finished before it could be killed; publish more"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    wait_for(lambda: not _writers_for(dataset_dir), timeout=30, what="the orphaned writer process to exit")
    second = run("--url", broker.url, "--queue", broker.queue, "--out", str(dataset_dir), "--idle-exit", "2")
    assert second.returncode == 0, second.stderr
    assert values(dataset_dir) == [float(i) for i in range(n)]  # each message exactly once
    assert len(values(dataset_dir, dedupe=False)) >= n
    assert broker.depth() == 0
    assert not list(dataset_dir.rglob("*.parquet.tmp"))  # no half-written part is visible


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_ctrl_c_flushes_acks_and_exits_0(broker: Broker, dataset_dir: Path, signum: int) -> None:
    proc = start(
        "--url",
        broker.url,
        "--queue",
        broker.queue,
        "--out",
        str(dataset_dir),
        "--flush-interval",
        "600",
        "--prefetch",
        "5000",
    )
    try:
        wait_for(lambda: broker.consumers() == 1, what="the consumer")
        broker.publish(numbered_messages(700))
        wait_for(lambda: broker.depth() == 0, what="delivery to the capture")
        assert evkit_rows(dataset_dir) == 0  # buffered, unacknowledged
    finally:
        # To the whole process group, as Ctrl-C (or a service manager) does: the writer process must
        # survive it to flush.
        os.killpg(proc.pid, signum)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    # Every message the capture had taken is written once and acknowledged (the flush interval is ten
    # minutes: only the stop wrote them). The broker has sent all 700, but on a busy machine the last
    # ones may still wait in the socket when the stop comes: the capture takes no more then, and the
    # broker requeues them (pika rejects deliveries to a cancelled consumer, so a capture cannot wait
    # for them). Nothing is lost: what is not written is back in the queue.
    written = values(dataset_dir)
    assert len(written) >= 1
    assert written == [float(i) for i in range(len(written))]
    assert broker.depth() == 700 - len(written)
    record = read_manifest(dataset_dir)["captures"][0]
    assert record["rows_written"] == len(written)
    assert record["status"] == "finished"
    assert record["stop_reason"] == f"signal {signal.Signals(signum).name}"


def test_two_captures_on_one_queue_store_each_message_once(broker: Broker, dataset_dir: Path) -> None:
    args = ("--url", broker.url, "--queue", broker.queue, "--out", str(dataset_dir), "--prefetch", "100")
    procs = [start(*args, "--idle-exit", "3", "--quiet") for _ in range(2)]
    try:
        wait_for(lambda: broker.consumers() == 2, what="two consumers")
        broker.publish(numbered_messages(6000))
        for proc in procs:
            _out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert values(dataset_dir) == [float(i) for i in range(6000)]
    frame = evkit.scan(dataset_dir).collect()
    assert frame["capture_id"].n_unique() == 2  # both really consumed
    assert len(read_manifest(dataset_dir)["captures"]) == 2
    assert broker.depth() == 0


def test_unwritable_output_directory_exits_non_zero_and_leaves_the_messages(
    broker: Broker, tmp_path: Path
) -> None:
    broker.publish(numbered_messages(10))
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = run(
        "--url", broker.url, "--queue", broker.queue, "--out", str(blocker / "dataset"), "--idle-exit", "1"
    )
    assert result.returncode == 1
    assert "cannot write" in result.stderr
    assert broker.depth() == 10


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=384k", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here to fill a disk: {mounted.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


@pytest.mark.parametrize("writer", ["process", "thread"])
def test_full_disk_exits_non_zero_and_every_message_is_written_or_still_queued(
    broker: Broker, tiny_disk: Path, writer: str
) -> None:
    base = numbered_messages(1)[0][2]
    sent: list[Message] = []
    for i in range(6000):
        key, body = encode_observation(
            "EH000001", 128, f"{i:06d}-{uuid.uuid4().hex * 4}", datetime(2026, 11, 21, tzinfo=UTC)
        )
        sent.append((key, body, base))
    broker.publish(sent)
    out = tiny_disk / "dataset"
    result = run(
        "--url",
        broker.url,
        "--queue",
        broker.queue,
        "--out",
        str(out),
        "--idle-exit",
        "2",
        "--prefetch",
        "400",
        "--writer",
        writer,
    )
    assert result.returncode == 1, result.stderr
    assert "the disk is full" in result.stderr
    written = set(evkit.scan(out).collect()["raw"].to_list()) if evkit_rows(out) else set()
    remaining = set(broker.drain_bodies())
    assert len(written) < len(sent)  # the disk really filled up
    assert written | remaining == {body for _, body, _ in sent}  # nothing lost


@pytest.fixture
def secret_user(amqp_url: str) -> Iterator[tuple[str, str]]:
    user = f"evkit-test-{uuid.uuid4().hex[:8]}"
    password = f"Pw-{uuid.uuid4().hex}"
    subprocess.run(
        ["rabbitmqctl", "-q", "add_user", user, password], check=True, capture_output=True, timeout=60
    )
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", "/", user, ".*", ".*", ".*"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    yield user, password
    subprocess.run(["rabbitmqctl", "-q", "delete_user", user], check=False, capture_output=True, timeout=60)


def _all_text(out: Path) -> bytes:
    return b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())


def test_password_never_appears_in_output_logs_or_files(
    broker: Broker, dataset_dir: Path, secret_user: tuple[str, str]
) -> None:
    user, password = secret_user
    broker.publish(numbered_messages(20))
    url = f"amqp://{user}:{password}@127.0.0.1:5672/%2F"
    good = subprocess.run(
        [
            sys.executable,
            "-m",
            "evkit",
            "-v",
            "capture",
            "amqp",
            "--url",
            url,
            "--queue",
            broker.queue,
            "--out",
            str(dataset_dir),
            "--idle-exit",
            "1",
            "--json",
        ],
        check=False,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["rows_written"] == 20
    assert "***" in good.stderr
    bad = run(
        "--url",
        f"amqp://{user}:{password}-wrong@127.0.0.1:5672/%2F",
        "--queue",
        broker.queue,
        "--out",
        str(dataset_dir),
        "--idle-exit",
        "1",
    )
    assert bad.returncode == 1
    assert "refused the credentials" in bad.stderr
    broker.publish(numbered_messages(5, start=20))
    from_env = run(
        "--url-env",
        "EVKIT_TEST_URL",
        "--queue",
        broker.queue,
        "--out",
        str(dataset_dir),
        "--idle-exit",
        "1",
        env={"EVKIT_TEST_URL": url},
    )  # the password stays out of the command line (ps)
    assert from_env.returncode == 0, from_env.stderr
    assert values(dataset_dir) == [float(i) for i in range(25)]
    for text in (good.stdout, good.stderr, bad.stdout, bad.stderr, from_env.stdout, from_env.stderr):
        assert password not in text
    assert password.encode() not in _all_text(dataset_dir)
    assert read_manifest(dataset_dir)["captures"][0]["user"] == user


def test_details_file_gives_connection_and_queue(broker: Broker, dataset_dir: Path, tmp_path: Path) -> None:
    details = tmp_path / "streams.json"
    details.write_text(
        json.dumps(
            {
                "server": "127.0.0.1",
                "port": 5672,
                "useSsl": False,
                "virtualHost": "/",
                "queueName": broker.queue,
                "exchangeName": broker.exchange,
                "username": "guest",
                "password": "guest",
            }
        )
    )
    broker.publish(numbered_messages(30))
    result = run("--details", str(details), "--out", str(dataset_dir), "--idle-exit", "1")
    assert result.returncode == 0, result.stderr
    assert values(dataset_dir) == [float(i) for i in range(30)]
    record = read_manifest(dataset_dir)["captures"][0]
    assert record["queue"] == broker.queue and record["exchange"] == broker.exchange


def test_bad_details_file_is_an_input_error(tmp_path: Path) -> None:
    details = tmp_path / "streams.json"
    details.write_text('{"server": "127.0.0.1"}')
    result = run("--details", str(details), "--out", str(tmp_path / "d"))
    assert result.returncode == 2
    assert "missing username, password" in result.stderr


class _StreamsEndpoint:
    """A tiny local stand-in for Easee's streams endpoint: answers each GET with the next details."""

    def __init__(self, answers: list[tuple[int, dict[str, Any]]]) -> None:
        self.answers = answers
        self.authorizations: list[str | None] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.authorizations.append(self.headers.get("Authorization"))
                status, body = outer.answers[min(len(outer.authorizations), len(outer.answers)) - 1]
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/streams/amqp/v2"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _details(queue: str, password: str = "guest") -> dict[str, Any]:
    return {
        "server": "127.0.0.1",
        "port": 5672,
        "useSsl": False,
        "virtualHost": "/",
        "queueName": queue,
        "exchangeName": "x",
        "username": "guest",
        "password": password,
    }


def test_token_fetches_details_and_refetches_after_refused_credentials(
    broker: Broker, dataset_dir: Path
) -> None:
    endpoint = _StreamsEndpoint(
        [(200, _details(broker.queue, "stale-password")), (200, _details(broker.queue))]
    )
    try:
        broker.publish(numbered_messages(40))
        result = run(
            "--token-env",
            "EVKIT_TEST_TOKEN",
            "--streams-url",
            endpoint.url,
            "--out",
            str(dataset_dir),
            "--idle-exit",
            "1",
            env={"EVKIT_TEST_TOKEN": "tok-123"},
        )
    finally:
        endpoint.close()
    assert result.returncode == 0, result.stderr
    assert endpoint.authorizations == ["Bearer tok-123", "Bearer tok-123"]
    assert values(dataset_dir) == [float(i) for i in range(40)]
    assert "tok-123" not in result.stderr + result.stdout
    assert b"tok-123" not in _all_text(dataset_dir)


def test_token_refused_by_the_endpoint_is_a_clear_error(tmp_path: Path) -> None:
    endpoint = _StreamsEndpoint([(401, {"title": "Unauthorized"})])
    try:
        result = run(
            "--token-env",
            "EVKIT_TEST_TOKEN",
            "--streams-url",
            endpoint.url,
            "--out",
            str(tmp_path / "d"),
            env={"EVKIT_TEST_TOKEN": "tok-123"},
        )
    finally:
        endpoint.close()
    assert result.returncode == 1
    assert "integration (partner) account" in result.stderr


def test_missing_queue_exits_2(amqp_url: str, unique_name: str, tmp_path: Path) -> None:
    result = run("--url", amqp_url, "--queue", unique_name, "--out", str(tmp_path / "d"))
    assert result.returncode == 2
    assert f"queue '{unique_name}' does not exist" in result.stderr


def test_insecure_warns(amqp_url: str, unique_name: str, tmp_path: Path) -> None:
    result = run("--url", amqp_url, "--queue", unique_name, "--out", str(tmp_path / "d"), "--insecure")
    assert "NOT verified" in result.stderr


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--backoff-initial", "0.2"], "--backoff-initial"),
        (["--backoff-max", "nan"], "--backoff-max"),
        (["--backoff-initial", "60", "--backoff-max", "10"], "must be at least --backoff-initial"),
    ],
)
def test_bad_backoff_options_exit_2_with_a_sentence(options: list[str], message: str, tmp_path: Path) -> None:
    out = tmp_path / "d"
    result = run("--url", "amqp://guest:guest@127.0.0.1:1/%2F", "--queue", "q", "--out", str(out), *options)
    assert result.returncode == 2
    assert message in result.stderr
    assert not out.exists()  # nothing written
