"""Energy per hour and day does not depend on the order of the rows, even when a meter sends two
readings of one instant (a glitch): a hostile test saw a charger's day read 82.00 kWh in one run and
0.00 in the next."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from evkit import analysis
from tests.analysis import scenario as sc

T0 = datetime(2026, 3, 1, tzinfo=UTC)

reading = st.tuples(
    st.sampled_from([124, 121, 122]),  # lifetime meter, session counter, energy of the hour
    st.integers(0, 30),  # ten-minute steps: readings share instants
    st.sampled_from([0.0, 1.5, 3.0, 82.0, 100.0]),
)


@settings(max_examples=80, deadline=None)
@given(rows=st.lists(reading, min_size=1, max_size=30), seed=st.integers(0, 2**16))
def test_the_same_readings_in_any_order_give_the_same_energy(
    rows: list[tuple[int, int, float]], seed: int
) -> None:
    frame = sc.frame(
        [
            sc.Row("EHA", obs, T0 + timedelta(minutes=10 * step), value, f"{value}")
            for obs, step, value in rows
        ]
    )
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=seed)
    for zone in ("UTC", "Europe/Oslo"):
        want = analysis.energy_per_day(frame.lazy(), zone=zone).collect()
        got = analysis.energy_per_day(shuffled.lazy(), zone=zone).collect()
        assert_frame_equal(got, want, check_exact=False, rel_tol=1e-12)
    assert_frame_equal(
        analysis.energy_per_hour(shuffled.lazy()).collect(),
        analysis.energy_per_hour(frame.lazy()).collect(),
        check_exact=False,
        rel_tol=1e-12,
    )
