"""A part with a sound footer and a damaged data page, in a store the capture writer wrote: the analysis
commands name it (relative to the store, exit 2) and, with ``--skip-damaged``, give the result of the
store without it and name it as skipped, as they do parts with a damaged footer. Locally, on S3 and on
a Dask cluster (its workers find the part and leave it out)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from distributed import Client

from evkit.cli import main
from evkit.store.writer import PartWriter
from tests.analysis.conftest import B, build_fleet
from tests.cluster.conftest import client
from tests.s3fixtures import s3_bucket, s3_dataset, s3_env, s3_server, upload_dataset

__all__ = ["client", "s3_bucket", "s3_dataset", "s3_env", "s3_server"]  # the fixtures, used below

ROWS_PER_PART = 300  # the fleet's 1,358 rows in five parts, as a capture flushes them


def _store(root: Path) -> list[Path]:
    """The fleet written as a capture writes it; its parts, sorted."""
    frame = build_fleet().frame()
    writer = PartWriter(root)
    for start in range(0, frame.height, ROWS_PER_PART):
        writer.write(frame.slice(start, ROWS_PER_PART))
    return sorted(root.rglob("*.parquet"))


def damage_a_page(part: Path, column: str = "charger_id") -> None:
    """Bytes overwritten inside the first column chunk of ``column``: the footer stays sound."""
    group = pq.ParquetFile(part).metadata.row_group(0)
    chunk = next(
        group.column(i) for i in range(group.num_columns) if group.column(i).path_in_schema == column
    )
    begin = chunk.dictionary_page_offset or chunk.data_page_offset
    raw = bytearray(part.read_bytes())
    raw[begin + 32 : begin + chunk.total_compressed_size - 8] = b"\xff" * (chunk.total_compressed_size - 40)
    part.write_bytes(bytes(raw))
    assert pq.ParquetFile(part).metadata.num_rows > 0  # the footer still reads


def panic_a_page(part: Path, column: str = "received_at") -> None:
    """Eight bytes zeroed inside the first data page of ``column`` where Polars then panics reading the
    part (a ``PanicException``, a ``BaseException``, not a ``PolarsError``); the footer stays sound."""
    group = pq.ParquetFile(part).metadata.row_group(0)
    chunk = next(
        group.column(i) for i in range(group.num_columns) if group.column(i).path_in_schema == column
    )
    good = part.read_bytes()
    for offset in range(chunk.data_page_offset, chunk.data_page_offset + chunk.total_compressed_size - 8):
        part.write_bytes(good[:offset] + bytes(8) + good[offset + 8 :])
        try:
            pl.read_parquet(part)
        except pl.exceptions.PanicException:
            assert pq.ParquetFile(part).metadata.num_rows > 0  # the footer still reads
            return
        except pl.exceptions.PolarsError:
            pass
    raise AssertionError(f"no damage to {column} makes Polars panic reading {part}")


def _without(root: Path, target: Path, parts: list[Path]) -> Path:
    """A copy of the store ``root`` at ``target`` without ``parts``."""
    shutil.copytree(root, target)
    for part in parts:
        (target / part.relative_to(root)).unlink()
    return target


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


COMMANDS = {
    "sessions": ["sessions", "--format", "json"],
    "sessions-charger": ["sessions", "--format", "json", "--charger", B],  # a narrowed read
    "latency": ["latency", "--format", "json"],
    "latency-charger": ["latency", "--format", "json", "--charger", B],
    # a charger the store lacks: named as absent, which lists the parts once more
    "latency-absent": ["latency", "--format", "json", "--charger", B, "--charger", "EHABSENT01"],
    "statement": ["statement", "--format", "json", "--by", "charger"],
}


@pytest.fixture(scope="module")
def damaged_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(store, its damaged part, the same store without that part)."""
    base = tmp_path_factory.mktemp("pages")
    root = base / "store"
    parts = _store(root)
    damaged = parts[2]
    damage_a_page(damaged)
    return root, damaged, _without(root, base / "clean", [damaged])


@pytest.mark.parametrize("command", [*COMMANDS, "report"])
def test_a_damaged_page_is_named_relative_to_the_store_exit_2(
    damaged_store: tuple[Path, Path, Path], command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, damaged, _ = damaged_store
    html = tmp_path / "r.html"
    argv = COMMANDS.get(command, ["report", "--out", str(html), "--no-progress"])
    code, out, err = _run(capsys, argv[0], str(root), *argv[1:])
    assert code == 2, err
    relative = damaged.relative_to(root).as_posix()
    assert f"1 damaged Parquet part(s) in {root}" in err
    assert f"{relative} (data page unreadable in row group 0: " in err
    assert "--skip-damaged" in err and "Traceback" not in err and err.count("\n") == 1
    others = [p.name for p in sorted(root.rglob("*.parquet")) if p != damaged]
    assert not any(name in err for name in others)  # only the damaged part is blamed
    assert out == "" and not html.exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_skip_damaged_gives_the_result_of_the_store_without_the_part_and_names_it(
    damaged_store: tuple[Path, Path, Path],
    command: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    root, damaged, clean = damaged_store
    argv = COMMANDS[command]
    code, want, err = _run(capsys, argv[0], str(clean), *argv[1:])
    assert code == 0, err
    with caplog.at_level(logging.WARNING, logger="evkit.store"):
        code, got, err = _run(capsys, argv[0], str(root), *argv[1:], "--skip-damaged")
    assert code == 0, err
    assert got == want
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert skipped and all(
        f"skipped 1 damaged Parquet part(s): {damaged} (data page unreadable" in s for s in skipped
    )


def test_skip_damaged_writes_the_report_and_names_the_part(
    damaged_store: tuple[Path, Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    root, damaged, _ = damaged_store
    html = tmp_path / "r.html"
    with caplog.at_level(logging.WARNING, logger="evkit.store"):
        code, _, err = _run(
            capsys, "report", str(root), "--out", str(html), "--no-progress", "--skip-damaged"
        )
    assert code == 0, err
    assert html.stat().st_size > 0
    assert f"skipped 1 damaged Parquet part(s): {damaged} (data page unreadable" in caplog.text


def test_every_damaged_part_is_named_at_once_and_skipped_with_those_of_bad_footers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """Two parts with damaged pages are named in one message (an operator moves both at once, not one
    per run); with a zero-byte part beside them, ``--skip-damaged`` leaves all three out."""
    root = tmp_path / "store"
    parts = _store(root)
    pages = [parts[1], parts[3]]
    damage_a_page(pages[0])
    damage_a_page(pages[1], column="raw")
    code, _, err = _run(capsys, "sessions", str(root), "--format", "json")
    assert code == 2, err
    assert "2 damaged Parquet part(s)" in err
    assert all(p.relative_to(root).as_posix() in err for p in pages)
    empty = parts[0].parent / "part-empty.parquet"
    empty.touch()
    clean = _without(root, tmp_path / "clean", [*pages, empty])
    code, want, err = _run(capsys, "sessions", str(clean), "--format", "json")
    assert code == 0, err
    with caplog.at_level(logging.WARNING, logger="evkit.store"):
        code, got, err = _run(capsys, "sessions", str(root), "--format", "json", "--skip-damaged")
    assert code == 0, err
    assert got == want
    last = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()][-1]
    assert last.startswith("skipped 3 damaged Parquet part(s): ")
    assert all(str(p) in last for p in [*pages, empty])


def test_a_damaged_page_on_s3_is_named_and_skipped(
    s3_dataset: str,
    damaged_store: tuple[Path, Path, Path],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    root, damaged, clean = damaged_store
    upload_dataset(root, s3_dataset)
    relative = damaged.relative_to(root).as_posix()
    code, out, err = _run(capsys, "sessions", s3_dataset, "--format", "json")
    assert code == 2, err
    assert f"1 damaged Parquet part(s) in {s3_dataset}" in err and f"{relative} (data page unreadable" in err
    assert out == ""
    code, want, err = _run(capsys, "sessions", str(clean), "--format", "json")
    assert code == 0, err
    with caplog.at_level(logging.WARNING, logger="evkit.store"):
        code, got, err = _run(capsys, "sessions", s3_dataset, "--format", "json", "--skip-damaged")
    assert code == 0, err
    assert got == want
    assert f"skipped 1 damaged Parquet part(s): {s3_dataset}/{relative} (data page" in caplog.text


@pytest.mark.slow
@pytest.mark.parametrize("command", ["sessions", "latency", "latency-absent", "report"])
def test_on_a_dask_cluster_a_damaged_page_is_named_and_skipped(
    client: Client,
    damaged_store: tuple[Path, Path, Path],
    *,
    command: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``--dask``: the workers read the parts to find the damaged one (the client need not see the
    data), which is named as a local run names it; ``--skip-damaged`` leaves it out of every worker's
    read and gives the store's result without it."""
    root, damaged, clean = damaged_store
    html = tmp_path / "r.html"
    argv = COMMANDS.get(command, ["report", "--out", str(html), "--no-progress"])
    dask = ["--dask", client.scheduler.address]
    code, out, err = _run(capsys, argv[0], str(root), *argv[1:], *dask)
    assert code == 2, err
    assert f"1 damaged Parquet part(s) in {root}" in err
    assert f"{damaged.relative_to(root).as_posix()} (data page unreadable in row group 0: " in err
    assert "Traceback" not in err and out == "" and not html.exists()
    with caplog.at_level(logging.WARNING, logger="evkit.store"):
        code, got, err = _run(capsys, argv[0], str(root), *argv[1:], *dask, "--skip-damaged")
    assert code == 0, err
    # said once, however many times the command lists the parts
    assert caplog.text.count(f"skipped 1 damaged Parquet part(s): {damaged} (data page unreadable") == 1
    if command == "report":
        assert html.stat().st_size > 0
    else:
        code, want, err = _run(capsys, argv[0], str(clean), *argv[1:], *dask)
        assert code == 0, err
        assert got == want
