"""Rows without a charger id (a hand-made frame) are drawn under ``(unknown)``, as the quality tables
name them, not an exception (found by a hostile test: sorting the ids met None)."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl

from evkit import figures
from evkit.analysis.quality import UNKNOWN_CHARGER
from tests.plotted import values


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
