"""The report's sections as HTML: ``(anchor, heading, html)`` of each, from ``ReportData``'s frames.

Nothing here reads the dataset: every number comes from ``evkit.report.data``. Every table and figure
bounds what it draws (the page's size must not follow the fleet's) and says so.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from evkit import __version__
from evkit import figures as fig
from evkit.analysis.exact import exact_sum
from evkit.display import SENTENCE_LIMIT, display_labels, plotly_text
from evkit.figures._format import duration, number, timestamp
from evkit.figures.latency import HOP_LABELS, hop_label, latency_ecdf_of, latency_heatmap_of
from evkit.figures.localtime import in_zone
from evkit.figures.style import no_data, note
from evkit.report.html import Column, figure_div, key_value_grid, key_values, table
from evkit.report.latency_data import HEAT_HOP, HEAT_Q, LatencyResult
from evkit.secrets import is_secret_key, mask_secrets
from evkit.timeutil import local_datetime, zone_label

#: The session table lists this many (the newest); the CLI ``evkit sessions`` gives all.
SESSION_ROWS = 50
#: Per-charger tables list at most this many chargers (the most relevant first), "and N more" in the
#: caption: the page's size must not follow the fleet's.
CHARGER_ROWS = 200


def _cards(pairs: list[tuple[str, str]]) -> str:
    cells = "".join(
        f'<div class="card"><div class="v">{html.escape(v)}</div><div class="k">{html.escape(k)}</div></div>'
        for k, v in pairs
    )
    return f'<div class="cards">{cells}</div>'


def _scalar(value: Any) -> str | None:
    if isinstance(value, str | int | float | bool):
        text = mask_secrets(str(value))
        return text if len(text) <= 160 else text[:157] + "…"
    return None


def _public_pairs(record: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Scalar entries of ``record`` (and of its dicts, one level down), secrets left out."""
    pairs = []
    for key, value in record.items():
        if is_secret_key(str(key)):
            continue  # never show a secret, not even masked
        if isinstance(value, dict) and not prefix:
            pairs += _public_pairs(value, prefix=f"{key}.")
            continue
        text = _scalar(value)
        if text is not None:
            pairs.append((f"{prefix}{key}", text))
    return pairs


def _manifest_html(manifest: dict[str, Any]) -> str:
    captures = [c for c in manifest.get("captures") or [] if isinstance(c, dict)]
    if not captures:
        return '<p class="hint">No capture manifest (manifest.json) in this dataset.</p>'
    parts = [key_value_grid(_public_pairs(capture)) for capture in captures]
    notes = {k: v for k, v in manifest.items() if k not in {"captures", "evkit_version"}}
    if notes:
        parts.append("<h3>Notes in the manifest</h3>" + key_value_grid(_public_pairs(notes)))
    return "".join(parts)


def _header_section(
    name: str, overview: dict[str, Any], manifest: dict[str, Any], session_n: int, messages: int | None
) -> tuple[str, str, str]:
    cards = _cards(
        [
            ("rows", f"{overview['rows']:,}"),
            ("messages (distinct)", f"{messages:,}" if messages is not None else "–"),
            ("chargers", f"{overview['chargers']:,}"),
            ("sessions", f"{session_n:,}"),
            ("decode errors", f"{overview['errors']:,}"),
        ]
    )
    facts = key_values(
        [
            ("dataset", mask_secrets(name)),
            (
                "received (our clock, UTC)",
                f"{timestamp(overview['first_received'])} → {timestamp(overview['last_received'])}",
            ),
            (
                "observed (device clock, UTC)",
                f"{timestamp(overview['first_observed'])} → {timestamp(overview['last_observed'])}",
            ),
            ("evkit", str(manifest.get("evkit_version", __version__))),
        ]
    )
    captures = "<h3>Captures (manifest.json)</h3>" + _manifest_html(manifest)
    return "overview", "Overview", cards + facts + captures


def _top_chargers(frame: pl.DataFrame, first: pl.Expr, caption: str) -> tuple[pl.DataFrame, str]:
    """At most ``CHARGER_ROWS`` rows, those with the largest ``first``, in charger order; the caption
    says how many were left out."""
    if frame.height <= CHARGER_ROWS:
        return frame, caption
    kept = frame.sort(first, "charger_id", descending=[True, False], nulls_last=True).head(CHARGER_ROWS)
    more = f"the {CHARGER_ROWS} first of {frame.height} chargers, and {frame.height - CHARGER_ROWS} more"
    return kept.sort("charger_id"), f"{caption}; {more}" if caption else more


def _most_troubled(summary: pl.DataFrame, counts: tuple[str, ...], caption: str) -> tuple[pl.DataFrame, str]:
    """:func:`_top_chargers` of a per-charger ``summary``, those with the largest sum of ``counts`` first."""
    present = [c for c in counts if c in summary.columns]
    total = pl.sum_horizontal([pl.col(c).fill_null(0) for c in present]) if present else pl.lit(0)
    return _top_chargers(summary.sort("charger_id"), total, caption)


def _shown_ids(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """``frame`` with the ids in ``column`` cut for a table cell, two long ids never reading the same."""
    if column not in frame.columns:
        return frame
    return frame.with_columns(display_labels(frame[column]).alias(column))


def _flags(row: dict[str, Any]) -> str:
    flags = []
    if row.get("ended_at") is None:
        flags.append("open")
    if row.get("gap"):
        flags.append("gap")
    if row.get("started_mid_session"):
        flags.append("started before data")
    elif row.get("complete") is False and row.get("ended_at") is not None:
        flags.append("incomplete")
    return ", ".join(flags) or "complete"


def _sessions_section(
    sessions: pl.DataFrame,
    power: tuple[dict[str, Any], pl.DataFrame] | None,
    data_end: datetime | None,
    zone: str = "UTC",
    currency: str | None = None,
) -> tuple[str, str, str]:
    newest = sessions.sort("started_at", descending=True, nulls_last=True).head(SESSION_ROWS)
    newest = newest.with_columns(
        pl.Series("flags", [_flags(r) for r in newest.iter_rows(named=True)], dtype=pl.String)
    )
    newest = _shown_ids(newest, "charger_id")
    kwh: Callable[[Any], str] = lambda v: number(v, digits=2)  # noqa: E731
    rows = table(
        newest,
        [
            Column("charger_id", "charger"),
            Column("started_at", f"plugged in {zone_label(zone)}", _local(zone)),
            Column("ended_at", f"unplugged {zone_label(zone)}", _local(zone)),
            Column("flags", "flags"),
            Column("energy_kwh", "energy (kWh)", kwh, numeric=True),
            Column("energy_source", "energy from"),
            Column(
                "cost",
                f"cost ({currency})" if currency else "cost",
                lambda v: number(v, digits=2),
                numeric=True,
            ),
            Column("charge_duration_s", "charging", duration, numeric=True),
            Column("connected_duration_s", "connected", duration, numeric=True),
            Column("peak_power_kw", "peak (kW)", kwh, numeric=True),
            Column("phases", "phases", str, numeric=True),
            Column("rfid_token", "RFID"),
            Column("energy_note", "energy note", limit=SENTENCE_LIMIT),
        ],
        caption=(
            f"newest {newest.height} of {sessions.height} sessions"
            "; all of them: evkit sessions DIR --format csv"
            if sessions.height > SESSION_ROWS
            else f"{sessions.height} sessions"
        ),
    )
    timeline = in_zone(fig.session_timeline(sessions, data_end=data_end), zone)
    parts = [rows, figure_div(timeline, "fig-session-timeline")]
    if power is not None:
        chosen, rows_of_charger = power
        start = chosen["started_at"]
        end = chosen["ended_at"] or data_end
        curve = fig.session_power_curve(
            rows_of_charger,
            chosen["charger_id"],
            start - timedelta(minutes=5),
            end + timedelta(minutes=5) if end is not None else None,
            title=(
                f"Power and phase currents: {plotly_text(chosen['charger_id'])}, "
                f"session of {local_datetime(start, zone):%Y-%m-%d %H:%M} {zone_label(zone)}"
            ),
        )
        curve = in_zone(curve, zone)
        parts.append(
            '<p class="hint">The session with the most energy; bands show the op mode (109) in force.</p>'
        )
        parts.append(figure_div(curve, "fig-power-curve"))
    return "sessions", "Sessions", "".join(parts)


def _local(zone: str) -> Callable[[Any], str]:
    """A table cell of a UTC time shown in ``zone`` (the column header names the zone)."""
    return lambda v: (
        local_datetime(v, zone).strftime("%Y-%m-%d %H:%M:%S") if isinstance(v, datetime) else str(v)
    )


def _energy_section(
    sessions: pl.DataFrame, per_day: pl.DataFrame, colours: dict[str, str] | None = None, zone: str = "UTC"
) -> tuple[str, str, str]:
    by_sessions = sessions.group_by("charger_id").agg(
        pl.len().alias("sessions"),
        # All sessions without an energy figure: unknown, not zero.
        pl.when(pl.col("energy_kwh").is_not_null().any())
        .then(exact_sum(pl.col("energy_kwh")))
        .alias("session_kwh"),
        exact_sum(pl.col("charge_duration_s"), places=6).alias("charging_s"),
        pl.col("peak_power_kw").max().alias("peak_kw"),
    )
    by_days = per_day.group_by("charger_id").agg(
        exact_sum(pl.col("energy_kwh")).alias("metered_kwh"),
        pl.col("source").drop_nulls().unique().sort().str.join(", ").alias("metered_from"),
    )
    per_charger, caption = _top_chargers(
        by_sessions.join(by_days, on="charger_id", how="full", coalesce=True).sort("charger_id"),
        pl.coalesce("session_kwh", "metered_kwh"),
        f"energy per charger: from sessions (each session's chosen source) and per {zone} day",
    )
    per_charger = _shown_ids(per_charger, "charger_id")
    kwh: Callable[[Any], str] = lambda v: number(v, digits=2)  # noqa: E731
    rows = table(
        per_charger,
        [
            Column("charger_id", "charger"),
            Column("sessions", "sessions", str, numeric=True),
            Column("session_kwh", "energy in sessions (kWh)", kwh, numeric=True),
            Column("metered_kwh", "energy per day, summed (kWh)", kwh, numeric=True),
            Column("metered_from", "per-day source"),
            Column("charging_s", "time charging", duration, numeric=True),
            Column("peak_kw", "peak (kW)", kwh, numeric=True),
        ],
        caption=caption + (" (the most energy)" if "more" in caption else ""),
    )
    energy = fig.energy_per_day(per_day, colours=colours, title=f"Energy per day ({zone} days)", zone=zone)
    return "energy", "Energy", rows + figure_div(energy, "fig-energy-per-day")


def _caveat_html(caveat: str | None) -> str:
    return f'<p class="warn caveat"><b>{html.escape(caveat)}</b></p>' if caveat else ""


def _latency_section(result: LatencyResult, caveat: str | None = None) -> tuple[str, str, str]:
    stats = result.stats
    secs: Callable[[Any], str] = lambda v: number(v, "s", 3)  # noqa: E731
    stats = stats.with_columns(pl.col("hop").replace_strict(HOP_LABELS, default=pl.col("hop")))
    rows = table(
        stats,
        [
            Column("hop", "hop"),
            Column("n", "messages", lambda v: f"{v:,}", numeric=True),
            Column("p50_s", "p50", secs, numeric=True),
            Column("p95_s", "p95", secs, numeric=True),
            Column("p99_s", "p99", secs, numeric=True),
            Column("max_s", "max", secs, numeric=True),
            Column("min_s", "min", secs, numeric=True),
            Column("negative_n", "negative (clock skew)", lambda v: f"{v:,}", numeric=True),
        ],
        caption="percentiles by linear interpolation; negative latencies are kept and counted",
    )
    hint = (
        '<p class="hint">device → cloud = ArrivalTime − device time; cloud → capture = our receive time − '
        "ArrivalTime; end to end = our receive time − device time; command → result = a go-e "
        "<code>/set</code> to its <code>/result</code> (home recordings). Easee stamps 122 EnergyPerHour "
        "and 124 LifetimeEnergy on the hour and sends them minutes later: they are shown apart "
        "(scheduled 122/124), so the other rows measure transport.</p>"
    )
    title = "Latency per hop (ECDF)"
    ecdf = (
        latency_ecdf_of(result.curves, log_x=result.log_x, data_min=result.data_min, title=title)
        if result.curves and result.data_min is not None
        else no_data(title, "no latency data (needs arrival_time / received_at / observed_at)")
    )
    if caveat:
        note(ecdf, f"<b>{plotly_text(caveat, SENTENCE_LIMIT)}</b>")
    return (
        "latency",
        "Latency",
        _caveat_html(caveat)
        + hint
        + rows
        + figure_div(ecdf, "fig-latency-ecdf")
        + figure_div(_heatmap(result), "fig-latency-heatmap"),
    )


def _heatmap(result: LatencyResult) -> Any:
    pct = f"p{HEAT_Q * 100:g}"
    title = f"{pct} latency {hop_label(HEAT_HOP)} by hour of day (UTC)"
    if result.stats.height == 0:
        return no_data(title, "no latency data")
    if result.heat_cells.height == 0:
        return no_data(title, f"no {hop_label(HEAT_HOP)} latencies")
    return latency_heatmap_of(
        result.heat_cells, by="day", pct=pct, title=title, rows_in_data=result.heat_days
    )


def _quality_section(
    summary: pl.DataFrame,
    gaps: pl.DataFrame,
    time_range: tuple[datetime, datetime] | None,
    caveat: str | None = None,
    zone: str = "UTC",
) -> tuple[str, str, str]:
    count: Callable[[Any], str] = lambda v: f"{v:,}"  # noqa: E731
    shown, caption = _most_troubled(
        summary,
        ("gaps_n", "duplicates_n", "out_of_order_n", "decode_errors_n"),
        "a gap is a silence longer than expected (idle chargers report about every 15 min)",
    )
    rows = table(
        _shown_ids(shown, "charger_id"),
        [
            Column("charger_id", "charger"),
            Column("messages", "messages", count, numeric=True),
            Column("first_seen", "first seen (UTC)", timestamp),
            Column("last_seen", "last seen (UTC)", timestamp),
            Column("gaps_n", "gaps", count, numeric=True),
            Column("longest_gap_s", "longest gap", duration, numeric=True),
            Column("duplicates_n", "duplicates", count, numeric=True),
            Column("out_of_order_n", "out of order", count, numeric=True),
            Column("decode_errors_n", "decode errors", count, numeric=True),
            Column("unknown_ids_n", "unknown ids", count, numeric=True),
            Column("stale_n", "stale", count, numeric=True),
            Column("clock_skew_n", "clock skew", count, numeric=True),
        ],
        caption=caption + (" (the most problems)" if "more" in caption else ""),
    )
    stale_note = (
        _caveat_html(
            "Stale values compare our receive time with the device's time: with this data they count "
            "the way it was made, not old readings. " + caveat
        )
        if caveat
        else ""
    )
    return (
        "quality",
        "Data quality",
        stale_note
        + rows
        + figure_div(
            in_zone(fig.data_quality_overview(summary, gaps, time_range=time_range), zone), "fig-quality"
        ),
    )


def _connectivity_section(
    summary: pl.DataFrame,
    *,
    liveness: pl.DataFrame,
    readings: pl.DataFrame,
    readings_chargers: int,
    colours: dict[str, str] | None = None,
    zone: str = "UTC",
) -> tuple[str, str, str]:
    dbm: Callable[[Any], str] = lambda v: number(v, "dBm", 0)  # noqa: E731
    shown, caption = _most_troubled(summary, ("cloud_disconnects_n", "reboots_n", "offline_n"), "")
    rows = table(
        _shown_ids(shown, "charger_id"),
        [
            Column("charger_id", "charger"),
            Column("cloud_disconnects_n", "cloud disconnects", str, numeric=True),
            Column("reboots_n", "reboots", str, numeric=True),
            Column("offline_n", "offline", str, numeric=True),
            Column("wifi_rssi_median_dbm", "Wi-Fi RSSI median", dbm, numeric=True),
            Column("wifi_rssi_min_dbm", "Wi-Fi RSSI min", dbm, numeric=True),
            Column("cell_rssi_median_dbm", "cell RSSI median", dbm, numeric=True),
            Column("cell_rssi_min_dbm", "cell RSSI min", dbm, numeric=True),
            Column("last_disconnect_reason", "last disconnect reason"),
        ],
        caption=caption + " (the most disconnects, reboots and offline)" if caption else None,
    )
    if liveness.height:
        rows += table(
            _shown_ids(liveness, "device_id"),
            [
                Column("device_id", "evcc"),
                Column("heartbeats", "heartbeats (updated)", str, numeric=True),
                Column("last_at", "last heartbeat", timestamp),
                Column("longest_silence_s", "longest silence", lambda v: number(v, "s", 1), numeric=True),
                Column("stale_n", "silences > 90 s", str, numeric=True),
                Column("delay_median_s", "median delay", lambda v: number(v, "s", 2), numeric=True),
            ],
            caption="evcc liveness from its `updated` heartbeat (evcc has no online topic of its own)",
        )
    return (
        "connectivity",
        "Connectivity",
        rows
        + figure_div(
            in_zone(
                fig.connectivity_timeline(readings, colours=colours, chargers_in_data=readings_chargers), zone
            ),
            "fig-connectivity",
        ),
    )
