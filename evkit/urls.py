"""The one parser of broker and device URLs (``amqp[s]://``, ``mqtt[s]://``, ``http[s]://``).

Every error it raises is a :class:`~evkit.errors.ConfigError` whose message shows the URL with its
password masked (:func:`evkit.secrets.mask_url`), never a fragment of the password: ``urllib``'s own
messages can quote one (``amqp://u:pa/ss@h`` makes it complain that port ``'pa'`` is no number), so
they are not passed on. Refused rather than guessed: a URL without a scheme, an ``@`` after the host
(a password or user name with an unencoded ``/``, ``?``, ``#``), no host, a port that is no number
or outside 1..65535, an unbalanced IPv6 ``[``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

from evkit.errors import ConfigError
from evkit.secrets import mask_url

#: Default port per scheme.
DEFAULT_PORTS: Mapping[str, int] = {
    "amqp": 5672,
    "amqps": 5671,
    "mqtt": 1883,
    "mqtts": 8883,
    "http": 80,
    "https": 443,
}

_ENCODE_HINT = "percent-encode '/', '?', '#' and '@' in the user name and password (%2F, %3F, %23, %40)"


@dataclass(frozen=True)
class ParsedUrl:
    """A parsed URL; ``password`` (decoded) is excluded from ``repr``. ``path`` is still encoded."""

    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    path: str = ""
    query: str = ""

    @property
    def tls(self) -> bool:
        """Whether the scheme asks for TLS (``amqps``, ``mqtts``, ``https``)."""
        return self.scheme.endswith("s")

    def masked(self) -> str:
        """The URL with the password replaced by ``***`` (safe to print and log)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        user = ""
        if self.username is not None:
            name = quote(self.username, safe="")
            user = f"{name}:***@" if self.password is not None else f"{name}@"
        query = f"?{self.query}" if self.query else ""
        return mask_url(f"{self.scheme}://{user}{host}:{self.port}{self.path}{query}")


def parse_url(url: str, schemes: tuple[str, ...], *, what: str = "URL") -> ParsedUrl:
    """``url`` parsed, its scheme one of ``schemes``; ConfigError (password masked) otherwise.

    ``what`` names the URL in messages (``"AMQP URL"``). User name and password are percent-decoded.
    """
    shown = mask_url(url)
    example = f"{schemes[0]}://user:password@host:port/..."
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise ConfigError(f"the {what} {shown} has a space or control character in it; {_ENCODE_HINT}")
    if "://" not in url:
        raise ConfigError(f"the {what} {shown} has no scheme: it must start with {_schemes_text(schemes)}")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ConfigError(
            f"the {what} {shown} cannot be parsed (an unbalanced '[' of an IPv6 address?); {_ENCODE_HINT}"
        ) from None
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        raise ConfigError(f"the {what} {shown} must start with {_schemes_text(schemes)}")
    rest = url.split("://", 1)[1]
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in rest[len(authority) :]:
        raise ConfigError(f"the {what} {shown} has an '@' after its host: {_ENCODE_HINT}")
    try:
        port = parts.port
    except ValueError:
        if "@" not in parts.netloc and ":" in parts.netloc and not parts.netloc.startswith("["):
            raise ConfigError(
                f"the {what} {shown} has no '@host' (expected {example}) or its port is not a number"
            ) from None
        raise ConfigError(f"the port of the {what} {shown} must be a number from 1 to 65535") from None
    if port == 0:
        raise ConfigError(f"the port of the {what} {shown} must be a number from 1 to 65535")
    if not parts.hostname:
        raise ConfigError(f"the {what} {shown} has no host (expected {example})")
    return ParsedUrl(
        scheme=scheme,
        host=parts.hostname,
        port=port or DEFAULT_PORTS.get(scheme, 0),
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
        path=parts.path,
        query=parts.query,
    )


def _schemes_text(schemes: tuple[str, ...]) -> str:
    texts = [f"{s}://" for s in schemes]
    return texts[0] if len(texts) == 1 else f"{', '.join(texts[:-1])} or {texts[-1]}"


__all__ = ["DEFAULT_PORTS", "ParsedUrl", "parse_url"]
