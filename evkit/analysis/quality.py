"""Data quality: silences, duplicates, out-of-order arrivals, decode errors, unknown ids, stale values."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from evkit.analysis import _timeline
from evkit.analysis._prep import IDENTITY, easee_rows, first_deliveries, require
from evkit.analysis._timeline import DEFAULT_GAP, Timeline
from evkit.analysis.exact import exact_sum, seconds
from evkit.store.schema import in_memory, with_contract_types

#: A message delivered this long after the device took it is stale (a replay of old state, a backlog).
DEFAULT_STALE = timedelta(minutes=10)

#: The charger the quality counts name rows without one (undecodable bodies).
UNKNOWN_CHARGER = "(unknown)"


def named_chargers(column: str = "charger_id") -> pl.Expr:
    """``column``'s charger ids as text, a row without one under ``UNKNOWN_CHARGER`` (as figures and
    tables name them: a hand-made frame's rows without a charger stay visible, sorting never meets
    None)."""
    return pl.col(column).cast(pl.String).fill_null(UNKNOWN_CHARGER)


def telemetry_gaps(
    lf: pl.LazyFrame,
    expected: timedelta = DEFAULT_GAP,
    *,
    data_end: datetime | None = None,
    timeline: Timeline | None = None,
) -> pl.LazyFrame:
    """Per charger, every silence longer than ``expected`` (device time).

    Columns ``charger_id``, ``gap_start``, ``gap_end``, ``gap_s``, ``ongoing``. A charger that falls
    silent before the data ends gets a last, ``ongoing`` gap up to the newest observation of any charger
    (``data_end``, when ``lf`` holds only some chargers of a larger dataset: its newest observation).
    ``timeline``: ``evkit.analysis._timeline.timeline(lf, expected)`` shared with other analyses.
    """
    lf = require(lf)
    found = _timeline.timeline(lf, expected, given=timeline)
    inner = found.gaps.with_columns(pl.lit(False).alias("ongoing"))
    if data_end is None:
        data_end_frame = easee_rows(lf).select(pl.col("observed_at").max().alias("data_end"))
    else:  # the given end, in the column's own type (zone, time unit)
        dtype = lf.collect_schema()["observed_at"]
        data_end_frame = pl.LazyFrame({"data_end": [data_end]}).select(pl.col("data_end").cast(dtype))
    tail = ongoing_gaps(found.spans, data_end_frame, expected)
    return pl.concat([inner, tail], how="vertical").sort("charger_id", "gap_start")


def ongoing_gaps(
    spans_: pl.LazyFrame, data_end: pl.LazyFrame, expected: timedelta = DEFAULT_GAP
) -> pl.LazyFrame:
    """The last, ``ongoing`` silence of every charger of ``spans_`` (``charger_id``, ``last_seen``)
    whose newest observation is more than ``expected`` before ``data_end`` (one row, column ``data_end``)."""
    return (
        spans_.join(data_end, how="cross")
        .filter((pl.col("data_end") - pl.col("last_seen")) > expected)
        .select(
            "charger_id",
            pl.col("last_seen").alias("gap_start"),
            pl.col("data_end").alias("gap_end"),
            seconds(pl.col("data_end") - pl.col("last_seen")).alias("gap_s"),
            pl.lit(True).alias("ongoing"),
        )
    )


def duplicates(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Messages seen more than once (same charger, observation, device time and value).

    Columns: the identity, ``observation``, ``copies``, ``redelivered_n``, ``first_received_at``,
    ``last_received_at``.
    """
    lf = require(lf)
    return (
        lf.filter(pl.col("observation_id").is_not_null())
        .group_by(list(IDENTITY))
        .agg(
            pl.col("observation").first(),
            pl.len().alias("copies"),
            pl.col("redelivered").fill_null(False).sum().cast(pl.Int64).alias("redelivered_n"),
            pl.col("received_at").min().alias("first_received_at"),
            pl.col("received_at").max().alias("last_received_at"),
        )
        .filter(pl.col("copies") > 1)
        .sort("charger_id", "observed_at", "observation_id")
    )


def _out_of_order_of(first: pl.LazyFrame, *, in_received_order: bool = False) -> pl.LazyFrame:
    # (charger, observation id) as one exact 64-bit key: the window over it is ~1/3 cheaper than over
    # the pair (the charger's categorical code in the high half, the 32-bit id shifted to >= 0 below)
    code = pl.col("charger_id").cast(pl.Categorical).to_physical().cast(pl.Int64)
    key = code * (1 << 32) + pl.col("observation_id").cast(pl.Int64) + (1 << 31)
    rows = first.filter(pl.col("observation_id").is_not_null() & pl.col("observed_at").is_not_null())
    rows = rows.with_columns(key.alias("__key"))
    newest = pl.col("observed_at").cum_max().shift(1).over("__key").alias("newest_before")
    late = pl.col("observed_at") < pl.col("newest_before")
    # Late means a newer message was received strictly before. In received order alone, a newer one
    # received at the same instant may stand before an older one and flag it: a superset. The (few)
    # keys with a flag are ordered again with such ties older first, which flags exactly. The rows'
    # own order (a capture's, or compaction's) changes nothing. Each key's rows are ordered on their
    # own (``order_by``), not all rows at once: 3M rows, 0.15 s against 0.20 s. Rows known to be in
    # received order already (``in_received_order``: a capture's own) are read as they are (0.12 s).
    order_by = None if in_received_order else "received_at"
    newest_received = pl.col("observed_at").cum_max().shift(1).over("__key", order_by=order_by)
    flagged = rows.filter(pl.col("observed_at") < newest_received).select("__key").unique()
    frame = (
        rows.join(flagged, on="__key", how="semi")
        .sort("received_at", "observed_at")
        .with_columns(newest)
        .filter(late)
    )
    return (
        frame.with_columns(seconds(pl.col("newest_before") - pl.col("observed_at")).alias("behind_s"))
        .select(
            "charger_id",
            "observation_id",
            "observation",
            "observed_at",
            "received_at",
            "newest_before",
            "behind_s",
        )
        .sort("charger_id", "received_at", "observation_id", "observed_at")
    )


def _first(lf: pl.LazyFrame) -> pl.LazyFrame:
    """First deliveries of the Easee rows, with what the checks below need."""
    return first_deliveries(
        easee_rows(lf), extra=["observation", "received_at", "arrival_time", "redelivered"]
    )


def out_of_order(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Messages that arrived after a newer message of the same charger and observation id.

    "After" is by ``received_at``, strictly: messages received at the same instant are not late to one
    another (nothing tells which came first once the rows are reordered, as ``evkit compact`` does).

    ``behind_s`` is how much older the message is than the newest one already received; consumers
    that keep "the latest value" would overwrite a newer value with it. Redelivered copies count once.
    """
    lf = require(lf)
    return _out_of_order_of(_first(lf))


def decode_errors(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Rows whose decoding failed (``error`` set), with the raw body kept for inspection."""
    lf = require(lf)
    return (
        lf.filter(pl.col("error").is_not_null())
        .select(
            "received_at", "charger_id", "observation_id", "routing_key", "kind", "error", "value_text", "raw"
        )
        .sort("received_at")
    )


def unknown_ids(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Observation ids the catalog does not know (no ``observation`` name) or rows of kind ``unknown``.

    One row per charger, id and kind: ``n``, ``first_received_at``, ``last_received_at``, ``example``.
    """
    lf = require(lf)
    unknown = (pl.col("observation_id").is_not_null() & pl.col("observation").is_null()) | (
        pl.col("kind") == "unknown"
    )
    return (
        easee_rows(lf)  # rows with a charger (and a device time)
        .filter(unknown)
        .group_by("charger_id", "observation_id", "kind")
        .agg(
            pl.len().alias("n"),
            pl.col("received_at").min().alias("first_received_at"),
            pl.col("received_at").max().alias("last_received_at"),
            pl.col("value_text").drop_nulls().first().alias("example"),
        )
        .sort("charger_id", "observation_id")
    )


def _stale_of(first: pl.LazyFrame, older_than: timedelta) -> pl.LazyFrame:
    return (
        first.with_columns(seconds(pl.col("received_at") - pl.col("observed_at")).alias("age_s"))
        .filter(pl.col("age_s") > older_than.total_seconds())
        .select(
            "charger_id",
            "observation_id",
            "observation",
            "observed_at",
            "received_at",
            "age_s",
            "redelivered",
        )
        .sort("charger_id", "received_at")
    )


def stale_values(lf: pl.LazyFrame, older_than: timedelta = DEFAULT_STALE) -> pl.LazyFrame:
    """Messages received more than ``older_than`` after the device took them (first delivery).

    Replays of old state after a reconnect and queue backlogs show up here; a consumer treating them
    as live would act on old values.
    """
    lf = require(lf)
    return _stale_of(_first(lf), older_than)


def _count(frame: pl.LazyFrame, name: str, expr: pl.Expr | None = None) -> pl.LazyFrame:
    agg = pl.len().cast(pl.Int64) if expr is None else expr
    return (
        frame.with_columns(pl.col("charger_id").fill_null(UNKNOWN_CHARGER))
        .group_by("charger_id")
        .agg(agg.alias(name))
    )


def gap_counts() -> list[pl.Expr]:
    """A charger's ``gaps_n``, ``gap_s_total`` and ``longest_gap_s`` from its telemetry gaps (in a
    group-by of :func:`telemetry_gaps` rows; the total exact: the same bits however grouped)."""
    return [
        pl.len().cast(pl.Int64).alias("gaps_n"),
        exact_sum(pl.col("gap_s"), places=6).alias("gap_s_total"),
        pl.col("gap_s").max().alias("longest_gap_s"),
    ]


def in_received_order(frame: pl.DataFrame) -> bool:
    """Whether ``frame``'s rows are in ascending ``received_at``, none without (a capture's order, a
    bucket of a store in arrival order): checked in milliseconds. ``first_of`` of such a frame in memory
    keeps that order."""
    if "received_at" not in frame.columns:
        return False
    received = frame.get_column("received_at")
    return received.null_count() == 0 and received.is_sorted()


def first_of(lf: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """The first deliveries ``quality_summary`` checks (its counts put rows without a charger under
    ``(unknown)``); ``evkit.analysis.latency`` can take them too."""
    return first_deliveries(lf, extra=["observation", "received_at", "arrival_time", "redelivered", "kind"])


#: The columns of :func:`quality_summary`, in order.
SUMMARY_COLUMNS = (
    "charger_id",
    "rows",
    "messages",
    "first_seen",
    "last_seen",
    "gaps_n",
    "gap_s_total",
    "longest_gap_s",
    "duplicates_n",
    "out_of_order_n",
    "decode_errors_n",
    "unknown_ids_n",
    "stale_n",
    "clock_skew_n",
)


def quality_summary(
    lf: pl.LazyFrame,
    expected: timedelta = DEFAULT_GAP,
    stale: timedelta = DEFAULT_STALE,
    *,
    data_end: datetime | None = None,
    first: pl.LazyFrame | pl.DataFrame | None = None,
    timeline: Timeline | None = None,
) -> pl.LazyFrame:
    """One row per charger with the counts of every check above (zero when clean).

    Columns: ``rows``, ``messages`` (distinct), ``first_seen``, ``last_seen``, ``gaps_n``,
    ``gap_s_total``, ``longest_gap_s``, ``duplicates_n`` (extra copies), ``out_of_order_n``,
    ``decode_errors_n``, ``unknown_ids_n``, ``stale_n``, ``clock_skew_n`` (messages timed before the
    device sent them by the cloud or by us). Undecodable rows without a charger are under ``(unknown)``.
    ``data_end``: see :func:`telemetry_gaps`. ``first``: ``first_of(lf)``, when the caller has it already
    (collected: a frame in memory already in received order, a capture's, is checked without ordering
    each key's rows again); ``timeline``: ``evkit.analysis._timeline.timeline(lf, expected)``, likewise.
    """
    lf = require(lf)
    rows = lf.with_columns(pl.col("charger_id").fill_null(UNKNOWN_CHARGER))
    base = rows.group_by("charger_id").agg(
        pl.len().cast(pl.Int64).alias("rows"),
        pl.col("observed_at").min().alias("first_seen"),
        pl.col("observed_at").max().alias("last_seen"),
    )
    # One pass finds the first delivery of every message; the checks below share it. A caller holding
    # them in memory passes them (``first_of(lf)`` collected): the streaming engine's plan is faster so.
    # Rows in memory show their order; a plan's first deliveries come in another (copies last).
    ordered = isinstance(first, pl.DataFrame) and in_received_order(first)
    if first is None:
        first = first_of(lf).cache()
    else:  # rows in memory: the Easee rows' filter below is asked of them once (``in_memory``)
        first = with_contract_types(in_memory(first) if isinstance(first, pl.DataFrame) else first.lazy())
    skewed = first.filter(
        (pl.col("arrival_time") < pl.col("observed_at")) | (pl.col("received_at") < pl.col("observed_at"))
    )
    easee_first = easee_rows(first)
    parts = [
        _count(first, "messages"),
        telemetry_gaps(lf, expected, data_end=data_end, timeline=timeline)
        .group_by("charger_id")
        .agg(gap_counts()),
        _count(decode_errors(lf), "decode_errors_n"),
        _count(_out_of_order_of(easee_first, in_received_order=ordered), "out_of_order_n"),
        _count(unknown_ids(lf), "unknown_ids_n", pl.col("n").sum().cast(pl.Int64)),
        _count(_stale_of(easee_first, stale), "stale_n"),
        _count(skewed, "clock_skew_n"),
    ]
    frame = base
    for part in parts:
        frame = frame.join(part, on="charger_id", how="left")
    counts = [
        "messages",
        "gaps_n",
        "decode_errors_n",
        "out_of_order_n",
        "unknown_ids_n",
        "stale_n",
        "clock_skew_n",
    ]
    return (
        frame.with_columns(
            *[pl.col(c).fill_null(0) for c in counts],
            pl.col("gap_s_total").fill_null(0.0),
            (pl.col("rows") - pl.col("messages")).alias("duplicates_n"),
        )
        .select(SUMMARY_COLUMNS)
        .sort("charger_id")
    )


__all__ = [
    "DEFAULT_GAP",
    "DEFAULT_STALE",
    "decode_errors",
    "duplicates",
    "first_of",
    "out_of_order",
    "quality_summary",
    "stale_values",
    "telemetry_gaps",
    "unknown_ids",
]
