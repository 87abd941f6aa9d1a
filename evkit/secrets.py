"""Keeping secrets out of output: the one place that knows how a password or token is masked.

Masking is built for malformed input too: a URL without a scheme (``guest:pw@host``), a password with
unencoded ``/ ? # @`` in it, a missing ``@host``. When in doubt more is masked, never less.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

# ``\S*`` is greedy: the password runs to the LAST ``@`` of the word, so unencoded ``/?#@`` stay hidden.
_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>\S*)@")
# ``user:password@host`` at the start of a word, no scheme (``:***@`` is already masked).
_BARE_USERINFO = re.compile(r"(?<![\w/:@.%+-])(?P<user>[\w.%+-]+):(?!//|\*\*\*@)(?P<pw>\S*)@(?=[\w\[])")
_SECRET_QUERY = re.compile(r"(?i)(?P<key>[?&](?:token|password|pass|secret|apikey|api_key)=)[^&#\s]*")
_SCHEME = re.compile(r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)?(?P<rest>.*)$", re.DOTALL)
#: What a Python child needs to start; kept even if a short password happens to appear in it.
_ESSENTIAL_ENV = re.compile(r"^(PATH|PYTHON\w*|VIRTUAL_ENV|HOME|LANG|LC_\w+|TZ|TMPDIR|TEMP|TMP|SYSTEMROOT)$")
_SECRET_WORDS = ("password", "passwd", "secret", "token", "authorization", "credential", "apikey", "api_key")
#: Device setting names whose values are secrets though their names do not say so. go-e
#: (go-eCharger-API-v2): ``mck`` MQTT client key (mqtt-en.md:37), ``ocppck`` OCPP client key
#: (apikeys-en.md:162), ``wifis`` Wi-Fi configurations "with ssids and keys" (apikeys-en.md:271),
#: ``pco`` controllerCloudKey (apikeys-en.md:187).
_SECRET_NAMES = frozenset({"pass", "pwd", "mck", "ocppck", "wifis", "pco"})


def mask_secrets(text: str) -> str:
    """``text`` with URL passwords and token-like query values replaced by ``***`` (free text too),
    also ``user:password@host`` without a scheme."""
    text = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    text = _BARE_USERINFO.sub(lambda m: f"{m['user']}:***@", text)
    return _SECRET_QUERY.sub(lambda m: f"{m['key']}***", text)


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, also when the URL is malformed.

    ``amqp://u:pw@host/vh`` -> ``amqp://u:***@host/vh``; ``u:pw@host`` (no scheme) -> ``u:***@host``;
    ``amqp://u:p/w?x#y@host`` (unencoded characters) -> ``amqp://u:***@host``; ``amqp://u:pw`` (no
    ``@host``: the part after ``:`` is no port) -> ``amqp://u:***``.
    """
    match = _SCHEME.match(url)
    assert match is not None  # the pattern matches every string
    scheme, rest = match["scheme"] or "", match["rest"]
    if any(c.isspace() for c in rest):
        return f"{scheme}***"  # not one URL: nothing of it is safe to show
    if "@" in rest:
        # Everything up to the last "@" is user information, however malformed.
        userinfo, _, after = rest.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        if colon:
            user = user.split("/", 1)[0]
            return _SECRET_QUERY.sub(lambda m: f"{m['key']}***", f"{scheme}{user}:***@{after}")
        return mask_secrets(url)
    # No "@": a "host:port" whose "port" is not a number may be "user:password" with the host missing.
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if not authority.startswith("["):
        name, colon, port_text = authority.partition(":")
        if colon and not port_text.isdigit():
            return f"{scheme}{name}:***"
    return mask_secrets(url)


def is_secret_key(key: str) -> bool:
    """Whether a record key names a secret (its value is never shown)."""
    lowered = key.lower()
    return any(word in lowered for word in _SECRET_WORDS) or lowered in _SECRET_NAMES


def scrubbed_environ(
    environ: Mapping[str, str],
    names: Iterable[str | None] = (),
    values: Iterable[str | None] = (),
    *,
    needed: Iterable[str] = (),
) -> dict[str, str]:
    """A copy of ``environ`` for a child process that needs no secrets.

    Removed: the variables in ``names`` (e.g. the one ``--url-env`` or ``--token-env`` named), every
    variable whose name looks secret (``*PASSWORD*``, ``*TOKEN*``, ``*SECRET*``, ...), every variable
    holding a URL with a password or one of ``values`` (passwords in use: equal, or contained when
    6 characters or longer). ``PATH``, ``PYTHON*``, locale and temp-dir variables are kept unless named,
    and so are the variables starting with a prefix in ``needed`` (secrets the child itself uses, e.g.
    ``AWS_`` for a child writing to an ``s3://`` store).
    """
    drop = {name for name in names if name}
    prefixes = tuple(needed)
    secrets = [value for value in values if value]
    kept: dict[str, str] = {}
    for name, value in environ.items():
        if prefixes and name.startswith(prefixes) and name not in drop:
            kept[name] = value
            continue
        lowered = name.lower()
        if name in drop or any(word in lowered for word in _SECRET_WORDS) or lowered == "pass":
            continue
        if not _ESSENTIAL_ENV.match(name) and (
            mask_secrets(value) != value
            or any(value == secret or (len(secret) >= 6 and secret in value) for secret in secrets)
        ):
            continue
        kept[name] = value
    return kept
