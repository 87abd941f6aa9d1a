"""Pure parts of the AMQP capture (no broker): connection details, secrets, backoff, the durable-then-ack
pipeline and the writer process."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evkit.errors import ConfigError, StoreError
from evkit.sources.amqp import AmqpCapture, backoff_delays, decode_tuples, resolve_details
from evkit.sources.easee_details import details_from_mapping, mask_url, parse_url, read_details_file
from evkit.sources.pipeline import CapturePipeline
from evkit.sources.writer_process import WriterProcess

# -- URLs and details ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "host", "port", "vhost", "tls"),
    [
        ("amqp://u:p@h:5673/%2F", "h", 5673, "/", False),
        ("amqp://u:p@h", "h", 5672, "/", False),
        ("amqp://u:p@h/", "h", 5672, "/", False),
        ("amqps://u:p@broker.example.com/fleet", "broker.example.com", 5671, "fleet", True),
        ("amqps://u:p@h:5671/a%2Fb", "h", 5671, "a/b", True),
    ],
)
def test_parse_url(url: str, host: str, port: int, vhost: str, tls: bool) -> None:
    details = parse_url(url, queue="Q")
    assert (details.host, details.port, details.vhost, details.tls, details.queue) == (
        host,
        port,
        vhost,
        tls,
        "Q",
    )
    assert (details.username, details.password) == ("u", "p")


@pytest.mark.parametrize("url", ["http://h/", "amqp://", "amqp://u:p@h:notaport/", "h:5672"])
def test_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        parse_url(url)


# Prefixed so a password can never be a substring of the user or host by accident.
_secret = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30).map(
    lambda s: "Zq" + s
)


@given(user=st.text("abcdefgh", min_size=1, max_size=8), password=_secret)
def test_a_password_never_survives_masking(user: str, password: str) -> None:
    url = f"amqps://{user}:{quote(password, safe='')}@broker.example.com:5671/%2F"
    details = parse_url(url)
    assert details.password == password
    for text in (details.masked_url(), mask_url(url), repr(details), json.dumps(details.manifest_fields())):
        assert quote(password, safe="") not in text
        assert password not in text


def test_mask_url_keeps_urls_without_password() -> None:
    assert mask_url("amqp://h:5672/%2F") == "amqp://h:5672/%2F"
    assert mask_url("amqp://u:secret@h:5672/%2F") == "amqp://u:***@h:5672/%2F"


def test_details_from_streams_json_case_insensitive() -> None:
    details = details_from_mapping(
        {
            "Server": "b.amazonaws.com",
            "port": "5671",
            "useSsl": "true",
            "VIRTUALHOST": "/",
            "queueName": "Operator_7.Q",
            "exchangeName": "Operator_7.C.X",
            "username": "op",
            "password": "pw",
            "somethingNew": 1,
        },
        "test",
    )
    assert (details.host, details.port, details.tls, details.queue, details.exchange) == (
        "b.amazonaws.com",
        5671,
        True,
        "Operator_7.Q",
        "Operator_7.C.X",
    )
    assert "pw" not in json.dumps(details.manifest_fields())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "expected a JSON object"),
        ({"server": "h"}, "missing username, password"),
        ({"server": "h", "username": "u", "password": "p", "port": "x"}, "port must be a number"),
    ],
)
def test_bad_details_are_config_errors(data: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        details_from_mapping(data, "test")


def test_details_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        read_details_file(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(ConfigError, match="not JSON"):
        read_details_file(bad)


def test_tls_parameters_verify_and_use_sni() -> None:
    params = parse_url("amqps://u:p@broker.example.com/%2F").pika_parameters()
    assert params.ssl_options.server_hostname == "broker.example.com"
    assert params.ssl_options.context.verify_mode == ssl.CERT_REQUIRED
    assert params.ssl_options.context.check_hostname
    insecure = parse_url("amqps://u:p@broker.example.com/%2F").pika_parameters(insecure=True)
    assert insecure.ssl_options.context.verify_mode == ssl.CERT_NONE
    assert parse_url("amqp://u:p@h/").pika_parameters().ssl_options is None


def test_resolve_details_wants_exactly_one_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="exactly one"):
        resolve_details()
    with pytest.raises(ConfigError, match="exactly one"):
        resolve_details("amqp://h/", details=tmp_path / "x.json")
    with pytest.raises(ConfigError, match="EASEE_TOKEN is empty or unset"):
        resolve_details(token_env="EASEE_TOKEN", environ={})
    details, refresh = resolve_details("amqp://u:p@h/")
    assert details.host == "h" and refresh is None
    details, refresh = resolve_details(url_env="AMQP_URL", environ={"AMQP_URL": "amqps://u:p@broker/%2F"})
    assert (details.host, details.tls, details.password, refresh) == ("broker", True, "p", None)
    with pytest.raises(ConfigError, match="AMQP_URL is empty or unset"):
        resolve_details(url_env="AMQP_URL", environ={})


def test_capture_options_are_validated(tmp_path: Path) -> None:
    details = parse_url("amqp://u:p@h/")
    with pytest.raises(ConfigError, match="no queue"):
        AmqpCapture(details, tmp_path)
    with pytest.raises(ConfigError, match="prefetch"):
        AmqpCapture(details, tmp_path, queue="q", prefetch=0)
    capture = AmqpCapture(details, tmp_path, queue="q", prefetch=300, flush_rows=10_000)
    assert capture.flush_rows == 150  # flushed before the broker's window fills


# -- backoff -------------------------------------------------------------------------------------


def test_backoff_is_capped_exponential_with_jitter() -> None:
    delays = backoff_delays(1.0, 60.0)
    taken = [next(delays) for _ in range(30)]
    ceilings = [min(2.0 ** (i + 1), 60.0) for i in range(30)]
    assert all(max(1.0, c / 2) <= d <= c for d, c in zip(taken, ceilings, strict=True))
    assert max(taken) <= 60.0
    assert len({round(d, 6) for d in taken[10:]}) > 1  # jittered, not a fixed period


def test_default_backoff_never_retries_sooner_than_5_s_nor_later_than_5_min() -> None:
    # Easee asked clients not to reconnect at short intervals (pyeasee PR #88); 1 s was the old floor.
    delays = backoff_delays()
    taken = [next(delays) for _ in range(200)]
    assert min(taken) >= 5.0
    assert taken[0] <= 10.0
    assert max(taken) <= 300.0
    assert max(taken) >= 150.0  # it does back off to minutes
    assert len({round(d, 6) for d in taken[50:]}) > 1  # still jittered at the cap


@pytest.mark.parametrize(
    ("initial", "cap"), [(0.0, 10.0), (10.0, 5.0), (float("nan"), 5.0), (1.0, float("inf"))]
)
def test_impossible_backoff_bounds_are_config_errors(initial: float, cap: float, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="backoff"):
        backoff_delays(initial, cap)
    details = parse_url("amqp://u:p@h/")
    with pytest.raises(ConfigError, match="backoff"):
        AmqpCapture(details, tmp_path, queue="q", backoff_initial=initial, backoff_max=cap)


# -- pipeline ------------------------------------------------------------------------------------


class _Recorder:
    def __init__(self, fail_on: int | None = None) -> None:
        self.written: list[list[int]] = []
        self.acked: list[list[Any]] = []
        self.fail_on = fail_on
        self.gate = threading.Event()
        self.gate.set()

    def write(self, items: Sequence[int]) -> tuple[int, int]:
        self.gate.wait(10)
        if self.fail_on is not None and self.fail_on in items:
            raise StoreError("disk full")
        self.written.append(list(items))
        return len(items), sum(1 for i in items if i < 0)

    def ack(self, tokens: list[Any]) -> None:
        assert self.written, "an ack before any write"
        self.acked.append(tokens)


def test_pipeline_acks_only_after_the_write() -> None:
    rec = _Recorder()
    pipe: CapturePipeline[int] = CapturePipeline(rec.write, rec.ack, flush_rows=3, flush_interval=60)
    pipe.buffer.extend([1, 2, -3])
    assert pipe.should_flush()
    pipe.flush("tag-3")
    assert pipe.wait_idle(10)
    assert rec.written == [[1, 2, -3]] and rec.acked == [["tag-3"]]
    assert (pipe.stats.rows_written, pipe.stats.decode_errors, pipe.stats.acked) == (3, 1, 3)
    pipe.close()


def test_pipeline_merges_batches_queued_behind_a_slow_write() -> None:
    rec = _Recorder()
    rec.gate.clear()
    pipe: CapturePipeline[int] = CapturePipeline(rec.write, rec.ack, flush_rows=1, flush_interval=60)
    for i in range(5):
        pipe.buffer.append(i)
        pipe.flush(f"t{i}")
    rec.gate.set()
    assert pipe.wait_idle(10)
    assert [i for batch in rec.written for i in batch] == list(range(5))
    assert [t for tokens in rec.acked for t in tokens] == [f"t{i}" for i in range(5)]  # in order
    assert len(rec.written) < 5  # the queued batches became one write
    pipe.close()


def test_pipeline_failure_acks_nothing_more() -> None:
    rec = _Recorder(fail_on=99)
    pipe: CapturePipeline[int] = CapturePipeline(rec.write, rec.ack, flush_rows=1, flush_interval=60)
    pipe.buffer.append(1)
    pipe.flush("ok")
    assert pipe.wait_idle(10)
    pipe.buffer.append(99)
    pipe.flush("bad")
    assert pipe.wait_idle(10)
    pipe.buffer.append(2)
    pipe.flush("after")
    assert pipe.wait_idle(10)
    assert isinstance(pipe.error, StoreError)
    assert rec.acked == [["ok"]]
    pipe.close()


def test_pipeline_flush_interval() -> None:
    rec = _Recorder()
    pipe: CapturePipeline[int] = CapturePipeline(rec.write, rec.ack, flush_rows=100, flush_interval=5)
    assert not pipe.should_flush(now=0.0)
    pipe.buffer.append(1)
    assert not pipe.should_flush(now=10.0)  # the clock starts with the first buffered item
    assert not pipe.should_flush(now=14.0)
    assert pipe.should_flush(now=15.0)
    pipe.close()


# -- writer process -------------------------------------------------------------------------------


def _delivery(body: bytes, key: str = "EH000001.O.120") -> tuple[Any, ...]:
    return (key, body, {"ArrivalTime": "2026-11-21T08:00:01Z"}, False, 1_795_000_000_000_000, 1)


def test_writer_process_writes_durable_rows(tmp_path: Path) -> None:
    items = [_delivery(b'{"Timestamp":"2026-11-21T08:00:00Z","Value":1.5}'), _delivery(b"{broken")]
    writer = WriterProcess("evkit.sources.amqp:decode_tuples", tmp_path, "cap-1")
    try:
        assert writer.write(items) == (2, 1)
    finally:
        writer.close()
    assert writer.parts_written == 1
    parts = list(tmp_path.rglob("part-cap-1-*.parquet"))
    assert len(parts) == 1
    assert decode_tuples(items).height == 2


def test_writer_process_reports_an_unwritable_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    writer = WriterProcess("evkit.sources.amqp:decode_tuples", blocker / "sub", "cap-2")
    try:
        with pytest.raises(StoreError, match="cannot write"):
            writer.write([_delivery(b"{}")])
    finally:
        writer.close()


def test_writer_process_death_is_a_store_error(tmp_path: Path) -> None:
    writer = WriterProcess("evkit.sources.amqp:decode_tuples", tmp_path, "cap-3")
    writer.wait_ready()
    writer._proc.kill()
    writer._proc.wait()
    with pytest.raises(StoreError):
        writer.write([_delivery(b"{}")])
    writer.close()


def test_record_amqp_takes_the_backoff_and_refuses_impossible_bounds(tmp_path: Path) -> None:
    from evkit.sources.amqp import record_amqp

    with pytest.raises(ConfigError, match="backoff"):
        record_amqp("amqp://u:p@h/", queue="q", out=tmp_path, backoff_initial=10.0, backoff_max=5.0)
    assert not any(tmp_path.iterdir())  # nothing started, nothing written
