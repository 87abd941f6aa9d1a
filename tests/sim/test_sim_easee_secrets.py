"""``evkit sim easee`` never prints the password: not in its banner, not when the real RabbitMQ refuses
the login (exit 1 with a sentence, no traceback), not for a malformed URL (exit 2, nothing printed
before the refusal); ``replay`` says the same for a refused login."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from tests.conftest import RABBITMQ_HOST, RABBITMQ_PORT, REPO_ROOT

pytestmark = pytest.mark.broker

PW = f"Pw{uuid.uuid4().hex[:12]}"
WRONG_URL = f"amqp://guest:{PW}@{RABBITMQ_HOST}:{RABBITMQ_PORT}/%2F"  # guest's password is "guest"


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
def test_a_refused_password_is_one_sentence_and_never_shown(
    amqp_url: str, unique_name: str, how: str
) -> None:
    del amqp_url  # the broker must be up: the refusal below is the real RabbitMQ's
    given = WRONG_URL if how == "--url" else "EVKIT_TEST_SIM_URL"
    result = _evkit(
        "sim", "easee", how, given, "--queue", unique_name, "--declare", "--no-progress",
        env={"EVKIT_TEST_SIM_URL": WRONG_URL},
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert PW not in output
    assert "Traceback" not in output
    assert "ERROR" not in output  # pika's log pages stay quiet without -v
    banner, refusal = [line for line in result.stderr.splitlines() if line.strip()]
    assert banner.startswith("evkit sim easee:") and "amqp://guest:***@" in banner
    assert refusal == (
        f"evkit: the broker refused the credentials for amqp://guest:***@{RABBITMQ_HOST}:{RABBITMQ_PORT}/%2F"
    )


@pytest.mark.parametrize(
    "url",
    [
        f"guest:{PW}@{RABBITMQ_HOST}",
        f"amqp://guest:a/{PW}@{RABBITMQ_HOST}/%2F",
        f"amqp://guest:{PW}@{RABBITMQ_HOST}:99999/%2F",
        f"amqp://guest:{PW}@[::1/%2F",
    ],
)
def test_a_malformed_url_is_refused_before_the_banner(url: str, unique_name: str) -> None:
    result = _evkit("sim", "easee", "--url", url, "--queue", unique_name, "--declare", "--no-progress")
    assert result.returncode == 2, result.stderr
    assert PW not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith("evkit: ") and "the AMQP URL " in line


def test_replay_says_a_refused_password_in_one_sentence() -> None:
    result = _evkit(
        "replay", str(REPO_ROOT / "data" / "sample-session"), "--url", WRONG_URL, "--exchange", "x",
        "--quiet",
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert PW not in output
    assert "Traceback" not in output
    assert "refused the credentials for amqp://guest:***@" in result.stderr
