"""Damaged parts, injected for real into a copy of the bundled recorded sample: every reader names them
(exit 2; ``evkit.scan`` raises ``DatasetError``) or, with ``--skip-damaged``, reads the rest and warns."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import evkit
from evkit.errors import DatasetError
from tests.conftest import REPO_ROOT

SAMPLE = REPO_ROOT / "data" / "sample-session"
DAY = "date=2026-11-02"


def _sample(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    shutil.copytree(SAMPLE, root)
    return root


def _first_part(root: Path) -> Path:
    return sorted((root / DAY).glob("part-*.parquet"))[0]


def truncated(root: Path) -> Path:
    """A part cut short, as a full disk or a copy interrupted leaves it."""
    part = _first_part(root)
    data = part.read_bytes()
    part.write_bytes(data[: len(data) // 2])
    return part


def zero_bytes(root: Path) -> Path:
    part = root / DAY / "part-zero.parquet"
    part.touch()
    return part


def text_file(root: Path) -> Path:
    part = root / DAY / "part-notes.parquet"
    part.write_text("this is not Parquet\n")
    return part


def odd_types(root: Path) -> Path:
    """A sound Parquet file whose ``value`` column is text; it sorts before every healthy part, so a
    reader that blames the file where it first noticed the disagreement names a healthy one."""
    frame = pl.read_parquet(_first_part(root)).head(50)
    part = root / DAY / "part-0-odd.parquet"
    frame.with_columns(pl.col("value").cast(pl.String)).write_parquet(part)
    return part


FAULTS: dict[str, Callable[[Path], Path]] = {
    "truncated": truncated,
    "zero-bytes": zero_bytes,
    "text-file": text_file,
    "odd-types": odd_types,
}


def _healthy_rows(root: Path, damaged: Path) -> int:
    return sum(
        pl.scan_parquet(p).select(pl.len()).collect().item() for p in root.rglob("*.parquet") if p != damaged
    )


def _evkit(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "evkit", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


@pytest.mark.parametrize("fault", FAULTS)
def test_scan_names_the_damaged_part_and_skips_it_on_request(
    tmp_path: Path, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    root = _sample(tmp_path)
    damaged = FAULTS[fault](root)
    with pytest.raises(DatasetError) as raised:
        evkit.scan(root)
    assert str(damaged) in str(raised.value)
    assert "--skip-damaged" in str(raised.value)
    healthy = [p for p in root.rglob("*.parquet") if p != damaged]
    assert not any(str(p) in str(raised.value) for p in healthy)  # only the odd one is blamed

    with caplog.at_level(logging.WARNING, logger="evkit.store"):
        frame = evkit.scan(root, dedupe=False, skip_damaged=True).collect()
    assert frame.height == _healthy_rows(root, damaged)
    assert str(damaged) in caplog.text and "skipped 1 damaged" in caplog.text


def test_one_damaged_file_given_directly_is_named(tmp_path: Path) -> None:
    root = _sample(tmp_path)
    damaged = truncated(root)
    with pytest.raises(DatasetError, match="truncated"):
        evkit.scan(damaged)
    with pytest.raises(DatasetError, match="no readable Parquet"):
        evkit.scan(damaged, skip_damaged=True)


def test_contract_type_wins_over_a_majority_of_odd_parts(tmp_path: Path) -> None:
    root = tmp_path / "store"
    (root / DAY).mkdir(parents=True)
    healthy = pl.read_parquet(_first_part(_sample(tmp_path / "src"))).head(10)
    healthy.write_parquet(root / DAY / "part-b.parquet")
    for name in ("part-a.parquet", "part-c.parquet"):  # ids as text (another number type would fit)
        healthy.with_columns(pl.col("observation_id").cast(pl.String)).write_parquet(root / DAY / name)
    with pytest.raises(DatasetError) as raised:
        evkit.scan(root)
    message = str(raised.value)
    assert "part-a.parquet" in message and "part-c.parquet" in message
    assert "part-b.parquet" not in message


@pytest.mark.parametrize("fault", FAULTS)
def test_cli_sessions_exits_2_naming_the_part_and_skips_it_on_request(tmp_path: Path, fault: str) -> None:
    root = _sample(tmp_path)
    damaged = FAULTS[fault](root)
    refused = _evkit("sessions", str(root), "--format", "json")
    assert refused.returncode == 2, refused.stderr
    assert str(damaged) in refused.stderr
    assert "Traceback" not in refused.stderr
    skipped = _evkit("sessions", str(root), "--format", "json", "--skip-damaged")
    assert skipped.returncode == 0, skipped.stderr
    assert str(damaged) in skipped.stderr and "skipped 1 damaged" in skipped.stderr
    assert skipped.stdout.lstrip().startswith("[")


@pytest.mark.parametrize(
    "command",
    [
        ["latency", "{root}"],
        ["report", "{root}", "--out", "{tmp}/report.html", "--no-progress"],
        ["compact", "{root}", "--quiet"],
    ],
    ids=lambda c: c[0],
)
def test_cli_readers_exit_2_naming_the_part_and_skip_it_on_request(
    tmp_path: Path, command: list[str]
) -> None:
    root = _sample(tmp_path)
    damaged = zero_bytes(root)
    args = [a.format(root=root, tmp=tmp_path) for a in command]
    refused = _evkit(*args)
    assert refused.returncode == 2, refused.stderr
    assert str(damaged) in refused.stderr and "Traceback" not in refused.stderr
    skipped = _evkit(*args, "--skip-damaged")
    assert skipped.returncode == 0, skipped.stderr
    assert str(damaged) in skipped.stderr
    assert damaged.exists()  # never deleted, not even by compact


@pytest.mark.broker
def test_cli_replay_exits_2_naming_the_part_and_skips_it_on_request(tmp_path: Path, amqp_url: str) -> None:
    root = _sample(tmp_path)
    damaged = text_file(root)
    # The default exchange with routing keys no queue is named after: published, delivered nowhere.
    args = ["replay", str(root), "--url", amqp_url, "--exchange", "", "--speed", "0", "--max-messages", "5"]
    refused = _evkit(*args, "--quiet")
    assert refused.returncode == 2, refused.stderr
    assert str(damaged) in refused.stderr
    skipped = _evkit(*args, "--quiet", "--skip-damaged")
    assert skipped.returncode == 0, skipped.stderr
    assert str(damaged) in skipped.stderr and "replayed 5 messages" in skipped.stderr


# -- which part is the odd one: pure logic, property-tested --------------------------------------------

_TYPES = [pl.Int32(), pl.Int64(), pl.Float64(), pl.String(), pl.Null()]
_schemas = st.lists(
    st.dictionaries(
        st.sampled_from(["value", "observation_id", "extra"]), st.sampled_from(_TYPES), min_size=1
    ),
    min_size=1,
    max_size=6,
)


@given(_schemas)
def test_the_parts_kept_agree_on_every_type_and_the_contract_type_is_never_the_odd_one(
    schemas: list[dict[str, pl.DataType]],
) -> None:
    from evkit.store.parts import CONTRACT_TYPES, expected_types, odd_columns
    from evkit.store.schema import CONTRACT_NUMBERS

    expected = expected_types(schemas)
    kept = [s for s in schemas if not odd_columns(s, expected)]
    for name in expected:
        types = {s[name] for s in kept if name in s} - {pl.Null()}
        # what is read together has one type per column, or numbers of the contract in any number
        # types (read as one that holds each)
        assert len(types) <= 1 or (name in CONTRACT_NUMBERS and all(t.is_numeric() for t in types))
        voted = [s[name] for s in schemas if s.get(name, pl.Null()) != pl.Null()]
        if CONTRACT_TYPES.get(name) in voted:
            assert expected[name] == CONTRACT_TYPES[name]
        else:
            assert voted.count(expected[name]) == max(voted.count(t) for t in voted)  # the majority
    if all(len({s.get(n) for s in schemas if s.get(n, pl.Null()) != pl.Null()}) <= 1 for n in expected):
        assert kept == schemas  # parts that agree are never blamed
