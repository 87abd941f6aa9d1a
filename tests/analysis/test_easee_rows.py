"""``easee_rows``: the rows from Easee (not MQTT) with a charger and a device time. A whole store's
scan that holds nothing else is not filtered (its statistics are asked once: no column read for the
filter alone); any other store or frame is. The rows are the same either way."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from evkit.analysis._prep import easee_rows
from evkit.store import scan
from evkit.store.reader import narrow
from tests.analysis.conftest import Fleet

_QUIRKS = ["only Easee rows", "an MQTT row", "an evcc row", "a row without a charger", "a row without a time"]


def _store(frame: pl.DataFrame, quirk: str, root: Path) -> pl.DataFrame:
    """``frame`` with ``quirk`` in its second row, and a ``source`` column (Easee's, null or named)."""
    frame = frame.with_columns(pl.lit(None, pl.String).alias("source"))
    odd = frame.slice(1, 1)
    if quirk == "an MQTT row":
        odd = odd.with_columns(pl.lit("mqtt").alias("kind"))
    elif quirk == "an evcc row":
        odd = odd.with_columns(pl.lit("evcc").alias("source"))
    elif quirk == "a row without a charger":
        odd = odd.with_columns(pl.lit(None, pl.String).alias("charger_id"))
    elif quirk == "a row without a time":
        odd = odd.with_columns(pl.lit(None, frame.schema["observed_at"]).alias("observed_at"))
    frame = pl.concat([frame.head(1).with_columns(pl.lit("easee").alias("source")), odd, frame.slice(2)])
    (root / "date=2026-03-01").mkdir(parents=True)
    frame.write_parquet(root / "date=2026-03-01" / "part-a.parquet", row_group_size=500)
    return frame


def _reference(frame: pl.DataFrame) -> pl.DataFrame:
    keep = [
        r["charger_id"] is not None
        and r["observed_at"] is not None
        and r["kind"] != "mqtt"
        and r["source"] in (None, "easee")
        for r in frame.iter_rows(named=True)
    ]
    return frame.filter(pl.Series(keep))


@pytest.mark.parametrize("quirk", _QUIRKS)
def test_a_store_s_easee_rows_are_those_a_filter_keeps_and_only_a_pure_store_skips_it(
    fleet: Fleet, tmp_path: Path, quirk: str
) -> None:
    frame = _store(fleet.frame(), quirk, tmp_path / "store")
    lf = scan(tmp_path / "store", dedupe=False)
    expected = _reference(frame)
    assert expected.height == frame.height - (quirk != "only Easee rows")
    found = easee_rows(lf)
    assert_frame_equal(found.collect(), expected.select(lf.collect_schema().names()))
    assert ("FILTER" in found.explain(optimized=False)) == (quirk != "only Easee rows")
    wanted = easee_rows(lf, [109]).collect()
    assert_frame_equal(wanted, expected.filter(pl.col("observation_id") == 109).select(wanted.columns))
    # a frame that is not a whole store's scan is filtered, to the same rows
    for other in (
        lf.filter(pl.lit(True)),
        narrow(lf, chargers=sorted(frame["charger_id"].drop_nulls().unique())),
    ):
        assert "FILTER" in easee_rows(other).explain(optimized=False)
        got = easee_rows(other).collect()
        assert_frame_equal(got, expected.select(got.columns), check_row_order=False)
