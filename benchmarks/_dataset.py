"""What a benchmarked capture wrote: row count and the consume window (first to last ``received_at``)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl


def written_window(out: Path | str) -> tuple[int, datetime, datetime]:
    """(rows, first received_at, last received_at) of the dataset below ``out``."""
    frame = (
        pl.scan_parquet(f"{out}/**/*.parquet")
        .select(
            pl.len().alias("rows"),
            pl.col("received_at").min().alias("a"),
            pl.col("received_at").max().alias("b"),
        )
        .collect()
    )
    return int(frame["rows"][0]), frame["a"][0], frame["b"][0]
