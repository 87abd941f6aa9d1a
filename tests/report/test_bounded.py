"""A report's page stays small whatever the rows: every figure bounds what it draws and says so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from evkit import figures as fig
from evkit.figures import connectivity, quality
from evkit.figures import sessions as session_figures
from evkit.report import build_report
from evkit.store.schema import EASEE_SCHEMA
from evkit.store.writer import PartWriter
from tests.plotted import values

T0 = datetime(2026, 3, 1, tzinfo=UTC)
PAGE_LIMIT = 10 * 1024 * 1024


def _bars(figure: object) -> int:
    return sum(len(values(t.x)) for t in figure.data)  # type: ignore[attr-defined]


def _subtitle(figure: object) -> str:
    return str(figure.layout.title.subtitle.text or "")  # type: ignore[attr-defined]


def test_gap_timeline_draws_the_longest_gaps_of_the_most_silent_chargers() -> None:
    chargers, per = 300, 100
    start = [T0 + timedelta(hours=i) for i in range(per)]
    gaps = pl.DataFrame(
        {
            "charger_id": [f"EH{c:04d}" for c in range(chargers) for _ in range(per)],
            "gap_start": start * chargers,
            "gap_end": [s + timedelta(minutes=30 + c % 17) for c in range(chargers) for s in start],
        }
    )
    summary = pl.DataFrame(
        {"charger_id": [f"EH{c:04d}" for c in range(chargers)], "gaps_n": [per] * chargers}
    )
    figure = fig.data_quality_overview(summary, gaps)
    gap_trace = next(t for t in figure.data if str(t.name).startswith("gap"))
    assert len(gap_trace.y) <= quality.MAX_GAPS
    assert len(set(gap_trace.y)) <= quality.MAX_CHARGERS
    assert f"of {chargers * per:,}" in _subtitle(figure)


def test_session_timeline_draws_at_most_the_newest_sessions() -> None:
    n = 12_000
    frame = pl.DataFrame(
        {
            "charger_id": [f"EH{i % 30:04d}" for i in range(n)],
            "started_at": [T0 + timedelta(minutes=10 * i) for i in range(n)],
            "ended_at": [T0 + timedelta(minutes=10 * i + 5) for i in range(n)],
            "energy_kwh": [1.0] * n,
        }
    )
    figure = fig.session_timeline(frame)
    assert _bars(figure) <= session_figures.MAX_SESSIONS
    assert f"newest {session_figures.MAX_SESSIONS:,} of these chargers' {n:,}" in _subtitle(figure)


def test_rssi_lines_are_thinned_and_say_so() -> None:
    n = 20_000
    frame = pl.DataFrame(
        {
            "charger_id": ["EH0001"] * n,
            "observed_at": [T0 + timedelta(minutes=i) for i in range(n)],
            "observation_id": pl.Series([_wifi()] * n, dtype=pl.Int32),
            "value": [-60.0 - (i % 7) for i in range(n)],
        }
    )
    figure = fig.connectivity_timeline(frame)
    assert max(len(t.x) for t in figure.data) <= connectivity.MAX_POINTS
    assert "every k-th reading" in _subtitle(figure)


def _wifi() -> int:
    from evkit.analysis import _ids

    return _ids.WIFI_RSSI


def test_a_million_rows_out_of_order_and_full_of_gaps_give_a_page_under_10_mb(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    chargers, per = 10_000, 100
    n = chargers * per
    # heartbeats at random device times over a day (a quarter of the steps are silences longer than
    # 20 minutes: some 250,000 gaps), received in an order unrelated to the device's: about half of
    # them arrive out of order
    observed = rng.integers(0, 86_400_000_000, n)
    received = np.sort(rng.integers(0, 86_400_000_000, n))
    frame = pl.DataFrame(
        {
            "charger_id": [f"EH{i % chargers:06d}" for i in range(n)],
            "observation_id": pl.Series(np.full(n, 150), dtype=pl.Int32),
            "observed_at": pl.Series(observed + int(T0.timestamp() * 1e6)).cast(pl.Datetime("us", "UTC")),
            "received_at": pl.Series(received + int(T0.timestamp() * 1e6) + 1_000_000).cast(
                pl.Datetime("us", "UTC")
            ),
            "value": rng.normal(21, 1, n),
        }
    )
    frame = frame.select(
        [
            frame[name].cast(dtype) if name in frame.columns else pl.lit(None, dtype).alias(name)
            for name, dtype in EASEE_SCHEMA.items()
        ]
    ).with_columns(pl.col("received_at").alias("arrival_time"), pl.lit("observation").alias("kind"))
    PartWriter(tmp_path / "data").write(frame)
    out = build_report(tmp_path / "data", tmp_path / "r.html", progress=False)
    size = out.stat().st_size
    assert size < PAGE_LIMIT, f"{size:,} bytes"
    text = out.read_text(encoding="utf-8")
    assert "and 9800 more" in text  # per-charger tables say what they left out
