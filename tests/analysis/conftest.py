"""A fleet of simulated chargers with every quirk at once, and its known truth."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import polars as pl
import pytest

from tests.analysis import scenario as sc

A, B, C, D, E = "EHAAAA01", "EHBBBB02", "EHCCCC03", "EHDDDD04", "EHEEEE05"
MINUTES = 600  # 06:00 .. 16:00 UTC
HOLE = (sc.T0 + timedelta(minutes=230), sc.T0 + timedelta(minutes=290))  # B, inside its 2nd session
SPURIOUS_ZERO_AT = sc.T0 + timedelta(minutes=100, seconds=30)  # A, while charging
METER_RESET_AT = sc.T0 + timedelta(minutes=240)  # D's meter restarts from zero at 10:00
SKEW_S = 30.0  # C's clock runs 30 s ahead


@dataclass
class Fleet:
    clean: list[sc.Row]
    rows: list[sc.Row]  # with duplicates and shuffled arrival
    truths: list[sc.Truth]

    def frame(self, rows: list[sc.Row] | None = None) -> pl.DataFrame:
        return sc.frame(self.rows if rows is None else rows)


def build_fleet() -> Fleet:
    a = sc.Charger(
        A,
        [
            (0, 1, 0),
            (30, 2, 0),
            (32, 3, 11.0),
            (152, 4, 0),
            (200, 3, 7.0),
            (260, 4, 0),
            (300, 1, 0),
            (400, 2, 0),
            (405, 3, 3.7),
        ],
        MINUTES,
        token="04AABBCC",
    ).run()
    b = sc.Charger(
        B,
        [(0, 3, 7.4), (90, 6, 0), (120, 1, 0), (200, 2, 0), (201, 3, 11.0), (320, 1, 0)],
        MINUTES,
        initial_session_kwh=5.0,
        meter_kwh=2000.0,
        phase_code=10,
    ).run()
    c = sc.Charger(C, [(0, 1, 0), (60, 2, 0), (61, 3, 22.0), (121, 6, 0), (180, 1, 0)], MINUTES).run()
    d = sc.Charger(
        D, [(0, 1, 0), (200, 2, 0), (205, 3, 11.0), (325, 4, 0), (330, 1, 0)], MINUTES, meter_kwh=500.0
    ).run()
    e = sc.Charger(E, [(0, 1, 0)], MINUTES - 150).run()
    for row in c.rows:
        row.device_delay_s = 0.8 - SKEW_S
    for row in d.rows:
        if row.observation_id == 124 and row.observed_at >= METER_RESET_AT:
            row.value = round(row.value - 500.0 - 11.0 * 35 / 60, 4)  # restarted from 0 at the reset
            row.value_text = f"{row.value:g}"
    clean = a.rows + b.rows + c.rows + d.rows + e.rows
    clean = sc.spurious_zero(clean, A, SPURIOUS_ZERO_AT)
    clean = sc.drop_window(clean, B, *HOLE)
    rows = sc.shuffle(sc.duplicate(clean))
    return Fleet(clean, rows, a.truths + b.truths + c.truths + d.truths + e.truths)


@pytest.fixture(scope="session")
def fleet() -> Fleet:
    return build_fleet()


@pytest.fixture(scope="session")
def fleet_lf(fleet: Fleet) -> pl.LazyFrame:
    return fleet.frame().lazy()
