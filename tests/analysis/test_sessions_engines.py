"""Hostile tests of d2ce005: charger ids categorical from the first read, ``scan_shape`` memoised by
``id`` of the frame, either Polars engine (``evkit sessions`` runs each bucket on the default, the
streaming one, since Polars 2.2 ran it as fast or faster with less memory on every shape of store).

The sessions of a store must not depend on the order of its rows, on the engine, on the hint being
wrong, nor on the way they are asked for (the API, the command line, in buckets): each is compared
with the earlier sessioniser (``sessions_reference``) run on the same rows held in memory."""

from __future__ import annotations

import gc
import importlib
import json
import math
import random
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from evkit import scan
from evkit.analysis import _timeline, sessions
from evkit.analysis._timeline import begins_by_charger, begins_in_runs, scan_shape
from evkit.cli import main
from evkit.commands._records import as_records
from evkit.store.frame_facts import first_rows
from tests.analysis import scenario as sc
from tests.analysis import sessions_reference

sessions_module = importlib.import_module("evkit.analysis.sessions")
buckets_module = importlib.import_module("evkit.analysis.buckets")

#: Charger ids of every kind: short, long (> 12 bytes: not inlined in Polars' string views), unicode.
IDS = [
    "EH000001",
    "EHLONG-charger-number-000000000002",
    "Ladestasjon-Øst-ÆØÅ-🚗-0003",
    "x" * 64,
    "EH-é",
    "EH000006",
    "EH000007",
    "EH000008",
]


def _fleet_rows(minutes: int, seed: int = 5) -> list[sc.Row]:
    rng = random.Random(seed)
    rows: list[sc.Row] = []
    for n, cid in enumerate(IDS):
        plan = [(0, rng.choice([1, 2, 3]), 7.4)]
        minute = 0
        while minute < minutes:
            minute += rng.randint(5, 90)
            plan += [(minute, 2, 0.0), (minute + 1, 3, rng.choice([3.7, 11.0, 22.0]))]
            minute += rng.randint(30, 600)
            if rng.random() < 0.2:
                plan.append((minute, 0, 0.0))  # offline inside a session
                minute += rng.randint(1, 40)
            plan.append((minute, 1, 0.0))
        charger = sc.Charger(
            cid, plan, minute + 30, token="04AABBCC" if n % 3 == 0 else None, initial_session_kwh=1.0
        )
        got = charger.run().rows
        for _ in range(2):  # capture holes
            begin = sc.T0 + timedelta(minutes=rng.randint(0, minute))
            got = sc.drop_window(got, cid, begin, begin + timedelta(minutes=rng.randint(10, 90)))
        rows += got
    return rows


@pytest.fixture(scope="module")
def fleet() -> pl.DataFrame:
    """More than 65,536 rows (``_FIRST_LOOK``) of 8 chargers, redelivered and in arrival order."""
    frame = sc.frame(sc.shuffle(sc.duplicate(_fleet_rows(11_000))))
    assert frame.height > _timeline._FIRST_LOOK + 20_000
    return frame


@pytest.fixture(scope="module")
def expected(fleet: pl.DataFrame) -> pl.DataFrame:
    return sessions_reference.easee_sessions(fleet.lazy()).collect()


def _compacted(frame: pl.DataFrame) -> pl.DataFrame:
    day = pl.col("observed_at").dt.date().alias("__day")
    return frame.with_columns(day).sort("__day", "charger_id", "observed_at").drop("__day")


def _orders(frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
    by_charger = frame.sort("charger_id", "observed_at")
    head = _timeline._FIRST_LOOK + 1000
    first = by_charger["charger_id"][0]
    one = by_charger.filter(pl.col("charger_id") == first).with_row_index("__i")
    others = by_charger.filter(pl.col("charger_id") != first)
    return {
        "by-charger": by_charger,
        "arrival": frame.sort("received_at"),
        "as-captured": frame,
        "compacted": _compacted(frame),
        # the hint is read from the first 65,536 rows: sorted there, arrival order after them
        "sorted-head-then-shuffled": pl.concat(
            [by_charger.head(head), by_charger.slice(head).sample(fraction=1.0, shuffle=True, seed=1)]
        ),
        # one charger in two runs that overlap in time (its even rows first, its odd rows last)
        "overlapping-runs": pl.concat(
            [
                one.filter(pl.col("__i") % 2 == 0).drop("__i"),
                others,
                one.filter(pl.col("__i") % 2 == 1).drop("__i"),
            ]
        ),
        # every charger's rows backwards in time: runs of one charger, but not in time order
        "by-charger-time-reversed": frame.sort("charger_id", "observed_at", descending=[False, True]),
        "by-charger-descending-ids": frame.sort("charger_id", "observed_at", descending=[True, False]),
    }


def _store(root: Path, name: str, frame: pl.DataFrame, row_group_size: int = 20_000) -> Path:
    path = root / name
    path.mkdir(parents=True)
    frame.write_parquet(path / "part.parquet", row_group_size=row_group_size)
    return path


@pytest.fixture(scope="module")
def stores(fleet: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("orders")
    return {name: _store(root, name, frame) for name, frame in _orders(fleet).items()}


def _same(got: pl.DataFrame, want: pl.DataFrame) -> None:
    assert_frame_equal(got, want, rel_tol=1e-9, abs_tol=1e-9)


@pytest.mark.parametrize(
    "order",
    [
        "by-charger",
        "arrival",
        "as-captured",
        "compacted",
        "sorted-head-then-shuffled",
        "overlapping-runs",
        "by-charger-time-reversed",
        "by-charger-descending-ids",
    ],
)
def test_a_stores_sessions_on_either_engine_are_the_references(
    stores: dict[str, Path], expected: pl.DataFrame, order: str
) -> None:
    lf = scan(stores[order], dedupe=False)
    for engine in ("in-memory", "streaming"):
        _same(sessions(lf).collect(engine=engine), expected)
    # the hint at its most wrong, either way: the same sessions
    for hint in ((True, True), (True, False), (False, True), (False, False)):
        with patch.object(sessions_module, "scan_shape", return_value=hint):
            for engine in ("in-memory", "streaming"):
                _same(sessions(lf).collect(engine=engine), expected)


def _cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, Any]]:
    capsys.readouterr()
    code = main(["sessions", *argv, "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    found: list[dict[str, Any]] = json.loads(out)
    return found


def _same_records(cli: list[dict[str, Any]], frame: pl.DataFrame) -> None:
    want = as_records(frame)
    assert len(cli) == len(want)
    for got_row, want_row in zip(cli, want, strict=True):
        for name, value in want_row.items():
            got = got_row[name]
            if isinstance(value, float) and isinstance(got, (int, float)):
                assert math.isclose(got, value, rel_tol=1e-6, abs_tol=1e-4), (name, got, value)
            else:
                assert got == value, (name, got_row["session_id"], got, value)


@pytest.mark.parametrize(
    "order", ["by-charger", "arrival", "compacted", "sorted-head-then-shuffled", "overlapping-runs"]
)
def test_the_command_line_gives_the_apis_sessions(
    stores: dict[str, Path], expected: pl.DataFrame, order: str, capsys: pytest.CaptureFixture[str]
) -> None:
    api = sessions(scan(stores[order], dedupe=False)).collect()
    _same(api, expected)
    _same_records(_cli_json(capsys, str(stores[order])), api)


@pytest.mark.parametrize("order", ["by-charger", "arrival", "compacted"])
@pytest.mark.parametrize("rows_per_bucket", [5_000, 40_000])
def test_sessions_in_buckets_are_the_whole_datas(
    stores: dict[str, Path],
    expected: pl.DataFrame,
    order: str,
    rows_per_bucket: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A store in several charger buckets: the command line's sessions are the whole data's."""
    split: list[int] = []
    bucket_filters = buckets_module.bucket_filters

    def spy(lf: pl.LazyFrame, rows: int) -> Any:
        split.append(len(found := bucket_filters(lf, rows)))
        return found

    with (
        patch.object(buckets_module, "ROWS_PER_BUCKET", rows_per_bucket),
        patch.object(buckets_module, "bucket_filters", spy),
    ):
        cli = _cli_json(capsys, str(stores[order]))
    assert split and split[0] > 1
    _same_records(cli, expected)


@pytest.mark.parametrize("charger", [IDS[1], IDS[2]])
def test_one_charger_asked_for_on_the_command_line(
    stores: dict[str, Path], expected: pl.DataFrame, charger: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--charger``: a narrowed scan, which ``first_rows`` also reads (its engine comes from it)."""
    for order in ("by-charger", "arrival"):
        cli = _cli_json(capsys, str(stores[order]), "--charger", charger)
        _same_records(cli, expected.filter(pl.col("charger_id") == charger))


def test_a_store_of_one_charger(tmp_path: Path) -> None:
    rows = [r for r in _fleet_rows(3000, seed=9) if r.charger_id == IDS[2]]
    frame = sc.frame(sc.shuffle(rows))
    want = sessions_reference.easee_sessions(frame.lazy()).collect()
    assert want.height > 3
    for name, ordered in {"sorted": frame.sort("observed_at"), "arrival": frame.sort("received_at")}.items():
        lf = scan(_store(tmp_path, name, ordered, row_group_size=500), dedupe=False)
        for engine in ("in-memory", "streaming"):
            _same(sessions(lf).collect(engine=engine), want)


def test_rows_without_a_charger_and_mqtt_rows_mixed_in(
    fleet: pl.DataFrame, expected: pl.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rows without a charger id (undecodable bodies) at the head of the store, where the hint is
    read, and between the chargers; MQTT-kind rows after them: the Easee sessions are the same."""
    by_charger = fleet.sort("charger_id", "observed_at")
    chargerless = by_charger.head(4000).with_columns(pl.lit(None, pl.String).alias("charger_id"))
    mqtt = by_charger.slice(5000, 2000).with_columns(pl.lit("mqtt").alias("kind"))
    for name, frame in {
        "nulls-first": pl.concat([chargerless, by_charger, mqtt]),
        "nulls-between": pl.concat([by_charger.head(30_000), chargerless, by_charger.slice(30_000), mqtt]),
    }.items():
        path = _store(tmp_path, name, frame)
        lf = scan(path, dedupe=False)
        for engine in ("in-memory", "streaming"):
            _same(sessions(lf).collect(engine=engine), expected)
        _same_records(_cli_json(capsys, str(path)), expected)


@pytest.mark.parametrize(
    "observed",
    [
        pl.col("observed_at").dt.cast_time_unit("ns"),
        pl.col("observed_at").dt.cast_time_unit("ms"),
        pl.col("observed_at").dt.convert_time_zone("Europe/Oslo"),
        pl.col("observed_at").dt.replace_time_zone(None),
    ],
    ids=["ns", "ms", "oslo", "naive"],
)
def test_a_store_whose_device_times_are_in_another_unit_or_zone(
    fleet: pl.DataFrame,
    expected: pl.DataFrame,
    tmp_path: Path,
    observed: pl.Expr,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = _store(tmp_path, "store", fleet.sort("charger_id", "observed_at").with_columns(observed))
    lf = scan(path, dedupe=False)
    for engine in ("in-memory", "streaming"):
        _same(sessions(lf).collect(engine=engine), expected)
    _same_records(_cli_json(capsys, str(path)), expected)


@pytest.mark.parametrize("evcc_first", [True, False])
def test_evcc_rows_in_the_store(tmp_path: Path, evcc_first: bool, capsys: pytest.CaptureFixture[str]) -> None:
    """evcc rows (a ``source`` column) before or after Easee rows sorted by charger: the hint sees
    the first rows of either kind; sessions of both sources, the same on both engines and the CLI."""
    easee = sc.frame(_fleet_rows(2000, seed=11)).sort("charger_id", "observed_at")
    evcc = sc.evcc_session(plugged_at_minute=30)
    parts = [evcc, easee] if evcc_first else [easee, evcc]
    frame = pl.concat(parts, how="diagonal_relaxed")
    want = sessions(frame.lazy()).collect(engine="in-memory")
    assert set(want["source"]) == {"easee", "evcc"}
    _same(
        want.filter(pl.col("source") == "easee"),
        sessions_reference.easee_sessions(easee.lazy()).collect(),
    )
    path = _store(tmp_path, "mixed", frame)
    lf = scan(path, dedupe=False)
    for engine in ("in-memory", "streaming"):
        _same(sessions(lf).collect(engine=engine), want)
    _same_records(_cli_json(capsys, str(path)), want)


# ------------------------------------------------------------------------------ scan_shape's memo


def _fresh_shape(lf: pl.LazyFrame) -> tuple[bool, bool]:
    first = first_rows(lf, ["charger_id", "observed_at"], _timeline._FIRST_LOOK)
    return (False, False) if first is None else (begins_in_runs(first), begins_by_charger(first))


def test_scan_shape_never_answers_for_a_dead_frame_whose_id_is_reused(stores: dict[str, Path]) -> None:
    """Frames of differently ordered stores made and dropped in a loop: a new frame often gets the
    ``id`` of one just freed. Each must get its own store's answer, never the dead frame's."""
    answers = {name: _fresh_shape(scan(path, dedupe=False)) for name, path in stores.items()}
    assert len(set(answers.values())) > 1  # the stores do differ in shape
    names = list(stores)
    baseline = len(_timeline._SHAPES)
    seen: dict[int, str] = {}
    reused = 0
    rng = random.Random(2)
    for step in range(300):
        name = rng.choice(names)
        lf = scan(stores[name], dedupe=False)
        if step % 3 == 0:
            lf = lf.select(pl.all())  # not a scan: (False, False), whatever the store
            want = (False, False)
        else:
            want = answers[name]
        key = id(lf)
        if key in seen and seen[key] != name:
            reused += 1
        seen[key] = name
        assert scan_shape(lf) == want, (step, name)
        if step % 7 == 0:  # freed only by the cyclic collector
            holder: list[Any] = [lf]
            holder.append(holder)
            del holder
            del lf
            gc.collect()
        else:
            del lf
    assert reused > 0, "no id was reused: the test proved nothing"
    gc.collect()
    assert len(_timeline._SHAPES) <= baseline + 1  # answers leave with their frames


@pytest.mark.parametrize(
    "window", [[], ["--from", "2026-03-03", "--to", "2026-03-06"]], ids=["all", "window"]
)
def test_priced_sessions_do_not_depend_on_the_stores_order(
    stores: dict[str, Path], window: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """``--tariff`` (pricing collects inside the bucket's plan) and a window: the same text for
    every order of the same rows."""
    texts = {}
    for order in ("by-charger", "arrival", "compacted", "sorted-head-then-shuffled", "overlapping-runs"):
        capsys.readouterr()
        assert main(["sessions", str(stores[order]), "--format", "json", "--tariff", "0.3", *window]) == 0
        texts[order] = capsys.readouterr().out
    assert len(set(texts.values())) == 1, {k: len(v) for k, v in texts.items()}
    assert json.loads(texts["arrival"])
