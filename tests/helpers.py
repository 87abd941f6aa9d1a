"""Helpers shared by the broker tests: a polling wait and an MQTT recorder on its own connection.

The simulator and recorder fixtures built on these live in ``tests/conftest.py``.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.subscribeoptions import SubscribeOptions

from evkit.control.base import MqttMessage
from evkit.sim.evcc import EvccSimulator
from evkit.sim.goe import GoeSimulator


def evkit_on_each(command: list[str], roots: Iterable[Path | str]) -> list[subprocess.CompletedProcess[str]]:
    """``evkit COMMAND ROOT ARGS...`` (``command``: the subcommand, then its arguments) run on each of
    ``roots``, each in its own process, its output captured as text."""
    return [
        subprocess.run(
            [sys.executable, "-m", "evkit", command[0], str(root), *command[1:]],
            capture_output=True,
            text=True,
            check=False,
        )
        for root in roots
    ]


def wait_until(condition: Callable[[], object], timeout: float = 5.0) -> bool:
    """Poll ``condition`` until it is truthy or ``timeout`` seconds passed; asks once more at the end."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return bool(condition())


class MqttRecorder:
    """Records every message on ``<prefix>/<topic_filter>`` from its own paho connection (MQTT v5).

    Each message is kept as an :class:`~evkit.control.base.MqttMessage` (topic, payload bytes, retain
    flag, QoS). With ``retain_as_published`` (the default) the retain flag of a live message is the
    flag its publisher set, so a test sees exactly what went on the wire; without it, as for a plain
    MQTT 3.1.1 subscriber, only messages from the broker's retained store carry the flag. The
    subscription is confirmed (SUBACK) before the constructor returns; path arguments of the query
    methods are relative to ``prefix``.
    """

    def __init__(
        self,
        host: str,
        port: int,
        prefix: str,
        topic_filter: str = "#",
        *,
        retain_as_published: bool = True,
        timeout: float = 10.0,
    ) -> None:
        self.prefix = prefix
        self.pattern = f"{prefix}/{topic_filter}"
        self.timeout = timeout
        self._messages: list[MqttMessage] = []
        self._lock = threading.Lock()
        connected = threading.Event()
        subscribed = threading.Event()
        answers: dict[str, Any] = {}

        def on_connect(client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
            answers["connack"] = reason
            connected.set()

        def on_subscribe(client: Any, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
            answers["suback"] = list(reasons)
            subscribed.set()

        self._client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"evkit-test-{uuid.uuid4().hex}", protocol=paho.MQTTv5
        )
        self._client.on_connect = on_connect
        self._client.on_subscribe = on_subscribe
        self._client.on_message = self._record
        self._client.connect(host, port)
        self._client.loop_start()
        try:
            assert connected.wait(timeout), f"no CONNACK from {host}:{port}"
            assert not answers["connack"].is_failure, f"{host}:{port} refused us: {answers['connack']}"
            options = SubscribeOptions(qos=1, retainAsPublished=retain_as_published)
            self._client.subscribe(self.pattern, options=options)
            assert subscribed.wait(timeout), f"no SUBACK for {self.pattern}"
            assert not any(code.is_failure for code in answers["suback"]), answers["suback"]
        except BaseException:
            self.close()
            raise

    def _record(self, client: Any, userdata: Any, message: Any) -> None:
        seen = MqttMessage(message.topic, bytes(message.payload), bool(message.retain), int(message.qos))
        with self._lock:
            self._messages.append(seen)

    # ------------------------------------------------------------------ what was seen (copies)

    def snapshot(self) -> list[MqttMessage]:
        """Every message so far, in arrival order."""
        with self._lock:
            return list(self._messages)

    def on(self, path: str) -> list[MqttMessage]:
        """The messages on ``<prefix>/<path>``."""
        topic = f"{self.prefix}/{path}"
        return [m for m in self.snapshot() if m.topic == topic]

    def values(self, path: str) -> list[str]:
        """The payloads (text) on ``<prefix>/<path>``."""
        return [m.text for m in self.on(path)]

    def latest(self, path: str) -> str | None:
        """The last payload (text) on ``<prefix>/<path>``, or None if nothing came."""
        values = self.values(path)
        return values[-1] if values else None

    def last_by_topic(self) -> dict[str, MqttMessage]:
        """The last message of each topic seen."""
        return {m.topic: m for m in self.snapshot()}

    def sets(self) -> list[tuple[str, bytes, bool]]:
        """``(topic, payload, retained)`` of every non-empty ``/set`` command (not the empty wipes)."""
        return [
            (m.topic, m.payload, m.retained)
            for m in self.snapshot()
            if m.topic.endswith("/set") and m.payload
        ]

    # ------------------------------------------------------------------ the connection

    def publish(self, topic: str, payload: bytes | str, retain: bool = False) -> None:
        """Publish with QoS 1 from this connection and wait until the broker has it."""
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(self.timeout)
        assert info.is_published(), f"{topic} was not acknowledged"

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


class StartEvccSim(Protocol):
    """The ``start_evcc_sim`` fixture: an :class:`EvccSimulator` under ``prefix`` on the test broker."""

    def __call__(self, prefix: str, **options: Any) -> EvccSimulator: ...


class StartGoeSim(Protocol):
    """The ``start_goe_sim`` fixture: a :class:`GoeSimulator` under ``prefix`` on the test broker."""

    def __call__(self, serial: str, prefix: str, **options: Any) -> GoeSimulator: ...


class RecordMqtt(Protocol):
    """The ``record_mqtt`` fixture: an :class:`MqttRecorder` on the test broker, closed at teardown."""

    def __call__(
        self, prefix: str, topic_filter: str = "#", *, retain_as_published: bool = True
    ) -> MqttRecorder: ...
