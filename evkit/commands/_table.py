"""CLI tables that fit the terminal: Polars' box table, its columns wrapped into blocks when too wide.

A table wider than the terminal is printed as several tables one below the other, each repeating the
key columns (e.g. the charger and the start) so every row stays readable, as pandas wraps wide frames.
Output that is not a terminal (a pipe, a file) keeps one table (``COLUMNS`` still applies when set).
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any

import polars as pl

#: Width used when the output is not a terminal and ``COLUMNS`` is not set: one table, unwrapped.
UNWRAPPED_WIDTH = 1000
#: Box borders and padding of one column in Polars' table ("│ x ┆").
_CELL_OVERHEAD = 3


def terminal_width(stream: Any = None) -> int:
    """The width to fit: ``COLUMNS``, else the terminal's, else :data:`UNWRAPPED_WIDTH` for pipes."""
    if (columns := os.environ.get("COLUMNS", "")).isdigit() and int(columns) > 0:
        return int(columns)
    stream = sys.stdout if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    if callable(isatty) and isatty():
        return shutil.get_terminal_size((120, 24)).columns
    return UNWRAPPED_WIDTH


def _settings(config: dict[str, Any]) -> dict[str, Any]:
    """Polars' table at its natural width (never squeezed: a squeezed cell breaks dates mid-word)."""
    return {
        "tbl_rows": -1,
        "tbl_cols": -1,
        "tbl_hide_dataframe_shape": True,
        "tbl_hide_column_data_types": True,
        "fmt_str_lengths": 40,
        **config,
        "tbl_width_chars": UNWRAPPED_WIDTH,
    }


def _column_width(frame: pl.DataFrame, name: str, limit: int) -> int:
    column = pl.nth(frame.get_column_index(name))  # by position: ``pl.col`` reads "*" as every column
    longest = frame.select(column.cast(pl.String).fill_null("null").str.len_chars().max()).item()
    return max(len(name), min(int(longest or 0), limit)) + _CELL_OVERHEAD


def render(frame: pl.DataFrame, *, width: int | None = None, keys: int = 1, **config: Any) -> str:
    """``frame`` as text at most ``width`` characters wide (see the module docs); the first ``keys``
    columns repeat in every block. ``config`` goes to ``pl.Config`` (e.g. ``fmt_str_lengths``).

    ``pl.Config`` keeps its options in environment variables: they are set once for the whole table,
    not once per block, as changing the environment is unsafe while another thread reads it."""
    with pl.Config(**_settings(config)):
        return _blocks(frame, terminal_width() if width is None else width, keys, config)


def _blocks(frame: pl.DataFrame, width: int, keys: int, config: dict[str, Any]) -> str:
    text = str(frame)
    if max((len(line) for line in text.splitlines()), default=0) <= width or frame.width <= keys + 1:
        return text
    limit = int(config.get("fmt_str_lengths", 40)) + 3
    key_columns = frame.columns[:keys]
    used = 1 + sum(_column_width(frame, c, limit) for c in key_columns)
    blocks: list[list[str]] = []
    current: list[str] = []
    room = used
    for name in frame.columns[keys:]:
        need = _column_width(frame, name, limit)
        if current and room + need > width:
            blocks.append(current)
            current, room = [], used
        current.append(name)
        room += need
    if current:
        blocks.append(current)
    # columns by name, not ``select``: it reads names such as "*" or "^a.*$" as patterns
    return "\n\n".join(str(frame[[*key_columns, *block]]) for block in blocks)


__all__ = ["UNWRAPPED_WIDTH", "render", "terminal_width"]
