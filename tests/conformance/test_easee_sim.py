"""The Easee simulator against the documented observation list and the live timing facts."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from evkit.easee.catalog import Obs, OpMode
from evkit.sim.easee import EaseeFleet, SimMessage
from tests.conformance import easee_enums, easee_timing
from tests.conformance.easee_observations import DOC_AMQP_OBSERVATIONS

START = datetime(2024, 5, 1, tzinfo=UTC)
DAYS = 2


@pytest.fixture(scope="module")
def messages() -> list[SimMessage]:
    return list(EaseeFleet(4, seed=11, start=START).messages(timedelta(days=DAYS)))


def per_charger(messages: list[SimMessage], *ids: int) -> dict[str, list[SimMessage]]:
    out: dict[str, list[SimMessage]] = defaultdict(list)
    for m in sorted(messages, key=lambda m: m.observed_at):
        if m.observation_id in ids:
            out[m.charger_id].append(m)
    return out


def test_the_simulator_only_sends_documented_observations_with_their_types(
    messages: list[SimMessage],
) -> None:
    documented = {row.id: row.data_type for row in DOC_AMQP_OBSERVATIONS}
    json_type = {"Boolean": (bool,), "Double": (float, int), "Integer": (int,), "String": (str,)}
    for m in messages:
        assert m.observation_id in documented, m.observation_id
        value = json.loads(m.body)["Value"]  # what goes on the wire (Masterloop form)
        allowed = json_type[documented[m.observation_id]]
        if m.observation_id in (104, 150):  # documented Integer, Double in Easee's template
            allowed = (int, float)
        assert isinstance(value, allowed) and (bool in allowed or not isinstance(value, bool)), m


def test_energy_per_hour_is_stamped_on_the_hour_and_delivered_minutes_later(
    messages: list[SimMessage],
) -> None:
    rows = [m for m in messages if m.observation_id == Obs.ENERGY_PER_HOUR]
    assert rows
    for m in rows:
        assert m.observed_at == m.observed_at.replace(minute=0, second=0, microsecond=0)
        delay = (m.publish_at - m.observed_at).total_seconds()
        assert (
            0.75 * easee_timing.ENERGY_PER_HOUR_DELAY_S
            <= delay
            <= 1.25 * easee_timing.ENERGY_PER_HOUR_DELAY_S
        )


def test_energy_per_hour_comes_every_hour_with_zero_for_idle_hours(messages: list[SimMessage]) -> None:
    hours = DAYS * 24
    for rows in per_charger(messages, Obs.ENERGY_PER_HOUR).values():
        stamps = [m.observed_at for m in rows]
        assert len(stamps) == len(set(stamps)) >= hours - 1  # the last hour may end after the window
        assert any(m.value == 0 for m in rows)  # idle hours are reported, with 0
        assert any(m.value > 0 for m in rows)


def test_lifetime_energy_two_to_ten_minutes_after_each_hour(messages: list[SimMessage]) -> None:
    low, high = easee_timing.LIFETIME_ENERGY_AFTER_HOUR_S
    for rows in per_charger(messages, Obs.LIFETIME_ENERGY).values():
        by_hour = defaultdict(list)
        for m in rows:
            offset = m.observed_at.minute * 60 + m.observed_at.second
            if low <= offset <= high:
                by_hour[m.observed_at.replace(minute=0, second=0, microsecond=0)].append(m)
        assert len(by_hour) >= DAYS * 24 - 1


def test_lifetime_energy_also_at_every_plug_in(messages: list[SimMessage]) -> None:
    modes = per_charger(messages, Obs.OP_MODE)
    meters = per_charger(messages, Obs.LIFETIME_ENERGY)
    plug_ins = 0
    for charger, rows in modes.items():
        for before, after in itertools.pairwise(rows):
            if before.value == OpMode.DISCONNECTED and after.value != OpMode.DISCONNECTED:
                plug_ins += 1
                assert any(
                    abs((m.observed_at - after.observed_at).total_seconds()) < 5 for m in meters[charger]
                ), after
    assert plug_ins >= 4


def test_session_energy_every_10_to_20_minutes_while_charging_and_at_unplug(
    messages: list[SimMessage],
) -> None:
    low, high = easee_timing.SESSION_ENERGY_EVERY_S
    gaps: list[float] = []
    unplugs = 0
    for charger, rows in per_charger(messages, Obs.OP_MODE, Obs.SESSION_ENERGY).items():
        mode = OpMode.DISCONNECTED
        last_energy: datetime | None = None
        for m in rows:
            if m.observation_id == Obs.OP_MODE:
                if m.value == OpMode.DISCONNECTED and mode != OpMode.DISCONNECTED:
                    unplugs += 1
                    after = [
                        e
                        for e in rows
                        if e.observation_id == Obs.SESSION_ENERGY
                        and timedelta(0) <= e.observed_at - m.observed_at <= timedelta(seconds=10)
                    ]
                    assert after, f"{charger}: no final 121 at unplug {m.observed_at}"
                if m.value != OpMode.CHARGING:
                    last_energy = None
                mode = m.value
            elif mode == OpMode.CHARGING:
                if last_energy is not None:
                    gaps.append((m.observed_at - last_energy).total_seconds())
                last_energy = m.observed_at
    assert unplugs >= 4
    assert gaps
    assert all(low - 10 <= gap <= high + 20 for gap in gaps), (min(gaps), max(gaps))


def test_a_charger_side_pause_is_awaiting_start_with_a_schedule_reason(messages: list[SimMessage]) -> None:
    pauses = 0
    for charger, rows in per_charger(messages, Obs.OP_MODE, Obs.REASON_FOR_NO_CURRENT).items():
        modes = [m for m in rows if m.observation_id == Obs.OP_MODE]
        reasons = [m for m in rows if m.observation_id == Obs.REASON_FOR_NO_CURRENT]
        for before, after in itertools.pairwise(modes):
            if before.value != OpMode.CHARGING:
                continue
            assert after.value in {
                OpMode.COMPLETED,
                *easee_enums.CHARGER_SIDE_PAUSE_OP_MODES,
                *easee_enums.CAR_SIDE_PAUSE_OP_MODES,
            }
            if after.value in easee_enums.CHARGER_SIDE_PAUSE_OP_MODES:
                pauses += 1
                said = [
                    r.value
                    for r in reasons
                    if timedelta(0) <= r.observed_at - after.observed_at < timedelta(seconds=1)
                ]
                assert said and said[0] in easee_enums.SCHEDULE_REASONS, (charger, after.observed_at)
        # 4 Completed ends the charging: the car is unplugged next, never charged again
        for before, after in itertools.pairwise(modes):
            if before.value == OpMode.COMPLETED:
                assert after.value == OpMode.DISCONNECTED
    assert pauses >= 1
