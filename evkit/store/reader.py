"""Reading a dataset directory back as one ``pl.LazyFrame``."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from evkit.errors import DatasetError
from evkit.store.schema import missing_required


def parquet_files(path: Path | str) -> list[Path]:
    """Every visible ``*.parquet`` file at or below ``path`` (a directory or one file), sorted."""
    root = Path(path)
    if root.is_file():
        return [root]
    if not root.exists():
        raise DatasetError(f"{root} does not exist")
    files = sorted(
        p
        for p in root.rglob("*.parquet")
        if not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    if not files:
        raise DatasetError(f"no Parquet files below {root}")
    return files


def union_schema(files: list[Path]) -> dict[str, pl.DataType]:
    schema: dict[str, pl.DataType] = {}
    for file in files:
        for name, dtype in pl.read_parquet_schema(file).items():
            known = schema.get(name)
            if known is None or known == pl.Null():
                schema[name] = dtype
            elif dtype != known and dtype != pl.Null():
                raise DatasetError(f"column {name!r} is {known} in some files and {dtype} in {file}")
    return schema


def scan(path: Path | str, dedupe: bool = True, require: bool = True) -> pl.LazyFrame:
    """Read a dataset (a directory of Parquet parts, or one file) lazily.

    Files may differ in their columns (Easee and MQTT parts in one store, older versions): missing
    columns read as null. With ``dedupe`` (the default) a message the broker redelivered appears once:
    rows with the same ``routing_key`` and the same ``raw`` body are one message, the first kept.
    MQTT rows (no routing key) are merged only when the broker flagged a copy as redelivered (DUP) and
    the same topic and payload were stored before; a payload published again is a real repeat and stays.
    With ``require`` the contract's required columns must be present (``DatasetError`` names the
    missing ones).
    """
    files = parquet_files(path)
    schema = union_schema(files)
    if require and (missing := missing_required(list(schema))):
        raise DatasetError(f"{path} lacks required column(s): {', '.join(missing)}")
    frame = pl.scan_parquet(
        files, schema=schema, missing_columns="insert", extra_columns="ignore", hive_partitioning=False
    )
    if dedupe and {"routing_key", "raw"} <= set(schema):
        frame = frame.filter(
            pl.col("routing_key").is_null() | pl.struct("routing_key", "raw").is_first_distinct()
        )
    if dedupe and {"topic", "raw", "redelivered"} <= set(schema):
        # MQTT has no message id: a QoS 1 redelivery (DUP flag) of a message already stored is dropped;
        # identical payloads published again (not redelivered) are real repeats and stay.
        repeated = pl.col("topic").is_not_null() & ~pl.struct("topic", "raw").is_first_distinct()
        frame = frame.filter(~(pl.col("redelivered").fill_null(False) & repeated))
    return frame
