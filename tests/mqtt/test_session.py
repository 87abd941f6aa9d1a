"""Session and reconnect policy of the MQTT capture (pure: no broker)."""

from __future__ import annotations

import itertools
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evkit.errors import ConfigError
from evkit.sources.mqtt import MqttSettings
from evkit.sources.mqtt_session import reconnect_delays


@given(st.floats(0.01, 5.0), st.floats(0.0, 10.0), st.integers(0, 2**32))
def test_first_attempt_at_once_then_capped_jittered_backoff(first: float, extra: float, seed: int) -> None:
    cap = first + extra
    delays = list(itertools.islice(reconnect_delays(first, cap, random.Random(seed)), 30))
    assert delays[0] == 0.0  # the first attempt right after the loss
    assert all(0 < d <= cap for d in delays[1:])
    assert delays[1] <= first


def test_default_retry_pause_is_a_fraction_of_a_second() -> None:
    # A broker that returns is found within max_backoff: before publishers' backlogs fill its queue.
    settings = MqttSettings(host="h", topics=["t/#"], out="x")
    assert settings.max_backoff < 1.0
    assert settings.session_expiry > 0  # a persistent session (MQTT 5)


@pytest.mark.parametrize("expiry", [0, -1, 2**32])
def test_session_expiry_must_keep_a_session(expiry: int) -> None:
    with pytest.raises(ConfigError, match="session-expiry"):
        MqttSettings(host="h", topics=["t/#"], out="x", session_expiry=expiry).validate()


def test_cli_refuses_session_expiry_0_with_exit_2(tmp_path: Path) -> None:
    out = tmp_path / "data"
    command = ["capture", "mqtt", "--host=127.0.0.1", "--topic=t/#", f"--out={out}", "--session-expiry=0"]
    result = subprocess.run(
        [sys.executable, "-m", "evkit", *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "--session-expiry" in result.stderr
    assert not out.exists()  # nothing written
