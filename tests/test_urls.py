"""evkit.urls and evkit.secrets: one URL parser that never echoes a password, even for malformed URLs,
and a child environment without secrets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evkit.errors import ConfigError
from evkit.secrets import mask_secrets, mask_url, scrubbed_environ
from evkit.sources.easee_details import parse_url as parse_amqp_url
from evkit.urls import parse_url

PW = "S3cr3tPw"

# (URL, a word the refusal must contain). Each one leaked the password (or part of it) before.
MALFORMED = [
    (f"guest:{PW}@127.0.0.1", "no scheme"),
    (f"guest:{PW}@127.0.0.1:5672/%2F", "no scheme"),
    (f"amqp://guest:S3/{PW}@127.0.0.1/", "'@' after its host"),
    (f"amqp://guest:S3?{PW}@127.0.0.1/", "'@' after its host"),
    (f"amqp://guest:S3#{PW}@127.0.0.1/", "'@' after its host"),
    (f"amqp://guest:123/{PW}@127.0.0.1/", "'@' after its host"),  # "123" would have become the port
    (f"amqp://guest:{PW}", "no '@host'"),
    (f"amqp://guest:{PW}@/", "no host"),
    (f"amqp://guest:{PW}@127.0.0.1:0/", "1 to 65535"),
    (f"amqp://guest:{PW}@127.0.0.1:99999/", "1 to 65535"),
    (f"amqp://guest:{PW}@127.0.0.1:port/", "1 to 65535"),
    (f"amqp://guest:{PW}@[::1/", "IPv6"),
    (f"amqp://guest:{PW} x@127.0.0.1/", "space"),
    (f"mqtt://guest:{PW}@127.0.0.1/", "must start with amqp:// or amqps://"),
]


@pytest.mark.parametrize(("url", "reason"), MALFORMED)
def test_a_malformed_url_is_refused_without_showing_the_password(url: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_amqp_url(url)
    message = str(caught.value)
    assert reason in message
    assert PW not in message and "S3" not in message and "123" not in message


@pytest.mark.parametrize("url", [url for url, _ in MALFORMED])
def test_mask_url_hides_the_password_of_malformed_urls(url: str) -> None:
    masked = mask_url(url)
    assert PW not in masked and "S3" not in masked


# In free text only "user:password@" is recognisable ("scheme://user:password" reads as host:port).
@pytest.mark.parametrize("url", [url for url, _ in MALFORMED if " " not in url and "@" in url])
def test_mask_secrets_hides_them_in_free_text(url: str) -> None:
    assert PW not in mask_secrets(f"error: {url} refused")


def test_mask_secrets_leaves_plain_text_alone() -> None:
    for text in ("mqtt://broker:1883", "at 10:30 ok", "amqp://h/vh", "amqp://u:***@h", "git@github.com"):
        assert mask_secrets(text) == text


def test_a_good_url_parses_with_defaults_and_decoded_credentials() -> None:
    parsed = parse_url("amqps://op%40x:p%2Fw%3Fd@[::1]/vh", ("amqp", "amqps"))
    assert (parsed.scheme, parsed.host, parsed.port, parsed.tls) == ("amqps", "::1", 5671, True)
    assert (parsed.username, parsed.password, parsed.path) == ("op@x", "p/w?d", "/vh")
    assert "p/w?d" not in repr(parsed) and "p%2Fw" not in parsed.masked()
    assert parsed.masked() == "amqps://op%40x:***@[::1]:5671/vh"
    details = parse_amqp_url("amqp://guest:guest@127.0.0.1:5673/%2F")
    assert (details.host, details.port, details.vhost, details.password) == ("127.0.0.1", 5673, "/", "guest")
    # An unencoded "@" in the password is unambiguous (the host follows the last "@"): accepted.
    assert parse_amqp_url("amqp://u:p@ss@h/").password == "p@ss"


_PASSWORD = st.text(alphabet=st.characters(codec="ascii", exclude_characters=" \t\r\n\x0b\x0c"), min_size=4)


@given(password=_PASSWORD.map(lambda p: f"Pw{p}"), port=st.integers(min_value=-5, max_value=70000))
def test_no_url_ever_echoes_its_password(password: str, port: int) -> None:
    """Whatever the password holds (unencoded '/?#@:[]'), the parser's message and the masked URL
    never contain it: it parses, or it is refused with the password masked."""
    for url in (
        f"amqp://user:{password}@broker.example:{port}/vh",
        f"user:{password}@broker.example",
        f"amqps://user:{password}@",
    ):
        assert password not in mask_url(url)
        try:
            parsed = parse_amqp_url(url)
        except ConfigError as exc:
            assert password not in str(exc)
        else:
            assert password not in parsed.masked_url() and password not in repr(parsed)


def test_scrubbed_environ_drops_secrets_and_keeps_what_python_needs() -> None:
    environ = {
        "PATH": "/usr/bin",
        "PYTHONPATH": "/work/src",
        "HOME": "/root",
        "AMQP_URL": "amqp://guest:x@h/",  # also named below; a URL with a password anyway
        "MY_URL": "guest:longpassword@h",  # named by --url-env
        "EASEE_TOKEN": "tok",
        "MQTT_PASSWORD": "pw",
        "SOME_SECRET": "s",
        "PLAIN": "the longpassword inside",  # holds the password in use
        "BROKER": "mqtts://u:pw@h:8883",
        "LANG": "C.UTF-8",
        "PWD": "/tmp",
    }
    kept = scrubbed_environ(environ, names=("MY_URL", None), values=("longpassword", None))
    assert kept == {
        "PATH": "/usr/bin",
        "PYTHONPATH": "/work/src",
        "HOME": "/root",
        "LANG": "C.UTF-8",
        "PWD": "/tmp",
    }
    # A short password does not empty PATH and friends (only exact matches elsewhere).
    assert scrubbed_environ({"PATH": "/usr/bin", "X": "bin"}, values=("bin",)) == {"PATH": "/usr/bin"}
