"""Frames as JSON-ready records and as the JSON text ``json.dumps(records, indent=2)`` makes of them.

``evkit sessions --format json`` writes thousands of sessions: :func:`json_frame` builds the same text
with Polars expressions, column by column (numbers as Python's ``repr`` writes them, each distinct
string escaped once by the encoder ``json`` itself uses), without a Python object per value.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii
from typing import Any, TextIO

import polars as pl

#: Times in JSON and CSV: ISO 8601 UTC with Z.
ISO_Z = "%Y-%m-%dT%H:%M:%S%.fZ"

#: ``json.dump(..., indent=2)`` runs Python's pure-Python encoder; records of plain values come out
#: the same from the C encoder with these separators and the brackets placed by hand.
_FIELD_SEPARATOR = ",\n    "


def round4(series: pl.Series) -> pl.Series:
    """``series`` as Float64 rounded to 4 decimals exactly as Python's ``round(v, 4)`` does, NaN and
    infinities null. Polars rounds the scaled value ``v * 1e4``; that picks Python's (correctly
    rounded) decimal except where the scaled value lies within its rounding error of a tie: those
    few values are rounded by Python."""
    x = series.cast(pl.Float64)
    scaled = x * 1e4
    frame = pl.DataFrame({"x": x, "s": scaled}).select(
        pl.when(pl.col("x").is_finite()).then(pl.col("x").round(4)).alias("r"),
        (
            pl.col("x").is_finite()
            & (((pl.col("s") - pl.col("s").floor()) - 0.5).abs() < 1e-6 + pl.col("s").abs() * 1e-15)
        ).alias("tie"),
    )
    rounded, ties = frame["r"], frame["tie"].arg_true()
    if len(ties):
        rounded = rounded.scatter(ties, [round(v, 4) for v in x.gather(ties).to_list()])
    return rounded.alias(series.name)


def _rounded(frame: pl.DataFrame) -> pl.DataFrame:
    """Float columns as JSON and CSV carry them: ``round4``."""
    return frame.with_columns(round4(frame[name]) for name, dtype in frame.schema.items() if dtype.is_float())


def as_records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: times ISO 8601 UTC with Z, floats rounded to 4 decimals, NaN null."""
    frame = _rounded(frame.with_columns(pl.col(pl.Datetime).dt.strftime(ISO_Z)))
    columns = [frame[name].to_list() for name in frame.columns]
    names = frame.columns
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def json_records(records: list[dict[str, Any]]) -> str:
    """``json.dumps(records, indent=2)`` for a list of flat dicts of plain values, but fast."""
    if not records:
        return "[]"
    encode = json.JSONEncoder(separators=(_FIELD_SEPARATOR, ": ")).encode
    # a string value is escaped (a newline becomes \\n), so the separator only ever appears between fields
    items = [("{\n    " + encode(r)[1:-1] + "\n  }") if r else "{}" for r in records]
    return "[\n  " + ",\n  ".join(items) + "\n]"


#: A character ``json`` escapes (``encode_basestring_ascii``): any but printable ASCII, a quote, a backslash.
_ESCAPED = r"[^ !#-\[\]-~]"


def _json_text(series: pl.Series, x: pl.Expr) -> pl.Expr | None:
    """The JSON text of each value of ``series`` (a column of ``_rounded`` output, times as text; ``x``
    selects it), as ``json.dumps`` writes it, as a Polars expression (None: a type this shortcut does
    not cover). Polars writes a float as Python's ``repr`` does (shortest round trip, the same exponent
    form)."""
    dtype = series.dtype
    if dtype.is_float() or dtype.is_integer() or dtype == pl.Boolean:
        return x.cast(pl.String).fill_null("null")
    if dtype == pl.String:
        if not series.str.contains(_ESCAPED).any():  # ids, times, notes: quoted as they are
            return pl.concat_str(pl.lit('"'), x, pl.lit('"')).fill_null("null")
        # a value repeats a lot (charger ids, sources): escape each distinct one once, as json does
        distinct = series.drop_nulls().unique().to_list()
        escaped = [encode_basestring_ascii(v) for v in distinct]
        return x.replace_strict(distinct, escaped, return_dtype=pl.String).fill_null("null")
    if dtype == pl.Null:
        return pl.lit("null")
    return None


def _items(frame: pl.DataFrame) -> str:
    """The records of a non-empty ``frame`` as ``json_frame`` writes them, without the brackets: each
    record's text built by Polars, column by column (no Python object per value)."""
    frame = _rounded(frame.with_columns(pl.col(pl.Datetime).dt.strftime(ISO_Z)))
    parts: list[pl.Expr] = []
    for index, name in enumerate(frame.columns):
        # by position: ``pl.col`` reads a name such as "*" or "^a.*$" as a pattern of names
        text = _json_text(frame[name], pl.nth(index))
        if text is None:
            return json_records(as_records(frame))[len("[\n  ") : -len("\n]")]
        separator = "{\n    " if not parts else _FIELD_SEPARATOR
        parts += [pl.lit(separator + encode_basestring_ascii(name) + ": "), text]
    record = pl.concat_str([*parts, pl.lit("\n  }")])
    joined = frame.select(record.str.join(",\n  ").alias("records"))
    return str(joined["records"][0])


def json_frame(frame: pl.DataFrame) -> str:
    """``json_records(as_records(frame))``, built column by column (the same text, several times faster)."""
    if frame.height == 0 or frame.width == 0:
        return "[]"
    return "[\n  " + _items(frame) + "\n]"


#: Rows turned into text at a time by :func:`write_json_frame`.
CHUNK_ROWS = 10_000


def write_json_frame(frame: pl.DataFrame, out: TextIO, chunk_rows: int = CHUNK_ROWS) -> None:
    """Write ``json_frame(frame)`` to ``out`` ``chunk_rows`` records at a time: the same text, with the
    memory of one chunk's strings instead of the whole document's (350,000 sessions are 240 MB of JSON)."""
    if frame.height == 0 or frame.width == 0:
        out.write("[]")
        return
    out.write("[\n  ")
    for start in range(0, frame.height, chunk_rows):
        if start:
            out.write(",\n  ")
        out.write(_items(frame.slice(start, chunk_rows)))
    out.write("\n]")


__all__ = ["ISO_Z", "as_records", "json_frame", "json_records", "write_json_frame"]
