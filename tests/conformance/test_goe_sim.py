"""The go-e simulator against go-e's own tables (``goe_keys.csv``), not against evkit.

A simulator that agrees with evkit but not with the doc fails here. No broker needed: sets go through
:meth:`GoeSimulator.apply_set`, the same path MQTT ``/set`` and HTTP ``/api/set`` use.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from evkit.sim.goe import GoeSimulator
from tests.conformance.goe_doc import INT_RANGES, by_key, documented_keys, newest, plain_type


def offline(**options: Any) -> GoeSimulator:
    return GoeSimulator("900001", mqtt_host=None, http_port=None, tick_s=3600, **options)


@pytest.fixture
def sim() -> Iterator[GoeSimulator]:
    simulator = offline().start()
    yield simulator
    simulator.stop()


READ_ONLY = [key for key in documented_keys() if newest(key).access == "R"]


@pytest.mark.parametrize("key", READ_ONLY)
def test_read_only_keys_have_no_setter(sim: GoeSimulator, key: str) -> None:
    error = sim.apply_set(key, "1")
    assert error is not None and "without setter" in error, newest(key).source


def test_what_the_simulator_publishes_is_documented(sim: GoeSimulator) -> None:
    undocumented = sorted(set(sim.state) - set(by_key()) - {"psm", "xfw"})
    assert undocumented == []  # psm: modbus-en.md:73 only; xfw: the stand-in for a newer firmware key


@pytest.mark.parametrize(
    "key", sorted(set(GoeSimulator("1", mqtt_host=None, http_port=None).state) & set(by_key()))
)
def test_published_values_have_the_documented_type(sim: GoeSimulator, key: str) -> None:
    value = sim.state[key]
    doc = newest(key)
    base, nullable = plain_type(doc.part("get"))
    if value is None:
        assert nullable or base in ("TYPE", "legacy"), f"{key} is null but not optional ({doc.source})"
    elif base == "bool":
        assert isinstance(value, bool), doc.source
    elif base in INT_RANGES:
        low, high = INT_RANGES[base]
        assert isinstance(value, int) and not isinstance(value, bool) and low <= value <= high, doc.source
    elif base in ("float", "double"):
        assert isinstance(value, int | float) and not isinstance(value, bool), doc.source
    elif base == "string":
        assert isinstance(value, str), doc.source


@pytest.mark.parametrize("key", ["trx", "utc", "fsp", "frm", "mqg", "mqcn", "mqss"])
def test_keys_the_doc_makes_writable_can_be_set(sim: GoeSimulator, key: str) -> None:
    value = {"trx": 0, "utc": '"2026-12-05T08:00:00.000"', "fsp": "true", "frm": 2}.get(key, "true")
    assert sim.apply_set(key, json.dumps(value) if not isinstance(value, str) else value) is None


def test_bac_and_sdp_take_the_documented_codes(sim: GoeSimulator) -> None:
    for code in by_key()["bac"]["generic"].enums:
        assert sim.apply_set("bac", str(code)) is None
        assert sim.state["bac"] == code
    assert sim.apply_set("bac", "4") is not None


def test_bac_false_sdp_true_from_the_http_example_is_accepted(sim: GoeSimulator) -> None:
    # http-en.md:40; the setter takes any JSON (59.4:22 JsonVariantConst)
    assert sim.apply_set("bac", "false") is None
    assert sim.apply_set("sdp", "true") is None
    assert sim.state["bac"] == 0 and sim.state["sdp"] == 3  # "allow change" false/true: AlwaysLock/NeverLock


@pytest.mark.parametrize(("firmware", "table"), [("059.4", "59.4"), ("060.4", "60.4"), ("056.2", "generic")])
@pytest.mark.parametrize("name", ["Overtemp", "FiUnknown", "StatusLockStuckLocked", "NoComm"])
def test_err_is_numbered_by_the_firmwares_table(firmware: str, table: str, name: str) -> None:
    expected = {label: code for code, label in by_key()["err"][table].enums.items()}[name]
    simulator = offline(firmware=firmware).start()
    try:
        assert simulator.fault(name) == expected
        assert simulator.state["err"] == expected
        assert simulator.state["car"] != 2  # an error stops charging
    finally:
        simulator.stop()


def test_an_11_kw_unit_refuses_currents_above_16_a() -> None:
    # apikeys-en.md:265 var "max Ampere value of unit (11: 11kW/16A, 22: 22kW/32A)"
    assert by_key()["var"]["generic"].enums == {11: "11kW/16A", 22: "22kW/32A"}
    simulator = offline(variant=11).start()
    try:
        assert simulator.state["var"] == 11 and simulator.state["ama"] <= 16
        assert simulator.apply_set("amp", "16") is None
        assert simulator.apply_set("amp", "20") is not None
        assert simulator.state["amp"] == 16
    finally:
        simulator.stop()


def test_the_16_a_adapter_limits_the_current() -> None:
    # apikeys-en.md:10 adi "Is the 16A adapter used? Limits the current to 16A"
    simulator = offline(speed=60).start()
    try:
        assert simulator.apply_set("amp", "32") is None
        simulator.use_adapter(True)
        assert simulator.state["adi"] is True
        assert simulator.state["acu"] == 16
        assert max(simulator.state["nrg"][4:7]) < 16.5
        assert simulator.apply_set("amp", "20") is not None
    finally:
        simulator.stop()


def test_trx_0_starts_a_transaction_without_a_card() -> None:
    # apikeys-en.md:252 trx "0 when without card"; apikeys-en.md:8 acs "Open=0, Wait=1"
    simulator = offline().start()
    try:
        assert simulator.apply_set("acs", "1") is None
        simulator.plug(False)
        simulator.plug(True)
        assert simulator.state["trx"] is None and simulator.state["car"] != 2
        assert simulator.apply_set("trx", "0") is None
        assert simulator.state["trx"] == 0 and simulator.state["car"] == 2
    finally:
        simulator.stop()


def test_mtp_null_resets_to_the_default_prefix(sim: GoeSimulator) -> None:
    # mqtt-en.md:28 "set to null to reset back to the default"
    assert sim.apply_set("mtp", "null") is None
    assert sim.state["mtp"] == "go-eCharger"


def test_firmware_before_051_5_sends_no_result() -> None:
    # mqtt-de.md:79 "Seit Firmware 051.5 wird ... eine (nicht persistente) Antwort am Topic mit /result"
    assert offline(firmware="051.4").sends_result is False
    assert offline(firmware="051.5").sends_result is True


_SAMPLES = {"bool": True, "float": 1.5, "double": 1.5, "string": "x"}
_CURRENTS = frozenset({"amp", "ama", "mca", "tcl"})


def _sample(key: str, state: dict[str, Any]) -> Any:
    """A value of the documented setter type: the current one, an enum code, or a plain example."""
    doc = newest(key)
    if key in state and state[key] is not None:
        return state[key]
    base, _ = plain_type(doc.part("set"))
    if doc.enums and (base in INT_RANGES or "JsonVariantConst" in base):
        return min(doc.enums)
    if key in _CURRENTS:
        return 6  # modbus-en.md:71-72 "6-32A"
    if base in INT_RANGES:
        return max(INT_RANGES[base][0], 1)
    return _SAMPLES.get(base)


_SIMPLE_WRITABLE = [
    key
    for key in documented_keys()
    if newest(key).access != "R"
    and plain_type(newest(key).part("set"))[0] in (*INT_RANGES, *_SAMPLES, "JsonVariantConst")
    and (plain_type(newest(key).part("set"))[0] != "JsonVariantConst" or newest(key).enums)
]


@pytest.mark.parametrize("key", _SIMPLE_WRITABLE)
def test_every_documented_setting_of_a_simple_type_can_be_set(sim: GoeSimulator, key: str) -> None:
    value = _sample(key, sim.state)
    assert value is not None
    error = sim.apply_set(key, json.dumps(value))
    assert error is None, f"{key}={value!r}: {error} ({newest(key).source})"
