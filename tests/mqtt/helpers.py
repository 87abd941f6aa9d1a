"""Helpers for MQTT tests: a private Mosquitto we may restart, a paced publisher, a capture thread."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from evkit.sources.mqtt import MqttCapture, MqttSettings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, up: bool, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                if up:
                    return
        except OSError:
            if not up:
                return
        time.sleep(0.05)
    raise AssertionError(f"port {port} did not go {'up' if up else 'down'} in {timeout} s")


class PrivateBroker:
    """A Mosquitto of our own on a free port (restartable without disturbing other tests).

    Persistence is on, so sessions and queued QoS 1 messages survive a restart, like a real install.
    """

    def __init__(
        self, directory: Path, extra_config: str = "", *, persistence: bool = True, settings: str = ""
    ) -> None:
        self.directory = directory
        self.port = free_port()
        self.config = directory / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            f"persistence {str(persistence).lower()}\npersistence_location {directory}/\n"
            + settings
            + f"log_dest file {directory}/mosquitto.log\n"
            # as root, Mosquitto drops to user "mosquitto", who cannot write to our temp directory
            + ("user root\n" if os.geteuid() == 0 else "")
            + (extra_config or "allow_anonymous true\n")
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> PrivateBroker:
        self.process = subprocess.Popen(["mosquitto", "-c", str(self.config)])
        wait_port(self.port, up=True)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # SIGTERM: Mosquitto saves its persistence file
            self.process.wait(timeout=10)
            self.process = None
            wait_port(self.port, up=False)

    def restart(self, outage: float = 0.0) -> None:
        """Stop (SIGTERM), stay down ``outage`` seconds, start again on the same port and config."""
        self.stop()
        time.sleep(outage)
        self.start()


def publish(
    port: int,
    messages: Iterable[tuple[str, bytes | str, bool]],
    host: str = "127.0.0.1",
    qos: int = 1,
) -> int:
    """Publish ``(topic, payload, retain)`` messages, each confirmed by the broker (paced)."""
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    client.connect(host, port)
    client.loop_start()
    count = 0
    try:
        pending = []
        for topic, payload, retain in messages:
            pending.append(client.publish(topic, payload, qos=qos, retain=retain))
            count += 1
            if len(pending) >= 100:
                for info in pending:
                    info.wait_for_publish(10)
                pending = []
        for info in pending:
            info.wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()
    return count


def clear_retained(port: int, topics: Iterable[str]) -> None:
    publish(port, ((t, b"", True) for t in topics))


class CaptureThread:
    """``MqttCapture.run()`` on a thread; ``stop()`` returns its summary or re-raises its error."""

    def __init__(self, settings: MqttSettings) -> None:
        self.capture = MqttCapture(settings)
        self.summary: dict[str, Any] | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.summary = self.capture.run()
        except BaseException as exc:
            self.error = exc

    def wait_subscribed(self, timeout: float = 10.0) -> None:
        if not self.capture.subscribed.wait(timeout):
            raise AssertionError(f"capture did not subscribe: {self.error}")

    def wait_messages(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.capture.stats.messages < count and time.monotonic() < deadline:
            if not self.thread.is_alive():
                break
            time.sleep(0.05)

    def join(self, timeout: float = 60.0) -> dict[str, Any]:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "capture did not end"
        if self.error is not None:
            raise self.error
        assert self.summary is not None
        return self.summary

    def stop(self, timeout: float = 60.0) -> dict[str, Any]:
        self.capture.request_stop()
        return self.join(timeout)


class PacedPublisher:
    """A QoS 1 publisher at a fixed rate that itself loses nothing, across broker restarts.

    Message ``i`` carries the payload ``str(i)``. paho keeps every message until the broker's PUBACK
    (unlimited queue and in-flight window), sends unacknowledged ones again after its own reconnect
    (``reconnect_delay_set``: it comes back within a fraction of a second), and flags them DUP.
    :meth:`acknowledged` lists the ids whose PUBACK arrived: what the broker took responsibility for.
    """

    def __init__(self, port: int, topic: str, rate: float, client_id: str) -> None:
        self.topic = topic
        self.rate = rate
        client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311, clean_session=False
        )
        client.max_inflight_messages_set(0)  # unlimited: paho holds everything the broker has not acked
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(min_delay=0.1, max_delay=0.5)  # type: ignore[arg-type]  # floats work
        client.connect("127.0.0.1", port)
        client.loop_start()
        self.client = client
        self.sent: list[paho.MQTTMessageInfo] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, count: int) -> PacedPublisher:
        """Publish ids ``0..count-1`` at ``rate`` per second on a thread (queued by paho while away)."""
        self._thread = threading.Thread(target=self._publish, args=(count,), daemon=True)
        self._thread.start()
        return self

    def _publish(self, count: int) -> None:
        started = time.monotonic()
        for number in range(count):
            if self._stop.is_set():
                return
            pause = started + number / self.rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            self.sent.append(self.client.publish(self.topic, str(number), qos=1))

    def finish(self, timeout: float = 60.0) -> list[int]:
        """Wait until the pacing ends and every message is acknowledged; returns the acknowledged ids."""
        assert self._thread is not None
        self._thread.join(timeout)
        deadline = time.monotonic() + timeout
        while len(self.acknowledged()) < len(self.sent) and time.monotonic() < deadline:
            time.sleep(0.05)
        self._stop.set()
        self.client.disconnect()
        self.client.loop_stop()
        return self.acknowledged()

    def acknowledged(self) -> list[int]:
        # is_published() raises for a message queued while disconnected (rc NO_CONN) even once paho
        # sent it after the reconnect and the PUBACK came; the flag itself is the truth.
        return [number for number, info in enumerate(list(self.sent)) if info._published]
