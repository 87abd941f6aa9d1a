"""The simulated Easee cloud's command side: pure handler rules, the fleet model's power cap, and the
simulator answering on a real RabbitMQ."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pika
import pytest

from evkit.easee.catalog import Obs
from evkit.easee.commands import build_command, parse_command_response
from evkit.sim.easee import EaseeFleet, publish
from evkit.sim.easee_cloud import CommandListener, CommandSim
from evkit.sim.easee_commands import CommandHandler, Reply
from tests.conftest import REPO_ROOT
from tests.helpers import wait_until

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
NOW = T0.timestamp()
SERIAL = "EH000001"


def _send(handler: CommandHandler, command: str | int, args: list[object], now: float = NOW) -> list[Reply]:
    cmd = build_command(SERIAL, command, args, at=datetime.fromtimestamp(now, UTC), expires_in=60)
    return handler.handle(cmd.routing_key, cmd.body, now)


def test_accepted_command_answers_response_then_readback() -> None:
    handler = CommandHandler([SERIAL])
    cmd = build_command(SERIAL, 48, [13, 5], at=T0)
    replies = handler.handle(cmd.routing_key, cmd.body, NOW)
    assert [key for key, _ in replies] == [cmd.response_key, f"{SERIAL}.O.48"]
    response = parse_command_response(*replies[0])
    assert response is not None and response.was_accepted is True and response.ticks == cmd.ticks
    assert json.loads(replies[1][1])["Value"] == 13.0


def test_pause_stops_power_and_ttl_expiry_restores() -> None:
    handler = CommandHandler([SERIAL])
    assert handler.cap_power(SERIAL, NOW, 11.0, True) == 11.0
    _send(handler, 48, [0, 5])  # pause
    assert handler.cap_power(SERIAL, NOW + 1, 11.0, True) == 0.0
    assert handler.due(NOW + 299) == []
    restored = handler.due(NOW + 300)
    assert [key for key, _ in restored] == [f"{SERIAL}.O.48"]
    assert json.loads(restored[0][1])["Value"] == 32.0
    assert handler.cap_power(SERIAL, NOW + 301, 11.0, True) == 11.0


def test_dynamic_current_caps_power() -> None:
    handler = CommandHandler([SERIAL])
    _send(handler, 48, [10, 60])
    assert handler.cap_power(SERIAL, NOW + 1, 11.0, True) == pytest.approx(10 * 230 * 3 / 1000)
    assert handler.cap_power(SERIAL, NOW + 1, 11.0, False) == pytest.approx(10 * 230 / 1000)
    assert handler.cap_power(SERIAL, NOW + 1, 1.0, True) == 1.0


def test_disable_stops_power_and_reads_back_31() -> None:
    handler = CommandHandler([SERIAL])
    replies = _send(handler, 29, [False])
    assert replies[1][0] == f"{SERIAL}.O.{Obs.IS_ENABLED}"
    assert json.loads(replies[1][1])["Value"] is False
    assert handler.cap_power(SERIAL, NOW, 7.0, True) == 0.0


def test_circuit_current_reads_back_three_phases() -> None:
    handler = CommandHandler([SERIAL])
    replies = _send(handler, 22, [10, 11, 12, 5])
    assert [key for key, _ in replies[1:]] == [f"{SERIAL}.O.111", f"{SERIAL}.O.112", f"{SERIAL}.O.113"]
    assert len(handler.due(NOW + 300)) == 3


def test_reject_ignore_expire_and_unknown() -> None:
    handler = CommandHandler([SERIAL, "EH000002", "EH000003"], reject=[SERIAL], ignore=["EH000002"],
                             expire=["EH000003"])  # fmt: skip
    rejected = parse_command_response(*_send(handler, 48, [13, 5])[0])
    assert rejected is not None and rejected.was_accepted is False and rejected.comment
    cmd = build_command("EH000002", 48, [13, 5], at=T0)
    assert handler.handle(cmd.routing_key, cmd.body, NOW) == []
    cmd = build_command("EH000003", 48, [13, 5], at=T0, expires_in=30)
    assert handler.handle(cmd.routing_key, cmd.body, NOW) == []
    assert handler.due(NOW + 29) == []
    (late,) = handler.due(NOW + 30)
    expired = parse_command_response(*late)
    assert expired is not None and expired.expired and expired.delivered_at is None
    cmd = build_command("EH999999", 48, [13, 5], at=T0)
    unknown = parse_command_response(*handler.handle(cmd.routing_key, cmd.body, NOW)[0])
    assert unknown is not None and unknown.was_accepted is False
    assert handler.stats.rejected == 2 and handler.stats.ignored == 1 and handler.stats.expired == 1


def test_out_of_range_argument_on_the_wire_is_rejected() -> None:
    handler = CommandHandler([SERIAL])
    cmd = build_command(SERIAL, 48, [13, 5], at=T0)
    body = cmd.body.replace(b'"Value":"13"', b'"Value":"3"')
    response = parse_command_response(*handler.handle(cmd.routing_key, body, NOW)[0])
    assert response is not None and response.was_accepted is False and "6-32" in (response.comment or "")


def test_fleet_model_obeys_a_pause() -> None:
    """Paused for eight hours, a fleet draws no power, its plugged-in chargers wait in 2 AwaitingStart
    with 96 = 52 MaxDynamicChargerCurrentTooLow (DOC-ENUM: 2 is SuspendedEVSE; 4 Completed means the
    car stopped), and they charge once the pause runs out; unpaused, the same fleet charges at once."""
    fleet = EaseeFleet(4, seed=4, start=T0)
    handler = CommandHandler(fleet.serials)
    for serial in fleet.serials:
        cmd = build_command(serial, 48, [0, 480], at=T0)
        handler.handle(cmd.routing_key, cmd.body, NOW)
    fleet.controls = handler
    rows = list(fleet.messages(timedelta(hours=24)))
    end = NOW + 480 * 60

    def during(obs: int) -> list[object]:
        return [m.value for m in rows if m.observation_id == obs and m.observed_at.timestamp() < end]

    assert all(p == 0.0 for p in during(Obs.TOTAL_POWER))
    assert 3 not in during(Obs.OP_MODE) and 4 not in during(Obs.OP_MODE)
    assert 2 in during(Obs.OP_MODE) and 52 in during(Obs.REASON_FOR_NO_CURRENT)
    after = [m for m in rows if m.observation_id == Obs.OP_MODE and m.observed_at.timestamp() >= end]
    assert any(m.value == 3 for m in after), "the fleet never charged after the pause ran out"
    free = [m.value for m in EaseeFleet(4, seed=4, start=T0).messages(timedelta(hours=8))
            if m.observation_id == Obs.TOTAL_POWER]  # fmt: skip
    assert max(free) > 0.0


def test_a_charger_paused_while_charging_goes_to_awaiting_start() -> None:
    """A pause arriving mid-charge moves the charger 3 -> 2 (never 4), and it resumes charging after."""
    fleet = EaseeFleet(4, seed=4, start=T0)
    handler = CommandHandler(fleet.serials)
    fleet.controls = handler
    free = list(EaseeFleet(4, seed=4, start=T0).messages(timedelta(hours=24)))
    first_charge = min(
        (m for m in free if m.observation_id == Obs.OP_MODE and m.value == 3), key=lambda m: m.observed_at
    )
    pause_at = first_charge.observed_at.timestamp() + 600
    serial = first_charge.charger_id

    class Later(CommandHandler):  # the pause takes effect at pause_at, not from the start
        def held_reason(self, s: str, now: float) -> int | None:
            return super().held_reason(s, now) if now >= pause_at else None

        def cap_power(self, s: str, now: float, power_kw: float, three_phase: bool) -> float:
            return super().cap_power(s, now, power_kw, three_phase) if now >= pause_at else power_kw

    later = Later(fleet.serials)
    cmd = build_command(serial, 48, [0, 30], at=datetime.fromtimestamp(pause_at, UTC))
    later.handle(cmd.routing_key, cmd.body, pause_at)
    fleet.controls = later
    modes = [
        (m.observed_at.timestamp(), m.value)
        for m in fleet.messages(timedelta(hours=24))
        if m.observation_id == Obs.OP_MODE and m.charger_id == serial
    ]
    around = [v for t, v in modes if pause_at - 1 <= t < pause_at + 30 * 60 - 1]
    assert around[:1] == [2], f"op modes after the pause: {around}"
    assert 3 in [v for t, v in modes if t >= pause_at + 30 * 60 - 1]
    assert handler.held_reason(serial, NOW) is None


# ---------------------------------------------------------------------------------- real broker


@pytest.mark.broker
def test_command_sim_answers_on_the_operator_queue(amqp_url: str, unique_name: str) -> None:
    queue, exchange = f"{unique_name}.Q", f"{unique_name}.C.X"
    with CommandSim(amqp_url, queue, [SERIAL], command_exchange=exchange, declare=True):
        conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
        try:
            channel = conn.channel()
            cmd = build_command(SERIAL, 48, [16, 5])
            channel.confirm_delivery()
            channel.basic_publish(exchange, cmd.routing_key, cmd.body, mandatory=True)
            got: list[tuple[str, bytes]] = []

            def take() -> bool:
                method, _props, body = channel.basic_get(queue, auto_ack=True)
                if method is not None:
                    got.append((method.routing_key, body))
                return len(got) >= 2

            assert wait_until(take, timeout=10)
            assert [k for k, _ in got] == [cmd.response_key, f"{SERIAL}.O.48"]
        finally:
            channel.queue_delete(queue)
            conn.close()


@pytest.mark.broker
def test_fleet_publisher_listens_for_commands(amqp_url: str, unique_name: str) -> None:
    queue, exchange = f"{unique_name}.Q", f"{unique_name}.C.X"
    fleet = EaseeFleet(2, seed=1, start=datetime.now(UTC))
    fleet.controls = CommandHandler(fleet.serials)
    listener = CommandListener(fleet.controls, exchange)
    thread = threading.Thread(
        target=publish,
        args=(fleet, amqp_url),
        kwargs={"duration": 3600, "queue": queue, "declare": True, "speed": 10.0, "progress": False,
                "commands": listener},
        daemon=True,
    )  # fmt: skip
    thread.start()
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = conn.channel()
        channel.confirm_delivery()
        cmd = build_command(fleet.serials[0], 29, ["false"])

        chan = [channel]

        def publish_when_listening() -> bool:
            if not chan[0].is_open:
                chan[0] = conn.channel()
                chan[0].confirm_delivery()
            try:
                chan[0].basic_publish(exchange, cmd.routing_key, cmd.body, mandatory=True)
            except (pika.exceptions.UnroutableError, pika.exceptions.ChannelClosedByBroker):
                return False
            return True

        assert wait_until(publish_when_listening, timeout=15)
        keys: list[str] = []

        def answered() -> bool:
            while True:
                method, _p, _b = chan[0].basic_get(queue, auto_ack=True)
                if method is None:
                    return cmd.response_key in keys and f"{fleet.serials[0]}.O.31" in keys
                keys.append(method.routing_key)

        assert wait_until(answered, timeout=15)
        assert fleet.controls.settings[fleet.serials[0]].enabled is False
    finally:
        listener.stop()
        thread.join(15)
        with pika.BlockingConnection(pika.URLParameters(amqp_url)) as tidy:
            tidy.channel().queue_delete(queue)
        if conn.is_open:
            conn.close()
    assert not thread.is_alive()


@pytest.mark.broker
def test_sim_cli_answers_and_rejects(amqp_url: str, unique_name: str, tmp_path: Path) -> None:
    """`evkit sim easee --commands X --reject SERIAL` streams, answers, and rejects on purpose."""
    queue, exchange = f"{unique_name}.Q", f"{unique_name}.C.X"
    serials = EaseeFleet(2, seed=3).serials
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "EVKIT_T_URL": amqp_url}
    sim = subprocess.Popen(
        [sys.executable, "-m", "evkit", "sim", "easee", "--url", amqp_url, "--queue", queue, "--declare",
         "--chargers", "2", "--seed", "3", "--speed", "10", "--no-progress", "--commands", exchange,
         "--reject", serials[1]],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip

    def setter(*words: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "evkit", "set", "easee", "--url-env", "EVKIT_T_URL", "--exchange",
             exchange, "--queue", queue, "--out", str(tmp_path / "store"), "--timeout", "10", *words],
            check=False, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    try:

        def exchange_exists() -> bool:
            try:
                with pika.BlockingConnection(pika.URLParameters(amqp_url)) as conn:
                    conn.channel().exchange_declare(exchange, passive=True)
            except pika.exceptions.ChannelClosedByBroker:
                return False
            return True

        assert wait_until(exchange_exists, timeout=20)
        paused = setter(serials[0], "pause", "--ttl", "5")
        assert paused.returncode == 0, paused.stderr
        assert paused.stdout.startswith("confirmed:")
        refused = setter(serials[1], "disable")
        assert refused.returncode == 1 and refused.stderr.startswith("rejected:")
    finally:
        sim.kill()
        sim.wait(10)
        with pika.BlockingConnection(pika.URLParameters(amqp_url)) as conn:
            conn.channel().queue_delete(queue)
