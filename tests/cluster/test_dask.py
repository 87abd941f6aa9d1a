"""The analyses on a real Dask LocalCluster (worker processes) equal the local run: on the bundled
sample, on a generated fleet, from s3://, through the CLI, and when a worker is killed mid-run."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from distributed import Client
from polars.testing import assert_frame_equal

import evkit
from evkit import cluster
from evkit.analysis import energy_per_day, latency_stats, sessions
from tests.cluster.conftest import write_fleet
from tests.conftest import REPO_ROOT
from tests.s3fixtures import upload_dataset

SAMPLE = REPO_ROOT / "data" / "sample-session"


def local(source: Path | str) -> pl.LazyFrame:
    return evkit.scan(source, dedupe=False)  # what the commands read (evkit.commands.analysis.load)


def same(got: pl.DataFrame, want: pl.DataFrame) -> None:
    """Equal; floats to 1e-9 relative (sums in another order differ in the last bit, locally too)."""
    assert_frame_equal(got, want, check_exact=False, rel_tol=1e-9, abs_tol=1e-9)


def test_sessions_on_the_cluster_equal_local_on_the_sample(client: Client) -> None:
    got = cluster.sessions(client, SAMPLE)
    assert got.height > 0
    same(got, sessions(local(SAMPLE)).collect())


@pytest.mark.parametrize("by", [None, "charger", "observation", "hour"])
def test_latency_on_the_cluster_equals_local(client: Client, by: str | None) -> None:
    same(cluster.latency_stats(client, SAMPLE, by=by), latency_stats(local(SAMPLE), by=by).collect())


@pytest.mark.parametrize("by", [None, "observation", "hour"])
def test_latency_on_a_generated_fleet_is_exact_from_the_groups_histograms(
    client: Client, fleet_dir: Path, by: str | None
) -> None:
    """The groups return histograms and, for the bins a percentile falls in, counted values; the
    statistics equal the local ones (the fleet's percentiles do fall in bins of differing values)."""
    from evkit.analysis._prep import held_rows
    from evkit.analysis.latency_buckets import Plan, hop_histograms, latencies_of, latency_keys

    keys = latency_keys(by)
    whole = latencies_of(held_rows(local(fleet_dir)), keys)
    assert Plan.of([hop_histograms(whole, keys[1:]).collect()], keys).needs_pass2  # pass 2 is exercised
    same(cluster.latency_stats(client, fleet_dir, by=by), latency_stats(local(fleet_dir), by=by).collect())


@pytest.mark.parametrize("by", [None, "charger"])
def test_latency_of_some_chargers_in_a_window_on_the_cluster_equals_local(
    client: Client, fleet_dir: Path, by: str | None
) -> None:
    """``evkit latency --dask --charger --from --to`` reads what a local run reads (it used to analyse
    every row of the fleet, whatever the options)."""
    from evkit.analysis._prep import narrowed

    wanted = ["EHAAAA01-0003", "EHBBBB02-0017", "EHCCCC03-0031"]
    start, end = datetime(2026, 3, 2, 8, tzinfo=UTC), datetime(2026, 3, 2, 11, tzinfo=UTC)
    got = cluster.latency_stats(client, fleet_dir, by=by, chargers=wanted, start=start, end=end)
    want = latency_stats(narrowed(local(fleet_dir), wanted, start, end), by=by).collect()
    same(got, want)
    whole = latency_stats(local(fleet_dir), by=by).collect()
    assert got["n"].sum() < whole["n"].sum() / 10  # a narrow question, not the fleet
    if by == "charger":
        assert set(got["charger_id"].drop_nulls()) == set(wanted)
    # no row at all: what a local run prints
    none = cluster.latency_stats(client, fleet_dir, by=by, chargers=["NOPE"])
    same(none, latency_stats(narrowed(local(fleet_dir), ["NOPE"]), by=by).collect())
    assert cluster.chargers(client, fleet_dir, start=start, end=end) == sorted(
        local(fleet_dir)
        .filter(pl.col("observed_at").is_between(start, end, closed="left"))
        .select(pl.col("charger_id").unique().drop_nulls())
        .collect()["charger_id"]
        .to_list()
    )


def test_sessions_and_energy_on_a_generated_fleet_equal_local(client: Client, fleet_dir: Path) -> None:
    got = cluster.sessions(client, fleet_dir)
    assert got["charger_id"].n_unique() == 160  # 200 chargers; every fifth (E) never plugs in
    same(got, sessions(local(fleet_dir)).collect())
    same(cluster.energy_per_day(client, fleet_dir), energy_per_day(local(fleet_dir)).collect())


def test_sessions_priced_on_the_cluster_equal_local(client: Client, fleet_dir: Path) -> None:
    """Each charger group prices its own sessions: the same costs as pricing the whole store."""
    from evkit.analysis.cost import session_costs
    from evkit.analysis.tariff import tariff_from_text

    tariff = tariff_from_text(
        "from,price\n2026-03-01T00:00Z,0.10\n2026-03-02T09:00Z,0.30\n2026-03-02T13:00Z,0.20\n"
    )
    got = cluster.sessions(client, fleet_dir, tariff=tariff)
    assert got["cost"].drop_nulls().len() > 100  # priced sessions to compare
    same(got, session_costs(sessions(local(fleet_dir)), tariff, local(fleet_dir)).collect())


def test_only_the_asked_chargers_are_analysed(client: Client, fleet_dir: Path) -> None:
    wanted = ["EHAAAA01-0003", "EHBBBB02-0017"]
    got = cluster.sessions(client, fleet_dir, chargers=wanted)
    want = sessions(local(fleet_dir).filter(pl.col("charger_id").is_in(wanted))).collect()
    assert sorted(set(got["charger_id"])) == wanted
    same(got, want)


def test_sessions_from_s3_on_the_cluster_equal_local(
    client: Client, s3_dataset: str, s3_env: dict[str, str]
) -> None:
    upload_dataset(SAMPLE, s3_dataset)

    def give_env(env: dict[str, str]) -> None:  # what a deployment does for its workers
        os.environ.update(env)

    client.run(give_env, s3_env)
    same(cluster.sessions(client, s3_dataset), sessions(local(SAMPLE)).collect())


def _worker_pids(client: Client) -> dict[str, int]:
    pids: dict[str, int] = client.run(os.getpid)
    return pids


def test_a_worker_killed_mid_run_changes_nothing(client: Client, tmp_path: Path) -> None:
    root = write_fleet(tmp_path / "big", copies=300)
    want = sessions(local(root)).collect()
    client.wait_for_workers(2, timeout=60)
    pids = _worker_pids(client)
    result: dict[str, Any] = {}
    run = threading.Thread(target=lambda: result.update(frame=cluster.sessions(client, root)))
    run.start()
    killed: str | None = None
    deadline = time.monotonic() + 120
    while killed is None and run.is_alive() and time.monotonic() < deadline:
        busy = {
            worker: keys
            for worker, keys in client.processing().items()
            if any("sessions_task" in str(k) for k in keys)
        }
        if busy:
            killed = next(iter(busy))
            os.kill(pids[killed], signal.SIGKILL)
        else:
            time.sleep(0.005)
    run.join(300)
    assert killed is not None, "no sessions task was ever running"
    assert "frame" in result, "the run did not finish"
    same(result["frame"], want)
    # the scheduler saw the worker go and took back a sessions task it was running
    moves = client.run_on_scheduler(
        lambda dask_scheduler: [
            (str(t[0]), t[1], t[2]) for t in dask_scheduler.transition_log if "sessions_task" in str(t[0])
        ]
    )
    assert any(
        start == "processing" and end in ("released", "waiting", "no-worker") for _, start, end in moves
    )
    client.wait_for_workers(2, timeout=60)  # the nanny restarted it


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evkit", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_cli_dask_address_prints_exactly_the_local_output(client: Client, tmp_path: Path) -> None:
    address = client.scheduler.address
    tariff = tmp_path / "tariff.csv"  # prices that change inside the sample's sessions
    tariff.write_text(
        "from,price,co2\n2026-11-01T00:00Z,0.10,90\n2026-11-02T17:00Z,0.45,300\n2026-11-03T06:00Z,0.20,120\n",
        encoding="utf-8",
    )
    for command in (
        ["sessions", str(SAMPLE), "--format", "json"],
        ["sessions", str(SAMPLE), "--format", "csv", "--charger", "EHKUC9GK"],
        ["sessions", str(SAMPLE), "--format", "json", "--tariff", "0.30", "--currency", "EUR"],
        ["sessions", str(SAMPLE), "--format", "json", "--tariff", str(tariff), "--from", "2026-11-03"],
        ["latency", str(SAMPLE), "--format", "json"],
        ["latency", str(SAMPLE), "--by", "observation"],
        ["latency", str(SAMPLE), "--format", "json", "--charger", "EHKUC9GK", "--from", "2026-11-03"],
        ["latency", str(SAMPLE), "--charger", "EHKUC9GK", "--to", "2026-11-03T06:00Z"],
    ):
        here = _cli(*command)
        there = _cli(*command, "--dask", address)
        assert here.returncode == 0, here.stderr
        assert there.returncode == 0, there.stderr
        assert there.stdout == here.stdout
        if "json" in command:
            assert json.loads(there.stdout)
        if "--tariff" in command:  # priced on the cluster
            assert any(row["cost"] for row in json.loads(there.stdout))


def test_cli_dask_prices_an_evcc_recording_at_its_own_tariff_as_a_local_run_does(
    client: Client, tmp_path: Path
) -> None:
    """Without --tariff, evcc's tariff in the recording prices the sessions, and evcc's own figures
    (solar share, its price) stand beside them, on a cluster as locally (they used to be missing)."""
    from evkit.store.writer import PartWriter
    from tests.analysis.test_tariff_evcc import _recording

    PartWriter(tmp_path / "rec").write(_recording())
    for command in (
        ["sessions", str(tmp_path / "rec"), "--format", "json"],
        ["sessions", str(tmp_path / "rec"), "--format", "csv", "--columns", "evcc"],
    ):
        here = _cli(*command)
        there = _cli(*command, "--dask", client.scheduler.address)
        assert here.returncode == there.returncode == 0, there.stderr
        assert there.stdout == here.stdout
        assert "no --tariff: using evcc's recorded tariff" in there.stderr
    (row,) = json.loads(
        _cli("sessions", str(tmp_path / "rec"), "--format", "json", "--dask", client.scheduler.address).stdout
    )
    assert (row["cost"], row["currency"], row["solar_percentage"], row["evcc_price"]) == (
        3.85,
        "EUR",
        25.0,
        3.85,
    )


def test_cli_dask_names_a_charger_without_rows_as_a_local_run_does(client: Client) -> None:
    address = client.scheduler.address
    for command in (
        ["sessions", str(SAMPLE), "--format", "json", "--charger", "EHKUC9GK", "--charger", "EHKUC9G"],
        ["latency", str(SAMPLE), "--charger", "ehkuc9gk", "--from", "2026-11-03"],
        ["latency", str(SAMPLE), "--charger", "EHKUC9GK", "--from", "2030-01-01"],
    ):
        here = _cli(*command)
        there = _cli(*command, "--dask", address)
        assert here.returncode == there.returncode == 0, there.stderr
        said = [line for line in here.stderr.splitlines() if "no rows" in line]
        assert said and said == [line for line in there.stderr.splitlines() if "no rows" in line]
        assert there.stdout == here.stdout


def test_cli_dask_dataset_error_is_exit_2_with_the_sentence(tmp_path: Path) -> None:
    result = _cli("sessions", str(tmp_path / "nothing-here"), "--dask", "local:1")
    assert result.returncode == 2
    assert f"{tmp_path / 'nothing-here'} does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_dask_bad_address_is_exit_2() -> None:
    for address, words in (("foo", "no scheduler address"), ("local:0", "between 1 and 256")):
        result = _cli("sessions", str(SAMPLE), "--dask", address)
        assert result.returncode == 2
        assert words in result.stderr
        assert "Traceback" not in result.stderr


def _tables(html: str) -> list[str]:
    return re.findall(r"<table.*?</table>", html, flags=re.DOTALL)


def test_report_on_the_cluster_has_the_same_tables(client: Client, tmp_path: Path) -> None:
    from evkit.report import build_report

    here = build_report(SAMPLE, tmp_path / "local.html", progress=False).read_text()
    there = build_report(SAMPLE, tmp_path / "dask.html", progress=False, client=client).read_text()
    tables = _tables(there)
    assert len(tables) >= 6  # overview, sessions, energy, latency, quality, connectivity
    assert tables == _tables(here)


def test_report_on_the_cluster_names_chargers_without_rows(
    client: Client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from evkit.errors import DatasetError
    from evkit.report import build_report

    with pytest.raises(
        DatasetError, match=r"charger 'EHKUC9G' has no rows in .*: did you mean 'EHKUC9GK'\?: nothing"
    ):
        build_report(SAMPLE, tmp_path / "r.html", progress=False, client=client, chargers=["EHKUC9G"])
    caplog.set_level(logging.WARNING, logger="evkit")
    build_report(SAMPLE, tmp_path / "r.html", progress=False, client=client, chargers=["EHKUC9GK", "NOPE"])
    (said,) = [r.getMessage() for r in caplog.records if "no rows" in r.getMessage()]
    assert said.startswith(f"charger 'NOPE' has no rows in {SAMPLE} (its 4 charger(s) include 'EH")
    assert said.endswith("(the report covers the other chargers)")


def test_report_cli_dask(client: Client, tmp_path: Path) -> None:
    result = _cli(
        "report", str(SAMPLE), "--out", str(tmp_path / "r.html"), "--dask", client.scheduler.address
    )
    assert result.returncode == 0, result.stderr
    assert _tables((tmp_path / "r.html").read_text())
