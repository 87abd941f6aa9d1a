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

    def __init__(self, directory: Path, extra_config: str = "") -> None:
        self.directory = directory
        self.port = free_port()
        self.config = directory / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            f"persistence true\npersistence_location {directory}/\n"
            f"log_dest file {directory}/mosquitto.log\n"
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

    def restart(self) -> None:
        self.stop()
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
