"""Narrow reads of ``s3://`` stores (real SeaweedFS): the same rows as a local narrow read and as a
full read filtered, fetched as ranged GETs of the admitted row groups' column chunks."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from evkit.analysis._prep import narrowed
from evkit.store import PartWriter, scan
from evkit.store.compact import compact
from evkit.store.footers import known
from evkit.store.frame_facts import rows_at_most
from evkit.store.narrow import Narrowing, admitted_groups, footer_of, narrow_scan
from tests.s3fixtures import upload_dataset
from tests.store.test_narrow import DAY0, _rows


@pytest.fixture
def compacted(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    for day in range(3):
        PartWriter(root).write(_rows(day, 600, day))
        PartWriter(root).write(_rows(day, 300, 5 + day))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("evkit.store.compact.ROW_GROUP_ROWS", 64)
        assert len(compact(root).days) == 3
    return root


@pytest.mark.parametrize("dedupe", [False, True])
def test_a_narrow_read_of_s3_is_the_local_one(compacted: Path, s3_dataset: str, dedupe: bool) -> None:
    upload_dataset(compacted, s3_dataset)
    window = {
        "chargers": ["EH03", "EH07"],
        "start": DAY0 + timedelta(hours=5),
        "end": DAY0 + timedelta(days=2),
    }
    remote = scan(s3_dataset, dedupe=dedupe, **window)  # type: ignore[arg-type]
    local = scan(compacted, dedupe=dedupe, **window)  # type: ignore[arg-type]
    expected = scan(compacted, dedupe=dedupe).collect().filter(Narrowing.of(**window).predicate())  # type: ignore[arg-type]
    assert_frame_equal(remote.collect(), local.collect())
    assert_frame_equal(remote.collect(), expected)
    assert remote.select(pl.len()).collect().item() == expected.height > 0


def test_s3_footers_are_fetched_once_and_prune_row_groups(compacted: Path, s3_dataset: str) -> None:
    upload_dataset(compacted, s3_dataset)
    scan(s3_dataset, dedupe=False)  # the check reads each footer, and keeps it
    objects = [
        f"{s3_dataset}/{p.relative_to(compacted).as_posix()}" for p in sorted(compacted.rglob("*.parquet"))
    ]
    assert all(known(url) is not None for url in objects)
    local, remote = footer_of(sorted(compacted.rglob("*.parquet"))[0]), footer_of(objects[0])
    assert remote.tail == local.tail
    one = Narrowing.of(["EH05"], None, None)
    assert admitted_groups(remote, one) == admitted_groups(local, one)
    assert 0 < len(admitted_groups(remote, one)) < remote.metadata().num_row_groups // 4
    # what an analysis of that charger sizes its work by: those groups' rows, from the footers
    whole = scan(s3_dataset, dedupe=False)
    bound = rows_at_most(narrowed(whole, ["EH05"]))
    rows = scan(compacted, dedupe=False).collect()
    assert (
        bound is not None and rows.filter(pl.col("charger_id") == "EH05").height <= bound <= rows.height // 4
    )
    assert rows_at_most(whole) is None  # not narrowed: nothing to bound


def test_a_narrow_frame_fetches_a_footer_it_was_not_handed(compacted: Path, s3_dataset: str) -> None:
    """Parts named without a check before (fresh URLs): each footer is fetched on demand."""
    upload_dataset(compacted, s3_dataset)
    part = sorted(compacted.rglob("*.parquet"))[0]
    url = f"{s3_dataset}/{part.relative_to(compacted).as_posix()}"
    assert known(url) is None
    schema = dict(pl.read_parquet_schema(part))
    frame = narrow_scan([url], schema, Narrowing.of(["EH01"], None, None))
    assert_frame_equal(frame.collect(), pl.read_parquet(part).filter(pl.col("charger_id") == "EH01"))
    assert known(url) is not None


def test_latency_of_one_charger_in_a_window_on_s3_is_the_local_one(
    compacted: Path, s3_dataset: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from evkit.cli import main

    upload_dataset(compacted, s3_dataset)
    args = [
        "--format",
        "json",
        "--charger",
        "EH04",
        "--from",
        DAY0.isoformat(),
        "--to",
        (DAY0 + timedelta(days=1)).isoformat(),
    ]
    assert main(["latency", str(compacted), *args]) == 0
    local = capsys.readouterr().out
    assert main(["latency", s3_dataset, *args]) == 0
    assert capsys.readouterr().out == local
    assert json.loads(local)["cloud_to_capture"]["n"] > 0
