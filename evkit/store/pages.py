"""Which parts hold a data page that cannot be read, found after a read of the store failed on one.

The checks before a read (``evkit.store.parts``: magic bytes, footer, column types) cannot see bytes
damaged inside a column chunk behind a sound footer; Polars finds them only while it decodes the page,
and its error does not name the file. Only then (nothing is spent on a read that works) every part
the read used is read on its own, one after another, all its columns, to name the damaged ones:

- pyarrow reads each part one row group at a time (memory: one row group, not a part or the store;
  explicit row-group selection, which Polars lacks), validates each group in full (pyarrow decodes
  invalid UTF-8 without a word, Polars refuses it) and stops at the first that fails; an ``s3://``
  part is fetched whole, with one GET, and read from memory the same way.
- When pyarrow finds no part, Polars itself (the reader that failed) reads each part a row group's
  rows at a time.

What the caller makes of them (name them, or leave them out of the next read with
``parts.marked_damaged``) is the command's business (``evkit.commands._dataset``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from evkit.errors import first_line
from evkit.secrets import mask_secrets
from evkit.store.narrow import footer_of
from evkit.store.objstore import S3Location, dataset_error, is_s3, open_store, polars_options
from evkit.store.parts import Damaged

if TYPE_CHECKING:
    import pyarrow as pa


def is_decoding_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was raised from: a command's sentence wraps Polars' error) is Polars
    or pyarrow failing to decode data: a ``ComputeError`` (Polars' error for a page it cannot read),
    a Polars panic, pyarrow's ``ArrowInvalid``. Not a vanished file, memory, or anything else."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (FileNotFoundError, MemoryError)):
            return False
        if isinstance(current, (pl.exceptions.ComputeError, pl.exceptions.PanicException)):
            return True
        pyarrow = sys.modules.get("pyarrow")
        if pyarrow is not None and isinstance(current, pyarrow.ArrowInvalid):
            return True
        current = current.__cause__ or current.__context__
    return False


def read_parts(path: Path | str) -> list[Path] | list[str]:
    """The parts a read of ``path`` reads: live, with a sound footer, not damaged (nor marked so),
    without a warning or an error for the damaged ones (the read that failed said it already)."""
    from evkit.store.reader import inspected

    return inspected(path).good


def unreadable_parts(path: Path | str) -> list[Damaged]:
    """Every part of ``path`` (as :func:`read_parts` lists them) whose data cannot be read in full, and
    why (sorted, as the checks name damaged parts). A part that vanished meanwhile is
    ``FileNotFoundError``, as for any read."""
    parts: list[Path | str] = list(read_parts(path))
    found = [Damaged(part, why) for part in parts if (why := pyarrow_problem(part)) is not None]
    if not found:  # pyarrow read every byte Polars refused: ask Polars, part by part
        found = [Damaged(part, why) for part in parts if (why := polars_problem(part)) is not None]
    return sorted(found, key=lambda d: str(d.path))


def pyarrow_problem(part: Path | str) -> str | None:
    """Why a row group of ``part`` cannot be read (the first that fails), None when all can."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    source: Any = pa.BufferReader(_s3_bytes(str(part))) if is_s3(part) else pa.OSFile(str(part), mode="r")
    try:
        parquet = pq.ParquetFile(source, memory_map=False, pre_buffer=False)
        for group in range(parquet.num_row_groups):
            problem = _group_problem(parquet, group)
            if problem is not None:
                return problem
        return None
    except FileNotFoundError:
        raise
    except (OSError, pa.ArrowException) as exc:  # the footer was sound when checked: damaged since
        return f"unreadable Parquet file: {first_line(exc)}"
    finally:
        source.close()


def _group_problem(parquet: Any, group: int) -> str | None:
    import pyarrow as pa

    try:
        table: pa.Table = parquet.read_row_group(group, use_threads=False)
        table.validate(full=True)
    except FileNotFoundError:
        raise
    except (OSError, pa.ArrowException) as exc:
        return f"data page unreadable in row group {group}: {first_line(exc)}"
    return None


def polars_problem(part: Path | str) -> str | None:
    """Why Polars cannot read ``part``, one row group's rows at a time; None when it can."""
    options = polars_options() if is_s3(part) else {}
    metadata = footer_of(part).metadata()
    for group, (offset, rows) in enumerate(_group_rows(metadata)):
        frame = pl.scan_parquet(part, hive_partitioning=False, **options).slice(offset, rows)
        try:
            frame.collect()
        except FileNotFoundError:
            raise
        except (pl.exceptions.PolarsError, pl.exceptions.PanicException, OSError) as exc:
            return f"data page unreadable in row group {group}: {first_line(exc)}"
    return None


def _group_rows(metadata: Any) -> Iterator[tuple[int, int]]:
    offset = 0
    for group in range(metadata.num_row_groups):
        rows = int(metadata.row_group(group).num_rows)
        yield offset, rows
        offset += rows


def _s3_bytes(url: str) -> bytes:
    """The object ``url`` whole (one GET); a missing one is ``FileNotFoundError``, as locally."""
    import obstore
    from obstore.exceptions import NotFoundError

    location = S3Location.parse(url)
    parent, _, name = location.prefix.rpartition("/")
    store = open_store(S3Location(location.bucket, parent))
    try:
        return bytes(obstore.get(store, name).bytes())
    except (NotFoundError, FileNotFoundError):
        raise FileNotFoundError(2, "no such object", url) from None
    except Exception as exc:
        raise dataset_error(exc, url, "read") from exc


def relative_name(where: Path | str, part: Path | str) -> str:
    """``part`` as the operator finds it in the store ``where``: its path below it (its name when
    ``where`` is the part itself)."""
    if is_s3(part):
        base = str(where).rstrip("/") + "/"
        return str(part)[len(base) :] if str(part).startswith(base) else str(part).rsplit("/", 1)[-1]
    try:  # as given, else both resolved (a Dask worker names parts by their absolute path)
        inside = Path(part).relative_to(Path(where))
    except ValueError:
        try:
            inside = Path(part).resolve().relative_to(Path(where).resolve())
        except ValueError:
            return str(part)
    return inside.as_posix() if inside.parts else Path(part).name


def unreadable_message(
    where: Path | str, damaged: list[Damaged], skip: str = "read the rest with --skip-damaged"
) -> str:
    """The sentence naming every part whose data pages cannot be read (what the CLI prints, exit 2);
    ``skip``: how to read the rest without them (the explorer has its own)."""
    names = "; ".join(f"{relative_name(where, d.path)} ({d.reason})" for d in damaged)
    return mask_secrets(
        f"{len(damaged)} damaged Parquet part(s) in {where}, found when their data was read (the "
        f"footers are sound): {names}. Move them out of the dataset, or {skip}"
    )
