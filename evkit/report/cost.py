"""The report's cost section (with a tariff): totals, cost per charger and day, price curve, top cards."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import polars as pl

from evkit.analysis.statement import NO_CARD, statement
from evkit.analysis.tariff import Tariff
from evkit.display import display_labels
from evkit.figures._format import number
from evkit.figures.cost import cost_per_day, price_and_energy
from evkit.report.html import Column, figure_div, table
from evkit.timeutil import zone_label

#: The top-cards table lists this many cards.
TOP_CARDS = 10


def _cards(pairs: list[tuple[str, str]]) -> str:
    cells = "".join(
        f'<div class="card"><div class="v">{html.escape(v)}</div><div class="k">{html.escape(k)}</div></div>'
        for k, v in pairs
    )
    return f'<div class="cards">{cells}</div>'


def cost_section(
    sessions: pl.DataFrame, energy_hourly: pl.DataFrame, tariff: Tariff, zone: str
) -> tuple[str, str, str]:
    """``(anchor, heading, html)`` of the cost section. ``sessions`` carry the ``COST_SCHEMA`` columns."""
    money = tariff.currency or ""
    cur = f" ({money})" if money else ""
    amount: Callable[[Any], str] = lambda v: number(v, money, 2)  # noqa: E731
    kwh: Callable[[Any], str] = lambda v: number(v, digits=2)  # noqa: E731
    _, total = statement(sessions, ["charger"])
    row = total.row(0, named=True) if total.height else {}
    energy = row.get("energy_kwh") or 0.0
    cost = row.get("cost")
    cards = _cards(
        [
            ("cost", amount(cost)),
            ("energy (kWh)", kwh(energy)),
            (
                "effective price per kWh",
                number(cost / energy, money, 4) if cost is not None and energy else "–",
            ),
            ("CO2 (kg)", number(row.get("co2_kg"), digits=1)),
            ("sessions without a cost", f"{row.get('sessions_without_cost', 0):,}"),
        ]
    )
    facts = (
        f'<p class="hint">Tariff: {html.escape(tariff.source)}. Each session\'s energy is priced by when it '
        "flowed (session counter, else power, split at the price changes); ± is the most the timing of "
        "energy between two readings straddling a price change, or missed by sparse readings, can move the "
        "cost. Days and times are in "
        f"{html.escape(zone)}; a session counts on the day it starts.</p>"
    )
    per_charger, _ = statement(sessions, ["charger"])
    per_charger = per_charger.with_columns(
        display_labels(per_charger["charger_id"]).alias("charger_id"),
        (pl.col("cost") / pl.col("energy_kwh")).alias("price_per_kwh"),
    )
    chargers = table(
        per_charger.sort("cost", descending=True, nulls_last=True),
        [
            Column("charger_id", "charger"),
            Column("sessions", "sessions", str, numeric=True),
            Column("energy_kwh", "energy (kWh)", kwh, numeric=True),
            Column("cost", f"cost{cur}", amount, numeric=True),
            Column("price_per_kwh", f"per kWh{cur}", lambda v: number(v, digits=4), numeric=True),
            Column("cost_error_bound", f"±{cur}", amount, numeric=True),
            Column("sessions_without_cost", "without cost", str, numeric=True),
            Column("co2_kg", "CO2 (kg)", lambda v: number(v, digits=1), numeric=True),
        ],
        caption="cost per charger",
    )
    cards_rows, _ = statement(sessions, ["token"])
    top = (
        cards_rows.sort("cost", descending=True, nulls_last=True)
        .head(TOP_CARDS)
        .with_columns(pl.col("token").fill_null(NO_CARD))
    )
    top = top.with_columns(display_labels(top["token"]).alias("token"))
    stamp: Callable[[Any], str] = lambda v: v.astimezone(_zone(zone)).strftime("%Y-%m-%d %H:%M")  # noqa: E731
    cards_table = table(
        top,
        [
            Column("token", "card"),
            Column("sessions", "sessions", str, numeric=True),
            Column("energy_kwh", "energy (kWh)", kwh, numeric=True),
            Column("cost", f"cost{cur}", amount, numeric=True),
            Column("first_session", f"first session {zone_label(zone)}", stamp),
            Column("last_session", f"last session {zone_label(zone)}", stamp),
        ],
        caption=f"top {TOP_CARDS} cards by cost; all of them: evkit statement DIR --by token",
    )
    return (
        "cost",
        "Cost",
        cards
        + facts
        + chargers
        + figure_div(cost_per_day(sessions, zone=zone, currency=tariff.currency), "fig-cost-per-day")
        + figure_div(
            price_and_energy(energy_hourly, tariff.frame, zone=zone, currency=tariff.currency),
            "fig-price-energy",
        )
        + cards_table,
    )


def _zone(zone: str) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(zone)


__all__ = ["TOP_CARDS", "cost_section"]
