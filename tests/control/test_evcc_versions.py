"""evcc versions and setter availability (pure), the client's version check and its plan/state rules
on the in-memory broker, and decoding of omitempty zeros and slice counts."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evkit.control.base import MemoryBroker, Outcome
from evkit.control.evcc import EvccClient
from evkit.errors import ValidationError
from evkit.evcc import decode as evcc_decode
from evkit.evcc.echo import EchoWatch
from evkit.evcc.setters import build_command, resolve
from evkit.evcc.state import decode
from evkit.evcc.versions import Availability, availability, check_setter, parse_version
from evkit.sim.evcc import EvccSimulator

releases = st.tuples(st.integers(0, 9), st.integers(0, 999), st.integers(0, 99))


@given(releases, st.text("0123456789abcdef", min_size=7, max_size=12))
def test_every_format_evcc_publishes_parses(release: tuple[int, int, int], commit: str) -> None:
    dotted = ".".join(map(str, release))
    assert parse_version(dotted) == parse_version(dotted)
    plain = parse_version(dotted)
    assert plain is not None and plain.release == release and not plain.nightly
    nightly = parse_version(f"{dotted} ({commit})")
    assert nightly is not None and nightly.release == release and nightly.commit == commit
    described = parse_version(f"{dotted}-102-g{commit}")
    assert described is not None and described.nightly and described.release == release


@pytest.mark.parametrize("text", ["", "unknown", "evcc", "v", "1.x"])
def test_unreadable_versions_are_none(text: str) -> None:
    assert parse_version(text) is None


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("0.311.1", Availability.NO),
        ("0.312.0", Availability.YES),
        ("0.313.2", Availability.YES),
        ("0.311.0 (abc1234)", Availability.MAYBE),  # master after 0.311.0 may hold 0.312.0's setters
        ("0.310.0 (abc1234)", Availability.NO),
        ("0.0.0", Availability.UNKNOWN),
        (None, Availability.UNKNOWN),
    ],
)
def test_availability_of_solar_adjusted(version: str | None, expected: Availability) -> None:
    assert availability("site", "solarAdjusted", parse_version(version)) is expected


def test_setters_in_every_release_are_never_gated() -> None:
    assert check_setter("loadpoints/1/mode", "loadpoint", "mode", "0.123.0") == ""
    assert check_setter("loadpoints/1/mode", "loadpoint", "mode", None) == ""


def test_refusal_says_what_is_needed_and_what_runs() -> None:
    with pytest.raises(
        ValidationError, match=r"^site/solarAdjusted needs evcc 0\.312\.0 or newer; this evcc is 0\.311\.0"
    ):
        check_setter("site/solarAdjusted", "site", "solarAdjusted", "0.311.0")
    with pytest.raises(ValidationError, match=r"exists only in evcc nightly builds after 0\.313\.2"):
        check_setter("site/gridExportLimit", "site", "gridExportLimit", "0.313.2")
    note = check_setter("site/solarAdjusted", "site", "solarAdjusted", None)
    assert note.startswith("could not check whether this evcc has site/solarAdjusted (needs 0.312.0)")


# ---------------------------------------------------------------- the client


def test_without_a_version_the_client_waits_briefly_then_sends_and_says_so() -> None:
    broker = MemoryBroker()
    with EvccSimulator(broker.transport(), interval_s=3600):
        broker.publish("evcc/site/version", b"", retain=True)  # an evcc that has not published it yet
        with EvccClient(broker.transport(), timeout=2, settle_s=0.3, version_wait_s=0.3) as client:
            started = time.monotonic()
            result = client.set("site/solarAdjusted", True)
            assert time.monotonic() - started >= 0.3  # it waited for site/version
    assert result.outcome is Outcome.CONFIRMED
    assert "could not check whether this evcc has site/solarAdjusted" in result.detail


def test_a_version_arriving_late_is_used() -> None:
    broker = MemoryBroker()
    broker.publish("evcc/site/residualPower", "0", retain=True)
    with EvccClient(broker.transport(), timeout=0.2, settle_s=0.2, version_wait_s=5) as client:
        broker.publish("evcc/site/version", "0.311.0", retain=True)
        with pytest.raises(ValidationError, match=r"needs evcc 0\.312\.0"):
            client.set("site/solarAdjusted", True)
    assert not [m for m in broker.published if m.topic.endswith("/set")]


def test_client_drops_a_deleted_plans_stale_fields_and_tells_listeners() -> None:
    broker = MemoryBroker()
    for key, text in {"title": "Ev", "plan/soc": "80", "plan/time": "4070930400"}.items():
        broker.publish(f"evcc/vehicles/ev/{key}", text, retain=True)
    with EvccClient(broker.transport(), settle_s=0.2, version_wait_s=0) as client:
        seen: list[tuple[str, str | None]] = []
        client.on_change(lambda path, text: seen.append((path, text)))
        broker.publish("evcc/vehicles/ev/plan", b"", retain=True)
        assert client.value("vehicles/ev/plan/soc") is None and client.value("vehicles/ev/title") == "Ev"
    assert ("vehicles/ev/plan/soc", None) in seen and ("vehicles/ev/plan/time", None) in seen


def test_battery_release_is_confirmed_by_unknown_and_unchanged_when_never_set() -> None:
    command = build_command(resolve("site/batteryMode"), "null")
    assert command.payload == "null" and command.expected == {"site/batteryModeExternal": "unknown"}
    watch = EchoWatch(command, {"site/batteryModeExternal": "hold"})
    assert not watch.unchanged
    assert not watch.see("site/batteryMode", "normal")
    assert watch.see("site/batteryModeExternal", "unknown")
    assert EchoWatch(command, {}).unchanged  # evcc never published it: no external mode to release


def test_vehicle_zero_needs_the_empty_payload_to_arrive() -> None:
    command = build_command(resolve("vehicles/ev/limitSoc"), 0)
    assert command.expected == {"vehicles/ev/limitSoc": ""}
    watch = EchoWatch(command, {})
    assert not watch.unchanged and not watch.complete
    assert watch.see("vehicles/ev/limitSoc", "")


# ---------------------------------------------------------------- decoding


@pytest.mark.parametrize(
    ("topic", "value"),
    [
        ("evcc/vehicles/ev/limitSoc", 0.0),
        ("evcc/vehicles/ev/minSoc", 0.0),
        ("evcc/site/battery/energy", 0.0),
        ("evcc/site/grid/excessDCPower", 0.0),
        ("evcc/loadpoints/1/limitSoc", None),  # a plain int: empty is no value
        ("evcc/site/grid/energy", None),  # a pointer: nil is no value
        ("evcc/vehicles/ev/limitSoc/set", None),  # someone's command, not state
    ],
)
def test_an_empty_omitempty_number_is_zero(topic: str, value: float | None) -> None:
    assert decode(topic, b"").value == value


def test_slices_decode_as_a_count_and_items_with_units() -> None:
    count = evcc_decode.decode_topic("evcc/site/grid/currents", b"3")
    item = evcc_decode.decode_topic("evcc/site/grid/currents/2", b"7.25")
    power = evcc_decode.decode_topic("evcc/site/grid/powers/1", b"1650")
    assert count is not None and item is not None and power is not None
    assert (count[1].value, count[1].unit, count[1].label) == (3.0, None, "count")
    assert (item[1].value, item[1].unit, item[1].label) == (7.25, "A", None)
    assert power[1].unit == "W"
    plans = evcc_decode.decode_topic("evcc/vehicles/ev/repeatingPlans/1/soc", b"80")
    assert plans is not None and plans[1].unit == "%"


def test_a_vehicle_added_after_evcc_started_is_named_as_the_likely_cause() -> None:
    broker = MemoryBroker()
    with EvccSimulator(broker.transport(), vehicles=("ev",), interval_s=3600) as sim:
        sim.add_vehicle("db:9")  # made in evcc's UI: published, but evcc never subscribed its setters
        with EvccClient(broker.transport(), timeout=0.3, settle_s=0.3) as client:
            assert client.vehicles == ["db:9", "ev"]
            assert client.value("vehicles/db:9/limitSoc") == "80"
            # equal to its state, yet no "unchanged": evcc re-publishes a vehicle on every call, so
            # the missing echo shows the command was dropped
            result = client.set("vehicles/db:9/limitSoc", 80)
            assert client.set("vehicles/ev/limitSoc", 80).outcome is Outcome.CONFIRMED
    assert result.outcome is Outcome.NO_ANSWER
    assert "evcc started with 1 vehicle(s) and now publishes 2" in result.detail
    assert sim.errors == [] and not any("db:9" in topic for topic, _ in sim.applied)
