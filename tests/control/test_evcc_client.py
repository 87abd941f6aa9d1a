"""EvccClient on the in-memory broker with the evcc simulator: every command rule, fast and broker-free."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import evkit
from evkit.control.base import MemoryBroker, MqttMessage, Outcome
from evkit.control.evcc import EvccClient, same_state
from evkit.errors import ValidationError
from evkit.sim.evcc import EvccSimulator


@pytest.fixture
def broker() -> MemoryBroker:
    return MemoryBroker()


@pytest.fixture
def sim(broker: MemoryBroker) -> Iterator[EvccSimulator]:
    simulator = EvccSimulator(broker.transport(), loadpoints=2, vehicles=("tesla", "zoe"), interval_s=3600)
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def client(broker: MemoryBroker, sim: EvccSimulator, tmp_path: Path) -> Iterator[EvccClient]:
    del sim
    evcc = EvccClient(broker.transport(), audit=tmp_path, timeout=2.0, settle_s=0.5)
    yield evcc
    evcc.close()


def sets(broker: MemoryBroker) -> list[MqttMessage]:
    """Every command published to a /set topic by anyone but the simulator's wipe."""
    return [m for m in broker.published if m.topic.endswith("/set") and m.payload]


def test_discovers_loadpoints_vehicles_and_status(client: EvccClient) -> None:
    assert client.loadpoints == [1, 2]
    assert client.vehicles == ["tesla", "zoe"]
    assert client.online is True
    assert client.value("loadpoints/1/maxCurrent") == "16"


def test_confirmed_set_is_qos1_and_never_retained(client: EvccClient, broker: MemoryBroker) -> None:
    result = client.set("loadpoints/1/mode", "now")
    assert result.outcome is Outcome.CONFIRMED and result.exit_code == 0
    assert result.topic_or_url == "evcc/loadpoints/1/mode/set" and result.payload == "now"
    assert result.latency_s is not None
    [sent] = sets(broker)
    assert (sent.topic, sent.payload, sent.retained, sent.qos) == (
        "evcc/loadpoints/1/mode/set",
        b"now",
        False,
        1,
    )
    assert client.value("loadpoints/1/mode") == "now"


def test_int_setter_sends_an_integer_and_evcc_accepts_it(client: EvccClient, broker: MemoryBroker) -> None:
    result = client.set("loadpoints/1/limitSoc", 70.0)
    assert result.outcome is Outcome.CONFIRMED
    assert sets(broker)[-1].payload == b"70"


def test_value_equal_to_state_is_still_sent_and_reported_unchanged(
    client: EvccClient, broker: MemoryBroker
) -> None:
    result = client.set("loadpoints/1/maxCurrent", 16)
    assert result.outcome is Outcome.UNCHANGED and result.exit_code == 0
    assert "no echo" in result.detail
    assert [m.payload for m in sets(broker)] == [b"16"]


def test_invalid_value_sends_nothing(client: EvccClient, broker: MemoryBroker) -> None:
    with pytest.raises(ValidationError, match="above maxCurrent 16 A"):
        client.set("loadpoints/1/minCurrent", 20)
    with pytest.raises(ValidationError, match="no loadpoint 3"):
        client.set("loadpoints/3/mode", "pv")
    with pytest.raises(ValidationError, match="no vehicle"):
        client.set("vehicles/golf/limitSoc", 80)
    with pytest.raises(ValidationError, match="needs mode pv or minpv"):
        client.set("loadpoints/1/mode", "now") and client.set("loadpoints/1/batteryBoost", True)
    assert [m.topic for m in sets(broker)] == ["evcc/loadpoints/1/mode/set"]


def test_dry_run_sends_nothing(client: EvccClient, broker: MemoryBroker) -> None:
    result = client.set("site/residualPower", 200, dry_run=True)
    assert result.outcome is Outcome.DRY_RUN and result.payload == "200"
    assert result.topic_or_url == "evcc/site/residualPower/set"
    assert sets(broker) == []


def test_no_echo_names_evccs_silent_causes(broker: MemoryBroker) -> None:
    broker.publish("evcc/loadpoints/1/mode", "pv", retain=True)  # state, but nobody applies sets
    with EvccClient(broker.transport(), timeout=0.3, settle_s=0.3, version_wait_s=0.1) as client:
        result = client.set("loadpoints/1/mode", "now")
    assert result.outcome is Outcome.NO_ANSWER and result.exit_code == 1
    # evcc drops unsubscribed topics without logging anything: the hint names those causes first
    assert "not subscribed in this evcc version" in result.detail
    assert "vehicle was added after evcc started" in result.detail
    assert "battery is not controllable" in result.detail
    assert "'set evcc/loadpoints/1/mode/set: …'" in result.detail


def test_no_answer_mentions_offline_status(broker: MemoryBroker) -> None:
    broker.publish("evcc/status", "offline", retain=True)
    with EvccClient(broker.transport(), timeout=0.2, settle_s=0.3) as client:
        result = client.set("loadpoints/1/mode", "now")
    assert result.outcome is Outcome.NO_ANSWER and "offline" in result.detail


def test_closed_transport_is_reported_not_raised(broker: MemoryBroker, sim: EvccSimulator) -> None:
    del sim
    transport = broker.transport()
    client = EvccClient(transport, timeout=0.5, settle_s=0.3)
    transport.close()
    result = client.set("loadpoints/1/mode", "now")
    assert result.outcome is Outcome.NO_ANSWER and "not sent" in result.detail


def test_plan_and_vehicle_and_site_wide_settings(client: EvccClient) -> None:
    plan = client.set("loadpoints/2/planEnergy", {"value": 15, "time": "2099-01-01T06:00:00Z"})
    assert plan.outcome is Outcome.CONFIRMED
    assert client.value("loadpoints/2/planEnergy") == "15"
    assert client.set("vehicles/zoe/planSoc", "80@2099-01-01T06:00:00Z").outcome is Outcome.CONFIRMED
    assert client.value("vehicles/zoe/plan/soc") == "80"
    assert client.set("site/smartCostLimit", 0.22).outcome is Outcome.CONFIRMED
    assert (
        client.value("loadpoints/1/smartCostLimit") == client.value("loadpoints/2/smartCostLimit") == "0.22"
    )
    reset = client.set("site/smartCostLimit", "none")
    assert reset.outcome is Outcome.CONFIRMED and reset.payload == "null"
    assert client.value("loadpoints/1/smartCostLimit") is None
    assert client.set("loadpoints/1/vehicle", "zoe").outcome is Outcome.CONFIRMED
    assert client.set("loadpoints/1/enableDelay", "2m").payload == "120"


def test_simulator_refuses_what_evcc_refuses(
    client: EvccClient, broker: MemoryBroker, sim: EvccSimulator
) -> None:
    broker.publish("evcc/loadpoints/1/limitSoc/set", "80.0")  # someone else's Python float
    deadline = time.monotonic() + 2
    while not sim.errors and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sim.errors and 'parsing "80.0"' in sim.errors[0].error
    assert client.value("loadpoints/1/limitSoc") == "100"  # unchanged, no echo


def test_client_never_stores_or_republishes_set_topics(client: EvccClient, broker: MemoryBroker) -> None:
    broker.publish("evcc/loadpoints/1/mode/set", "now")
    time.sleep(0.2)
    assert not any(path.endswith("/set") for path in client.state)
    assert [m.payload for m in broker.published if m.topic == "evcc/loadpoints/1/mode/set" and m.payload] == [
        b"now"
    ]


def test_every_command_is_audited(client: EvccClient, tmp_path: Path) -> None:
    client.set("loadpoints/1/mode", "minpv")
    client.set("loadpoints/1/maxCurrent", 16)
    client.set("site/residualPower", 50, dry_run=True)
    frame = evkit.scan(tmp_path / "audit").sort("received_at").collect()
    assert frame["outcome"].to_list() == ["confirmed", "unchanged", "dry_run"]
    assert frame["setting"].to_list() == [
        "loadpoints/1/mode",
        "loadpoints/1/maxCurrent",
        "site/residualPower",
    ]
    assert set(frame["target"]) == {"evcc"} and set(frame["kind"]) == {"command"}


def test_state_listener_sees_the_echo(client: EvccClient) -> None:
    seen: list[tuple[str, str | None]] = []
    stop = client.on_change(lambda path, text: seen.append((path, text)))
    client.set("loadpoints/1/mode", "off")
    stop()
    assert ("loadpoints/1/mode", "off") in seen


@pytest.mark.parametrize(
    ("expected", "published", "same"),
    [
        ("16", "16", True),
        ("0.1235", "0.124", True),
        ("16", "16.5", False),
        ("pv", "PV", True),
        ("", "0", False),
    ],
)
def test_same_state(expected: str, published: str, same: bool) -> None:
    assert same_state(expected, published) is same


def test_unwritable_audit_store_stops_the_client_before_sending(broker: MemoryBroker, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(evkit.StoreError):
        EvccClient(broker.transport(), audit=blocker, settle_s=0.1)
    assert sets(broker) == []
