"""Bad command-line input: exit 2 with one sentence on stderr, no traceback, nothing written or sent.

Table-driven and in-process (``evkit.cli.main``), so hundreds of cases stay fast; a few go through a
real ``python -m evkit`` process. Every example of issue 15 ("Nothing lost, nothing leaked", item 6)
is in the table. The commands needing a broker get the real ones, and each case checks afterwards
that the queue or exchange it named was never created (nothing sent).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pika
import pika.exceptions
import pytest

from evkit.cli import build_parser, main
from tests.conftest import REPO_ROOT

SAMPLE = str(REPO_ROOT / "data" / "sample-session")
PW = "Xq7pw9Zz"  # a password that must never appear on stderr

CAPTURE_AMQP = ["capture", "amqp", "--url", "{url}", "--queue", "{name}", "--out", "{tmp}/out"]
CAPTURE_MQTT = ["capture", "mqtt", "--host", "127.0.0.1", "--topic", "{name}/#", "--out", "{tmp}/out"]
SIM_EASEE = ["sim", "easee", "--url", "{url}", "--queue", "{name}", "--declare", "--no-progress"]
REPLAY_MQTT = ["replay", SAMPLE, "--mqtt-host", "127.0.0.1", "--quiet"]
REPLAY_AMQP = ["replay", SAMPLE, "--exchange", "{name}", "--declare-exchange", "topic", "--quiet"]


def _case(base: list[str], *extra: str) -> list[str]:
    return [*base, *extra]


def _amqp_url(url: str) -> list[str]:
    return ["capture", "amqp", "--url", url, "--queue", "{name}", "--out", "{tmp}/o"]


def _sim_url(*url_option: str) -> list[str]:
    return ["sim", "easee", *url_option, "--queue", "{name}", "--declare"]


# (argv template, a word the message must contain). {url} is the real RabbitMQ, {name} a unique
# queue/exchange/topic name, {tmp} an empty folder, {file} a file in it, {dir} a folder in it.
CASES: list[tuple[list[str], str]] = [
    # ---- capture amqp: the issue's --idle-exit nan (never stopped), inf, --flush-interval 1e309,
    # --prefetch 99999999 (a struct error: AMQP's prefetch count is 16 bits), --out naming a file
    (_case(CAPTURE_AMQP, "--idle-exit", "nan"), "--idle-exit"),
    (_case(CAPTURE_AMQP, "--idle-exit", "inf"), "--idle-exit"),
    (_case(CAPTURE_AMQP, "--idle-exit", "0"), "--idle-exit"),
    (_case(CAPTURE_AMQP, "--idle-exit", "-3"), "--idle-exit"),
    (_case(CAPTURE_AMQP, "--idle-exit", "1e309"), "--idle-exit"),
    (_case(CAPTURE_AMQP, "--duration", "nan"), "--duration"),
    (_case(CAPTURE_AMQP, "--duration", "inf"), "--duration"),
    (_case(CAPTURE_AMQP, "--duration", "1e300"), "--duration"),
    (_case(CAPTURE_AMQP, "--flush-interval", "1e309"), "--flush-interval"),
    (_case(CAPTURE_AMQP, "--flush-interval", "nan"), "--flush-interval"),
    (_case(CAPTURE_AMQP, "--flush-interval", "0"), "--flush-interval"),
    (_case(CAPTURE_AMQP, "--flush-rows", "0"), "--flush-rows"),
    (_case(CAPTURE_AMQP, "--flush-rows", "1.5"), "--flush-rows"),
    (_case(CAPTURE_AMQP, "--max-messages", "0"), "--max-messages"),
    (_case(CAPTURE_AMQP, "--max-messages", "nan"), "--max-messages"),
    (_case(CAPTURE_AMQP, "--prefetch", "99999999"), "65535"),
    (_case(CAPTURE_AMQP, "--prefetch", "65536"), "65535"),
    (_case(CAPTURE_AMQP, "--prefetch", "0"), "--prefetch"),
    (_case(CAPTURE_AMQP, "--out", "{file}"), "is a file"),
    (_amqp_url(f"guest:{PW}@127.0.0.1"), "scheme"),
    (_amqp_url(f"amqp://guest:{PW}@127.0.0.1:0/"), "1 to 65535"),  # port 0 was silently 5672
    (_amqp_url(f"amqp://guest:a/{PW}@127.0.0.1/"), "percent-encode"),
    (_amqp_url(f"amqp://guest:a?{PW}@127.0.0.1/"), "percent-encode"),
    (_amqp_url(f"amqp://guest:{PW}@[::1/"), "IPv6"),
    (_amqp_url(f"amqp://guest:{PW}@/"), "no host"),
    (_amqp_url(f"amqp://guest:{PW}"), "no '@host'"),
    (["capture", "amqp", "--url-env", "EVKIT_TEST_BAD_URL", "--queue", "{name}", "--out", "{tmp}/o"],
     "EVKIT_TEST_BAD_URL"),
    (["capture", "amqp", "--token-env", "EVKIT_TEST_TOKEN", "--streams-url", "ftp://h/x", "--out", "{tmp}/o"],
     "streams URL"),
    # ---- capture mqtt: port 0 (silently 1883 before), nan and inf timers, 16-bit receive maximum
    (_case(CAPTURE_MQTT, "--port", "0"), "--port"),
    (_case(CAPTURE_MQTT, "--port", "65536"), "--port"),
    (_case(CAPTURE_MQTT, "--port", "nan"), "--port"),
    (_case(CAPTURE_MQTT, "--idle-exit", "nan"), "--idle-exit"),
    (_case(CAPTURE_MQTT, "--idle-exit", "inf"), "--idle-exit"),
    (_case(CAPTURE_MQTT, "--duration", "inf"), "--duration"),
    (_case(CAPTURE_MQTT, "--flush-interval", "1e309"), "--flush-interval"),
    (_case(CAPTURE_MQTT, "--flush-rows", "0"), "--flush-rows"),
    (_case(CAPTURE_MQTT, "--max-messages", "0"), "--max-messages"),
    (_case(CAPTURE_MQTT, "--receive-maximum", "0"), "--receive-maximum"),
    (_case(CAPTURE_MQTT, "--receive-maximum", "99999999"), "--receive-maximum"),
    (_case(CAPTURE_MQTT, "--session-expiry", "-1"), "--session-expiry"),
    (_case(CAPTURE_MQTT, "--session-expiry", "4294967296"), "--session-expiry"),
    (_case(CAPTURE_MQTT, "--out", "{file}"), "is a file"),
    (_case(CAPTURE_MQTT, "--tls", "--ca-file", "{tmp}/missing.pem"), "--ca-file"),  # was a traceback
    (_case(CAPTURE_MQTT, "--tls", "--ca-file", "{dir}"), "--ca-file"),
    (["capture", "mqtt", "--host", f"mqtt://u:{PW}@127.0.0.1", "--topic", "x/#", "--out", "{tmp}/o"],
     "not a host name"),
    (["capture", "mqtt", "--host", "", "--topic", "x/#", "--out", "{tmp}/o"], "host"),
    # ---- sessions / latency / report: the issue's --gap-minutes nan, report --out naming a folder
    (["sessions", SAMPLE, "--gap-minutes", "nan"], "--gap-minutes"),
    (["sessions", SAMPLE, "--gap-minutes", "inf"], "--gap-minutes"),
    (["sessions", SAMPLE, "--gap-minutes", "1e309"], "--gap-minutes"),
    (["sessions", SAMPLE, "--gap-minutes", "0"], "--gap-minutes"),
    (["sessions", SAMPLE, "--gap-minutes", "1e12"], "--gap-minutes"),  # overflowed a timedelta
    (["sessions", SAMPLE, "--out", "{dir}"], "is a directory"),
    (["latency", SAMPLE, "--out", "{dir}"], "is a directory"),
    (["report", SAMPLE, "--out", "{dir}"], "is a directory"),
    # ---- replay
    (_case(REPLAY_MQTT, "--mqtt-port", "0"), "--mqtt-port"),
    (_case(REPLAY_MQTT, "--mqtt-port", "70000"), "--mqtt-port"),
    (_case(REPLAY_MQTT, "--speed", "nan"), "--speed"),
    (_case(REPLAY_MQTT, "--speed", "inf"), "--speed"),
    (_case(REPLAY_MQTT, "--speed", "-1"), "--speed"),
    (_case(REPLAY_MQTT, "--max-rate", "0"), "--max-rate"),
    (_case(REPLAY_MQTT, "--max-rate", "nan"), "--max-rate"),
    (_case(REPLAY_MQTT, "--max-messages", "0"), "--max-messages"),
    (["replay", SAMPLE, "--mqtt-host", f"u:{PW}@127.0.0.1"], "not a host name"),
    (_case(REPLAY_AMQP, "--url", f"guest:{PW}@127.0.0.1"), "scheme"),
    (_case(REPLAY_AMQP, "--url", f"amqp://guest:a#{PW}@127.0.0.1/"), "percent-encode"),
    (_case(REPLAY_AMQP, "--url", f"amqp://guest:{PW}@127.0.0.1:0/"), "1 to 65535"),
    (_case(REPLAY_AMQP, "--url-env", "EVKIT_TEST_BAD_URL"), "EVKIT_TEST_BAD_URL"),
    # ---- sim easee: wrong numbers, and the URL checked before the banner
    (_case(SIM_EASEE, "--speed", "nan"), "--speed"),
    (_case(SIM_EASEE, "--speed", "inf"), "--speed"),
    (_case(SIM_EASEE, "--speed", "-1"), "--speed"),
    (_case(SIM_EASEE, "--duration", "0"), "--duration"),
    (_case(SIM_EASEE, "--duration", "99999999d"), "--duration"),  # overflowed a timedelta
    (_case(SIM_EASEE, "--duration", "nan"), "--duration"),
    (_case(SIM_EASEE, "--chargers", "0"), "--chargers"),
    (_case(SIM_EASEE, "--chargers", "nan"), "--chargers"),
    (_case(SIM_EASEE, "--chargers", "99999999"), "--chargers"),
    (_case(SIM_EASEE, "--max-messages", "0"), "--max-messages"),
    (_case(SIM_EASEE, "--seed", "1.5"), "--seed"),
    (_case(SIM_EASEE, "--start", "9999-12-31T00:00:00Z", "--duration", "2d"), "9999"),
    (["sim", "easee", "--url", "{url}", "--queue", "", "--declare"], "queue name"),  # made a stray queue
    (["sim", "easee", "--url", "{url}", "--exchange", ""], "exchange name"),
    (_sim_url("--url", f"guest:{PW}@127.0.0.1"), "scheme"),
    (_sim_url("--url", f"amqp://guest:{PW}@127.0.0.1:0/"), "65535"),
    (_sim_url("--url", f"amqp://guest:a/{PW}@127.0.0.1/"), "percent-encode"),
    (_sim_url("--url-env", "EVKIT_TEST_BAD_URL"), "EVKIT_TEST_BAD_URL"),
    # ---- sim evcc, sim goe (their options only; `set evcc` / `set goe` are tested with the controllers)
    (["sim", "evcc", "--duration", "nan"], "--duration"),
    (["sim", "evcc", "--duration", "inf"], "--duration"),
    (["sim", "evcc", "--interval", "0"], "--interval"),
    (["sim", "evcc", "--interval", "nan"], "--interval"),
    (["sim", "evcc", "--speed", "inf"], "--speed"),
    (["sim", "evcc", "--loadpoints", "0"], "--loadpoints"),
    (["sim", "goe", "--speed", "nan"], "--speed"),
    (["sim", "goe", "--speed", "1e309"], "--speed"),
    (["sim", "goe", "--mqtt-port", "0"], "--mqtt-port"),
    (["sim", "goe", "--http-port", "70000"], "--http-port"),
    # ---- demo, lab, compact
    (["demo", "--out", "{file}", "--no-record", "--no-notebook"], "is a file"),
    (["demo", "--out", "{tmp}/o", "--amqp-url", f"guest:{PW}@127.0.0.1", "--no-notebook"], "scheme"),
    (["lab", "--notebooks", "{file}", "--no-simulators"], "is a file"),
    (["lab", "--notebooks", "{tmp}/missing", "--no-simulators"], "missing"),
    (["compact", "{file}"], "not a dataset directory"),
]  # fmt: skip


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """``main(argv)`` in this process: (exit code, stderr); argparse's SystemExit counts as a return."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    return code, capsys.readouterr().err


def assert_one_sentence(err: str, expected: str) -> None:
    """stderr: argparse's usage lines at most, then exactly one ``evkit...`` line; no traceback."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    messages = [line for line in lines if not line.startswith(("usage:", " "))]
    assert len(messages) == 1, err
    assert messages[0].startswith("evkit"), err
    assert expected in messages[0], err
    assert PW not in err


def exists_on_broker(url: str, name: str) -> bool:
    """Whether a queue or an exchange called ``name`` exists (each checked on its own channel)."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        found = False
        for declare in ("queue_declare", "exchange_declare"):
            channel = connection.channel()
            try:
                getattr(channel, declare)(name, passive=True)
                found = True
            except pika.exceptions.ChannelClosedByBroker:
                pass
        for sim_exchange in (f"evkit.sim.easee.{name}",):
            channel = connection.channel()
            try:
                channel.exchange_declare(sim_exchange, passive=True)
                found = True
            except pika.exceptions.ChannelClosedByBroker:
                pass
        return found
    finally:
        connection.close()


def _fill(template: list[str], **values: str) -> list[str]:
    return [part.format(**values) for part in template]


@pytest.mark.broker
@pytest.mark.parametrize(("template", "expected"), CASES, ids=[" ".join(c[0][:2] + c[0][-2:]) for c in CASES])
def test_bad_input_exits_2_with_one_sentence_and_nothing_written_or_sent(
    *,
    template: list[str],
    expected: str,
    tmp_path: Path,
    amqp_url: str,
    unique_name: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "a-folder").mkdir()
    before = sorted(tmp_path.rglob("*"))
    monkeypatch.chdir(tmp_path)  # a default output (report.html, build/) would land here
    monkeypatch.setenv("EVKIT_TEST_BAD_URL", f"guest:{PW}@127.0.0.1")
    monkeypatch.setenv("EVKIT_TEST_TOKEN", "not-a-real-token")
    argv = _fill(
        template,
        url=amqp_url,
        name=unique_name,
        tmp=str(tmp_path),
        file=str(tmp_path / "a-file"),
        dir=str(tmp_path / "a-folder"),
    )
    code, err = run_main(argv, capsys)
    assert code == 2, err
    assert_one_sentence(err, expected)
    assert sorted(tmp_path.rglob("*")) == before  # nothing written
    assert not exists_on_broker(amqp_url, unique_name)  # nothing declared, nothing sent


# A few through a real process: the exit code and stderr a shell sees.
SUBPROCESS_CASES = [
    (["capture", "amqp", "--url", f"amqp://guest:{PW}@127.0.0.1/%2F", "--queue", "q", "--out", "o",
      "--idle-exit", "nan"], "--idle-exit"),
    (["sim", "easee", "--url", f"guest:{PW}@127.0.0.1", "--queue", "q"], "scheme"),
    (["sessions", SAMPLE, "--gap-minutes", "nan"], "--gap-minutes"),
    (["report", SAMPLE, "--out", "."], "is a directory"),
    (["capture", "mqtt", "--host", "127.0.0.1", "--port", "0", "--topic", "x/#", "--out", "o"], "--port"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "expected"), SUBPROCESS_CASES, ids=[" ".join(c[0][:2]) for c in SUBPROCESS_CASES]
)
def test_bad_input_in_a_real_process(argv: list[str], expected: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "evkit", *argv],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert result.returncode == 2, result.stderr
    assert_one_sentence(result.stderr, expected)
    assert list(tmp_path.iterdir()) == []


# Commands whose every typed option must come from evkit.commands._args / _inputs (finite, in range);
# `set evcc` and `set goe` share --port with `sim evcc` and are left to their own tests.
CHECKED_COMMANDS = {
    ("capture", "amqp"),
    ("capture", "mqtt"),
    ("sim", "easee"),
    ("sim", "evcc"),
    ("sim", "goe"),
    ("sessions",),
    ("latency",),
    ("report",),
    ("replay",),
    ("compact",),
    ("demo",),
    ("lab",),
}


def _options(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options(sub, (*path, name))
        elif action.option_strings:
            yield path, action


def test_no_numeric_option_of_these_commands_takes_a_bare_int_or_float() -> None:
    """``type=float`` accepts nan, inf and 1e309; ``type=int`` any range: each such option is a bug."""
    bare = [
        f"evkit {' '.join(path)} {action.option_strings[-1]}"
        for path, action in _options(build_parser(), ())
        if path in CHECKED_COMMANDS and action.type in (int, float) and action.choices is None
    ]
    assert bare == []
