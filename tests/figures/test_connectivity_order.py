"""The connectivity figure does not depend on the order of its input rows, ties included (readings
of one charger at one instant): a report of the same data is the same page, run after run (a hostile
test saw the bars come out in another order from one run to the next)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from evkit import figures
from evkit.figures import _ids

T0 = datetime(2026, 3, 1, tzinfo=UTC)

reading = st.tuples(
    st.sampled_from(["EHA", "EHB"]),
    st.sampled_from([_ids.CONNECTED_TO_CLOUD, _ids.WIFI_RSSI, _ids.SOFTWARE_RELEASE]),
    st.integers(0, 20),  # minutes: many readings share an instant
    st.sampled_from([0.0, 1.0, -70.0]),
)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(reading, min_size=1, max_size=40), seed=st.integers(0, 2**16))
def test_the_same_readings_in_any_order_draw_the_same_figure(
    rows: list[tuple[str, int, int, float]], seed: int
) -> None:
    frame = pl.DataFrame(
        {
            "charger_id": [c for c, _, _, _ in rows],
            "observed_at": [T0 + timedelta(minutes=m) for _, _, m, _ in rows],
            "observation_id": [i for _, i, _, _ in rows],
            "value": [v for _, _, _, v in rows],
        },
        schema_overrides={"observation_id": pl.Int32},
    )
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=seed)
    assert figures.connectivity_timeline(shuffled).to_json() == figures.connectivity_timeline(frame).to_json()
