"""Shared fixtures. Broker fixtures connect for real and FAIL (never skip) when a broker is down:
run `make test`, which starts them."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

RABBITMQ_HOST = os.environ.get("EVKIT_TEST_RABBITMQ_HOST", "127.0.0.1")
RABBITMQ_PORT = int(os.environ.get("EVKIT_TEST_RABBITMQ_PORT", "5672"))
MQTT_HOST = os.environ.get("EVKIT_TEST_MQTT_HOST", "127.0.0.1")
MQTT_PORT = int(os.environ.get("EVKIT_TEST_MQTT_PORT", "1883"))
REPO_ROOT = Path(__file__).resolve().parent.parent


def _require_port(host: str, port: int, name: str) -> None:
    try:
        with socket.create_connection((host, port), timeout=3):
            return
    except OSError as exc:
        pytest.fail(f"{name} is not reachable on {host}:{port} ({exc}); run `make test`, which starts it")


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """URL of the real local RabbitMQ (guest/guest)."""
    _require_port(RABBITMQ_HOST, RABBITMQ_PORT, "RabbitMQ")
    return f"amqp://guest:guest@{RABBITMQ_HOST}:{RABBITMQ_PORT}/%2F"


@pytest.fixture(scope="session")
def mqtt_broker() -> tuple[str, int]:
    """(host, port) of the real local Mosquitto."""
    _require_port(MQTT_HOST, MQTT_PORT, "Mosquitto")
    return MQTT_HOST, MQTT_PORT


@pytest.fixture
def unique_name() -> str:
    """A name no other test (or parallel run) uses: for queues, exchanges and topic prefixes."""
    return f"evkit-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def dataset_dir(tmp_path: Path) -> Iterator[Path]:
    """An empty directory for a dataset."""
    path = tmp_path / "dataset"
    yield path
