"""A hostile dataset: charger ids, RFID tokens and a disconnect reason that are markup, formulas or huge.

The rows come from the scenario chargers of ``tests.analysis.scenario`` (op mode, power, session counter,
meter, an RFID token per session) and the ``tests.figures.frames`` builder (RSSI, cloud connection, a
reboot), so every section of the report and every figure has something to draw for each id.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import polars as pl

from evkit.display import DISPLAY_LIMIT
from tests.analysis import scenario
from tests.figures import frames
from tests.figures.frames import Builder

EVIL_HREF = "https://evil.example/verify"
LINK = f'<a href="{EVIL_HREF}">verify your account</a>'
BOLD = "<b>x</b>"
SPAN = '<span style="font-size:99px">big</span>'
#: A string that would be a hovertemplate substitution if it were put into a template as it is.
TEMPLATE = "EH%{customdata[0]}&amp;"
#: A 100 kB charger id, and a second one that shares its first 100 000 characters.
LONG = "EH" + "long" * 25_000
LONG_TWIN = LONG + "2"
CHARGER_IDS = (LINK, BOLD, SPAN, TEMPLATE, LONG, LONG_TWIN)
#: Tokens a spreadsheet would run as formulas, one per charger (the last two: tab, carriage return).
TOKENS = ('=HYPERLINK("http://x","y")', "+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR")
DISCONNECT_REASON = LINK

#: Raw markup that must never reach a figure or a page as markup.
MARKUP = ("<a ", "<a\t", "<b>x", "<span")
#: A piece of the long id longer than the display limit: it must not be shown.
LONG_PIECE = "long" * (DISPLAY_LIMIT // 4 + 1)


def hostile() -> pl.DataFrame:
    """One session per hostile charger (each with its token), RSSI, a cloud drop, a reboot and a gap."""
    rows: list[scenario.Row] = []
    for index, (charger_id, token) in enumerate(zip(CHARGER_IDS, TOKENS, strict=True)):
        power = 7.0 + index
        plan = [(0, 1, 0.0), (20, 2, 0.0), (22, 3, power), (80, 4, 0.0), (95, 1, 0.0)]
        rows += scenario.Charger(charger_id, plan, minutes=150, token=token).run().rows
    reason_at = scenario.T0 + timedelta(minutes=60)
    rows.append(scenario.Row(LINK, 251, reason_at, None, DISCONNECT_REASON))
    sessions = scenario.frame(rows)

    extra = Builder()
    for charger_id in CHARGER_IDS:
        for minute in range(0, 150, 15):
            extra.add(charger_id, 132, minute, -60.0 - minute % 7)
        extra.add(charger_id, 250, 0, 1)
    extra.add(LINK, 250, 60, 0)
    extra.add(LINK, 250, 70, 1)
    extra.add(BOLD, 80, 71, 102)
    extra.add(BOLD, 89, 71, 4)
    more = extra.frame()
    shift = scenario.T0 - frames.T0  # the builder's clock, moved to the scenario's day
    more = more.with_columns(
        pl.col(name) + shift for name, dtype in more.schema.items() if isinstance(dtype, pl.Datetime)
    )
    frame = pl.concat([sessions, more.select(sessions.columns)], how="vertical_relaxed")
    # A 40-minute silence of the long id: a telemetry gap to draw.
    hole = pl.col("observed_at").is_between(
        scenario.T0 + timedelta(minutes=100), scenario.T0 + timedelta(minutes=140)
    )
    return frame.filter(~((pl.col("charger_id") == LONG) & hole))


def strings(node: Any, path: str = "") -> list[tuple[str, str]]:
    """Every (path, string) in a figure's JSON-like dict, ``customdata`` marked by its path."""
    found: list[tuple[str, str]] = []
    if isinstance(node, str):
        found.append((path, node))
    elif isinstance(node, dict):
        for key, value in node.items():
            found += strings(value, f"{path}.{key}")
    elif isinstance(node, list | tuple):
        for index, value in enumerate(node):
            found += strings(value, f"{path}[{index}]")
    elif hasattr(node, "tolist"):  # numpy arrays of objects
        found += strings(node.tolist(), path)
    return found
