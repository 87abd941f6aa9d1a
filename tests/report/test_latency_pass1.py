"""The report's pass 1 takes the end_to_end hop's histogram from the heatmap's
cells (``ranks.coarser``) instead of a pass of its own. It must equal the histogram of the hop's
values, whatever the hours (null, 1970 after a clock reset, across days) and values."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from evkit.analysis.latency_buckets import hop_histograms, hop_latencies
from evkit.analysis.quality import first_of
from evkit.report import latency_data
from tests.report._hostile_data import hostile


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort("hop", "__bin")


@pytest.fixture(scope="module")
def wide() -> pl.DataFrame:
    frame = hostile(seed=5, chargers=4, hours=12)
    return hop_latencies(frame.lazy(), first=first_of(frame)).collect()


def _check(wide: pl.DataFrame) -> None:
    hops, _heat = pl.collect_all(latency_data.pass1(wide.lazy()))
    direct = hop_histograms(wide.lazy()).collect()
    assert_frame_equal(_sorted(hops), _sorted(direct))


def test_pass1_hops_equal_a_pass_of_their_own(wide: pl.DataFrame) -> None:
    assert wide.height > 1000 and wide["end_to_end"].null_count() < wide.height
    _check(wide)


def test_with_null_and_odd_hours(wide: pl.DataFrame) -> None:
    rng = np.random.default_rng(1)
    pick = pl.Series(rng.random(wide.height) < 0.2)
    odd = wide.with_columns(
        pl.when(pick).then(None).otherwise(pl.col("hour")).alias("hour"),
    )
    _check(odd)
    # a clock reset: hours in 1970, huge latencies
    reset = wide.with_columns(
        pl.when(pick).then(pl.col("hour").dt.offset_by("-56y")).otherwise(pl.col("hour")).alias("hour"),
        pl.when(pick)
        .then(pl.col("end_to_end") + 56 * 365 * 86_400_000_000)
        .otherwise(pl.col("end_to_end"))
        .alias("end_to_end"),
    )
    _check(reset)


def test_without_end_to_end_values(wide: pl.DataFrame) -> None:
    _check(wide.with_columns(pl.lit(None, wide.schema["end_to_end"]).alias("end_to_end")))
    _check(wide.head(0))
    _check(wide.head(1))
