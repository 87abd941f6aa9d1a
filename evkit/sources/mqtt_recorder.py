"""``record_mqtt``: an MQTT capture in the background, for notebooks (a live panel with a Stop button)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evkit.errors import ConfigError


def record_mqtt(
    host: str,
    topics: str | Sequence[str],
    out: Path | str,
    *,
    port: int = 1883,
    username: str | None = None,
    password_env: str | None = None,
    password: str | None = None,
    tls: bool = False,
    **options: Any,
) -> Any:
    """Record MQTT in the background (for notebooks); returns a handle with live counters.

    >>> rec = evkit.record_mqtt("127.0.0.1", ["evcc/#", "go-eCharger/#"], "data/home")  # doctest: +SKIP
    >>> rec            # a panel with messages, msg/s, last-message age, reconnects, errors; Stop button
    >>> # (it warns when a reconnect found the broker had lost our session: messages may be missing)
    >>> rec.stop()     # flush, acknowledge, disconnect; returns the summary

    ``password_env`` names an environment variable holding the password (preferred over ``password``,
    so it never sits in a notebook). Other keyword options are :class:`MqttSettings` fields
    (``max_messages``, ``idle_exit``, ``duration``, ``client_id``, ``qos``, ``rules``...).
    """
    from evkit.sources.mqtt import MqttCapture, MqttSettings
    from evkit.sources.progress import BackgroundCapture

    if password_env is not None:
        password = os.environ.get(password_env)
        if password is None:
            raise ConfigError(f"environment variable {password_env} is not set")
    topic_list = [topics] if isinstance(topics, str) else list(topics)
    settings = MqttSettings(
        host=host,
        topics=topic_list,
        out=out,
        port=port,
        username=username,
        password=password,
        tls=tls,
        **options,
    )
    capture = MqttCapture(settings)
    return BackgroundCapture(capture, title=f"MQTT {host}:{port} {', '.join(topic_list)} -> {out}")


__all__ = ["record_mqtt"]
