"""HTML pieces of the report: escaped tables, the page shell with inline CSS and plotly.js inlined once."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
import polars as pl
from plotly.offline import get_plotlyjs

from evkit.display import DISPLAY_LIMIT, html_text
from evkit.figures.style import FONT_FAMILY


@dataclass(frozen=True)
class Column:
    """One table column: the frame column, its header and how a cell is written."""

    name: str
    header: str
    format: Callable[[Any], str] = str
    numeric: bool = False
    limit: int = DISPLAY_LIMIT


def table(frame: pl.DataFrame, columns: Sequence[Column], *, caption: str | None = None) -> str:
    """``frame`` as an escaped HTML table of ``columns`` (missing columns are left out).

    Cells are written by the column's ``format``, cut to its ``limit`` (64 characters unless said
    otherwise) and escaped: a device string of any length is one readable cell here (its full value
    is in the data and in ``evkit sessions``). Numbers (``td.num``) are right-aligned in tabular digits
    and never wrap; the page's CSS styles the rest. Written here, not by ``great_tables``: it set every
    cell through a frame update, 0.35 s of a 4.2 s report of 6M rows for five tables (this: 7 ms).
    """
    present = [c for c in columns if c.name in frame.columns]
    kinds = [' class="num"' if c.numeric else "" for c in present]
    head = "".join(f"<th{kind}>{html.escape(c.header)}</th>" for c, kind in zip(present, kinds, strict=True))
    body = [
        "<tr>"
        + "".join(
            f"<td{kind}>{'–' if value is None else html_text(column.format(value), column.limit)}</td>"
            for column, kind, value in zip(present, kinds, row, strict=True)
        )
        + "</tr>"
        for row in frame.select([c.name for c in present]).iter_rows()
    ]
    if not body:
        body = [f'<tr><td class="empty" colspan="{max(len(present), 1)}">none</td></tr>']
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return (
        f'<div class="table-wrap"><table>{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def key_values(pairs: Sequence[tuple[str, str]]) -> str:
    """A two-column definition table."""
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in pairs)
    return f'<table class="kv"><tbody>{rows}</tbody></table>'


def key_value_grid(pairs: Sequence[tuple[str, str]]) -> str:
    """Many short facts in a compact multi-column grid."""
    cells = "".join(
        f'<div title="{html.escape(v)}"><span class="k">{html.escape(k)}</span> {html.escape(v)}</div>'
        for k, v in pairs
    )
    return f'<div class="kv-grid">{cells}</div>'


def figure_div(fig: go.Figure, div_id: str) -> str:
    """A figure as a ``<div>`` plus its script; plotly.js itself is in the page head (once)."""
    return str(
        pio.to_html(
            fig,
            full_html=False,
            include_plotlyjs=False,
            include_mathjax=False,
            div_id=div_id,
            config={"displaylogo": False, "responsive": True, "toImageButtonOptions": {"scale": 2}},
        )
    )


_CSS = """
:root { --ink:#1F2933; --muted:#52606D; --line:#E4E7EB; --accent:#0072B2; --bad:#D55E00; }
* { box-sizing: border-box; }
body { margin:0; font-family:%(font)s; color:var(--ink); background:#F5F7FA; line-height:1.45; }
header { background:#1F2933; color:white; padding:22px 32px 16px; }
header h1 { margin:0 0 4px; font-size:24px; font-weight:600; }
header p { margin:0; color:#CBD2D9; font-size:13px; }
nav { position:sticky; top:0; z-index:10; background:white; border-bottom:1px solid var(--line);
      padding:8px 32px; font-size:14px; }
nav a { color:var(--accent); text-decoration:none; margin-right:18px; }
main { max-width:1280px; margin:0 auto; padding:8px 24px 40px; }
section { background:white; border:1px solid var(--line); border-radius:8px;
          margin:18px 0; padding:16px 20px; }
section h2 { margin:0 0 10px; font-size:19px; font-weight:600; }
section p.hint { margin:4px 0 12px; color:var(--muted); font-size:13px; }
.cards { display:flex; flex-wrap:wrap; gap:12px; margin:8px 0 14px; }
.card { flex:1 1 150px; border:1px solid var(--line); border-radius:6px; padding:10px 14px; }
.card .v { font-size:22px; font-weight:600; }
.card .k { font-size:12px; color:var(--muted); text-transform:uppercase; letter-spacing:.04em; }
.table-wrap { max-height:460px; overflow:auto; margin:8px 0 14px;
              border:1px solid var(--line); border-radius:6px; }
table { border-collapse:collapse; width:100%%; font-size:13px; }
thead th { position:sticky; top:0; background:#F0F4F8; font-weight:600; vertical-align:bottom; }
th, td { padding:5px 6px; border-bottom:1px solid var(--line); text-align:left; white-space:normal;
         overflow-wrap:break-word; }
th.num { text-align:right; }
td.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
table.kv th, table.kv td { border-bottom:none; padding:3px 8px; }
/* The first column holds ids (charger, hop): never broken inside (they are cut to 64 characters). */
.table-wrap td:first-child { overflow-wrap:normal; }
td.empty { color:var(--muted); text-align:center; }
caption { caption-side:top; text-align:left; padding:6px 10px; color:var(--muted); font-size:12px; }
table.kv { width:auto; } table.kv th { background:none; color:var(--muted); font-weight:500; }
.kv-grid { display:grid; grid-template-columns:repeat(auto-fill, minmax(280px, 1fr)); gap:2px 18px;
           font-size:13px; border:1px solid var(--line); border-radius:6px; padding:8px 12px; margin:6px 0; }
.kv-grid div { overflow:hidden; text-overflow:ellipsis; white-space:nowrap; }
.kv-grid .k { color:var(--muted); }
h3 { font-size:15px; margin:16px 0 4px; font-weight:600; }
.warn { color:var(--bad); }
.caveat { border-left:4px solid var(--bad); padding:6px 10px; background:#FFF5F5; }
/* A printed page (or a PDF) shows every row and column: no scroll boxes, no sticky headers. */
@media print {
  .table-wrap { max-height:none; overflow:visible; }
  thead th { position:static; }
  th, td { overflow-wrap:anywhere; }  /* the page's width is fixed: every column fits it */
  section { break-inside:auto; }
}
footer { text-align:center; color:var(--muted); font-size:12px; padding:10px 0 30px; }
"""


def page(title: str, subtitle: str, sections: Sequence[tuple[str, str, str]], footer: str) -> str:
    """The whole document: ``sections`` are (anchor, heading, inner HTML)."""
    nav = "".join(f'<a href="#{a}">{html.escape(h)}</a>' for a, h, _ in sections)
    body = "".join(
        f'<section id="{a}"><h2>{html.escape(h)}</h2>{inner}</section>' for a, h, inner in sections
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        f"<style>{_CSS % {'font': FONT_FAMILY}}</style>"
        # plotly.js inlined once: the page works offline (no CDN, no web fonts).
        f'<script type="text/javascript">{get_plotlyjs()}</script>'
        "</head><body>"
        f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header>"
        f"<nav>{nav}</nav><main>{body}</main>"
        f"<footer>{html.escape(footer)}</footer>"
        "</body></html>\n"
    )
