"""Device strings are data: the one place that makes them safe to show (Plotly, HTML) and to export (CSV).

Charger ids, RFID tokens, topics, evcc/go-e names, error strings and text values come from devices and
stores we do not control. Plotly renders a subset of HTML (``<a href>``, ``<b>``, ``<span style>``,
``<br>``) in every label, tick text, legend name, hover, title and annotation, and substitutes
``%{...}`` in hover templates; spreadsheets evaluate cells starting with ``=``, ``+``, ``-`` or ``@``.
So every such string passes through here on its way to a figure, a page or a CSV file:

- ``plotly_text`` / ``plotly_text_expr`` / ``plotly_labels``: truncated for display, then escaped for Plotly;
- ``html_text``: truncated, then escaped for HTML (the report's tables, the widgets); ``display_labels``
  cuts ids and keeps them distinct;
- ``csv_safe`` / ``csv_safe_cell``: spreadsheet formulas neutralised (OWASP "CSV injection").

The full value stays in the data (the frames, the sessions CSV/JSON/Parquet export); only what is drawn
or written as text for people is shortened. Pure functions, no I/O. Frame-wide work is vectorised
(Polars ``str.replace_all``), Python runs once per distinct value at most.
"""

from __future__ import annotations

import html
from typing import Any

import polars as pl

#: Characters of a device string shown in a label, hover or table cell (the ellipsis included).
DISPLAY_LIMIT = 64
ELLIPSIS = "…"
#: Axis tick labels and legend names share the figure's width with the plot: ids are cut shorter there.
LABEL_LIMIT = 32
#: evkit's own sentences built from data (energy notes) are longer; they are escaped and only cut here.
SENTENCE_LIMIT = 240

#: Plotly's pseudo-HTML: ``&``, ``<`` and ``>`` as entities (plotly.js decodes ``&amp; &lt; &gt;`` and
#: numeric entities when it draws, src/lib/svg_text_utils.js convertEntities); ``%{`` as ``&#37;{`` so a
#: string placed inside a hovertemplate is never a substitution (the template regex needs a literal
#: ``%{``; the entity is decoded only after substitution). ``&`` first, so no entity is escaped twice.
_PLOTLY = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("%{", "&#37;{"))

#: A cell a spreadsheet may run as a formula starts with one of these (OWASP CSV Injection: = + - @,
#: tab and carriage return); such a cell gets a leading ``'`` so it is read as text.
CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def truncate_for_display(text: str, limit: int = DISPLAY_LIMIT) -> str:
    """``text`` cut to at most ``limit`` characters, the last one an ellipsis when it was cut."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def escape_for_plotly(text: str) -> str:
    """``text`` as literal Plotly text: no tag, link, style or ``%{...}`` substitution from it."""
    for raw, entity in _PLOTLY:
        text = text.replace(raw, entity)
    return text


def escape_html(text: str) -> str:
    """``text`` as literal HTML text or attribute value (the stdlib's ``html.escape``, quotes too)."""
    return html.escape(text, quote=True)


def plotly_text(value: Any, limit: int = DISPLAY_LIMIT) -> str:
    """A device value for a Plotly title, name, hover or annotation: truncated, then escaped."""
    return escape_for_plotly(truncate_for_display(str(value), limit))


def html_text(value: Any, limit: int = DISPLAY_LIMIT) -> str:
    """A device value for an HTML page or widget: truncated, then escaped."""
    return escape_html(truncate_for_display(str(value), limit))


def _truncate_expr(expr: pl.Expr, limit: int) -> pl.Expr:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    text = expr.cast(pl.String)
    return pl.when(text.str.len_chars() > limit).then(text.str.slice(0, limit - 1) + ELLIPSIS).otherwise(text)


def _escape_expr(expr: pl.Expr) -> pl.Expr:
    for raw, entity in _PLOTLY:
        expr = expr.str.replace_all(raw, entity, literal=True)
    return expr


def plotly_text_expr(expr: pl.Expr, limit: int = DISPLAY_LIMIT) -> pl.Expr:
    """``plotly_text`` of a string column, vectorised (nulls stay null)."""
    return _escape_expr(_truncate_expr(expr, limit))


def _label_table(values: pl.Series, limit: int) -> pl.DataFrame:
    """(raw, label) per distinct value: cut to ``limit``, numbered where cut values would collide."""
    distinct = pl.DataFrame({"raw": values.unique().drop_nulls()})
    table = distinct.with_columns(_truncate_expr(pl.col("raw"), limit).alias("label"))
    collided = table.filter(pl.col("label").is_duplicated()).sort("raw")
    if collided.height == 0:
        return table
    fixed: dict[str, str] = {}
    for _, group in collided.group_by("label", maintain_order=True):
        for index, raw in enumerate(group["raw"].to_list(), start=1):
            if len(raw) > limit:
                tag = f" #{index}"
                fixed[raw] = truncate_for_display(raw, limit - len(tag)) + tag
    return table.with_columns(pl.col("raw").replace_strict(fixed, default=pl.col("label")).alias("label"))


def _relabel(text: pl.Series, table: pl.DataFrame) -> pl.Series:
    if table["label"].equals(table["raw"]):
        return text  # nothing to change: the usual case, no work on the column
    return text.replace_strict(table["raw"], table["label"], default=None, return_dtype=pl.String)


def display_labels(values: pl.Series, limit: int = DISPLAY_LIMIT) -> pl.Series:
    """Ids cut for display and kept distinct (not escaped: for text that is escaped later, e.g. HTML).

    Two ids that share their first ``limit - 1`` characters would otherwise read the same (and in a
    figure become one category, their bars drawn in one row); those that were cut end in ``… #1``,
    ``… #2`` (in sorted order of the full values), still within ``limit``. Python runs once per
    colliding value; the column itself is mapped by Polars.
    """
    text = values.cast(pl.String)
    return _relabel(text, _label_table(text, limit))


def plotly_labels(values: pl.Series, limit: int = LABEL_LIMIT) -> pl.Series:
    """Category labels (axis ticks, legend names) of ``values``: ``display_labels``, escaped for Plotly."""
    text = values.cast(pl.String)
    table = _label_table(text, limit).with_columns(_escape_expr(pl.col("label")))
    return _relabel(text, table)


def csv_safe_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet reads as text: strings starting like a formula get a leading ``'``.

    Only strings are touched; numbers (negative ones too) stay numbers.
    """
    if isinstance(value, str) and value.startswith(CSV_FORMULA_START):
        return "'" + value
    return value


def csv_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with every String column's formula-like cells prefixed by ``'`` (vectorised).

    Number, time and boolean columns are left as they are, so a negative number is never quoted.
    """
    starts = r"^[=+\-@\t\r]"  # CSV_FORMULA_START as a regex
    string_columns = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(starts))
        .then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name in string_columns
    )
