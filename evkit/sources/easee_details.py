"""Where an Easee AMQP capture connects: a URL, a streams details file, or the streams endpoint.

The Easee AMQP v2 streams endpoint (``GET /api/streams/amqp/v2`` with a partner Bearer token) answers
``{server, port, useSsl, virtualHost, queueName, exchangeName, username, password}``. The same JSON
saved to a file works with ``--details``; ``--url amqp[s]://user:pass@host:port/vhost`` is the plain
RabbitMQ way. The password never leaves this object except into pika's credentials: ``repr`` and
:meth:`AmqpDetails.masked_url` hide it.
"""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from evkit import urls
from evkit.errors import AuthError, ConfigError, SourceError
from evkit.secrets import mask_secrets, mask_url

DEFAULT_STREAMS_URL = "https://api.easee.com/api/streams/amqp/v2"


@dataclass(frozen=True)
class AmqpDetails:
    """Connection details of one broker/queue. ``password`` is excluded from ``repr``."""

    host: str
    port: int
    vhost: str = "/"
    username: str = "guest"
    password: str = field(default="guest", repr=False)
    tls: bool = False
    queue: str | None = None
    exchange: str | None = None

    def masked_url(self) -> str:
        """The URL with the password replaced by ``***`` (safe to print and log)."""
        scheme = "amqps" if self.tls else "amqp"
        user = quote(self.username, safe="")
        return f"{scheme}://{user}:***@{self.host}:{self.port}/{quote(self.vhost, safe='')}"

    def manifest_fields(self) -> dict[str, Any]:
        """What the manifest may say about the connection (never the password)."""
        return {
            "host": self.host,
            "port": self.port,
            "vhost": self.vhost,
            "user": self.username,
            "tls": self.tls,
            "queue": self.queue,
            "exchange": self.exchange,
        }

    def pika_parameters(
        self,
        *,
        insecure: bool = False,
        heartbeat: int = 30,
        connection_attempts: int = 1,
        connection_name: str = "evkit capture",
    ) -> Any:
        """``pika.ConnectionParameters`` for these details (TLS with verification and SNI)."""
        import pika

        ssl_options = None
        if self.tls:
            context = ssl.create_default_context()
            if insecure:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            ssl_options = pika.SSLOptions(context, server_hostname=self.host)
        return pika.ConnectionParameters(
            host=self.host,
            port=self.port,
            virtual_host=self.vhost,
            credentials=pika.PlainCredentials(self.username, self.password),
            ssl_options=ssl_options,
            heartbeat=heartbeat,
            blocked_connection_timeout=300,
            connection_attempts=connection_attempts,
            socket_timeout=10,
            client_properties={"connection_name": connection_name},
        )


def parse_url(url: str, queue: str | None = None) -> AmqpDetails:
    """Details from ``amqp[s]://user:pass@host:port/vhost`` (vhost URL-encoded; empty or ``%2F`` is ``/``).

    Parsed by :func:`evkit.urls.parse_url`: a malformed URL is a ConfigError that never shows the password.
    """
    parts = urls.parse_url(url, ("amqp", "amqps"), what="AMQP URL")
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    vhost = unquote(path) if path else "/"
    return AmqpDetails(
        host=parts.host,
        port=parts.port,
        vhost=vhost,
        username=parts.username if parts.username is not None else "guest",
        password=parts.password if parts.password is not None else "guest",
        tls=parts.tls,
        queue=queue,
    )


def details_from_mapping(data: Any, origin: str) -> AmqpDetails:
    """Details from the streams endpoint's JSON (keys case-insensitive)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected a JSON object with server, port, username, ...")
    lowered = {str(k).lower(): v for k, v in data.items()}
    missing = [k for k in ("server", "username", "password") if not lowered.get(k)]
    if missing:
        raise ConfigError(f"{origin}: missing {', '.join(missing)} (have {', '.join(sorted(lowered))})")
    tls_value = lowered.get("usessl", True)
    tls = tls_value if isinstance(tls_value, bool) else str(tls_value).lower() in ("1", "true", "yes")
    try:
        given = lowered.get("port")
        port = int(given) if given not in (None, "") else (5671 if tls else 5672)  # 0 is no default
    except (TypeError, ValueError):
        raise ConfigError(f"{origin}: port must be a number, got {lowered.get('port')!r}") from None
    if not 1 <= port <= 65535:
        raise ConfigError(f"{origin}: port must be 1 to 65535, got {port}")
    return AmqpDetails(
        host=str(lowered["server"]),
        port=port,
        vhost=str(lowered.get("virtualhost") or "/"),
        username=str(lowered["username"]),
        password=str(lowered["password"]),
        tls=tls,
        queue=str(lowered["queuename"]) if lowered.get("queuename") else None,
        exchange=str(lowered["exchangename"]) if lowered.get("exchangename") else None,
    )


def read_details_file(path: Path | str) -> AmqpDetails:
    """Details from a JSON file saved from the streams endpoint."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read details file {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"details file {path} is not JSON: {exc.msg} at line {exc.lineno}") from None
    return details_from_mapping(data, str(path))


def fetch_details(token: str, streams_url: str = DEFAULT_STREAMS_URL, timeout: float = 20.0) -> AmqpDetails:
    """GET the details from the Easee streams endpoint with ``token`` as Bearer token."""
    import httpx

    try:
        response = httpx.get(
            streams_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout,
        )
    except httpx.HTTPError as exc:
        raise SourceError(
            f"cannot reach the streams endpoint {mask_url(streams_url)}: {mask_secrets(str(exc))}"
        ) from None
    if response.status_code in (401, 403):
        raise AuthError(
            f"the streams endpoint refused the token (HTTP {response.status_code}); "
            "it needs a Bearer token of an Easee integration (partner) account"
        )
    if response.status_code >= 400:
        raise SourceError(f"the streams endpoint answered HTTP {response.status_code}")
    try:
        data = response.json()
    except ValueError:
        raise SourceError(f"the streams endpoint {mask_url(streams_url)} did not answer JSON") from None
    return details_from_mapping(data, mask_url(streams_url))


def resolve_details(
    url: str | None = None,
    details: Path | str | None = None,
    token_env: str | None = None,
    streams_url: str = DEFAULT_STREAMS_URL,
    *,
    environ: Mapping[str, str] | None = None,
    url_env: str | None = None,
) -> tuple[AmqpDetails, Callable[[], AmqpDetails] | None]:
    """Connection details from exactly one of ``url`` / ``url_env`` / ``details`` / ``token_env``, plus
    a refresher (token captures only) that fetches fresh credentials."""
    sources = (("url", url), ("url_env", url_env), ("details", details), ("token_env", token_env))
    if len([name for name, value in sources if value]) != 1:
        raise ConfigError("give exactly one of --url, --url-env, --details or --token-env")
    env = os.environ if environ is None else environ
    if url:
        return parse_url(url), None
    if url_env:
        from_env = env.get(url_env)
        if not from_env:
            raise ConfigError(f"environment variable {url_env} is empty or unset (it should hold the URL)")
        try:
            return parse_url(from_env), None
        except ConfigError as exc:
            raise ConfigError(f"environment variable {url_env}: {exc}") from None
    if details:
        return read_details_file(details), None
    assert token_env is not None
    urls.parse_url(streams_url, ("https", "http"), what="streams URL")  # refused before any request
    token = env.get(token_env)
    if not token:
        raise ConfigError(f"environment variable {token_env} is empty or unset (it should hold the token)")

    def refresh() -> AmqpDetails:
        return fetch_details(token, streams_url)

    return refresh(), refresh
