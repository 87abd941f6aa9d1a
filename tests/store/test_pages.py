"""``evkit.store.pages``: after a read failed on a data page, which parts cannot be read in full."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from evkit.errors import DatasetError
from evkit.store.pages import is_decoding_error, relative_name, unreadable_parts
from evkit.store.parts import Damaged, marked_damaged
from evkit.store.reader import scan
from evkit.store.writer import PartWriter
from tests.store.test_store import _rows
from tests.test_cli_damaged_pages import damage_a_page


def _parts(root: Path) -> list[Path]:
    writer = PartWriter(root)
    for day in (1, 3, 5):
        writer.write(_rows(50, day=day, key_prefix=f"EH{day}"))
    return sorted(root.rglob("*.parquet"))


def test_only_the_part_with_a_damaged_page_is_found(tmp_path: Path) -> None:
    parts = _parts(tmp_path)
    assert unreadable_parts(tmp_path) == []
    damage_a_page(parts[1], column="raw")
    with pytest.raises(pl.exceptions.ComputeError):
        scan(tmp_path, dedupe=False).collect()  # the check before the read passes it
    (found,) = unreadable_parts(tmp_path)
    assert found.path == parts[1]
    assert found.reason.startswith("data page unreadable in row group 0: ")
    with marked_damaged([found]):  # once marked, the reader leaves it out with --skip-damaged
        with pytest.raises(DatasetError, match="data page unreadable"):
            scan(tmp_path)
        rows = scan(tmp_path, dedupe=False, skip_damaged=True).collect().height
        assert rows == 150 - pq.ParquetFile(parts[1]).metadata.num_rows
        assert unreadable_parts(tmp_path) == []
    assert relative_name(tmp_path, found.path) == parts[1].relative_to(tmp_path).as_posix()
    assert relative_name(parts[1], parts[1]) == parts[1].name


def test_text_that_is_not_utf8_is_found_though_pyarrow_decodes_it(tmp_path: Path) -> None:
    """pyarrow reads invalid UTF-8 in a string page without a word; Polars refuses it: the part is
    validated in full, so it is named all the same."""
    part = tmp_path / "date=2026-11-01" / "part-x-000001.parquet"
    part.parent.mkdir()
    _rows(40).write_parquet(
        part, compression="uncompressed", use_pyarrow=True, pyarrow_options={"use_dictionary": False}
    )
    raw = bytearray(part.read_bytes())
    at = -1
    for _ in range(18):  # the 18th routing key (a String column, plain-encoded, not compressed)
        at = raw.index(b"EH1.O.120", at + 1)
    raw[at] = 0xFF
    part.write_bytes(bytes(raw))
    with pytest.raises(pl.exceptions.ComputeError, match="UTF-8"):
        scan(tmp_path, dedupe=False).collect()
    assert unreadable_parts(tmp_path) == [Damaged(part, unreadable_parts(tmp_path)[0].reason)]
    assert "UTF8" in unreadable_parts(tmp_path)[0].reason


def test_what_counts_as_a_decoding_error() -> None:
    decoding = pl.exceptions.ComputeError("parquet: File out of specification: zstd error")
    try:
        try:
            raise decoding
        except pl.exceptions.ComputeError as exc:
            raise DatasetError("cannot analyse data: zstd error") from exc
    except DatasetError as wrapped:
        assert is_decoding_error(wrapped)
    assert is_decoding_error(decoding)
    assert not is_decoding_error(DatasetError("data holds no rows"))
    assert not is_decoding_error(FileNotFoundError(2, "gone", "part.parquet"))
    assert not is_decoding_error(MemoryError())
    assert not is_decoding_error(pl.exceptions.ColumnNotFoundError("x"))


def test_polars_reads_each_part_when_pyarrow_finds_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were pyarrow to decode what Polars refused, Polars (the reader that failed) names the part."""
    from evkit.store import pages

    parts = _parts(tmp_path)
    damage_a_page(parts[2], column="raw")
    monkeypatch.setattr(pages, "pyarrow_problem", lambda part: None)
    (found,) = unreadable_parts(tmp_path)
    assert found.path == parts[2]
    assert found.reason.startswith("data page unreadable in row group 0: parquet: ")
