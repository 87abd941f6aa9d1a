"""The audit log and the shared control pieces (outcomes, exit codes, masking, in-memory broker)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

import evkit
from evkit.control.audit import AuditLog
from evkit.control.base import (
    CommandResult,
    MemoryBroker,
    MqttMessage,
    Outcome,
    exit_code,
    mask_secrets,
    topic_matches,
)
from evkit.errors import StoreError
from evkit.store.schema import REQUIRED_COLUMNS


def _result(outcome: Outcome = Outcome.CONFIRMED, **changes: object) -> CommandResult:
    fields: dict[str, object] = {
        "time": datetime(2026, 3, 1, 12, 0, tzinfo=UTC),
        "target": "evcc",
        "transport": "mqtt",
        "topic_or_url": "evcc/loadpoints/1/mode/set",
        "payload": "pv",
        "outcome": outcome,
        "detail": "",
        "latency_s": 0.12,
        "setting": "loadpoints/1/mode",
    }
    fields.update(changes)
    return CommandResult(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("outcome", "code"),
    [
        (Outcome.CONFIRMED, 0),
        (Outcome.UNCHANGED, 0),
        (Outcome.ACCEPTED, 0),
        (Outcome.DRY_RUN, 0),
        (Outcome.REJECTED, 1),
        (Outcome.NO_ANSWER, 1),
    ],
)
def test_exit_codes(outcome: Outcome, code: int) -> None:
    assert exit_code(outcome) == code
    assert _result(outcome).exit_code == code


def test_outcome_labels_read_as_words() -> None:
    assert Outcome.NO_ANSWER.label == "no answer"
    assert "no answer" in _result(Outcome.NO_ANSWER, detail="no echo").summary()


def test_audit_rows_are_readable_with_scan(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    log.record(_result())
    log.record(_result(Outcome.NO_ANSWER, detail="no echo: check evcc's log", latency_s=None))
    frame = evkit.scan(tmp_path / "audit").sort("outcome").collect()
    assert frame.height == 2
    assert set(REQUIRED_COLUMNS) <= set(frame.columns)
    assert frame["kind"].to_list() == ["command", "command"]
    assert frame["outcome"].to_list() == ["confirmed", "no_answer"]
    assert frame["topic"].to_list() == ["evcc/loadpoints/1/mode/set"] * 2
    assert frame["payload"].to_list() == ["pv", "pv"]
    assert frame["error"].to_list() == [None, "no echo: check evcc's log"]
    assert frame["latency_s"].to_list() == [0.12, None]
    assert frame["received_at"].dtype == pl.Datetime("us", "UTC")
    assert log.read().collect().height == 2


def test_audit_never_writes_credentials(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    log.record(
        _result(
            target="go-e",
            transport="http",
            topic_or_url="http://admin:s3cret@10.0.0.5/api/set?amp=16&token=abcdef",
            payload="16",
        )
    )
    blob = b"".join(p.read_bytes() for p in (tmp_path / "audit").rglob("*.parquet"))
    assert b"s3cret" not in blob
    assert b"abcdef" not in blob
    frame = log.read().collect()
    assert frame["topic"][0] == "http://admin:***@10.0.0.5/api/set?amp=16&token=***"


def test_mask_secrets_leaves_plain_text_alone() -> None:
    assert mask_secrets("mqtt://broker:1883") == "mqtt://broker:1883"
    assert mask_secrets("mqtts://u:pw@host:8883") == "mqtts://u:***@host:8883"


@pytest.mark.parametrize(
    ("pattern", "topic", "expected"),
    [
        ("evcc/#", "evcc", True),
        ("evcc/#", "evcc/site/x", True),
        ("evcc/+/x", "evcc/site/x", True),
        ("evcc/+/x", "evcc/site/y", False),
        ("evcc/site", "evcc/site/x", False),
        ("#", "anything/at/all", True),
    ],
)
def test_topic_matches(pattern: str, topic: str, expected: bool) -> None:
    assert topic_matches(pattern, topic) is expected


def test_memory_broker_retains_and_records_retain_flags() -> None:
    broker = MemoryBroker()
    broker.publish("a/b", "1", retain=True)
    seen: list[MqttMessage] = []
    client = broker.transport()
    client.subscribe("a/#", seen.append)
    assert [(m.topic, m.text, m.retained) for m in seen] == [("a/b", "1", True)]
    client.publish("a/c", "2")
    assert seen[-1].text == "2"
    assert broker.published[-1].retained is False
    broker.publish("a/b", b"", retain=True)  # an empty retained payload deletes
    assert "a/b" not in broker.retained
    client.close()
    broker.publish("a/d", "3")
    assert seen[-1].topic == "a/b"  # closed: no more deliveries


def test_unwritable_audit_directory_fails_before_anything_is_sent(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot write"):
        AuditLog(blocker).ensure_writable()
