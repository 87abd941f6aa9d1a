"""The Easee fleet simulator: realistic, deterministic, decodes cleanly; publishes to the real RabbitMQ."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pika
import polars as pl
import pytest

from evkit.cli import main
from evkit.easee.catalog import Obs, OpMode
from evkit.easee.decode import Delivery, decode_deliveries
from evkit.sim.easee import MAX_DELAY_S, EaseeFleet, SimMessage, publish

START = datetime(2024, 5, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def two_days() -> list[SimMessage]:
    return list(EaseeFleet(4, seed=7, start=START).messages(timedelta(days=2)))


@pytest.fixture(scope="module")
def decoded(two_days: list[SimMessage]) -> pl.DataFrame:
    deliveries = [Delivery(m.routing_key, m.body, m.headers, False, 0) for m in two_days]
    return decode_deliveries(deliveries).sort("observed_at")


def by_charger(frame: pl.DataFrame, obs_id: int) -> dict[str, list[tuple[datetime, float]]]:
    series: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    for charger, at, value in (
        frame.filter(pl.col("observation_id") == obs_id)
        .select("charger_id", "observed_at", "value")
        .iter_rows()
    ):
        series[charger].append((at, value))
    return series


def test_same_seed_same_messages_other_seed_other_messages() -> None:
    first = list(EaseeFleet(2, seed=1, start=START).messages(3600 * 6))
    again = list(EaseeFleet(2, seed=1, start=START).messages(3600 * 6))
    other = list(EaseeFleet(2, seed=2, start=START).messages(3600 * 6))
    assert first == again
    assert [m.body for m in first] != [m.body for m in other]


def test_messages_come_in_arrival_order_with_realistic_delays(two_days: list[SimMessage]) -> None:
    arrivals = [m.publish_at for m in two_days]
    assert arrivals == sorted(arrivals)
    # 122 is stamped on the hour and delivered minutes later (tests/conformance): not transport.
    delays = [
        (m.publish_at - m.observed_at).total_seconds()
        for m in two_days
        if m.observation_id != Obs.ENERGY_PER_HOUR
    ]
    assert all(0 < delay <= MAX_DELAY_S for delay in delays)
    delays.sort()
    assert 0.1 < delays[len(delays) // 2] < 1.0  # median: a few hundred ms
    assert delays[-1] > 1.0  # with a tail
    assert two_days[0].observed_at >= START
    assert max(m.observed_at for m in two_days) <= START + timedelta(days=2)


def test_everything_decodes_cleanly(decoded: pl.DataFrame, two_days: list[SimMessage]) -> None:
    assert decoded.height == len(two_days)
    assert decoded["error"].null_count() == decoded.height
    assert set(decoded["kind"]) == {"observation"}
    assert decoded["arrival_time"].null_count() == 0
    assert decoded["observation"].null_count() == 0  # only catalog ids
    assert all(m.routing_key == f"{m.charger_id}.O.{m.observation_id}" for m in two_days)


def test_reboots_now_and_then(decoded: pl.DataFrame) -> None:
    boots = decoded.filter(pl.col("observation_id") == Obs.REBOOT_REASON)
    assert boots.height > boots["charger_id"].n_unique()  # more than the first boot of each


def test_boot_observations_at_start(decoded: pl.DataFrame) -> None:
    early = decoded.filter(pl.col("observed_at") < START + timedelta(minutes=1))
    for charger in decoded["charger_id"].unique():
        ids = set(early.filter(pl.col("charger_id") == charger)["observation_id"])
        assert {
            Obs.SOFTWARE_RELEASE,
            Obs.DETECTED_POWER_GRID_TYPE,
            Obs.CONNECTED_TO_CLOUD,
            Obs.OP_MODE,
        } <= ids


ALLOWED = {
    OpMode.DISCONNECTED: {OpMode.DISCONNECTED, OpMode.AWAITING_START, OpMode.AWAITING_AUTHENTICATION},
    OpMode.AWAITING_AUTHENTICATION: {OpMode.AWAITING_START},
    OpMode.AWAITING_START: {OpMode.CHARGING},
    # a charger-side (schedule) pause is 2 AwaitingStart, a car-side one 6 ReadyToCharge
    OpMode.CHARGING: {OpMode.COMPLETED, OpMode.READY_TO_CHARGE, OpMode.AWAITING_START},
    OpMode.READY_TO_CHARGE: {OpMode.CHARGING},
    OpMode.COMPLETED: {OpMode.DISCONNECTED},
}


def test_op_modes_cycle_through_plug_charge_pause_complete_unplug(decoded: pl.DataFrame) -> None:
    seen: set[int] = set()
    for modes in by_charger(decoded, Obs.OP_MODE).values():
        codes = [int(value) for _, value in modes]
        assert codes[0] == OpMode.DISCONNECTED
        seen.update(codes)
        for before, after in itertools.pairwise(codes):
            assert after in ALLOWED[OpMode(before)], (before, after)
    assert {1, 2, 3, 4, 6, 7} <= seen


def test_session_energy_monotone_within_sessions_except_spurious_zeros(decoded: pl.DataFrame) -> None:
    spurious = 0
    events = decoded.filter(pl.col("observation_id").is_in([Obs.OP_MODE, Obs.SESSION_ENERGY]))
    for charger in events["charger_id"].unique():
        last = 0.0
        for obs_id, value in (
            events.filter(pl.col("charger_id") == charger).select("observation_id", "value").iter_rows()
        ):
            if obs_id == Obs.OP_MODE:
                if value in (OpMode.AWAITING_START, OpMode.AWAITING_AUTHENTICATION):
                    last = 0.0  # a new session
                continue
            if value == 0.0:
                spurious += last > 0
                continue
            assert value >= last
            last = value
    assert spurious > 0  # the real chargers' quirk is reproduced


def test_session_energy_matches_the_power_integral(decoded: pl.DataFrame) -> None:
    checked = 0
    for charger, modes in by_charger(decoded, Obs.OP_MODE).items():
        power = by_charger(decoded, Obs.TOTAL_POWER)[charger]
        energy = by_charger(decoded, Obs.SESSION_ENERGY)[charger]
        starts = [  # plug-ins (a schedule pause is AwaitingStart too)
            at
            for (_, before), (at, mode) in itertools.pairwise(modes)
            if before == OpMode.DISCONNECTED and mode != OpMode.DISCONNECTED
        ]
        ends = [
            at
            for (_, before), (at, mode) in itertools.pairwise(modes)
            if mode == OpMode.DISCONNECTED and before != OpMode.DISCONNECTED
        ]
        for start, end in zip(starts, ends, strict=False):
            readings = [(at, kw) for at, kw in power if start <= at <= end]
            integral = sum(
                (b_at - a_at).total_seconds() / 3600 * a_kw
                for (a_at, a_kw), (b_at, _) in itertools.pairwise(readings)
            )
            # the final counter comes at unplug, just after 109 = 1
            final = max(kwh for at, kwh in energy if start <= at <= end + timedelta(seconds=60))
            assert final == pytest.approx(integral, rel=0.1)
            checked += 1
    assert checked >= 3


def test_lifetime_energy_hourly_and_at_plug_in_and_monotone(decoded: pl.DataFrame) -> None:
    for readings in by_charger(decoded, Obs.LIFETIME_ENERGY).values():
        hourly = [at for at, _ in readings if 120 <= at.minute * 60 + at.second <= 600]
        assert len(hourly) >= 47
        values = [value for _, value in readings]
        assert values == sorted(values)
    assert decoded.filter(pl.col("observation_id") == Obs.ENERGY_PER_HOUR).height > 0


@pytest.mark.filterwarnings("ignore:Sortedness of columns")
def test_phase_currents_follow_power(decoded: pl.DataFrame) -> None:
    power = decoded.filter((pl.col("observation_id") == Obs.TOTAL_POWER) & (pl.col("value") > 5))
    assert power.height > 0
    currents = decoded.filter(pl.col("observation_id") == Obs.CURRENT_T3)
    joined = power.join_asof(
        currents.select("charger_id", "observed_at", pl.col("value").alias("amps")),
        on="observed_at",
        by="charger_id",
        strategy="forward",
    ).drop_nulls("amps")
    for kw, amps in joined.select("value", "amps").iter_rows():
        assert amps == pytest.approx(kw * 1000 / 230 / 3, rel=0.1) or amps == pytest.approx(
            kw * 1000 / 230, rel=0.1
        )


def test_telemetry_present(decoded: pl.DataFrame) -> None:
    ids = set(decoded["observation_id"])
    assert {96, 120, 121, 122, 124, 150, 182, 183, 184, 185, 190, 196, 110} <= ids
    reasons = decoded.filter(pl.col("observation_id") == Obs.REASON_FOR_NO_CURRENT)
    assert reasons["label"].null_count() == 0
    assert ids & {130, 132}
    voltages = decoded.filter(pl.col("observation_id").is_in([191, 192, 193]))["value"]
    assert 215 < voltages.mean() < 245  # type: ignore[operator]


def test_rfid_tokens_come_in_pairs(decoded: pl.DataFrame) -> None:
    tokens = decoded.filter(pl.col("observation_id") == Obs.USER_ID_TOKEN)["value_text"].to_list()
    reversed_rows = decoded.filter(pl.col("observation_id") == Obs.USER_ID_TOKEN_REVERSED)
    assert tokens
    assert sorted(reversed_rows["value_reversed"].to_list()) == sorted(tokens)


def test_other_wire_forms_decode_too() -> None:
    for form in ("signalr", "flat"):
        messages = list(EaseeFleet(1, seed=3, start=START, form=form).messages(3600 * 3))  # type: ignore[arg-type]
        frame = decode_deliveries([Delivery(m.routing_key, m.body, m.headers, False, 0) for m in messages])
        assert frame["error"].null_count() == frame.height
        assert frame.height == len(messages)


# ------------------------------------------------------------------------------------ real RabbitMQ


def drain(url: str, queue: str) -> Iterator[Delivery]:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        for method, properties, body in channel.consume(queue, auto_ack=True, inactivity_timeout=1.0):
            if method is None:
                break
            yield Delivery(method.routing_key, body, properties.headers, method.redelivered, 0)
        channel.cancel()
    finally:
        connection.close()


def delete_queue(url: str, queue: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        connection.channel().queue_delete(queue)
    finally:
        connection.close()


@pytest.mark.broker
def test_publish_to_a_queue_every_message_arrives_and_decodes(amqp_url: str, unique_name: str) -> None:
    fleet = EaseeFleet(2, seed=11, start=START)
    expected = list(EaseeFleet(2, seed=11, start=START).messages(3 * 3600))
    try:
        stats = publish(
            fleet, amqp_url, duration=3 * 3600, queue=unique_name, declare=True, speed=0, progress=False
        )
        received = list(drain(amqp_url, unique_name))
    finally:
        delete_queue(amqp_url, unique_name)
    assert stats.messages == len(expected) == len(received)
    frame = decode_deliveries(received)
    assert frame["error"].null_count() == frame.height
    assert [d.routing_key for d in received] == [m.routing_key for m in expected]
    assert [d.body for d in received] == [m.body for m in expected]
    assert frame["arrival_time"].to_list() == [m.publish_at for m in expected]
    assert sum(stats.by_observation.values()) == stats.messages


@pytest.mark.broker
def test_cli_publishes_to_an_exchange_and_stops_at_max_messages(amqp_url: str, unique_name: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    channel.exchange_declare(unique_name, exchange_type="topic", auto_delete=True)
    channel.queue_declare(unique_name)
    channel.queue_bind(unique_name, unique_name, routing_key="*.O.*")
    try:
        code = main(
            ["sim", "easee", "--url", amqp_url, "--exchange", unique_name, "--chargers", "3", "--speed", "0",
             "--duration", "1d", "--seed", "5", "--start", "2024-05-01T00:00:00Z", "--max-messages", "500",
             "--no-progress"]
        )  # fmt: skip
        assert code == 0
        received = list(drain(amqp_url, unique_name))
    finally:
        channel.queue_delete(unique_name)
        connection.close()
    assert len(received) == 500
    frame = decode_deliveries(received)
    assert frame["error"].null_count() == 500
    assert frame["charger_id"].n_unique() == 3


@pytest.mark.broker
def test_missing_queue_is_an_input_error_and_nothing_is_created(
    amqp_url: str, unique_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["sim", "easee", "--url", amqp_url, "--queue", unique_name, "--duration", "1h", "--speed", "0"]
    )
    assert code == 2
    assert "--declare" in capsys.readouterr().err
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        with pytest.raises(pika.exceptions.ChannelClosedByBroker):
            connection.channel().queue_declare(unique_name, passive=True)
    finally:
        connection.close()


@pytest.mark.broker
def test_paced_publishing_waits_for_simulated_time(amqp_url: str, unique_name: str, monkeypatch: Any) -> None:
    waits: list[float] = []
    original = pika.BlockingConnection.sleep

    def record(self: Any, duration: float) -> None:
        waits.append(duration)
        original(self, min(duration, 0.01))  # record the wait, but do not spend it

    monkeypatch.setattr(pika.BlockingConnection, "sleep", record)
    try:
        stats = publish(
            EaseeFleet(1, seed=2, start=START), amqp_url, duration=600, queue=unique_name, declare=True,
            speed=60.0, progress=False,
        )  # fmt: skip
    finally:
        delete_queue(amqp_url, unique_name)
    assert stats.messages > 0
    # 600 simulated seconds at 60x: the last messages are due ~10 s after the first
    assert waits and 5.0 < max(waits) <= 600 / 60 + MAX_DELAY_S / 60 + 1


@pytest.mark.broker
@pytest.mark.parametrize("arrival_header", ["iso", "timestamp", "ticks", "none"])
def test_arrival_header_forms_pass_the_broker(amqp_url: str, unique_name: str, arrival_header: Any) -> None:
    def fleet() -> EaseeFleet:
        return EaseeFleet(1, seed=9, start=START, arrival_header=arrival_header)

    expected = list(fleet().messages(1800))
    try:
        publish(fleet(), amqp_url, duration=1800, queue=unique_name, declare=True, speed=0, progress=False)
        received = list(drain(amqp_url, unique_name))
    finally:
        delete_queue(amqp_url, unique_name)
    frame = decode_deliveries(received)
    assert frame.height == len(expected)
    assert frame["error"].null_count() == frame.height
    arrivals = frame["arrival_time"].to_list()
    if arrival_header == "none":
        assert arrivals == [None] * len(expected)
    elif arrival_header == "timestamp":  # AMQP timestamps carry whole seconds
        assert arrivals == [m.publish_at.replace(microsecond=0) for m in expected]
    else:
        assert arrivals == [m.publish_at for m in expected]
