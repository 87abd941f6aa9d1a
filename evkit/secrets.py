"""Keeping secrets out of output: the one place that knows how a password or token is masked."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]*)@")
_SECRET_QUERY = re.compile(r"(?i)(?P<key>[?&](?:token|password|pass|secret|apikey|api_key)=)[^&#\s]*")
_SECRET_WORDS = ("password", "passwd", "secret", "token", "authorization", "credential", "apikey", "api_key")
#: Device setting names whose values are secrets though their names do not say so. go-e
#: (go-eCharger-API-v2): ``mck`` MQTT client key (mqtt-en.md:37), ``ocppck`` OCPP client key
#: (apikeys-en.md:162), ``wifis`` Wi-Fi configurations "with ssids and keys" (apikeys-en.md:271),
#: ``pco`` controllerCloudKey (apikeys-en.md:187).
_SECRET_NAMES = frozenset({"pass", "pwd", "mck", "ocppck", "wifis", "pco"})


def mask_secrets(text: str) -> str:
    """``text`` with URL passwords and token-like query values replaced by ``***`` (free text too)."""
    text = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    return _SECRET_QUERY.sub(lambda m: f"{m['key']}***", text)


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***``; input that is no URL is masked entirely."""
    try:
        urlsplit(url)
    except ValueError:
        return "***"
    return mask_secrets(url)


def is_secret_key(key: str) -> bool:
    """Whether a record key names a secret (its value is never shown)."""
    lowered = key.lower()
    return any(word in lowered for word in _SECRET_WORDS) or lowered in _SECRET_NAMES
