"""When latency figures describe how the data was made rather than its transport (pure).

The manifest says so when it knows (``evkit.store.manifest.latency_caveat``: re-timed, simulated,
replayed). The data can say so too: rows ``evkit replay`` marked (``evkit.store.schema.replayed_rows``)
were replayed; messages that reach the capture a long time after the cloud stamped them were
re-published, replayed or held in a queue, so their "cloud to capture" latency is not transport.
"""

from __future__ import annotations

import polars as pl

#: A median cloud-to-capture delay above this is not transport (a live AMQP stream: well under 1 s).
IMPLAUSIBLE_CAPTURE_DELAY_S = 600.0


def latency_caveat_from_stats(stats: pl.DataFrame) -> str | None:
    """A caveat when the median ``cloud_to_capture`` latency of ``latency_stats`` is implausible."""
    if stats.height == 0 or not {"hop", "p50_s"} <= set(stats.columns):
        return None
    row = stats.filter(pl.col("hop") == "cloud_to_capture")
    if row.height == 0:
        return None
    median = row["p50_s"].median()
    if not isinstance(median, int | float) or median <= IMPLAUSIBLE_CAPTURE_DELAY_S:
        return None
    hours = median / 3600
    shown = f"{hours:.1f} h" if hours >= 1 else f"{median / 60:.0f} min"
    return (
        f"Latency caveat: messages reached the capture a median {shown} after the cloud stamped them; "
        "they were replayed, re-published or queued, so capture latency here does not measure transport."
    )


def replayed_caveat(replayed: int, rows: int) -> str | None:
    """The caveat of a dataset ``replayed`` of whose ``rows`` a replay marked; ``None`` when none."""
    if replayed <= 0:
        return None
    share = f"{replayed:,} of {rows:,} rows" if replayed < rows else f"all {rows:,} rows"
    return (
        f"Latency caveat: {share} were replayed (marked by evkit replay). "
        "Capture latency here does not measure the chargers."
    )


def replayed_caveat_of(lf: pl.LazyFrame) -> str | None:
    """:func:`replayed_caveat` of a dataset (reads the column(s) that carry the replay mark only)."""
    from evkit.store.schema import replayed_rows

    mark = replayed_rows(lf.collect_schema().names())
    if mark is None:
        return None
    counts = lf.select(pl.len().alias("rows"), mark.sum().alias("replayed")).collect()
    return replayed_caveat(int(counts["replayed"][0]), int(counts["rows"][0]))


__all__ = [
    "IMPLAUSIBLE_CAPTURE_DELAY_S",
    "latency_caveat_from_stats",
    "replayed_caveat",
    "replayed_caveat_of",
]
