"""Replaying a store with a data page damaged behind a sound footer (a capture-written store, real
RabbitMQ): the part is named before a message goes out (exit 2), ``--skip-damaged`` replays the rest
and names it, and a page damaged (or a part compacted away) while a replay runs stops it saying how
many messages went out and how to replay the rest."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pika
import polars as pl
import pytest

from evkit.cli import main
from evkit.commands._dataset import reading_whole_parts
from evkit.errors import DatasetError
from evkit.replay import AmqpTarget, load_messages, replay_dataset
from evkit.store.reader import damaged_parts_policy
from evkit.store.writer import PartWriter
from tests.analysis.conftest import build_fleet
from tests.test_cli_damaged_pages import ROWS_PER_PART, _without, damage_a_page

pytestmark = pytest.mark.broker

#: The second day of the store: the fleet's day again, a day later.
SECOND_DAY = datetime(2026, 3, 3, tzinfo=UTC)


def _two_days(root: Path, *, redelivered: bool = True) -> list[Path]:
    """The fleet written as a capture writes it, on its day and again the next (without the messages
    the broker delivered again, unless ``redelivered``); the second day's parts."""
    frame = build_fleet().frame()
    if not redelivered:
        frame = frame.filter(pl.col("redelivered").not_())
    later = frame.with_columns(
        pl.col(name) + timedelta(days=1) for name in ("received_at", "observed_at", "arrival_time")
    )
    writer = PartWriter(root)
    for rows in (frame, later):
        for start in range(0, rows.height, ROWS_PER_PART):
            writer.write(rows.slice(start, ROWS_PER_PART))
    return sorted((root / f"date={SECOND_DAY:%Y-%m-%d}").glob("*.parquet"))


@dataclass
class Exchange:
    """A fanout exchange of the real RabbitMQ and a queue bound to it: what a replay delivered."""

    url: str
    name: str
    queue: str
    channel: Any

    def received(self) -> list[tuple[str, bytes]]:
        """(routing key, body) of every message delivered since the last call, in order."""
        got = []
        while True:
            method, _, body = self.channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                return got
            got.append((method.routing_key, body))


@pytest.fixture
def exchange(amqp_url: str, unique_name: str) -> Iterator[Exchange]:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    name, queue = f"{unique_name}-x", f"{unique_name}-q"
    channel.exchange_declare(name, "fanout", durable=True)
    channel.queue_declare(queue)
    channel.queue_bind(queue, name)
    try:
        yield Exchange(amqp_url, name, queue, channel)
    finally:
        channel.queue_delete(queue)
        channel.exchange_delete(name)
        connection.close()


def _replay(capsys: pytest.CaptureFixture[str], store: Path, to: Exchange, *extra: str) -> tuple[int, str]:
    argv = ["replay", str(store), "--url", to.url, "--exchange", to.name, "--speed", "0", "--quiet"]
    code = main([*argv, *extra])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("redelivered", [False, True])
def test_a_damaged_page_is_named_before_a_message_goes_out_and_skipped_on_request(
    tmp_path: Path,
    exchange: Exchange,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    *,
    redelivered: bool,
) -> None:
    """The part is on the second day: read day by day, the first day would go out before it is found
    (with redelivered messages, the search for their copies reads every body first and finds it)."""
    root = tmp_path / "store"
    damaged = _two_days(root, redelivered=redelivered)[2]
    damage_a_page(damaged, column="raw")
    code, err = _replay(capsys, root, exchange)
    assert code == 2, err
    relative = damaged.relative_to(root).as_posix()
    assert f"1 damaged Parquet part(s) in {root}" in err
    assert f"{relative} (data page unreadable in row group 0: " in err
    assert "--skip-damaged" in err and err.rstrip().endswith("Nothing was published")
    assert "Traceback" not in err and "guest" not in err and err.count("\n") == 1
    assert exchange.received() == []
    with caplog.at_level(logging.WARNING, logger="evkit.store"):
        code, err = _replay(capsys, root, exchange, "--skip-damaged")
    assert code == 0, err
    got = exchange.received()
    assert f"skipped 1 damaged Parquet part(s): {damaged} (data page unreadable" in caplog.text
    code, err = _replay(capsys, _without(root, tmp_path / "clean", [damaged]), exchange)
    assert code == 0, err
    assert got == exchange.received()  # the store without the part, message for message
    assert f"replayed {len(got):,} messages" in err


def test_max_messages_within_the_first_day_does_not_read_a_later_damaged_day(
    tmp_path: Path, exchange: Exchange, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the replay reads is read before it begins, not more: with no redelivered message to look
    for copies of (whose bodies are searched in the whole store), ten messages read the first day."""
    root = tmp_path / "store"
    damage_a_page(_two_days(root, redelivered=False)[0], column="raw")
    code, err = _replay(capsys, root, exchange, "--max-messages", "10")
    assert code == 0, err
    assert len(exchange.received()) == 10


def _at_first_wait(action: Callable[[], object]) -> tuple[Callable[[float], None], list[object]]:
    """A clock for a replay (its ``sleep``) that runs ``action`` once, at the replay's first wait (while
    the first day goes out), and the list its result goes to."""
    done: list[object] = []

    def sleep(wait: float) -> None:
        del wait
        if not done:
            done.append(action())

    return sleep, done


def test_a_page_damaged_while_the_replay_runs_stops_it_saying_what_went_out(
    tmp_path: Path, exchange: Exchange
) -> None:
    """Damaged after the check, while the first day goes out: the replay stops before the second day,
    names the part and says how many messages went out; the ``--from`` it suggests replays exactly the
    rest. ``--skip-damaged`` does not run it again: what went out would go out twice."""
    root = tmp_path / "store"
    hit = _two_days(root)[1]
    total = load_messages(root, "amqp").height
    first_day = load_messages(root, "amqp", end=SECOND_DAY).height

    damaging, damaged = _at_first_wait(lambda: damage_a_page(hit, column="raw"))
    target = AmqpTarget(exchange.url, exchange.name)
    with damaged_parts_policy(True), pytest.raises(DatasetError) as caught:
        reading_whole_parts(str(root), lambda: replay_dataset(root, target, speed=1.0, sleep=damaging))
    message = str(caught.value)
    assert message.startswith(f"1 damaged Parquet part(s) in {root}, found when their data was read: ")
    assert f"{hit.relative_to(root).as_posix()} (data page unreadable in row group 0: " in message
    assert (
        f"The replay stopped after publishing {first_day:,} of {total:,} messages, every one received "
        "before 2026-03-03T00:00:00Z (--skip-damaged leaves out only parts found before the first message)"
    ) in message
    assert message.endswith("the same command with --from 2026-03-03T00:00:00Z replays the rest")
    went_out = exchange.received()
    assert len(went_out) == first_day  # published once: not replayed again without the part
    shutil.move(hit, tmp_path / hit.name)  # as the message says
    replay_dataset(root, target, speed=0, start=SECOND_DAY)
    assert damaged and went_out + exchange.received() == _all_of(root, exchange, target)


def _all_of(root: Path, exchange: Exchange, target: AmqpTarget) -> list[tuple[str, bytes]]:
    """Every message a replay of ``root`` delivers."""
    replay_dataset(root, target, speed=0)
    return exchange.received()


def test_a_compaction_while_the_replay_runs_stops_it_saying_what_went_out(
    tmp_path: Path, exchange: Exchange, capsys: pytest.CaptureFixture[str]
) -> None:
    """`evkit compact` replaces the second day's parts while the first day goes out: the replay stops
    before the second day and says how many messages went out and the ``--from`` that replays the
    rest from the merged part ("run the command again" sent the first day twice); it replays exactly
    the rest."""
    root = tmp_path / "store"
    _two_days(root)
    total = load_messages(root, "amqp").height
    first_day = load_messages(root, "amqp", end=SECOND_DAY).height
    compacting, compacted = _at_first_wait(lambda: main(["compact", str(root)]))
    target = AmqpTarget(exchange.url, exchange.name)
    with pytest.raises(DatasetError) as caught:
        replay_dataset(root, target, speed=1.0, sleep=compacting)
    assert compacted == [0]
    message = str(caught.value)
    assert message.startswith(f"a part of {root} vanished while it was read (")
    assert "did `evkit compact` run meanwhile?" in message
    assert (
        f"The replay stopped after publishing {first_day:,} of {total:,} messages, every one received "
        "before 2026-03-03T00:00:00Z: its messages are in the parts that replaced it: the same command "
        "with --from 2026-03-03T00:00:00Z replays the rest"
    ) in message
    went_out = exchange.received()
    assert len(went_out) == first_day
    replay_dataset(root, target, speed=0, start=SECOND_DAY)
    assert sorted(went_out + exchange.received()) == sorted(_all_of(root, exchange, target))
