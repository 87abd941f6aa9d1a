"""``build_report``: one self-contained, offline HTML page about a dataset."""

from __future__ import annotations

import html
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
from tqdm.auto import tqdm

from evkit import __version__, analysis, cluster
from evkit import figures as fig
from evkit.analysis._prep import narrowed
from evkit.analysis.caveats import latency_caveat_from_stats
from evkit.analysis.home import evcc_liveness_summary
from evkit.display import SENTENCE_LIMIT, display_labels, plotly_text
from evkit.errors import ConfigError, DatasetError, StoreError
from evkit.figures._format import duration, number, timestamp
from evkit.figures.latency import HOP_LABELS
from evkit.figures.localtime import in_zone
from evkit.figures.style import charger_colours, note
from evkit.report.html import (
    Column,
    figure_div,
    key_value_grid,
    key_values,
    page,
    table,
)
from evkit.secrets import is_secret_key, mask_secrets
from evkit.store.manifest import latency_caveat, read_manifest
from evkit.store.objstore import is_s3
from evkit.store.reader import scan
from evkit.store.schema import missing_required
from evkit.store.writer import store_root
from evkit.timeutil import local_datetime, resolve_zone, zone_label

if TYPE_CHECKING:
    from evkit.analysis.tariff import Tariff

#: The session table lists this many (the newest); the CLI ``evkit sessions`` gives all.
SESSION_ROWS = 50
#: Per-charger tables list at most this many chargers (the most relevant first), "and N more" in the
#: caption: the page's size must not follow the fleet's.
CHARGER_ROWS = 200

Source = Path | str | pl.LazyFrame | pl.DataFrame


def _load(source: Source) -> tuple[pl.LazyFrame, str, dict[str, Any]]:
    """(frame, how to name it, manifest) of a dataset path or an in-memory frame."""
    if isinstance(source, pl.DataFrame | pl.LazyFrame):
        lf = source.lazy()
        if missing := missing_required(lf.collect_schema().names()):
            raise DatasetError(f"the data lacks required column(s): {', '.join(missing)}")
        return lf, "(in-memory frame)", {}
    path = store_root(source)  # s3://bucket/prefix stays a URL
    # Not deduplicated here: every analysis collapses redeliveries itself (so the quality section can
    # count them), and skipping the scan-level dedupe of raw bodies makes the report several times faster.
    lf = scan(path, dedupe=False)
    is_dataset = (is_s3(path) and not str(path).endswith(".parquet")) or Path(path).is_dir()
    manifest = read_manifest(path) if is_dataset else {}
    return lf, str(path), manifest


def _overview(lf: pl.LazyFrame) -> dict[str, Any]:
    row = lf.select(
        pl.len().alias("rows"),
        pl.col("charger_id").drop_nulls().n_unique().alias("chargers"),
        pl.col("received_at").min().alias("first_received"),
        pl.col("received_at").max().alias("last_received"),
        pl.col("observed_at").min().alias("first_observed"),
        pl.col("observed_at").max().alias("last_observed"),
        pl.col("error").is_not_null().sum().alias("errors"),
    ).collect()
    return row.row(0, named=True)


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
    lf: pl.LazyFrame,
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
    chosen = _session_to_plot(sessions)
    if chosen is not None:
        start = chosen["started_at"]
        end = chosen["ended_at"] or data_end
        curve = fig.session_power_curve(
            lf,
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


def _session_to_plot(sessions: pl.DataFrame) -> dict[str, Any] | None:
    easee = sessions.filter(pl.col("started_at").is_not_null())
    if "source" in easee.columns:
        easee = easee.filter(pl.col("source").is_null() | (pl.col("source") == "easee"))
    if easee.height == 0:
        return None
    return easee.sort(pl.col("energy_kwh").fill_null(-1.0), descending=True).row(0, named=True)


def _energy_section(
    sessions: pl.DataFrame, per_day: pl.DataFrame, colours: dict[str, str] | None = None, zone: str = "UTC"
) -> tuple[str, str, str]:
    by_sessions = sessions.group_by("charger_id").agg(
        pl.len().alias("sessions"),
        # All sessions without an energy figure: unknown, not zero.
        pl.when(pl.col("energy_kwh").is_not_null().any())
        .then(pl.col("energy_kwh").sum())
        .alias("session_kwh"),
        pl.col("charge_duration_s").sum().alias("charging_s"),
        pl.col("peak_power_kw").max().alias("peak_kw"),
    )
    by_days = per_day.group_by("charger_id").agg(
        pl.col("energy_kwh").sum().alias("metered_kwh"),
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
    energy = fig.energy_per_day(per_day, colours=colours, title=f"Energy per day ({zone} days)")
    return "energy", "Energy", rows + figure_div(energy, "fig-energy-per-day")


def _caveat_html(caveat: str | None) -> str:
    return f'<p class="warn caveat"><b>{html.escape(caveat)}</b></p>' if caveat else ""


def _latency_section(
    stats: pl.DataFrame, latency_long: pl.LazyFrame, caveat: str | None = None
) -> tuple[str, str, str]:
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
    ecdf = fig.latency_ecdf(latency_long)
    if caveat:
        note(ecdf, f"<b>{plotly_text(caveat, SENTENCE_LIMIT)}</b>")
    return (
        "latency",
        "Latency",
        _caveat_html(caveat)
        + hint
        + rows
        + figure_div(ecdf, "fig-latency-ecdf")
        + figure_div(fig.latency_heatmap(latency_long), "fig-latency-heatmap"),
    )


def _quality_section(
    summary: pl.DataFrame,
    gaps: pl.DataFrame,
    time_range: tuple[datetime, datetime] | None,
    caveat: str | None = None,
    zone: str = "UTC",
) -> tuple[str, str, str]:
    count: Callable[[Any], str] = lambda v: f"{v:,}"  # noqa: E731
    problems = [
        c for c in ("gaps_n", "duplicates_n", "out_of_order_n", "decode_errors_n") if c in summary.columns
    ]
    shown, caption = _top_chargers(
        summary.sort("charger_id"),
        pl.sum_horizontal([pl.col(c).fill_null(0) for c in problems]) if problems else pl.lit(0),
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
    summary: pl.DataFrame, lf: pl.LazyFrame, colours: dict[str, str] | None = None, zone: str = "UTC"
) -> tuple[str, str, str]:
    dbm: Callable[[Any], str] = lambda v: number(v, "dBm", 0)  # noqa: E731
    trouble = [c for c in ("cloud_disconnects_n", "reboots_n", "offline_n") if c in summary.columns]
    shown, caption = _top_chargers(
        summary.sort("charger_id"),
        pl.sum_horizontal([pl.col(c).fill_null(0) for c in trouble]) if trouble else pl.lit(0),
        "",
    )
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
    liveness = evcc_liveness_summary(lf).collect()
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
        rows + figure_div(in_zone(fig.connectivity_timeline(lf, colours=colours), zone), "fig-connectivity"),
    )


def _recorded_tariff(lf: pl.LazyFrame) -> Tariff | None:
    """evcc's tariffs in the recording, if any (``evkit.analysis.evcc_tariff``)."""
    from evkit.analysis.evcc_tariff import recorded_tariff

    return recorded_tariff(lf)


def _write(out: Path, text: str) -> None:
    """Write ``text`` to ``out`` atomically (a half-written report never replaces a good one)."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out)
    except OSError as exc:
        raise StoreError(f"cannot write the report to {out}: {exc.strerror or exc}") from exc


def build_report(
    source: Source,
    out: Path | str,
    *,
    title: str | None = None,
    progress: bool = True,
    tariff: Tariff | None = None,
    tz: str | None = None,
    client: Any = None,
    chargers: Sequence[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Path:
    """Analyse ``source`` (a dataset directory or file, or a frame) and write one offline HTML page.

    With ``client`` (a ``distributed.Client``; ``source`` a path every worker sees, or ``s3://``)
    sessions, energy per day, latency statistics and connectivity are computed on the Dask cluster
    (``evkit.cluster``); the overview, data quality and the figures' per-message data stay local.

    The page has an overview (dataset, time range, chargers, messages, capture manifest without
    secrets), tables of sessions, energy per charger, latency per hop, data quality and connectivity,
    and the evkit figures. With a ``tariff`` (or evcc tariffs in the recording) a cost section follows
    the energy. Session and cost times are shown in ``tz`` (default: the machine's zone), labelled.
    plotly.js is inlined once, so it opens without a network. Raises
    ``DatasetError`` for a path without Parquet, missing required columns or an empty dataset.
    Returns the path written. ``chargers``, ``start`` and ``end`` narrow the report to the rows of those
    chargers observed in [start, end) (only those rows are read; sessions crossing the window's
    edges show as started before the data or still open).
    """
    if client is not None and isinstance(source, pl.DataFrame | pl.LazyFrame):
        raise ConfigError("a report on a Dask cluster needs a dataset path or s3:// URL, not a frame")
    out = Path(out)
    steps = ["reading", "sessions", "energy", "latency", "data quality", "connectivity", "writing"]
    disable: bool | None = True
    if progress:
        # A notebook's output streams are no TTY, yet a bar belongs there; piped output gets none.
        disable = False if "ipykernel" in sys.modules else None
    bar = tqdm(total=len(steps), desc="evkit report", unit="step", disable=disable)
    try:
        bar.set_postfix_str(steps[0])
        lf, name, manifest = _load(source)
        lf = narrowed(lf, chargers, start, end)
        overview = _overview(lf)
        if overview["rows"] == 0:
            raise DatasetError(f"{name} has no rows: nothing to report")
        data_end = overview["last_observed"] or overview["last_received"]
        bar.update()

        bar.set_postfix_str(steps[1])
        zone = resolve_zone(tz)
        sessions = cluster.sessions(client, str(source)) if client else analysis.sessions(lf).collect()
        tariff = tariff if tariff is not None else _recorded_tariff(lf)
        if tariff is not None:
            from evkit.analysis.cost import session_costs

            sessions = session_costs(sessions, tariff, lf).collect()
        currency = tariff.currency if tariff is not None else None
        sections = [_sessions_section(sessions, lf, data_end, zone, currency)]
        bar.update()

        bar.set_postfix_str(steps[2])
        per_day = (  # (the cluster counts UTC days)
            cluster.energy_per_day(client, str(source))
            if client
            else analysis.energy_per_day(lf, zone=zone).collect()
        )
        day_zone = "UTC" if client else zone
        # One colour per charger in every figure of the page.
        colours = charger_colours([*sessions["charger_id"].drop_nulls(), *per_day["charger_id"].drop_nulls()])
        sections.append(_energy_section(sessions, per_day, colours, day_zone))
        if tariff is not None:
            from evkit.report.cost import cost_section

            sections.append(cost_section(sessions, analysis.energy_per_hour(lf).collect(), tariff, zone))
        bar.update()

        bar.set_postfix_str(steps[3])
        # Only what the figures need, hop as an enum: this frame has three rows per message.
        latency_long = (
            analysis.latency(lf)
            .select(pl.col("hop").cast(pl.Enum(list(analysis.ALL_HOPS))), "latency_s", "hour")
            .collect()
            .lazy()
        )
        # the statistics from the same frame (one pass over the data for both); on a cluster, there
        stats = (
            cluster.latency_stats(client, str(source))
            if client
            else analysis.latency_stats(latency_long.with_columns(pl.col("hop").cast(pl.String))).collect()
        )
        caveat = latency_caveat(manifest) or latency_caveat_from_stats(stats)
        sections.append(_latency_section(stats, latency_long, caveat))
        bar.update()

        bar.set_postfix_str(steps[4])
        summary, gaps = pl.collect_all([analysis.quality_summary(lf), analysis.telemetry_gaps(lf)])
        first, last = overview["first_observed"], overview["last_observed"]
        observed_span = (first, last) if first is not None and last is not None else None
        sections.append(_quality_section(summary, gaps, observed_span, caveat, zone))
        messages = int(summary["messages"].sum()) if "messages" in summary.columns else None
        sections.insert(0, _header_section(name, overview, manifest, sessions.height, messages))
        bar.update()

        bar.set_postfix_str(steps[5])
        connected = (
            cluster.per_charger(client, str(source), "connectivity_summary")
            if client
            else analysis.connectivity_summary(lf).collect()
        )
        sections.append(_connectivity_section(connected, lf, colours, zone))
        bar.update()

        bar.set_postfix_str(steps[6])
        generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        span = f"{timestamp(overview['first_received'])} → {timestamp(overview['last_received'])}"
        document = page(
            title or "evkit report",
            f"{mask_secrets(name)} · {overview['chargers']:,} chargers"
            f" · {overview['rows']:,} rows · {span} · times in {zone} where a column or axis says so"
            " (sessions, cost, energy per day and the time-axis figures); the overview and the latency"
            " heatmap's hours are UTC; the data stays UTC",
            sections,
            f"generated by evkit {__version__} at {generated}",
        )
        _write(out, document)
        bar.update()
    finally:
        bar.close()
    return out
