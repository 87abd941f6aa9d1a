"""``evkit.analysis.<function>(path, client=client)``: the public analyses run on a real Dask
LocalCluster (worker processes) and return what the local run returns, on the bundled sample, on a
generated fleet and from s3://; a frame held in this process is refused with a sentence."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from distributed import Client
from polars.testing import assert_frame_equal

import evkit
from evkit import analysis
from evkit.errors import ConfigError
from tests.conftest import REPO_ROOT
from tests.s3fixtures import upload_dataset

SAMPLE = REPO_ROOT / "data" / "sample-session"

#: (name, keyword options): every analysis that takes client=, with and without its options.
CASES: list[tuple[str, dict[str, Any]]] = [
    ("sessions", {}),
    ("sessions", {"gap": timedelta(minutes=5)}),
    ("energy_per_day", {}),
    ("energy_per_day", {"zone": "Europe/Oslo"}),
    ("energy_per_hour", {}),
    ("latency_stats", {}),
    ("latency_stats", {"by": "charger"}),
    ("latency_stats", {"by": "hour"}),
    ("connectivity", {}),
    ("connectivity_summary", {}),
    ("quality_summary", {}),
    ("quality_summary", {"expected": timedelta(minutes=5), "stale": timedelta(minutes=1)}),
    ("quality_summary", {"data_end": datetime(2030, 1, 1, tzinfo=UTC)}),  # silences run to then
]


def local(source: Path | str) -> pl.LazyFrame:
    return evkit.scan(source, dedupe=False)  # what the commands read


def same(got: pl.DataFrame, want: pl.DataFrame) -> None:
    """Equal; floats to 1e-9 relative (sums in another order differ in the last bit, locally too)."""
    assert isinstance(got, pl.DataFrame)
    assert_frame_equal(got, want, check_exact=False, rel_tol=1e-9, abs_tol=1e-9)


def _function(name: str) -> Callable[..., Any]:
    function: Callable[..., Any] = getattr(analysis, name)
    return function


def _ids(case: tuple[str, dict[str, Any]]) -> str:
    name, options = case
    return name + "".join(f"-{k}={v}" for k, v in options.items())


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_each_analysis_given_a_client_equals_the_local_run_on_the_sample(
    client: Client, case: tuple[str, dict[str, Any]]
) -> None:
    name, options = case
    function = _function(name)
    want = function(local(SAMPLE), **options).collect()
    assert want.height > 0
    same(function(SAMPLE, **options, client=client), want)
    same(function(str(SAMPLE), **options, client=client), want)  # a str path too


@pytest.mark.parametrize(
    "name", ["sessions", "energy_per_day", "latency_stats", "connectivity_summary", "quality_summary"]
)
def test_each_analysis_given_a_client_equals_the_local_run_on_a_generated_fleet(
    client: Client, fleet_dir: Path, name: str
) -> None:
    function = _function(name)
    want = function(local(fleet_dir)).collect()
    if name in ("sessions", "energy_per_day", "quality_summary"):
        assert want["charger_id"].n_unique() >= 160
    else:  # latency statistics are per hop; the generated fleet has no connectivity events
        assert name == "latency_stats" or want.is_empty()
    same(function(fleet_dir, client=client), want)


def test_quality_on_the_cluster_measures_ongoing_silences_up_to_the_whole_datas_end(
    client: Client, fleet_dir: Path
) -> None:
    """A charger silent before the data ends has an ongoing gap up to the newest row of ANY charger,
    which is usually in another task's group: the cluster must not end it at its own group's end."""
    lf = local(fleet_dir)
    want = analysis.quality_summary(lf).collect()
    ongoing = analysis.telemetry_gaps(lf).filter(pl.col("ongoing")).collect()
    assert ongoing.height > 0  # the fleet has such chargers, in several groups
    got = analysis.quality_summary(fleet_dir, client=client)
    same(got, want)


def test_sessions_from_s3_given_a_client_equal_local(
    client: Client, s3_dataset: str, s3_env: dict[str, str]
) -> None:
    upload_dataset(SAMPLE, s3_dataset)

    def give_env(env: dict[str, str]) -> None:  # what a deployment does for its workers
        os.environ.update(env)

    client.run(give_env, s3_env)
    same(analysis.sessions(s3_dataset, client=client), analysis.sessions(local(SAMPLE)).collect())
    same(analysis.energy_per_day(s3_dataset, client=client), analysis.energy_per_day(local(SAMPLE)).collect())


@pytest.mark.parametrize("name", sorted({name for name, _ in CASES}))
def test_a_frame_in_this_process_with_a_client_is_a_config_error_with_a_sentence(
    client: Client, name: str
) -> None:
    function = _function(name)
    for frame in (local(SAMPLE), local(SAMPLE).head(10).collect()):
        with pytest.raises(ConfigError, match=r"needs the dataset's path or s3:// URL") as caught:
            function(frame, client=client)
        assert name in str(caught.value) and type(frame).__name__ in str(caught.value)


@pytest.mark.parametrize("name", sorted({name for name, _ in CASES}))
def test_without_a_client_the_result_stays_a_lazy_local_plan(name: str) -> None:
    got = _function(name)(local(SAMPLE))
    assert isinstance(got, pl.LazyFrame)


def test_the_analysis_package_does_not_import_dask() -> None:
    code = (
        "import sys, evkit, evkit.analysis as a; a.sessions(evkit.scan(sys.argv[1])).collect(); "
        "assert 'distributed' not in sys.modules and 'dask' not in sys.modules, 'dask imported'"
    )
    subprocess.run([sys.executable, "-c", code, str(SAMPLE)], check=True, cwd=REPO_ROOT, timeout=120)


@pytest.mark.parametrize("name", sorted({name for name, _ in CASES}))
def test_a_path_without_a_client_is_a_config_error_saying_how_to_read_it(name: str) -> None:
    with pytest.raises(ConfigError, match=r"takes a frame: .*evkit\.scan\(") as caught:
        _function(name)(str(SAMPLE))
    assert "client=" in str(caught.value)
