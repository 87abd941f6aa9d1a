"""Shared fixtures. Broker fixtures connect for real and FAIL (never skip) when a broker is down:
run `make test`, which starts them."""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from evkit.sim.evcc import EvccSimulator
from evkit.sim.goe import GoeSimulator
from tests.helpers import MqttRecorder, RecordMqtt, StartEvccSim, StartGoeSim
from tests.mqtt.helpers import PrivateBroker

RABBITMQ_HOST = os.environ.get("EVKIT_TEST_RABBITMQ_HOST", "127.0.0.1")
RABBITMQ_PORT = int(os.environ.get("EVKIT_TEST_RABBITMQ_PORT", "5672"))
MQTT_HOST = os.environ.get("EVKIT_TEST_MQTT_HOST", "127.0.0.1")
MQTT_PORT = int(os.environ.get("EVKIT_TEST_MQTT_PORT", "1883"))
REPO_ROOT = Path(__file__).resolve().parent.parent


def python_output(code: str) -> str:
    """What ``code`` prints, run by this interpreter in a process of its own from the repository (its
    own set of imported modules); a failure fails the test, with the process's stderr."""
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=REPO_ROOT
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(autouse=True)
def _no_lease_renewal_left_running() -> Iterator[None]:
    """A test leaves no S3 lease being renewed: a part writer (or an audit log holding one) left open
    keeps a thread renewing over the network, and a thread in a native call while a later test sets
    an environment variable can crash the whole run (glibc's ``setenv`` frees what ``getenv`` reads).
    Writers that nobody references any more end their renewal by themselves (``weakref.finalize``)."""
    before = {t.ident for t in threading.enumerate()}
    yield
    left = [t for t in threading.enumerate() if t.name == "evkit-s3-leases" and t.ident not in before]
    if not left:
        return
    from evkit.store import s3lease

    gc.collect()  # writers dropped in a reference cycle
    for thread in left:
        thread.join(timeout=5)
    left = [t for t in left if t.is_alive()]
    if left:
        held = [f"{leases.location.url} {leases.days}" for leases in list(s3lease._OPEN)]
        for leases in list(s3lease._OPEN):
            leases.close()
        pytest.fail(f"{len(left)} S3 lease renewal(s) left running; close the writer: {held}")


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


@pytest.fixture
def start_evcc_sim(mqtt_broker: tuple[str, int]) -> Iterator[StartEvccSim]:
    """``start_evcc_sim(prefix, **options)``: an evcc simulator on the real Mosquitto, started now and
    stopped at teardown with ``clear_status=True`` (no retained topic of the test stays behind)."""
    host, port = mqtt_broker
    started: list[EvccSimulator] = []

    def start(prefix: str, **options: Any) -> EvccSimulator:
        simulator = EvccSimulator(host=host, port=port, prefix=prefix, **options)
        simulator.start()
        started.append(simulator)
        return simulator

    yield start
    for simulator in reversed(started):
        simulator.stop(clear_status=True)


@pytest.fixture
def start_goe_sim(mqtt_broker: tuple[str, int]) -> Iterator[StartGoeSim]:
    """``start_goe_sim(serial, prefix, **options)``: a go-e simulator on the real Mosquitto, started now
    and stopped at teardown (with its default ``cleanup``: the retained state is deleted)."""
    host, port = mqtt_broker
    started: list[GoeSimulator] = []

    def start(serial: str, prefix: str, **options: Any) -> GoeSimulator:
        simulator = GoeSimulator(serial, mqtt_host=host, mqtt_port=port, prefix=prefix, **options)
        simulator.start()
        started.append(simulator)
        return simulator

    yield start
    for simulator in reversed(started):
        simulator.stop()


@pytest.fixture
def record_mqtt(mqtt_broker: tuple[str, int]) -> Iterator[RecordMqtt]:
    """``record_mqtt(prefix, topic_filter="#")``: an :class:`MqttRecorder` on the real Mosquitto,
    subscribed when returned and closed at teardown."""
    host, port = mqtt_broker
    recorders: list[MqttRecorder] = []

    def record(prefix: str, topic_filter: str = "#", *, retain_as_published: bool = True) -> MqttRecorder:
        recorder = MqttRecorder(host, port, prefix, topic_filter, retain_as_published=retain_as_published)
        recorders.append(recorder)
        return recorder

    yield record
    for recorder in reversed(recorders):
        recorder.close()


@pytest.fixture
def private_mosquitto(tmp_path: Path) -> Iterator[Callable[..., PrivateBroker]]:
    """``private_mosquitto(name, *, start=True, **options)``: a Mosquitto of this test's own on a free
    port, in ``tmp_path/name`` (:class:`~tests.mqtt.helpers.PrivateBroker` options: ``settings``,
    ``persistence``, ``extra_config``), started now unless ``start=False``, stopped at teardown. The
    test may restart it; the shared Mosquitto on 1883 is never touched."""
    brokers: list[PrivateBroker] = []

    def make(name: str = "broker", *, start: bool = True, **options: Any) -> PrivateBroker:
        directory = tmp_path / name
        directory.mkdir(exist_ok=True)
        broker = PrivateBroker(directory, **options)
        brokers.append(broker)
        return broker.start() if start else broker

    yield make
    for broker in reversed(brokers):
        broker.stop()


@pytest.fixture
def roomy_broker(private_mosquitto: Callable[..., PrivateBroker]) -> PrivateBroker:
    """Persistence on and a queue per client sized for the outage (README: nothing lost)."""
    return private_mosquitto("roomy", settings="max_queued_messages 100000\n")
