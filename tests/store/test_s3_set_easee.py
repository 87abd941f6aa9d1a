"""``evkit set easee --out s3://...`` against the real RabbitMQ (the simulator as the Easee cloud) and
the real S3 server: what it consumes while waiting is stored in the bucket before it is acknowledged,
the audit goes to the bucket, an answer a capture wrote to the bucket is found there."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import evkit
from evkit.cli import main
from evkit.sim.easee_cloud import CommandSim
from evkit.sources.amqp import AmqpCapture
from evkit.sources.easee_details import parse_url
from evkit.sources.progress import BackgroundCapture
from tests.control.test_easee_cli import SERIAL, URL_ENV, Operator, operator
from tests.helpers import wait_until
from tests.s3fixtures import ACCESS_KEY, SECRET_KEY
from tests.store.test_s3_lease import _leases

pytestmark = pytest.mark.broker
__all__ = ["operator"]  # the fixture, re-used


def _args(op: Operator, out: str, *words: str, timeout: float = 10.0) -> list[str]:
    return ["set", "easee", "--url-env", URL_ENV, "--exchange", op.exchange, "--queue", op.queue,
            "--out", out, "--timeout", str(timeout), *words]  # fmt: skip


def _messages(url: str) -> pl.DataFrame:
    return evkit.scan(url, dedupe=False).select("routing_key", "raw", "kind").collect()


def test_set_easee_consumes_into_s3_and_audits_there(
    operator: Operator, s3_dataset: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with CommandSim(operator.url, operator.queue, [SERIAL], command_exchange=operator.exchange):
        noise = operator.publish_noise(500)  # the fleet's traffic, queued ahead of the answer
        code = main(_args(operator, s3_dataset, SERIAL, "current", "12", "--ttl", "5"))
        more = operator.publish_noise(20)
        assert main(_args(operator, s3_dataset, SERIAL, "pause")) == 0
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out.count("confirmed:") == 2
    assert f"in {s3_dataset}" in captured.err  # "kept N message(s) ... in s3://..."
    assert operator.depth() == 0  # everything it took was acknowledged ...
    stored = _messages(s3_dataset)
    assert set(noise + more) <= set(stored["raw"].to_list())  # ... and is in the bucket
    responses = stored.filter(pl.col("routing_key").str.starts_with(f"{SERIAL}.CR."))
    assert responses.height >= 2
    audit = evkit.scan(f"{s3_dataset}/audit").sort("received_at").collect()
    assert audit["outcome"].to_list() == ["confirmed", "confirmed"]
    assert all(SERIAL in topic for topic in audit["topic"].to_list())  # {serial}.C.{id}.{ticks}
    for text in (captured.out, captured.err):
        assert SECRET_KEY not in text and ACCESS_KEY not in text
    assert _leases(s3_dataset) == [] and _leases(f"{s3_dataset}/audit") == []  # released: days compactable


def test_set_easee_finds_the_answer_a_capture_wrote_to_s3(
    operator: Operator, s3_dataset: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--no-consume: every answer goes to a capture writing into the bucket; set easee reads it there."""
    capture = AmqpCapture(parse_url(operator.url), s3_dataset, queue=operator.queue, flush_interval=0.3,
                          writer="thread")  # fmt: skip
    recorder = BackgroundCapture(capture, "test capture")
    try:
        assert wait_until(lambda: capture.consuming, timeout=10)
        with CommandSim(operator.url, operator.queue, [SERIAL], command_exchange=operator.exchange):
            code = main([*_args(operator, s3_dataset, SERIAL, "SetEnabled", "false"), "--no-consume"])
    finally:
        recorder.stop()
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out.startswith("confirmed:") and "31=False" in captured.out


@pytest.mark.parametrize("audit_elsewhere", [False, True], ids=["audit-in-store", "audit-elsewhere"])
def test_set_easee_with_a_missing_bucket_sends_nothing(
    operator: Operator,
    s3_env: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    audit_elsewhere: bool,
) -> None:
    argv = _args(operator, "s3://evkit-no-such-bucket/fleet", SERIAL, "pause")
    if audit_elsewhere:  # the store is checked on its own, before anything is sent
        argv += ["--audit-dir", str(tmp_path)]
    with CommandSim(operator.url, operator.queue, [SERIAL], command_exchange=operator.exchange) as sim:
        spy = operator.spy()
        code = main(argv)
    assert code != 0
    assert "the bucket 'evkit-no-such-bucket' does not exist" in capsys.readouterr().err
    assert operator.take_all(spy) == [] and sim.stats.commands == 0  # no command was published
