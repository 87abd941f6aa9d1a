"""``evkit set easee`` against the real RabbitMQ with the simulator as the Easee cloud.

Each test has its own operator queue (``<name>.Q``) and command exchange (``<name>.C.X``); the simulator
(:class:`evkit.sim.easee_commands.CommandSim`) answers on the queue like the cloud does.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pika
import polars as pl
import pytest

from evkit.cli import main
from evkit.easee.commands import ticks_of
from evkit.easee.encode import encode_observation
from evkit.sim.easee_cloud import CommandSim, reply_exchange_for
from evkit.sources.amqp import AmqpCapture
from evkit.sources.easee_details import parse_url
from evkit.sources.progress import BackgroundCapture
from tests.conftest import REPO_ROOT
from tests.helpers import wait_until

pytestmark = pytest.mark.broker

SERIAL = "EH000001"
URL_ENV = "EVKIT_TEST_EASEE_URL"


@dataclass
class Operator:
    url: str
    queue: str
    exchange: str
    store: Path

    def args(self, *words: str, timeout: float = 10.0) -> list[str]:
        return ["set", "easee", "--url-env", URL_ENV, "--exchange", self.exchange, "--queue", self.queue,
                "--out", str(self.store), "--timeout", str(timeout), *words]  # fmt: skip

    def channel(self) -> tuple[Any, Any]:
        conn = pika.BlockingConnection(pika.URLParameters(self.url))
        return conn, conn.channel()

    def spy(self) -> str:
        """A queue that receives a copy of every command published to the exchange."""
        conn, channel = self.channel()
        name = channel.queue_declare(f"{self.queue}.spy", auto_delete=False).method.queue
        channel.queue_bind(name, self.exchange, routing_key="#")
        conn.close()
        return str(name)

    def take_all(self, queue: str) -> list[tuple[str, bytes, Any]]:
        conn, channel = self.channel()
        got = []
        while True:
            method, props, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                break
            got.append((method.routing_key, body, props))
        conn.close()
        return got

    def publish_noise(self, count: int) -> list[bytes]:
        """``count`` observations into the operator queue (what the fleet streams meanwhile)."""
        conn, channel = self.channel()
        bodies = []
        for index in range(count):
            key, body = encode_observation("EH0000ZZ", 120, float(index), datetime.now(UTC))
            channel.basic_publish(
                reply_exchange_for(self.queue), key, body, pika.BasicProperties(delivery_mode=2)
            )
            bodies.append(body)
        channel.queue_declare(self.queue, passive=True)
        conn.close()
        return bodies

    def depth(self) -> int:
        conn, channel = self.channel()
        count = int(channel.queue_declare(self.queue, passive=True).method.message_count)
        conn.close()
        return count


@pytest.fixture
def operator(
    amqp_url: str, unique_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Operator]:
    monkeypatch.setenv(URL_ENV, amqp_url)
    op = Operator(amqp_url, f"{unique_name}.Q", f"{unique_name}.C.X", tmp_path / "store")
    conn, channel = op.channel()
    channel.queue_declare(op.queue, durable=True)
    conn.close()
    yield op
    conn, channel = op.channel()
    for name in (op.queue, f"{op.queue}.spy"):
        channel.queue_delete(name)
    conn.close()


def _store_rows(store: Path) -> pl.DataFrame:
    files = [p for p in store.rglob("part-*.parquet") if "audit" not in p.parts]
    if not files:
        return pl.DataFrame({"routing_key": [], "raw": [], "kind": []})
    return pl.concat([pl.read_parquet(f, columns=["routing_key", "raw", "kind"]) for f in files])


def test_wire_form_and_confirmation(operator: Operator, capsys: pytest.CaptureFixture[str]) -> None:
    with CommandSim(operator.url, operator.queue, [SERIAL], command_exchange=operator.exchange):
        spy = operator.spy()
        code = main(operator.args(SERIAL, "SetDynamicChargerCurrent", "13", "5"))
    out = capsys.readouterr()
    assert code == 0, out.err
    assert out.out.startswith("confirmed: EH000001 SetDynamicChargerCurrent(Current_Amp=13, TTL_Minutes=5)")
    ((key, body, props),) = operator.take_all(spy)
    data = json.loads(body)
    # DOC-CMD: {"Id":48,"ExpiresAt":"...","Arguments":[{"Id":1,"Value":"13"},{"Id":2,"Value":"5"}]}
    assert data["Id"] == 48
    assert data["Arguments"] == [{"Id": 1, "Value": "13"}, {"Id": 2, "Value": "5"}]
    stamp = datetime.fromisoformat(data["Timestamp"].replace("Z", "+00:00"))
    assert key == f"{SERIAL}.C.48.{ticks_of(stamp)}"
    assert props.delivery_mode == 2 and props.content_type == "application/json"
    # The response and the read-back were consumed from the shared queue and stored, not lost.
    rows = _store_rows(operator.store)
    assert f"{SERIAL}.CR.48.{ticks_of(stamp)}" in rows.get_column("routing_key").to_list()
    assert f"{SERIAL}.O.48" in rows.get_column("routing_key").to_list()
    audit = pl.read_parquet(next((operator.store / "audit").rglob("*.parquet")))
    assert audit.get_column("outcome").to_list() == ["confirmed"]
    assert "guest" not in audit.get_column("topic")[0]


def test_validation_refusal_sends_nothing(operator: Operator, capsys: pytest.CaptureFixture[str]) -> None:
    with CommandSim(operator.url, operator.queue, [SERIAL], command_exchange=operator.exchange):
        spy = operator.spy()
        for words in (["current", "40"], ["SetDynamicChargerCurrent", "13", "0"], ["SetEnabled"], ["Foo"]):
            assert main(operator.args(SERIAL, *words)) == 2
        assert main(operator.args("QP123456", "pause")) == 2
        assert main(operator.args(SERIAL, "EH000002", "disable")) == 2  # fleet without --yes
    err = capsys.readouterr().err
    assert "0 (pause) or 6-32" in err and "1-1440" in err and "--yes" in err and "Equalizer" in err
    assert operator.take_all(spy) == []
    assert not (operator.store / "audit").exists()


def test_rejection(operator: Operator, capsys: pytest.CaptureFixture[str]) -> None:
    with CommandSim(
        operator.url, operator.queue, [SERIAL], command_exchange=operator.exchange, reject=[SERIAL]
    ):
        code = main(operator.args(SERIAL, "disable"))
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("rejected:") and "ResultCode 1" in err and "rejected by the simulator" in err


def test_silence_is_no_answer(operator: Operator, capsys: pytest.CaptureFixture[str]) -> None:
    with CommandSim(
        operator.url, operator.queue, [SERIAL], command_exchange=operator.exchange, ignore=[SERIAL]
    ):
        started = time.monotonic()
        code = main(operator.args(SERIAL, "disable", timeout=2))
    assert code == 1
    assert time.monotonic() - started >= 2
    assert capsys.readouterr().err.startswith("no answer:")


def test_expiry(operator: Operator, capsys: pytest.CaptureFixture[str]) -> None:
    with CommandSim(
        operator.url, operator.queue, [SERIAL], command_exchange=operator.exchange, expire=[SERIAL]
    ):
        code = main([*operator.args(SERIAL, "enable", timeout=6), "--expires", "1"])
    assert code == 1
    assert capsys.readouterr().err.startswith("expired:")


def test_nobody_listening_is_an_error_not_silence(
    operator: Operator, capsys: pytest.CaptureFixture[str]
) -> None:
    conn, channel = operator.channel()
    channel.exchange_declare(operator.exchange, exchange_type="topic", auto_delete=False)
    try:
        code = main(operator.args(SERIAL, "disable", timeout=2))
    finally:
        channel.exchange_delete(operator.exchange)
        conn.close()
    assert code == 1
    assert "could not route" in capsys.readouterr().err


def test_fleet_with_yes(operator: Operator, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    serials = [f"EH00000{i}" for i in range(1, 5)]
    listing = tmp_path / "chargers.txt"
    listing.write_text("# site A\nEH000001, EH000002\nEH000003\n")
    with CommandSim(operator.url, operator.queue, serials, command_exchange=operator.exchange) as sim:
        code = main([*operator.args(str(listing), "EH000004", "pause"), "--ttl", "5", "--yes"])
        assert sim.stats.accepted == 4
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "sending SetDynamicChargerCurrent to 4 chargers" in captured.err
    assert captured.out.count("confirmed:") == 4


def test_capture_beside_the_command(operator: Operator, capsys: pytest.CaptureFixture[str]) -> None:
    """A capture already consumes the queue into the same store: the response may go to it; set easee
    finds it there, and no message of the queue is lost."""
    capture = AmqpCapture(parse_url(operator.url), operator.store, queue=operator.queue, flush_interval=0.3,
                          writer="thread")  # fmt: skip
    recorder = BackgroundCapture(capture, "test capture")
    try:
        assert wait_until(lambda: capture.consuming, timeout=10)
        with CommandSim(operator.url, operator.queue, [SERIAL], command_exchange=operator.exchange):
            noise = operator.publish_noise(300)
            codes = [
                main(operator.args(SERIAL, "current", str(amps), "--ttl", "5")) for amps in (10, 11, 12, 13)
            ]
        assert codes == [0, 0, 0, 0], capsys.readouterr().err
        assert capsys.readouterr().out.count("confirmed:") == 4
        more = operator.publish_noise(50)
        assert wait_until(lambda: operator.depth() == 0, timeout=10)
    finally:
        recorder.stop()
    rows = _store_rows(operator.store)
    stored = set(rows.get_column("raw").to_list())
    assert set(noise + more) <= stored  # nothing lost, whoever consumed it
    keys = rows.get_column("routing_key").to_list()
    assert sum(1 for k in keys if k.startswith(f"{SERIAL}.CR.48.")) >= 4
    assert operator.depth() == 0


def test_kill_9_while_holding_unacked_messages_loses_nothing(operator: Operator) -> None:
    with CommandSim(
        operator.url, operator.queue, [SERIAL], command_exchange=operator.exchange, ignore=[SERIAL]
    ):
        noise = operator.publish_noise(2000)
        env = {**os.environ, URL_ENV: operator.url, "PYTHONPATH": str(REPO_ROOT)}
        process = subprocess.Popen(
            [sys.executable, "-m", "evkit", *operator.args(SERIAL, "disable", timeout=120)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            # Wait until it holds messages it has taken from the queue (ready count below what we put).
            assert wait_until(lambda: operator.depth() < len(noise), timeout=30)
            time.sleep(0.2)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(10)
    # The broker requeues what was not acknowledged once the dead connection is noticed.
    conn, channel = operator.channel()
    left: list[bytes] = []

    def drained() -> bool:
        while True:
            method, _props, body = channel.basic_get(operator.queue, auto_ack=True)
            if method is None:
                break
            left.append(body)
        stored = set(_store_rows(operator.store).get_column("raw").to_list())
        return set(noise) <= stored | set(left)

    try:
        assert wait_until(drained, timeout=20)
    finally:
        conn.close()


def test_answers_found_only_in_the_store_a_capture_writes(
    operator: Operator, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --no-consume every answer goes to the capture: set easee must read it from the store."""
    capture = AmqpCapture(parse_url(operator.url), operator.store, queue=operator.queue, flush_interval=0.3,
                          writer="thread")  # fmt: skip
    recorder = BackgroundCapture(capture, "test capture")
    try:
        assert wait_until(lambda: capture.consuming, timeout=10)
        with CommandSim(operator.url, operator.queue, [SERIAL], command_exchange=operator.exchange):
            code = main([*operator.args(SERIAL, "SetEnabled", "false"), "--no-consume"])
    finally:
        recorder.stop()
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out.startswith("confirmed:") and "31=False" in captured.out
    assert "other consumer(s)" in captured.err


def test_round_trip_shows_in_evkit_latency(operator: Operator, capsys: pytest.CaptureFixture[str]) -> None:
    with CommandSim(operator.url, operator.queue, [SERIAL], command_exchange=operator.exchange):
        assert main(operator.args(SERIAL, "current", "16", "--ttl", "5")) == 0
        assert main(operator.args(SERIAL, "disable")) == 0
    capsys.readouterr()
    assert main(["latency", str(operator.store), "--format", "json"]) == 0
    hops = json.loads(capsys.readouterr().out)
    assert hops["command_roundtrip"]["n"] == 2
    assert hops["command_readback"]["n"] == 2
    assert 0 <= hops["command_readback"]["p50_s"] < 10


def test_link_reconnects_when_its_connection_was_lost(operator: Operator) -> None:
    """A panel's command connection idles for hours; a dropped connection is re-opened on the next send."""
    from evkit.control.easee import EaseeController
    from evkit.sources.easee_commands import AmqpCommandLink

    with CommandSim(operator.url, operator.queue, [SERIAL], command_exchange=operator.exchange):
        link = AmqpCommandLink(parse_url(operator.url), exchange=operator.exchange, queue=operator.queue,
                               out=operator.store).open()  # fmt: skip
        try:
            controller = EaseeController(link, audit=None, timeout=10)
            link._connection.close()  # as if the broker had dropped it
            result = controller.send(controller.prepare(SERIAL, "enable", []))
        finally:
            link.close()
    assert result.outcome.value == "confirmed", result.detail


def test_flash_command_warns_when_repeated(operator: Operator, capsys: pytest.CaptureFixture[str]) -> None:
    with CommandSim(operator.url, operator.queue, [SERIAL], command_exchange=operator.exchange):
        assert main(operator.args(SERIAL, "SetMaxChargerCurrent", "20")) == 0
        assert "warning" not in capsys.readouterr().err
        assert main(operator.args(SERIAL, "SetMaxChargerCurrent", "16")) == 0
    err = capsys.readouterr().err
    assert "warning: SetMaxChargerCurrent writes the charger's flash memory" in err
