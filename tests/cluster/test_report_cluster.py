"""``evkit report --dask``: every analysis in the cluster's tasks, the same numbers as a local run."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from distributed import Client
from polars.testing import assert_frame_equal

from evkit.report.data import ReportData, report_data
from tests.report.test_report_data import write_jittered


@pytest.fixture(scope="module")
def fleet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jittered(tmp_path_factory.mktemp("reportcluster") / "data", 4_000)


def _assert_same(there: ReportData, here: ReportData) -> None:
    assert there.overview == here.overview
    for name in ("sessions", "per_day", "summary", "gaps", "connected", "liveness", "readings"):
        # to the last bit: sums do not depend on how the rows were grouped (``evkit.analysis.exact``)
        assert_frame_equal(
            getattr(there, name), getattr(here, name), check_row_order=name != "readings", check_exact=True
        )
    assert there.readings_chargers == here.readings_chargers
    assert_frame_equal(there.latency.stats, here.latency.stats, abs_tol=1e-9, rel_tol=1e-12)
    assert [c.hop for c in there.latency.curves] == [c.hop for c in here.latency.curves]
    for a, b in zip(there.latency.curves, here.latency.curves, strict=True):
        assert (a.n, a.y, a.negative) == (b.n, b.y, b.negative)
        assert a.x == pytest.approx(b.x, rel=1e-12)
    assert there.latency.log_x == here.latency.log_x
    assert_frame_equal(
        there.latency.heat_cells.sort("row", "_hod"),
        here.latency.heat_cells.sort("row", "_hod"),
        rel_tol=1e-12,
    )
    assert there.power is not None and here.power is not None
    assert [there.power[0][k] for k in ("charger_id", "started_at", "ended_at")] == [
        here.power[0][k] for k in ("charger_id", "started_at", "ended_at")
    ]
    assert_frame_equal(
        there.power[1].sort("observed_at", "observation_id", "value"),
        here.power[1].sort("observed_at", "observation_id", "value"),
    )


@pytest.mark.parametrize("rows", [2_500, 4_000_000])
def test_the_report_on_the_cluster_computes_what_a_local_run_does(
    client: Client, fleet_dir: Path, rows: int
) -> None:
    """Groups of about ``rows`` rows (many small ones, or one per worker thread and a few)."""
    here = report_data(fleet_dir, zone="Europe/Oslo", rows_per_bucket=2_500)
    there = report_data(fleet_dir, zone="Europe/Oslo", client=client, rows_per_bucket=rows)
    assert there.latency.stats["n"].sum() > 10_000
    assert there.readings_chargers > 40  # the figure's chargers are picked across the groups
    _assert_same(there, here)


def test_a_narrowed_report_on_the_cluster(client: Client, fleet_dir: Path) -> None:
    from datetime import UTC, datetime

    chargers = ["EHAAAA01-0001", "EHBBBB02-0002", "EHCCCC03-0003"]
    start = datetime(2026, 3, 2, 7, tzinfo=UTC)
    here = report_data(fleet_dir, chargers=chargers, start=start)
    there = report_data(fleet_dir, chargers=chargers, start=start, client=client)
    assert set(here.sessions["charger_id"]) <= set(chargers)
    assert here.overview["rows"] > 0
    _assert_same(there, here)


def test_the_client_gets_small_results(client: Client, fleet_dir: Path) -> None:
    """What a group's task returns is per charger or per histogram bin, never per message."""
    from evkit.cluster import _groups
    from evkit.cluster.report_tasks import report_group_task

    parts, groups = _groups(client, fleet_dir, None, None, 10**9)
    result = client.submit(
        report_group_task, parts, groups[0], zone="UTC", tariff=None, start=None, end=None
    ).result()
    rows = result.overview["rows"]
    assert rows > 1_000
    assert result.latency_values is None
    sizes = [f.height for f in result.latency] + [result.summary.height, result.inner_gaps.height]
    assert max(sizes) < rows / 2  # histograms: a few thousand bins per hop at most
    assert isinstance(result.readings, pl.DataFrame)


def _kept_folders() -> list[str]:
    """This machine's folders of latency values kept between a report's passes (run on a worker)."""
    import tempfile
    from pathlib import Path

    from evkit.store.scratch import PREFIX

    return sorted(str(p) for p in Path(tempfile.gettempdir()).glob(f"{PREFIX}*-report-*"))


def test_pass_2_reads_the_values_pass_1_kept_on_the_worker(client: Client, fleet_dir: Path) -> None:
    """A group keeps its latency values in a file on its worker; pass 2 there reads them (the same
    counts as from the group's rows again) and removes the file; a report leaves no folder behind."""
    from evkit.cluster import _groups
    from evkit.cluster.report_tasks import latency_pass2_task, report_group_task
    from evkit.report import latency_data

    parts, groups = _groups(client, fleet_dir, None, None, 10**9)
    options = {"zone": "UTC", "tariff": None, "start": None, "end": None}
    part = client.submit(report_group_task, parts, groups[0], 0, run="t1", **options, pure=False).result()
    assert part.kept_at is not None and part.latency_values is None
    worker, path = part.kept_at
    assert worker in client.scheduler_info()["workers"]
    assert client.run(lambda: Path(path).exists(), workers=[worker]) == {worker: True}
    plan = latency_data.plan([part.latency])
    assert plan.needs_pass2
    window = {"start": None, "end": None}
    again = client.submit(latency_pass2_task, parts, groups[0], plan=plan, **window, pure=False).result()
    kept = client.submit(
        latency_pass2_task, parts, groups[0], plan=plan, **window, kept=path, workers=[worker], pure=False
    ).result()
    for a, b in zip(kept, again, strict=True):
        assert_frame_equal(a.sort(a.columns), b.sort(b.columns))
    assert client.run(lambda: Path(path).exists(), workers=[worker]) == {worker: False}
    gone = client.submit(
        latency_pass2_task, parts, groups[0], plan=plan, **window, kept=path, pure=False
    ).result()  # the file is gone: the rows are read again
    for a, b in zip(gone, again, strict=True):
        assert_frame_equal(a.sort(a.columns), b.sort(b.columns))
    from evkit.cluster.report_tasks import _forget_kept

    client.run(_forget_kept, "t1")
    report_data(fleet_dir, client=client, rows_per_bucket=4_000)
    assert all(folders == [] for folders in client.run(_kept_folders).values())


def test_a_store_in_arrival_order_is_read_by_one_group_a_worker_thread(
    client: Client, fleet_dir: Path, tmp_path: Path
) -> None:
    """Every row group of a store in arrival order holds every charger: each group of the report reads
    all of it, so it takes one group a worker thread, not a few; a store sorted by charger (each group
    reads its own row groups) keeps a few a thread, so a slow worker's share stays small."""
    from evkit.cluster import TASKS_PER_THREAD, _groups
    from evkit.store import PartWriter, scan

    threads = sum(int(w["nthreads"]) for w in client.scheduler_info()["workers"].values())
    _, arrival = _groups(client, fleet_dir, None, None, 10**9)
    assert len([g for g in arrival if g.chargers]) == threads
    frame = scan(fleet_dir).collect().sort("charger_id", "observed_at", nulls_last=True)
    writer = PartWriter(tmp_path / "sorted")
    for start in range(0, frame.height, 500):  # a part of about two chargers
        writer.write(frame.slice(start, 500))
    writer.close()
    _, by_charger = _groups(client, tmp_path / "sorted", None, None, 10**9)
    assert len([g for g in by_charger if g.chargers]) == threads * TASKS_PER_THREAD
    here = report_data(tmp_path / "sorted", rows_per_bucket=2_500)
    _assert_same(report_data(tmp_path / "sorted", client=client, rows_per_bucket=10**9), here)


def test_the_report_of_an_s3_store_on_the_cluster_computes_what_a_local_run_does(
    client: Client, fleet_dir: Path, s3_dataset: str, s3_env: dict[str, str]
) -> None:
    """From ``s3://``: the workers read the objects (their footers to plan the groups, their rows),
    keep their latency values between the passes, and give the local run's numbers."""
    import os

    from tests.s3fixtures import upload_dataset

    upload_dataset(fleet_dir, s3_dataset)

    def give_env(env: dict[str, str]) -> None:  # what a deployment does for its workers
        os.environ.update(env)

    client.run(give_env, s3_env)
    here = report_data(fleet_dir, rows_per_bucket=2_500)
    there = report_data(s3_dataset, client=client, rows_per_bucket=10**9)
    assert there.latency.stats["n"].sum() > 10_000
    _assert_same(there, here)


def test_a_windowed_report_on_the_cluster_keeps_home_chargers_readings_without_a_device_time(
    client: Client, tmp_path: Path
) -> None:
    """evcc publishes a device time only with ``updated``: a local report of 07:00-12:00 keeps its other
    readings by when they were received; ``report --dask`` read the window by device time alone and
    left out the evcc session of 07:40 (and its rows), silently."""
    from tests.report.test_report_data import write_mixed

    start, end = write_mixed(tmp_path)
    here = report_data(tmp_path, start=start, end=end)
    there = report_data(tmp_path, start=start, end=end, client=client)
    assert "evcc" in here.sessions["source"].to_list()
    assert there.overview == here.overview
    for name in ("sessions", "per_day", "summary", "gaps", "liveness"):
        assert_frame_equal(getattr(there, name), getattr(here, name))


def _point_temp_at(folder: str | None) -> None:
    """This worker's temporary folder (None: found again from ``TMPDIR``), as ``TMPDIR`` sets it."""
    import tempfile

    tempfile.tempdir = folder


def test_a_worker_whose_temporary_folder_takes_no_folder_gives_the_same_report(
    client: Client, fleet_dir: Path, tmp_path: Path
) -> None:
    """Kept values are a shortcut: a worker whose temporary folder cannot hold a new folder (a full
    disk refuses one as a plain file in its place does) reads its groups again in pass 2. The report
    failed with NotADirectoryError (ENOSPC on a full disk) from the folder of the kept values."""
    (tmp_path / "full").write_text("not a folder")
    worker = sorted(client.scheduler_info()["workers"])[0]
    client.run(_point_temp_at, str(tmp_path / "full"), workers=[worker])
    try:
        there = report_data(fleet_dir, client=client, rows_per_bucket=4_000)
    finally:
        client.run(_point_temp_at, None, workers=[worker])
    _assert_same(there, report_data(fleet_dir, rows_per_bucket=2_500))


def test_a_failed_report_on_the_cluster_leaves_no_kept_folder_behind(
    client: Client, fleet_dir: Path, tmp_path: Path
) -> None:
    """A group's task fails (a data page damaged behind a sound footer, the first group's): the run
    removed its folders at once, while other groups' tasks still ran and kept their values in folders
    made again, which stayed as long as the workers ran (a remote cluster's: for good)."""
    import time

    from evkit.store import PartWriter, scan
    from tests.test_cli_damaged_pages import damage_a_page

    frame = scan(fleet_dir).collect().sort("charger_id", "observed_at", nulls_last=True)
    writer = PartWriter(tmp_path / "sorted")
    for start in range(0, frame.height, 500):
        writer.write(frame.slice(start, 500))
    writer.close()
    damage_a_page(sorted((tmp_path / "sorted").rglob("*.parquet"))[0], column="value")
    with pytest.raises(pl.exceptions.ComputeError):
        report_data(tmp_path / "sorted", client=client, rows_per_bucket=2_000)
    deadline = time.monotonic() + 60
    while any(client.processing().values()) and time.monotonic() < deadline:  # type: ignore[no-untyped-call]
        time.sleep(0.1)  # the failed run's other tasks finish
    assert all(folders == [] for folders in client.run(_kept_folders).values())


def test_a_report_on_the_cluster_removes_the_folders_of_a_worker_that_died(
    client: Client, fleet_dir: Path
) -> None:
    """A worker that died between the passes left its folder of kept values (its nanny starts another
    process, whose runs never name it): the next report removes it, as a local run removes a dead
    run's scratch folders."""
    import subprocess
    import sys

    made = subprocess.run(
        [
            sys.executable,
            "-c",
            "from evkit.store.scratch import process_dir; print(process_dir('report-dead'))",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(made) / "latency-00000.parquet").write_bytes(b"kept values")
    report_data(fleet_dir, client=client, rows_per_bucket=4_000)
    assert not Path(made).exists()


def _zoned_store(source: Path, target: Path, zone: str | None, every: int = 1) -> Path:
    """``source``'s parts with every time column zone-less (``zone`` None: pandas' way) or in ``zone``;
    with ``every`` > 1, only every ``every``-th part (a pandas export beside captured parts)."""
    for index, part in enumerate(sorted(source.rglob("*.parquet"))):
        frame = pl.read_parquet(part)
        if index % every:
            out = target / part.relative_to(source)
            out.parent.mkdir(parents=True, exist_ok=True)
            frame.write_parquet(out)
            continue
        times = [n for n, t in frame.schema.items() if isinstance(t, pl.Datetime)]
        moved = [
            pl.col(n).dt.replace_time_zone(None) if zone is None else pl.col(n).dt.convert_time_zone(zone)
            for n in times
        ]
        out = target / part.relative_to(source)
        out.parent.mkdir(parents=True, exist_ok=True)
        frame.with_columns(moved).write_parquet(out)
    return target


@pytest.mark.parametrize(("zone", "every"), [(None, 1), ("America/New_York", 1), (None, 2)])
def test_a_store_with_other_time_types_reports_the_same_on_the_cluster(
    client: Client, fleet_dir: Path, tmp_path: Path, zone: str | None, every: int
) -> None:
    """A hand-made store's zone-less or zoned times are read as the contract's UTC, on the workers as
    locally (on the cluster they raised: the analyses compare them with UTC bounds), and so are such
    parts beside the capture's (they were named damaged)."""
    store = _zoned_store(fleet_dir, tmp_path / "zoned", zone, every)
    assert len({pl.read_parquet_schema(p)["observed_at"] for p in store.rglob("*.parquet")}) == min(every, 2)
    here = report_data(fleet_dir, rows_per_bucket=2_500)
    _assert_same(report_data(store, client=client, rows_per_bucket=2_500), here)
    _assert_same(report_data(store, rows_per_bucket=2_500), here)
    if every == 1:  # a frame in memory has one type a column
        frame = pl.concat([pl.read_parquet(p) for p in sorted(store.rglob("*.parquet"))], how="vertical")
        _assert_same(report_data(frame, rows_per_bucket=2_500), here)
