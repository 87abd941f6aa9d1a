"""Tables as a person reads them: local time with its zone, h:mm durations, kWh to 2 decimals, words.

Pure Polars; the explorer, the notebooks and the report show these instead of raw frames.
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

#: Column headers of :func:`session_table`, in order (``session_id`` stays last, for linking).
SESSION_COLUMNS = (
    "charger",
    "started",
    "ended",
    "connected",
    "charging",
    "energy (kWh)",
    "peak (kW)",
    "phases",
    "flags",
    "energy check",
    "session_id",
)


def zone_label(zone: str, at: datetime | None = None) -> str:
    """The zone as people read it next to a time: ``CET`` / ``CEST`` / ``UTC`` (or the zone name)."""
    moment = (at or datetime.now(UTC)).astimezone(ZoneInfo(zone))
    return moment.tzname() or zone


def local_time(expr: pl.Expr, zone: str) -> pl.Expr:
    """An aware datetime column as ``2026-11-02 01:26 CET`` in ``zone`` (``–`` when missing)."""
    local = expr.dt.convert_time_zone(zone)
    return local.dt.strftime("%Y-%m-%d %H:%M %Z").fill_null("–")


def hours_minutes(expr: pl.Expr) -> pl.Expr:
    """Seconds as ``h:mm`` (``6:18``; more than a day stays in hours: ``27:05``), ``–`` when missing."""
    minutes = (expr / 60).round(0).cast(pl.Int64)
    return (
        pl.when(minutes.is_null())
        .then(pl.lit("–"))
        .otherwise(
            pl.format("{}:{}", minutes // 60, (minutes % 60).cast(pl.String).str.zfill(2)),
        )
    )


def _flags(frame: pl.DataFrame) -> pl.Expr:
    words: list[pl.Expr] = []
    if "complete" in frame.columns:
        words.append(pl.when(~pl.col("complete").fill_null(False)).then(pl.lit("incomplete")))
    if "ended_at" in frame.columns:
        words.append(pl.when(pl.col("ended_at").is_null()).then(pl.lit("still connected")))
    if "started_mid_session" in frame.columns:
        words.append(pl.when(pl.col("started_mid_session")).then(pl.lit("began before the data")))
    if "gap" in frame.columns:
        words.append(pl.when(pl.col("gap")).then(pl.lit("hole in the data")))
    if not words:
        return pl.lit("")
    return pl.concat_list(words).list.drop_nulls().list.join(", ")


def session_table(sessions: pl.DataFrame, zone: str = "UTC") -> pl.DataFrame:
    """``evkit.sessions`` output as a readable table (columns :data:`SESSION_COLUMNS`).

    Times are in ``zone`` with its abbreviation; durations ``h:mm``; energy in kWh with 2 decimals;
    the ``complete``/``gap``/``started_mid_session`` flags as words ("ok" when none applies).
    """
    ZoneInfo(zone)  # raises for an unknown zone before anything is computed
    if sessions.height == 0:
        return pl.DataFrame(schema=dict.fromkeys(SESSION_COLUMNS, pl.String))
    flags = _flags(sessions)
    return sessions.select(
        pl.col("charger_id").alias("charger"),
        local_time(pl.col("started_at"), zone).alias("started"),
        local_time(pl.col("ended_at"), zone).alias("ended"),
        hours_minutes(pl.col("connected_duration_s")).alias("connected"),
        hours_minutes(pl.col("charge_duration_s")).alias("charging"),
        pl.col("energy_kwh").round(2).alias("energy (kWh)"),
        pl.col("peak_power_kw").round(1).alias("peak (kW)"),
        pl.col("phases").cast(pl.String).fill_null("–").alias("phases"),
        pl.when(flags == "").then(pl.lit("ok")).otherwise(flags).alias("flags"),
        pl.col("energy_note").fill_null("").alias("energy check"),
        pl.col("session_id"),
    )


#: Quality summary columns shown, with their headers.
_QUALITY = {
    "charger_id": "charger",
    "messages": "messages",
    "gaps_n": "silences",
    "longest_gap_s": "longest silence",
    "duplicates_n": "duplicates",
    "out_of_order_n": "out of order",
    "decode_errors_n": "decode errors",
    "unknown_ids_n": "unknown ids",
    "stale_n": "stale",
    "clock_skew_n": "clock skew",
}


def quality_table(summary: pl.DataFrame, zone: str = "UTC") -> pl.DataFrame:
    """``evkit.quality_summary`` as a readable table: counts, the longest silence as ``h:mm``, the
    first and last message in ``zone``."""
    present = {k: v for k, v in _QUALITY.items() if k in summary.columns}
    exprs: list[pl.Expr] = []
    for name, header in present.items():
        if name == "longest_gap_s":
            exprs.append(hours_minutes(pl.col(name)).alias(header))
        else:
            exprs.append(pl.col(name).alias(header))
    for name, header in (("first_seen", "first message"), ("last_seen", "last message")):
        if name in summary.columns:
            exprs.append(local_time(pl.col(name), zone).alias(header))
    return summary.select(exprs)


def cut_for_display(frame: pl.DataFrame) -> pl.DataFrame:
    """Text columns cut for display (64 characters; distinct ids stay distinct): a device string of any
    length is one readable cell (the full value stays in the data)."""
    from evkit.display import display_labels

    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(display_labels(frame[name]).alias(name) for name in text) if text else frame


def great_table_html(frame: pl.DataFrame, title: str) -> str:
    """A static formatted table (``great_tables``): every row and column, wrapped, nothing clipped."""
    from great_tables import GT

    if frame.height == 0:
        return f"<p><i>{html.escape(title)}: nothing in this selection</i></p>"
    table = GT(cut_for_display(frame)).tab_header(title=title).opt_row_striping()  # GT escapes cells
    table = table.sub_missing(missing_text="–")  # an unknown value is a dash, not "None"
    return str(table.as_raw_html())


def audit_table(audit: pl.DataFrame, zone: str = "UTC") -> pl.DataFrame:
    """An audit log (``AuditLog.read()``) as people read it: when (in ``zone``), what was set to what,
    the outcome in words, how fast it was confirmed, and why."""
    if audit.height == 0:
        return pl.DataFrame(
            schema=dict.fromkeys(("when", "device", "setting", "value", "outcome"), pl.String)
        )
    return audit.sort("received_at", descending=True).select(
        local_time(pl.col("received_at"), zone).alias("when"),
        pl.concat_str(pl.col("target"), pl.lit(" over "), pl.col("transport"), ignore_nulls=True).alias(
            "device"
        ),
        pl.col("setting"),
        pl.col("payload").alias("value"),
        pl.col("outcome").str.replace_all("_", " "),
        pl.when(pl.col("latency_s").is_null())
        .then(pl.lit("–"))
        .otherwise(pl.format("{} s", pl.col("latency_s").round(2)))
        .alias("confirmed in"),
        pl.col("detail").fill_null(""),
        pl.col("topic").alias("topic or URL"),
    )


def show(frame: pl.DataFrame, caption: str | None = None, page: int = 15) -> Any:
    """``frame`` as an interactive table (``itables``): every row, sortable, searchable, paged; long
    text wraps, so no column is pushed off screen. Polars' own display shows 10 rows."""
    from itables.widget import ITable

    return ITable(
        cut_for_display(frame),  # itables escapes cells (allow_html is off)
        caption=caption,
        show_dtypes=False,
        maxBytes=0,  # never drop rows to save bytes
        pageLength=page,
        classes="display compact",
        style="width:100%;margin:0",
    )


def figure_output(fig: Any) -> dict[str, Any]:
    """A Plotly figure as an output of an ``ipywidgets.Output`` (JupyterLab's Plotly renderer draws
    it); setting ``output.outputs`` works from any thread, unlike ``with output:``."""
    spec = json.loads(fig.to_json())
    spec["config"] = {"displaylogo": False, "responsive": True}
    return {
        "output_type": "display_data",
        "data": {"application/vnd.plotly.v1+json": spec, "text/plain": f"<Figure: {fig.layout.title.text}>"},
        "metadata": {},
    }


def text_output(text: str) -> dict[str, Any]:
    """Plain text as an output of an ``ipywidgets.Output``."""
    return {"output_type": "stream", "name": "stdout", "text": text + "\n"}


def system_zone() -> str:
    """This machine's IANA zone name when it can be found, else ``UTC``."""
    local: tzinfo | None = datetime.now().astimezone().tzinfo
    key = getattr(local, "key", None)
    if isinstance(key, str):
        return key
    try:
        from pathlib import Path

        target = Path("/etc/localtime").resolve()
        name = str(target).split("zoneinfo/", 1)[1]
        ZoneInfo(name)
        return name
    except (OSError, IndexError, KeyError, ValueError):
        return "UTC"


__all__ = [
    "SESSION_COLUMNS",
    "audit_table",
    "cut_for_display",
    "figure_output",
    "great_table_html",
    "hours_minutes",
    "local_time",
    "quality_table",
    "session_table",
    "show",
    "system_zone",
    "text_output",
    "zone_label",
]
