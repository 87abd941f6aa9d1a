"""The capture API refuses what the CLI refuses: a notebook's ``record_amqp(idle_exit=nan)`` or
``prefetch=99999999`` is a ConfigError before anything connects, not a capture that never stops or a
struct error from pika (AMQP's prefetch count is 16 bits); a details file's port must be 1..65535."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from evkit.errors import ConfigError
from evkit.sources.amqp import AmqpCapture
from evkit.sources.easee_details import AmqpDetails, details_from_mapping

DETAILS = AmqpDetails(host="127.0.0.1", port=5672, queue="q")


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("prefetch", 99_999_999),
        ("prefetch", 65_536),
        ("prefetch", 0),
        ("idle_exit", math.nan),
        ("idle_exit", math.inf),
        ("idle_exit", 0.0),
        ("duration", math.nan),
        ("duration", -1.0),
        ("flush_interval", math.inf),
        ("flush_interval", math.nan),
    ],
)
def test_capture_refuses_unusable_options(option: str, value: Any, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=option.replace("_", "-")):
        AmqpCapture(DETAILS, tmp_path / "out", **{option: value})
    assert not (tmp_path / "out").exists()


def test_capture_accepts_the_largest_prefetch(tmp_path: Path) -> None:
    assert AmqpCapture(DETAILS, tmp_path / "out", prefetch=65_535).prefetch == 65_535


@pytest.mark.parametrize("port", [0, 65_536, -1])
def test_details_port_must_be_a_tcp_port(port: int) -> None:
    data = {"server": "h", "port": port, "username": "u", "password": "secret-pw"}
    with pytest.raises(ConfigError, match="1 to 65535") as caught:
        details_from_mapping(data, "streams.json")
    assert "secret-pw" not in str(caught.value)
