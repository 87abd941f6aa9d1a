"""Rows without a charger id (a hand-made frame) are drawn under ``(unknown)``, as the quality tables
name them, not an exception (found by a hostile test: sorting the ids met None)."""

from __future__ import annotations

import importlib
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from evkit import figures
from evkit.analysis.quality import UNKNOWN_CHARGER
from tests.plotted import values

#: the module (``evkit.analysis.connectivity`` as an attribute is the function of that name)
connectivity = importlib.import_module("evkit.analysis.connectivity")


def test_a_session_without_a_charger_is_drawn_on_a_row_of_its_own() -> None:
    sessions = pl.DataFrame(
        {
            "charger_id": ["EHA", None],
            "started_at": [datetime(2026, 1, 1), datetime(2026, 1, 1, 3)],
            "ended_at": [datetime(2026, 1, 1, 1), datetime(2026, 1, 1, 4)],
            "energy_kwh": [1.0, 2.0],
        }
    )
    fig = figures.session_timeline(sessions)
    assert sorted(y for trace in fig.data for y in values(trace.y)) == sorted(["EHA", UNKNOWN_CHARGER])


def test_energy_without_a_charger_is_a_series_of_its_own() -> None:
    energy = pl.DataFrame(
        {"charger_id": ["EHA", None], "day": [date(2026, 1, 1)] * 2, "energy_kwh": [1.0, 2.0]}
    )
    fig = figures.energy_per_day(energy)
    bars = {trace.name: values(trace.y) for trace in fig.data if trace.type == "bar"}
    assert bars == {"EHA": [1.0], UNKNOWN_CHARGER: [2.0]}


def test_connectivity_without_a_charger_is_a_row_of_its_own() -> None:
    """(a hostile test: with no more chargers than drawn, sorting the ids met None and raised)"""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    readings = pl.DataFrame(
        {
            "charger_id": ["EHA", "EHA", None, None],
            "observed_at": [at, at + timedelta(minutes=9), at, at + timedelta(minutes=5)],
            "observation_id": pl.Series([250, 250, 250, 250], dtype=pl.Int32),
            "value": [1.0, 1.0, 0.0, 1.0],
        }
    )
    fig = figures.connectivity_timeline(readings)
    drawn = {y for trace in fig.data for y in values(trace.y)}
    assert drawn == {"EHA", UNKNOWN_CHARGER}
    assert connectivity.readings_plan(readings).collect()["charger_id"].to_list() == [
        UNKNOWN_CHARGER,
        UNKNOWN_CHARGER,
        "EHA",
        "EHA",
    ]


def test_most_troubled_reads_its_limit_when_called(monkeypatch: pytest.MonkeyPatch) -> None:
    ranked = pl.DataFrame({"charger_id": ["A", "B", "C"], "_trouble": [1, 3, 2], "_rssi": [-70.0] * 3})
    assert connectivity.most_troubled(ranked).to_list() == ["B", "C", "A"]
    monkeypatch.setattr(connectivity, "MAX_CHARGERS", 2)
    assert connectivity.most_troubled(ranked).to_list() == ["B", "C"]
    assert connectivity.most_troubled(ranked, 1).to_list() == ["B"]
