"""How ``evkit sessions`` shows sessions as text: the terminal table and evcc's session CSV rows."""

from __future__ import annotations

import polars as pl

from evkit.commands._table import render
from evkit.timeutil import zone_label

#: evcc's session CSV headers (core/session/session.go struct tags), in evcc's order.
EVCC_COLUMNS = (
    "Created",
    "Finished",
    "Loadpoint",
    "Identifier",
    "Vehicle",
    "Odometer (km)",
    "Meter Start (kWh)",
    "Meter Stop (kWh)",
    "Charged Energy (kWh)",
    "Charge Duration",
    "Soc Start (%)",
    "Soc Stop (%)",
    "Solar (%)",
    "Price",
    "Price/kWh",
    "CO2/kWh (gCO2eq)",
)

_TABLE_COLUMNS = (
    "charger_id",
    "started_at",
    "ended_at",
    "energy_kwh",
    "energy_source",
    "charge",
    "connected",
    "peak_power_kw",
    "phases",
    "rfid_token",
    "flags",
)


def go_duration(seconds: float | None) -> str:
    """Seconds as evcc prints a duration (Go ``time.Duration``): ``1h2m3s``, ``45m0s``, ``0s``."""
    if seconds is None:
        return ""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def _number(value: float | None) -> str:
    """Up to 4 decimals without trailing zeros, like evcc's CSV."""
    if value is None:
        return ""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def evcc_rows(frame: pl.DataFrame, zone: str = "UTC") -> list[list[str]]:
    """Sessions as rows under ``EVCC_COLUMNS`` (times in ``zone``, ``YYYY-MM-DD HH:MM:SS``, as evcc
    writes its server's local time). Price, Price/kWh and CO2/kWh come from the cost columns
    (``evkit.analysis.cost``), Solar (%) from ``solar_percentage`` (evcc recordings), when present."""
    frame = frame.with_columns(pl.col("started_at", "ended_at").dt.convert_time_zone(zone))
    for name in ("cost", "price_per_kwh", "co2_g", "solar_percentage"):
        if name not in frame.columns:
            frame = frame.with_columns(pl.lit(None, pl.Float64).alias(name))
    co2_per_kwh = pl.when(pl.col("energy_kwh") > 0).then(pl.col("co2_g") / pl.col("energy_kwh"))
    frame = frame.with_columns(co2_per_kwh.alias("__co2_per_kwh"))
    rows: list[list[str]] = []
    for s in frame.iter_rows(named=True):
        rows.append(
            [
                s["started_at"].strftime("%Y-%m-%d %H:%M:%S") if s["started_at"] else "",
                s["ended_at"].strftime("%Y-%m-%d %H:%M:%S") if s["ended_at"] else "",
                s["charger_id"] or "",
                s["rfid_token"] or "",
                "",
                "",
                _number(s["meter_start_kwh"]),
                _number(s["meter_stop_kwh"]),
                _number(s["energy_kwh"] if s["energy_kwh"] is not None else 0.0),
                go_duration(s["charge_duration_s"]),
                "",
                "",
                _number(s["solar_percentage"]),
                _number(s["cost"]),
                _number(s["price_per_kwh"]),
                _number(s["__co2_per_kwh"]),
            ]
        )
    return rows


def _hm(seconds: pl.Expr) -> pl.Expr:
    total = seconds.round(0).cast(pl.Int64)
    return pl.format("{}:{}", total // 3600, (total % 3600 // 60).cast(pl.String).str.zfill(2))


def session_table(frame: pl.DataFrame, zone: str = "UTC") -> str:
    flags = pl.concat_str(
        pl.when(pl.col("ended_at").is_null()).then(pl.lit("open ")).otherwise(pl.lit("")),
        pl.when(pl.col("started_mid_session")).then(pl.lit("mid-start ")).otherwise(pl.lit("")),
        pl.when(pl.col("gap")).then(pl.lit("gap ")).otherwise(pl.lit("")),
        pl.when(pl.col("energy_note").is_not_null()).then(pl.lit("energy-check")).otherwise(pl.lit("")),
    ).str.strip_chars()
    label = zone_label(zone)
    local = frame.with_columns(pl.col("started_at", "ended_at").dt.convert_time_zone(zone))
    priced = "cost" in frame.columns
    shown = local.with_columns(
        pl.col("started_at").dt.strftime("%Y-%m-%d %H:%M"),
        pl.col("ended_at").dt.strftime("%Y-%m-%d %H:%M").fill_null("(connected)"),
        pl.col("energy_kwh").round(2),
        pl.col("peak_power_kw").round(2),
        _hm(pl.col("charge_duration_s")).alias("charge"),
        _hm(pl.col("connected_duration_s")).alias("connected"),
        flags.alias("flags"),
        pl.col("rfid_token").fill_null(""),
        *([pl.col("cost").round(2), pl.col("price_per_kwh").round(4)] if priced else []),
    ).select(*_TABLE_COLUMNS[:4], *(["cost", "price_per_kwh"] if priced else []), *_TABLE_COLUMNS[4:])
    shown = shown.rename({"started_at": f"started_at {label}", "ended_at": f"ended_at {label}"})
    text = render(shown, keys=2)  # fits the terminal: wide tables wrap into blocks keyed by charger, start
    total = frame["energy_kwh"].sum() if frame.height else 0.0
    notes = frame.filter(pl.col("energy_note").is_not_null())
    lines = [
        text,
        f"{frame.height} session(s), {total:.2f} kWh; "
        f"{frame.filter(pl.col('ended_at').is_null()).height} still connected, "
        f"{frame.filter(pl.col('gap')).height} with a hole in the data, "
        f"{frame.filter(pl.col('started_mid_session')).height} started before the data.",
    ]
    lines += [f"  {row['session_id']}: {row['energy_note']}" for row in notes.iter_rows(named=True)]
    if priced:
        lines.append(_cost_line(frame))
    return "\n".join(lines)


def _cost_line(frame: pl.DataFrame) -> str:
    """The table's cost summary: total of the priced sessions, those without a price named."""
    currency = frame["currency"][0] if "currency" in frame.columns and frame.height else ""
    total = frame["cost"].sum() if frame.height else 0.0
    bound = frame["cost_error_bound"].sum() if frame.height else 0.0
    unpriced = frame.filter(pl.col("cost").is_null())
    text = (
        f"cost {total:.2f} {currency}".rstrip() + f" (± {bound:.2f} where readings straddle a price change)"
    )
    if unpriced.height:
        text += f"; {unpriced.height} session(s) without a cost:"
        text += "".join(f"\n  {r['session_id']}: {r['cost_note']}" for r in unpriced.iter_rows(named=True))
    return text


__all__ = ["EVCC_COLUMNS", "evcc_rows", "go_duration", "session_table"]
