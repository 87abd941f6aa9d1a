"""Small value formatters shared by the figures and the report (hover text, table cells)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    import numpy as np


def duration(seconds: float | None) -> str:
    """``seconds`` as ``2 h 05 min`` / ``4 min 10 s`` / ``12 s``; ``–`` when unknown."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "–"
    total = round(seconds)
    sign = "-" if total < 0 else ""
    total = abs(total)
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days} d {hours:02d} h"
    if hours:
        return f"{sign}{hours} h {minutes:02d} min"
    if minutes:
        return f"{sign}{minutes} min {secs:02d} s"
    return f"{sign}{secs} s"


def number(value: float | None, unit: str = "", digits: int = 2) -> str:
    """``value`` rounded with ``unit``; ``–`` when unknown."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    text = f"{value:,.{digits}f}"
    return f"{text} {unit}".rstrip()


def timestamp(value: datetime | date | None) -> str:
    """A UTC timestamp as ``2026-11-21 14:03:07Z`` (or a date as ``2026-11-21``); ``–`` when unknown."""
    if value is None:
        return "–"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%SZ")
    return value.isoformat()


def naive_utc(frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
    """``columns`` as UTC wall time without a zone (plotly.js date axes ignore offsets).

    Aware columns are converted to UTC first; naive ones are taken as UTC already.
    """
    exprs = []
    for name in columns:
        if name not in frame.columns:
            continue
        dtype = frame.schema[name]
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
            exprs.append(pl.col(name).dt.convert_time_zone("UTC").dt.replace_time_zone(None))
    return frame.with_columns(exprs) if exprs else frame


def utc_literal(value: datetime) -> datetime:
    """``value`` as a naive UTC datetime (aware values converted, naive taken as UTC)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def hover_rows(rows: list[list[str]]) -> np.ndarray:
    """Per-point hover texts (``customdata``) as one 2-D array. Plotly validates and copies an array
    (as a trace takes it, and again to write the page) at once, a list value by value (a 6M-row
    report's render: 0.82 s with lists, 0.70 s so). Columns of a frame go to a trace as
    ``Series.to_numpy()`` likewise.
    NumPy is imported here, not with evkit: a command that draws nothing does not load it."""
    import numpy as np

    return np.array(rows, dtype=object)


def floats(values: Sequence[float]) -> np.ndarray:
    """``values`` as one array for a trace (see :func:`hover_rows`)."""
    import numpy as np

    return np.asarray(values, dtype=np.float64)
