"""go-e commands before and around sending: what is sent where, URLs, firmware facts, safe text.

Pure helpers of :mod:`evkit.control.goe` (no I/O): :class:`Command` (the preview of a write, secrets
shown as ``***``), :func:`normalize_http_url`, :func:`sends_result`, :func:`shown_text` (charger text
made safe for a terminal) and the HTTP body helpers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from evkit.control.base import HttpResponse, TransportName, mask_secrets
from evkit.errors import ConfigError
from evkit.goe.keys import KEYS, firmware_version
from evkit.goe.status import DEFAULT_PREFIX, set_topic
from evkit.goe.values import GoeSetting
from evkit.sources.http import build_url

#: The first firmware that answers on ``<key>/result`` (mqtt-de.md:79 "Seit Firmware 051.5 ...").
RESULT_TOPIC_FROM: tuple[int, int] = (51, 5)
#: Keys read first so the static rules can use the charger's state (cap keys are added per key).
_HARDWARE_KEYS = ("var", "adi")
_SHOWN_LIMIT = 200


def shown_text(text: str, limit: int = _SHOWN_LIMIT) -> str:
    """Text from the charger made safe for a terminal or log: control characters (NUL, ESC, line
    breaks) escaped as ``\\x00``, ``\\n``..., cut to ``limit`` characters with ``…``."""
    cut = text[: limit + 1]
    safe = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in cut)
    return safe[:limit] + "…" if len(safe) > limit or len(text) > limit else safe


def sends_result(firmware: object) -> bool | None:
    """Whether firmware ``fwv`` answers on ``/result`` (051.5 and later); ``None`` when not known."""
    version = firmware_version(firmware)
    return None if version is None else version >= RESULT_TOPIC_FROM


def expected_value(setting: GoeSetting) -> Any:
    """The value the charger will show after ``setting`` (``mtp=null`` reads back the default prefix)."""
    spec = KEYS.get(setting.key)
    if setting.value is None and spec is not None and spec.reset_to is not None:
        return spec.reset_to
    return setting.value


@dataclass(frozen=True)
class Command:
    """Where a setting goes and what is sent: the preview of a write and its dry run."""

    setting: GoeSetting
    transport: TransportName
    target: str  # the MQTT topic or the full HTTP URL (secrets masked)
    payload: str

    def describe(self) -> str:
        """``publish <topic> <payload> (QoS 1, not retained)`` or ``GET <url>``."""
        if self.transport == "mqtt":
            return f"publish {self.target} {self.payload} (QoS 1, not retained)"
        return f"GET {self.target}"


def mqtt_command(setting: GoeSetting, serial: str, prefix: str = DEFAULT_PREFIX) -> Command:
    """The MQTT command for ``setting``: topic ``<prefix>/<serial>/<key>/set`` and the JSON payload
    (``payload`` is what may be shown: ``***`` for a secret; ``setting.payload`` is what is sent)."""
    return Command(setting, "mqtt", set_topic(serial, setting.key, prefix), setting.shown_payload)


def http_command(setting: GoeSetting, base_url: str) -> Command:
    """The HTTP command for ``setting``: ``<base>/api/set?<key>=<url-encoded JSON>`` (secrets shown
    as ``***``; the request itself carries ``setting.payload``)."""
    url = build_url(api_url(base_url, "set"), {setting.key: setting.shown_payload})
    return Command(setting, "http", mask_secrets(url), setting.shown_payload)


def api_url(base_url: str, endpoint: str) -> str:
    return f"{base_url.rstrip('/')}/api/{endpoint}"


def normalize_http_url(url: str) -> str:
    """``192.168.0.77`` -> ``http://192.168.0.77``; refuses URLs that are not http(s)."""
    text = url.strip()
    if "://" not in text:
        text = f"http://{text}"
    if not text.startswith(("http://", "https://")):
        raise ConfigError(f"--http needs an http:// URL of the charger, got {mask_secrets(url)!r}")
    try:
        host = urlsplit(text).hostname
        urlsplit(text).port  # noqa: B018 - raises ValueError for a port that is no number
    except ValueError as exc:
        raise ConfigError(
            f"--http {shown_text(mask_secrets(url))!r} is not a valid URL ({exc}); give the charger's "
            "address, e.g. http://192.168.0.77 or http://[fe80::1]"
        ) from None
    if not host or any(not ch.isprintable() or ch.isspace() for ch in text):
        raise ConfigError(
            f"--http {shown_text(mask_secrets(url))!r} is not a valid URL: it needs a host name or address "
            "without spaces, e.g. http://192.168.0.77"
        )
    for suffix in ("/api/status", "/api/set", "/api"):
        if text.rstrip("/").endswith(suffix):
            text = text.rstrip("/")[: -len(suffix)]
    return text.rstrip("/")


def state_keys_for(key: str) -> list[str]:
    """The keys to know before writing ``key``: itself, its cap (``ama`` for ``amp``) and, for
    currents, the hardware (``var``, ``adi``)."""
    spec = KEYS.get(key)
    keys = [key]
    if spec is not None and spec.max_key:
        keys.append(spec.max_key)
    if spec is not None and spec.hardware_limited:
        keys.extend(_HARDWARE_KEYS)
    return keys


def json_body(response: HttpResponse) -> Any:
    try:
        return json.loads(response.text)
    except (json.JSONDecodeError, ValueError):
        return None


def http_problem(response: HttpResponse, endpoint: str) -> str:
    text = shown_text(response.text.strip())
    if response.status == 404:
        return (
            f"HTTP 404 from /api/{endpoint}: the HTTP API v2 seems disabled (enable it in the go-e app, "
            f"key hai) or this is not a go-e charger ({text or 'no body'})"
        )
    return f"HTTP {response.status} from /api/{endpoint}: {text or 'no body'}"


__all__ = [
    "RESULT_TOPIC_FROM",
    "Command",
    "api_url",
    "expected_value",
    "http_command",
    "http_problem",
    "json_body",
    "mqtt_command",
    "normalize_http_url",
    "sends_result",
    "shown_text",
    "state_keys_for",
]
