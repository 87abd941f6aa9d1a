"""evkit's evcc tables and the evcc simulator, tested against evcc's own source (the fixtures here).

A simulator that agrees with evkit but not with evcc fails here: the fixtures are evcc's truth.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from evkit.control.base import MemoryBroker, MqttMessage
from evkit.evcc.catalog import RENAMED, SETTERS, SetterKind
from evkit.evcc.echo import EchoWatch
from evkit.evcc.parsers import evcc_parse
from evkit.evcc.setters import build_command, resolve
from evkit.evcc.versions import SINCE, Since, parse_version
from evkit.sim.evcc import EvccSimulator
from tests.conformance.evcc_echo import ECHOES, EchoRow
from tests.conformance.evcc_setters import (
    NEWEST_RELEASE,
    RENAMED_IN_EVCC,
    REPUBLISHED,
    VERSION_FORMATS,
    SetterRow,
)
from tests.conformance.evcc_setters import SETTERS as EVCC_SETTERS

NOW = datetime(2026, 8, 8, 12, 0, tzinfo=UTC)

#: evcc's parser wrapper -> the evkit setter kinds that send what it accepts
PARSER_KINDS: dict[str, set[SetterKind]] = {
    "floatSetter": {SetterKind.FLOAT},
    "floatPtrSetter": {SetterKind.FLOAT_OR_RESET},
    "intSetter": {SetterKind.INT, SetterKind.PHASES},
    "boolSetter": {SetterKind.BOOL},
    "durationSetter": {SetterKind.DURATION},
    "setterFunc(api.ChargeModeString)": {SetterKind.MODE},
    "ptrSetter(api.BatteryModeString)": {SetterKind.BATTERY_MODE},
    "planStrategySetter": {SetterKind.PLAN_STRATEGY},
    "planGoalSetter[float64]": {SetterKind.PLAN_ENERGY},
    "planGoalSetter[int]": {SetterKind.PLAN_SOC},
    "vehicle": {SetterKind.VEHICLE},
}


def _release(text: str) -> tuple[int, int, int]:
    parsed = parse_version(text)
    assert parsed is not None and parsed.commit is None, text
    return parsed.release


def row_id(row: SetterRow | EchoRow) -> str:
    return f"{row.scope}/{row.name}" if isinstance(row, SetterRow) else row.case


# ---------------------------------------------------------------- the setter list


@pytest.mark.parametrize("scope", ["site", "loadpoint", "vehicle"])
def test_evkit_offers_exactly_evccs_setters(scope: str) -> None:
    evcc = [row.name for row in EVCC_SETTERS if row.scope == scope]
    assert sorted(SETTERS[scope]) == sorted(evcc)  # type: ignore[index]


@pytest.mark.parametrize("row", EVCC_SETTERS, ids=row_id)
def test_evkit_sends_what_evccs_parser_takes(row: SetterRow) -> None:
    setter = SETTERS[row.scope][row.name]  # type: ignore[index]
    assert setter.kind in PARSER_KINDS[row.parser], f"{row.source}: {row.parser}"


@pytest.mark.parametrize("row", EVCC_SETTERS, ids=row_id)
def test_evkit_knows_from_which_release_each_setter_exists(row: SetterRow) -> None:
    known = SINCE.get((row.scope, row.name))  # type: ignore[arg-type]
    if row.since is None:  # nightly only
        assert known is not None and not known.released
        assert known.release > _release(NEWEST_RELEASE)
    elif row.since == "0.123.0" and not row.since_commit:  # in every release checked
        assert known is None
    else:
        assert known == Since(_release(row.since)), f"{row.since_commit}"


@pytest.mark.parametrize("row", EVCC_SETTERS, ids=row_id)
def test_evkit_knows_which_echoes_evcc_publishes_on_every_call(row: SetterRow) -> None:
    """Only those need the echo to arrive; the others publish on a change only ("unchanged")."""
    setter = SETTERS[row.scope][row.name]  # type: ignore[index]
    assert setter.republished == ((row.scope, row.name) in REPUBLISHED)


def test_old_topic_names_point_to_the_new_ones() -> None:
    for (_scope, old), (new, _last) in RENAMED_IN_EVCC.items():
        assert RENAMED[old] == new


@pytest.mark.parametrize(("built_by", "text", "source"), VERSION_FORMATS)
def test_evkit_reads_every_site_version_evcc_publishes(built_by: str, text: str, source: str) -> None:
    parsed = parse_version(text)
    assert parsed is not None, f"{built_by}: {source}"
    if text == "0.0.0":
        assert parsed.development
    elif "(" in text:
        assert parsed.nightly and parsed.release == (0, 313, 0)
    else:
        assert not parsed.nightly and parsed.release == (0, 313, 2)


@pytest.mark.parametrize("version", ["0.300.1", "0.301.1", "0.311.0", "0.312.1", "0.313.2"])
def test_simulated_release_subscribes_exactly_that_releases_setters(version: str) -> None:
    wanted = {
        f"{'site' if row.scope == 'site' else 'loadpoints/1' if row.scope == 'loadpoint' else 'vehicles/ev'}"
        f"/{row.name}"
        for row in EVCC_SETTERS
        if row.since is not None and _release(row.since) <= _release(version)
    }
    broker = MemoryBroker()
    with EvccSimulator(broker.transport(), vehicles=("ev",), interval_s=3600, version=version) as sim:
        assert set(sim.subscribed) == wanted
        assert broker.retained["evcc/site/version"].text == version


def test_simulated_nightly_subscribes_every_setter() -> None:
    broker = MemoryBroker()
    with EvccSimulator(broker.transport(), vehicles=("ev",), interval_s=3600) as sim:
        assert len(sim.subscribed) == len(EVCC_SETTERS)
        assert broker.retained["evcc/site/version"].text == "0.313.0 (b29b49e30)"


# ---------------------------------------------------------------- the echo


@pytest.mark.parametrize("row", ECHOES, ids=row_id)
def test_evkit_confirms_what_evcc_publishes(row: EchoRow) -> None:
    """evkit's expectation is met by exactly what evcc publishes (stale subtopics never arrive)."""
    command = build_command(resolve(row.path), row.value, row.state, now=NOW, vehicles=["ev"], loadpoints=[1])
    setter = command.target.setter
    evcc_parse(setter, command.payload)  # evcc takes what evkit sends
    watch = EchoWatch(command, row.state)
    if not row.publishes:
        assert watch.unchanged, f"evcc publishes nothing here ({row.source}); evkit must not wait"
        return
    assert not watch.unchanged or all(row.state.get(k) == v for k, v in row.publishes.items())
    confirmed = watch.unchanged
    for path, text in row.publishes.items():
        confirmed = watch.see(path, text) or confirmed
    assert confirmed, (
        f"{row.case}: evkit expects {command.expected}, evcc publishes {row.publishes} ({row.source})"
    )


def _sent_and_handled(sim: EvccSimulator, broker: MemoryBroker, path: str, payload: str) -> None:
    before = len(sim.applied) + len(sim.errors)
    broker.publish(f"evcc/{path}/set", payload)
    deadline = time.monotonic() + 5
    while len(sim.applied) + len(sim.errors) == before and time.monotonic() < deadline:
        time.sleep(0.005)
    assert not sim.errors, sim.errors


@pytest.mark.parametrize("row", ECHOES, ids=row_id)
def test_simulator_publishes_what_evcc_publishes(row: EchoRow) -> None:
    broker = MemoryBroker()
    with EvccSimulator(broker.transport(), vehicles=("ev",), interval_s=3600) as sim:
        for path, payload in row.setup:
            _sent_and_handled(sim, broker, path, payload)
        stale_before = {path: broker.retained[f"evcc/{path}"].text for path in row.stale}
        start = len(broker.published)
        _sent_and_handled(sim, broker, row.path, row.payload)
        after: list[MqttMessage] = broker.published[start:]
        last = {m.topic.removeprefix("evcc/"): m.text for m in after}
        for path, text in row.publishes.items():
            assert path in last, f"{row.case}: evcc publishes {path} ({row.source})"
            assert last[path] == text, f"{row.case}: {path} is {text!r} in evcc ({row.source})"
        for path in row.stale + row.silent:
            assert path not in last, f"{row.case}: evcc does not publish {path} ({row.source})"
        for path, text in stale_before.items():  # still retained, stale
            assert broker.retained[f"evcc/{path}"].text == text
