"""What a report's or explorer's bucket holds of the routing key and ``error``: the key of command
responses and failed rows (the only rows an analysis reads it on), and, for a store without any,
neither column read."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from evkit.analysis._prep import held_columns, held_rows
from evkit.report.data import report_data
from evkit.store import PartWriter, scan
from tests.analysis.conftest import build_fleet


def _store(root: Path, frame: pl.DataFrame) -> Path:
    writer = PartWriter(root)
    for start in range(0, frame.height, 400):
        writer.write(frame.slice(start, 400))
    writer.close()
    return root


def _reads(lf: pl.LazyFrame, name: str = "routing_key") -> bool:
    return any(name in column.meta.root_names() for column in held_columns(lf))


def test_a_store_of_observations_only_has_no_routing_key_read(tmp_path: Path) -> None:
    frame = build_fleet().frame()
    assert frame["routing_key"].null_count() == 0  # every row has one on disk
    lf = scan(_store(tmp_path / "d", frame), dedupe=False)
    assert not _reads(lf) and not _reads(lf, "error")
    held = held_rows(lf, held_columns(lf))
    assert held.height == frame.height
    for name in ("routing_key", "error"):
        assert held[name].dtype == pl.String and held[name].null_count() == held.height


@pytest.mark.parametrize("odd", ["command_response", "failed"])
def test_the_key_of_command_responses_and_failed_rows_is_kept(tmp_path: Path, odd: str) -> None:
    frame = build_fleet().frame().with_row_index("__n")
    marked = pl.col("__n") % 97 == 5
    if odd == "command_response":
        frame = frame.with_columns(
            pl.when(marked).then(pl.lit("command_response")).otherwise("kind").alias("kind")
        )
    else:
        frame = frame.with_columns(pl.when(marked).then(pl.lit("bad body")).alias("error"))
    expected = frame.filter(marked).sort("received_at", "routing_key")["routing_key"]
    lf = scan(_store(tmp_path / "d", frame.drop("__n")), dedupe=False)
    assert _reads(lf) and _reads(lf, "error")
    held = held_rows(lf, held_columns(lf))
    assert held["error"].drop_nulls().to_list() == frame["error"].drop_nulls().to_list()
    kept = held.filter(pl.col("routing_key").is_not_null()).sort("received_at", "routing_key")["routing_key"]
    assert kept.to_list() == expected.to_list() and kept.len() > 5


def test_a_frame_that_is_no_store_scan_is_masked_not_asked(tmp_path: Path) -> None:
    """A filtered frame's footers cannot tell: its routing key is read and masked, as before."""
    frame = build_fleet().frame()
    lf = scan(_store(tmp_path / "d", frame), dedupe=False).filter(pl.col("value").is_not_null())
    assert _reads(lf)
    assert held_rows(lf)["routing_key"].null_count() == lf.select(pl.len()).collect().item()


def test_the_report_is_the_same_whether_the_key_is_read_or_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not reading the key and the errors changes no number of the report (several buckets)."""
    from evkit.analysis import _prep

    root = _store(tmp_path / "d", build_fleet().frame())
    asked: list[bool] = []
    real = _prep.routed
    monkeypatch.setattr(_prep, "routed", lambda lf: asked.append(real(lf)) or asked[-1])
    unread = report_data(root, rows_per_bucket=500)
    assert asked == [False]  # the report's buckets did not read it
    monkeypatch.setattr(_prep, "routed", lambda _lf: True)
    read = report_data(root, rows_per_bucket=500)
    for name in ("sessions", "per_day", "summary", "gaps", "connected", "readings"):
        assert getattr(unread, name).equals(getattr(read, name)), name
    assert unread.overview == read.overview
    assert unread.latency.stats.equals(read.latency.stats)


@pytest.mark.parametrize("commands", [False, True])
def test_latency_in_buckets_reads_the_routing_key_only_where_commands_need_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, commands: bool
) -> None:
    """``evkit latency``'s buckets: a plain store's routing keys are not read; a store with command
    responses reads them, and its command round trips are the same as in one pass."""
    from evkit.analysis import _prep, latency_stats
    from evkit.analysis import latency_buckets as lb
    from tests.analysis.test_easee_command_latency import _dataset

    frame = build_fleet().frame()
    if commands:
        frame = pl.concat([frame, _dataset().collect()], how="diagonal_relaxed").select(frame.columns)
    lf = scan(_store(tmp_path / "d", frame), dedupe=False)
    asked: list[bool] = []
    real = _prep.routed
    monkeypatch.setattr(lb, "routed", lambda lf: asked.append(real(lf)) or asked[-1])
    got = lb.latency_stats_in_buckets(lf, rows_per_bucket=300)
    assert asked == [commands]
    assert ("command_roundtrip" in got["hop"].to_list()) is commands
    expected = latency_stats(lf).collect()
    assert_frame_equal(got, expected, check_dtypes=False, abs_tol=1e-9, rel_tol=1e-12)


def test_any_match_answers_from_a_store_and_reads_any_other_frame(tmp_path: Path) -> None:
    """``frame_facts.any_match``: a store's scan is asked as ``none_match`` asks it; a frame of another
    kind (filtered, in memory) is read. The same answers either way."""
    from evkit.store.frame_facts import any_match, none_match

    frame = build_fleet().frame()
    lf = scan(_store(tmp_path / "d", frame), dedupe=False)
    some = pl.col("observation_id") == frame["observation_id"][0]
    never = pl.col("kind") == "mqtt"
    for source in (lf, lf.filter(pl.lit(True)), frame.lazy()):
        assert any_match(source, some) and not any_match(source, never)
    assert none_match(lf, never) and not none_match(lf, some)
    assert not none_match(frame.lazy(), never)  # it cannot tell: not a store's scan


def test_rows_in_memory_are_asked_once_and_filters_that_keep_every_row_are_not_made() -> None:
    """``in_memory``: ``none_match`` of rows held in memory looks at them (once per predicate), so the
    analyses of a report's bucket skip the filter to Easee rows when it would keep every row; a frame
    with a row that filter drops is still filtered, and a later change to the frame changes nothing."""
    from evkit.analysis._prep import easee_rows
    from evkit.store.frame_facts import any_match, none_match
    from evkit.store.schema import contract_frame, in_memory

    frame = build_fleet().frame()
    some = pl.col("observation_id") == frame["observation_id"][0]
    never = pl.col("kind") == "mqtt"
    held = in_memory(frame)
    assert none_match(held, never) and not none_match(held, some)
    assert any_match(held, some) and not any_match(held, never)
    assert easee_rows(held) is held  # every row is an Easee row: no filter at all
    made = contract_frame(frame)  # what the analyses make of a frame in memory: asked as well
    assert none_match(made, never) and easee_rows(made) is made
    assert not none_match(frame.lazy(), never)  # a plain lazy frame: it cannot tell
    # a row without a charger: the filter is made, and drops it (the same rows as before)
    odd = pl.concat([frame, frame.head(1).with_columns(pl.lit(None, pl.String).alias("charger_id"))])
    kept = easee_rows(in_memory(odd))
    assert kept is not None and kept.collect().height == frame.height
    # the lazy frame is a snapshot: changing the frame in place afterwards does not change its answer
    mutable = frame.clone()
    snapshot = in_memory(mutable)
    assert none_match(snapshot, never)
    mutable.replace_column(mutable.get_column_index("kind"), pl.Series("kind", ["mqtt"] * mutable.height))
    assert none_match(snapshot, never) and snapshot.collect()["kind"].ne("mqtt").all()
