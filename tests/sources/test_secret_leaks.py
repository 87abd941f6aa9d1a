"""Issue 15, item 4: no password on the terminal for a malformed URL (``--url`` and ``--url-env``), and
no secret in the environment of a capture's writer process (read from ``/proc/<pid>/environ`` of the
real child while a real capture runs against the real brokers)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.conftest import REPO_ROOT
from tests.sources.test_amqp_capture import Broker, broker
from tests.sources.test_amqp_cli import _details, _StreamsEndpoint, _writers_for, secret_user, wait_for

pytestmark = pytest.mark.broker
__all__ = ["broker", "secret_user"]  # fixtures, re-used

PW = f"Pw{uuid.uuid4().hex[:12]}"

MALFORMED = [
    f"guest:{PW}@127.0.0.1",  # no scheme
    f"guest:{PW}@127.0.0.1:5672/%2F",
    f"amqp://guest:ab/{PW}@127.0.0.1/%2F",  # unencoded "/" in the password
    f"amqp://guest:ab?{PW}@127.0.0.1/%2F",  # unencoded "?"
    f"amqp://guest:ab#{PW}@127.0.0.1/%2F",  # unencoded "#"
    f"amqp://guest:12/{PW}@127.0.0.1/%2F",  # "12" would have been taken for the port
    f"amqp://guest:{PW}@/%2F",  # no host
    f"amqp://guest:{PW}@127.0.0.1:99999/%2F",  # bad port
    f"amqp://guest:{PW}@127.0.0.1:0/%2F",  # port 0 (was silently 5672)
    f"amqp://guest:{PW}@[::1/%2F",  # unbalanced IPv6 bracket
    f"amqp://guest:{PW}",  # no "@host": the password read as a port
]


def _evkit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evkit", *args],
        check=False,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize("how", ["--url", "--url-env"])
@pytest.mark.parametrize("url", MALFORMED)
def test_a_malformed_url_is_refused_without_showing_the_password(url: str, how: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    given = url if how == "--url" else "EVKIT_TEST_AMQP_URL"
    result = _evkit(
        "capture", "amqp", how, given, "--queue", "q", "--out", str(out), env={"EVKIT_TEST_AMQP_URL": url}
    )
    assert result.returncode == 2, result.stderr
    assert PW not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    assert "***" in result.stderr
    if how == "--url-env":
        assert "EVKIT_TEST_AMQP_URL" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("url", MALFORMED[:3])
def test_replay_refuses_a_malformed_url_without_showing_the_password(url: str) -> None:
    result = _evkit("replay", str(REPO_ROOT / "data" / "sample-session"), "--url", url, "--exchange", "x")
    assert result.returncode == 2, result.stderr
    assert PW not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def _child_environ(process: psutil.Process) -> dict[str, str]:
    raw = Path(f"/proc/{process.pid}/environ").read_bytes()
    pairs = [item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item]
    return {key.decode(): value.decode(errors="replace") for key, value in pairs}


def _ignores_sigterm(process: psutil.Process) -> bool:
    """Whether the process ignores SIGTERM yet (the writer does once it has started up)."""
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    return False


SECRETS_IN_ENV = {
    "EASEE_TOKEN": "tok-easee-1",
    "DB_PASSWORD": "db-pw-1",
    "SOME_API_SECRET": "api-secret-1",
    "GITHUB_TOKEN": "gh-token-1",
}


@pytest.fixture
def running_capture() -> Iterator[list[subprocess.Popen[str]]]:
    """Started captures (SIGTERM'd and reaped at teardown if a test failed before stopping them)."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.communicate(timeout=60)


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "evkit", *args],
        cwd=REPO_ROOT,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


def _writer_environ(out: Path, capture: subprocess.Popen[str]) -> dict[str, str]:
    """The environment of the capture's writer child; the capture itself is then stopped (exit 0)."""
    wait_for(lambda: _writers_for(out) or capture.poll() is not None, what="the writer process")
    assert capture.poll() is None, capture.communicate()[1]
    (writer,) = _writers_for(out)
    wait_for(lambda: _ignores_sigterm(writer), what="the writer to start up")
    assert writer.ppid() == capture.pid
    child = _child_environ(writer)
    parent = _child_environ(psutil.Process(capture.pid))
    os.killpg(capture.pid, signal.SIGTERM)
    _, stderr = capture.communicate(timeout=60)
    assert capture.returncode == 0, stderr
    assert set(SECRETS_IN_ENV) <= set(parent)  # the parent had them: the child's lack means something
    return child


def test_amqp_writer_process_gets_no_secrets_url_env(
    broker: Broker, secret_user: tuple[str, str], tmp_path: Path, running_capture: list[subprocess.Popen[str]]
) -> None:
    user, password = secret_user
    out = tmp_path / "out"
    env = {
        **SECRETS_IN_ENV,
        "MY_BROKER": f"amqp://{user}:{password}@127.0.0.1:5672/%2F",  # named by --url-env
        "COPY_OF_IT": password,  # holds the password in use
        "OTHER_URL": "mqtts://someone:pw-other@broker.example:8883",  # a URL with a password
        "EVKIT_KEEP_ME": "visible",
    }
    capture = _start(
        ["capture", "amqp", "--url-env", "MY_BROKER", "--queue", broker.queue, "--out", str(out), "--quiet"],
        env,
    )
    running_capture.append(capture)
    child = _writer_environ(out, capture)
    for name in (*SECRETS_IN_ENV, "MY_BROKER", "COPY_OF_IT", "OTHER_URL"):
        assert name not in child
    assert not any(password in value or "pw-other" in value for value in child.values())
    assert child["EVKIT_KEEP_ME"] == "visible"  # the rest of the environment is kept
    assert child.get("PYTHONPATH") == os.environ.get("PYTHONPATH")


def test_amqp_writer_process_gets_no_token(
    broker: Broker, tmp_path: Path, running_capture: list[subprocess.Popen[str]]
) -> None:
    endpoint = _StreamsEndpoint([(200, _details(broker.queue))])
    out = tmp_path / "out"
    try:
        capture = _start(
            ["capture", "amqp", "--token-env", "MY_EASEE", "--streams-url", endpoint.url, "--out", str(out)],
            {**SECRETS_IN_ENV, "MY_EASEE": "bearer-tok-abc123"},  # a name that does not look secret
        )
        running_capture.append(capture)
        child = _writer_environ(out, capture)
    finally:
        endpoint.close()
    assert endpoint.authorizations == ["Bearer bearer-tok-abc123"]
    assert "MY_EASEE" not in child
    assert not any("bearer-tok-abc123" in value for value in child.values())
    assert not set(SECRETS_IN_ENV) & set(child)


def test_mqtt_writer_process_gets_no_password(
    mqtt_broker: tuple[str, int],
    unique_name: str,
    tmp_path: Path,
    running_capture: list[subprocess.Popen[str]],
) -> None:
    host, port = mqtt_broker
    out = tmp_path / "out"
    args = ["capture", "mqtt", "--host", host, "--port", str(port), "--topic", f"{unique_name}/#"]
    capture = _start(
        [*args, "--username", "someone", "--password-env", "MQ_PW", "--out", str(out), "--quiet"],
        {**SECRETS_IN_ENV, "MQ_PW": "mqtt-pw-xyz789"},  # a name that does not look secret
    )
    running_capture.append(capture)
    child = _writer_environ(out, capture)
    assert "MQ_PW" not in child
    assert not any("mqtt-pw-xyz789" in value for value in child.values())
    assert not set(SECRETS_IN_ENV) & set(child)


def test_ctrl_c_while_the_writer_starts_up_still_exits_0(
    broker: Broker, tmp_path: Path, running_capture: list[subprocess.Popen[str]]
) -> None:
    """Found while reading the child's environment: a SIGTERM to the capture's process group (Ctrl-C,
    a service manager) in the moment the writer process was still importing killed it, and the
    capture ended with exit 1 "the Parquet writer process died". The writer now has its own session."""
    out = tmp_path / "out"
    capture = _start(["capture", "amqp", "--url", broker.url, "--queue", broker.queue, "--out", str(out)], {})
    running_capture.append(capture)
    wait_for(lambda: _writers_for(out) or capture.poll() is not None, what="the writer process")
    os.killpg(capture.pid, signal.SIGTERM)  # as early as a test can: usually while the writer imports
    _, stderr = capture.communicate(timeout=60)
    assert capture.returncode == 0, stderr
    assert "stopped: signal SIGTERM" in stderr
