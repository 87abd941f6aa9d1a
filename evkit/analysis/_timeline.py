"""Per-charger timelines: when each charger was heard from, and the silences in between."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import polars as pl

from evkit.analysis._prep import easee_rows
from evkit.analysis.exact import seconds
from evkit.store.frame_memo import FrameMemo
from evkit.store.schema import in_memory, with_contract_types

#: Idle Easee chargers send a heartbeat about every 15 minutes; longer silence is a hole in the data.
DEFAULT_GAP = timedelta(minutes=20)


def heard(lf: pl.LazyFrame) -> pl.LazyFrame:
    """``charger_id``, ``observed_at`` of every Easee row."""
    return easee_rows(lf).select("charger_id", "observed_at")


#: See ``_blocks``: a charger's time is cut into ticks of at most 1/8 of the silence, 64 ticks a block.
_TICKS_PER_SILENCE = 8
_TICKS_PER_BLOCK = 64


def _tick_us(expected: timedelta) -> int:
    return (expected // timedelta(microseconds=1)) // _TICKS_PER_SILENCE


def _blocks(times: pl.LazyFrame, tick_us: int) -> pl.LazyFrame:
    """Per charger and block of 64 ticks: first and last time, rows, and which ticks hold a row (bit k
    of ``ticks``: tick k of the block); ``mixed`` marks a group that may have gathered several blocks.
    One hash group-by of plain reductions, which Polars streams: no charger's times are gathered."""
    ot = pl.col("observed_at")
    tick = ot.dt.epoch("us") // tick_us
    bit = pl.lit(2, dtype=pl.UInt64).pow((tick % _TICKS_PER_BLOCK).cast(pl.UInt32))
    spans = ot.min().alias("first_seen"), ot.max().alias("last_seen"), pl.len().alias("rows")
    ticks = bit.bitwise_or().alias("ticks")
    if times.collect_schema()["charger_id"] != pl.Categorical:
        return times.group_by("charger_id", (tick // _TICKS_PER_BLOCK).alias("block")).agg(
            *spans, ticks, pl.lit(False).alias("mixed")
        )
    # A categorical's code and the block's low 32 bits in one 64-bit key: a group-by on one integer
    # column costs a third less than on the pair. Two blocks 2^32 apart (or rows without a time) that
    # share a key show as a span of more than one block: ``mixed``, the charger is sorted.
    low_bits = ((tick // _TICKS_PER_BLOCK) % 2**32).fill_null(0).cast(pl.UInt64)
    key = pl.col("charger_id").to_physical().cast(pl.UInt64) * 2**32 + low_bits
    block_us = _TICKS_PER_BLOCK * tick_us
    return (
        times.group_by(key.alias("key"))
        .agg(pl.col("charger_id").first(), *spans, ticks)
        .select(
            "charger_id",
            (pl.col("first_seen").dt.epoch("us") // block_us).alias("block"),
            *[pl.col(c) for c in ("first_seen", "last_seen", "rows", "ticks")],
            (pl.col("last_seen") - pl.col("first_seen") >= timedelta(microseconds=block_us))
            .fill_null(False)
            .alias("mixed"),
        )
    )


def _empty_run(min_run: int) -> pl.Expr:
    """Per block of a frame sorted by charger and ``block``: whether ``min_run`` empty ticks in a row
    lie between two ticks with rows of the charger, inside the block's ``ticks`` or from its last tick
    with rows, over any missing blocks, to the first tick with rows of the charger's next block."""
    ticks = pl.col("ticks")
    free = ~ticks
    run_starts = free  # bit p: ticks p .. p + min_run - 1 are all empty (zeros shift in at the top)
    for k in range(1, min_run):
        run_starts = run_starts & (free // (1 << k))
    highest = pl.lit(2, dtype=pl.UInt64).pow(63 - ticks.bitwise_leading_zeros())
    lowest = ticks & (free + 1)  # two's complement: the lowest bit with rows
    inside = (run_starts & (highest - 1) & ~(lowest * 2 - 1)) != 0
    empty_after = ticks.bitwise_leading_zeros().cast(pl.Int64)
    empty_before_next = ticks.shift(-1).over("charger_id").bitwise_trailing_zeros().cast(pl.Int64)
    missing = _TICKS_PER_BLOCK * (pl.col("block").shift(-1).over("charger_id") - pl.col("block") - 1)
    across = (empty_after + missing + empty_before_next) >= min_run
    return inside.fill_null(False) | across.fill_null(False) | pl.col("mixed")


def spans_and_suspects(times: pl.LazyFrame, expected: timedelta) -> pl.LazyFrame:
    """Per charger of ``times``: ``first_seen``, ``last_seen``, ``rows`` and ``suspect``, false only
    for a charger with no silence longer than ``expected`` (see ``spans_and_gaps``)."""
    tick_us = _tick_us(expected)
    spans = pl.col("first_seen").min(), pl.col("last_seen").max(), pl.col("rows").sum()
    if tick_us < 1:  # a silence under 8 microseconds: every charger is sorted
        return times.group_by("charger_id").agg(
            pl.col("observed_at").min().alias("first_seen"),
            pl.col("observed_at").max().alias("last_seen"),
            pl.len().alias("rows"),
            pl.lit(True).alias("suspect"),
        )
    # A silence a < b (b - a > expected, both whole microseconds) in the charger's sorted times puts a
    # and b at least expected // tick_us >= 8 ticks apart, so the >= 7 ticks between them hold no row.
    # Conversely 7 empty ticks in a row mean a silence of more than 7/8 of expected: the few such
    # chargers are sorted to tell. Idle Easee chargers (a heartbeat about every 15 minutes against 20)
    # leave at most 5 empty ticks in a row.
    min_run = expected // timedelta(microseconds=tick_us) - 1
    return (
        _blocks(times, tick_us)
        .sort("charger_id", "block")
        .with_columns(_empty_run(min_run).alias("suspect"))
        .group_by("charger_id")
        .agg(*spans, pl.col("suspect").any())
    )


def _gaps_of_suspects(times: pl.LazyFrame, suspects: pl.LazyFrame, expected: timedelta) -> pl.LazyFrame:
    # Sorting each suspect charger's times inside a group-by is far cheaper than a window over all rows.
    times_sorted = pl.col("observed_at").sort()
    previous = times_sorted.shift(1)
    is_gap = (times_sorted - previous) > expected
    return (
        times.join(suspects, on="charger_id", how="semi")
        .group_by("charger_id")
        .agg(previous.filter(is_gap).alias("gap_start"), times_sorted.filter(is_gap).alias("gap_end"))
        .explode("gap_start", "gap_end")
        .drop_nulls("gap_end")
        .with_columns(seconds(pl.col("gap_end") - pl.col("gap_start")).alias("gap_s"))
        .sort("charger_id", "gap_start")
    )


def spans_and_gaps(
    times: pl.LazyFrame, expected: timedelta = DEFAULT_GAP, *, in_runs: bool = False
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Per charger of ``times`` (``charger_id``, ``observed_at``): its span (``first_seen``,
    ``last_seen``, ``rows``) and its silences (``gaps_of``), from one pass over ``times``.

    ``in_runs``: the caller saw ``times`` begin in runs of one charger in time order (an export sorted
    by charger, a compacted store: :func:`begins_in_runs`). The rows are then held in memory and read in
    their order (:func:`_in_runs`), or by blocks if they turn out not to be: the same tables."""
    if in_runs:
        return _held(times, expected)
    return _by_blocks(times, expected)


def begins_in_runs(first: pl.DataFrame) -> bool:
    """Whether rows whose first ones are ``first`` (a ``charger_id`` column: a few thousand rows, or
    all of them) are likely in runs of one charger (``_ROWS_PER_RUN``), so worth reading in order."""
    if first.height == 0:
        return False
    charger = first["charger_id"]
    return int((charger != charger.shift(1)).sum()) * _ROWS_PER_RUN <= first.height


def held_timeline(frame: pl.DataFrame, expected: timedelta = DEFAULT_GAP) -> Timeline:
    """:func:`timeline` of rows held in memory (a report's or the explorer's bucket): read in runs when
    they begin so (:func:`begins_in_runs` of their first rows)."""
    return timeline(in_memory(frame), expected, in_runs=begins_in_runs(frame.head(_FIRST_LOOK)))


def scan_shape(lf: pl.LazyFrame) -> tuple[bool, bool]:
    """Whether ``lf``, a store's scan, begins in runs of one charger (:func:`begins_in_runs`), and
    whether it begins with whole chargers, each in one long run in time order (an export sorted by
    charger: :func:`begins_by_charger`), from its first rows (milliseconds); (False, False) for any
    other frame. Hints for speed only: every use is correct on any order. Asked once per frame."""
    from evkit.store.frame_facts import first_rows

    shape = _SHAPES.get(lf)
    if shape is None:
        first = first_rows(lf, ["charger_id", "observed_at"], _FIRST_LOOK)
        found = (False, False) if first is None else (begins_in_runs(first), begins_by_charger(first))
        shape = _SHAPES.put(lf, found)
    return shape


#: :func:`scan_shape`'s answers, by frame.
_SHAPES: FrameMemo[tuple[bool, bool]] = FrameMemo()


#: Rows by charger (:func:`begins_by_charger`) when a run in time order holds this many rows or more
#: on average: whole chargers of a month, not a charger's day (a compacted store, ~400 rows a day).
_ROWS_PER_CHARGER = 4_096


def begins_by_charger(first: pl.DataFrame) -> bool:
    """Whether rows whose first ones are ``first`` (``charger_id``, ``observed_at``) likely hold each
    charger whole, in time order: few, long runs. Sorting such rows by charger and time costs half of
    sorting them by time; rows of a compacted store (a charger a day) or in arrival order, far more."""
    if first.height == 0 or first["charger_id"].null_count() or first["observed_at"].null_count():
        return False
    charger, at = first["charger_id"], first["observed_at"]
    runs = int(((charger != charger.shift(1)) | (at < at.shift(1))).fill_null(True).sum())
    return runs * _ROWS_PER_CHARGER <= max(first.height, _ROWS_PER_CHARGER)


def _by_blocks(times: pl.LazyFrame, expected: timedelta) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    # Most chargers have no silence at all, so first find the ones that may have one, without sorting
    # (``spans_and_suspects``): only their times are sorted. Counting ticks with rows is a hash
    # group-by of plain reductions; the largest step between consecutive rows (any order bounds the
    # silences) needed each charger's times gathered: twice the memory, and 0.07 s more per 6M rows.
    stats = spans_and_suspects(times, expected).cache()
    suspects = stats.filter(pl.col("suspect")).select("charger_id")
    return stats.drop("suspect"), _gaps_of_suspects(times, suspects, expected)


#: Rows in runs (:func:`_in_runs`) when a run holds this many rows or more on average.
_ROWS_PER_RUN = 16
#: Rows whose runs are counted first: rows in arrival order are told from these alone.
_FIRST_LOOK = 65_536


def _held(times: pl.LazyFrame, expected: timedelta) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """``spans_and_gaps`` of ``times`` from its rows in memory: in runs when they come so (one Python
    call sees them all), else by blocks. One frame carries both tables: spans, then silences. Rows
    in arrival order cost more so than by blocks straight from the plan (they are gathered first):
    only rows seen to begin in runs come here."""
    spans_schema, gaps_schema = (f.collect_schema() for f in _by_blocks(times.clear(), expected))
    schema = {**spans_schema, **gaps_schema}

    def found(frame: pl.DataFrame) -> pl.DataFrame:
        got = _in_runs(frame, expected)
        spans, gaps = got if got is not None else pl.collect_all(list(_by_blocks(frame.lazy(), expected)))
        both = pl.concat([spans.cast(spans_schema), gaps.cast(gaps_schema)], how="diagonal")
        return both.select(list(schema))

    both = times.map_batches(found, schema=schema).cache()
    spans = both.filter(pl.col("gap_end").is_null()).select(list(spans_schema))
    return spans, both.filter(pl.col("gap_end").is_not_null()).select(list(gaps_schema))


def _in_runs(
    times: pl.DataFrame, expected: timedelta, rows_per_run: int = _ROWS_PER_RUN
) -> tuple[pl.DataFrame, pl.DataFrame] | None:
    """``spans_and_gaps`` of ``times`` when its rows come in few runs (``rows_per_run``), each of one
    charger in time order, and a charger's runs do not overlap in time; None otherwise (arrival order,
    rows without a charger or a time). Each charger's times in order are then its runs one after
    another: its silences are the long steps inside a run and between its consecutive runs. A few
    comparisons of neighbouring rows instead of a group-by over every row (0.05 s against 0.2 s for
    6M rows sorted by charger)."""
    n = times.height
    charger, at = times["charger_id"], times["observed_at"]
    if n == 0 or charger.null_count() or at.null_count():
        return None
    key = pl.col("charger_id")
    key = key.to_physical() if charger.dtype == pl.Categorical else key
    when = pl.col("observed_at")
    # both masks in one select: Polars computes them side by side
    masks = times.select(
        ((key != key.shift(1)) | (when < when.shift(1))).fill_null(True).alias("new"),
        (when.diff() > expected).fill_null(False).alias("long"),
    )
    new = masks["new"]
    if new.sum() * rows_per_run > n:
        return None
    starts = new.arg_true()
    ends = pl.concat([starts.slice(1) - 1, pl.Series([n - 1], dtype=starts.dtype)])
    runs = pl.DataFrame(
        {
            "charger_id": charger.gather(starts),
            "first": at.gather(starts),
            "last": at.gather(ends),
            "rows": ends - starts + 1,
        }
    ).sort("charger_id", "first", "last")
    before = pl.col("last").shift(1).over("charger_id")
    if runs.select((pl.col("first") < before).any()).item():
        return None  # a charger's runs overlap in time
    inside = (masks["long"] & new.not_()).arg_true()
    steps = pl.concat(
        [
            pl.DataFrame(
                {
                    "charger_id": charger.gather(inside),
                    "gap_start": at.gather(inside - 1),
                    "gap_end": at.gather(inside),
                }
            ),
            runs.select("charger_id", before.alias("gap_start"), pl.col("first").alias("gap_end")).filter(
                pl.col("gap_end") - pl.col("gap_start") > expected
            ),
        ]
    )
    gaps = steps.with_columns(seconds(pl.col("gap_end") - pl.col("gap_start")).alias("gap_s"))
    spans = runs.group_by("charger_id").agg(
        pl.col("first").min().alias("first_seen"),
        pl.col("last").max().alias("last_seen"),
        pl.col("rows").sum(),
    )
    return spans, gaps.sort("charger_id", "gap_start")


@dataclass(frozen=True)
class Timeline:
    """When each charger of a frame's Easee rows was heard from (``spans``: ``charger_id``,
    ``first_seen``, ``last_seen``, ``rows``) and its silences longer than ``expected`` (``gaps``: see
    ``gaps_of``), from one pass over every row (:func:`timeline`). Analyses of the same frame run
    together take it instead of each finding the silences again (sessions and the quality checks)."""

    spans: pl.LazyFrame
    gaps: pl.LazyFrame
    expected: timedelta


def timeline(
    lf: pl.LazyFrame,
    expected: timedelta = DEFAULT_GAP,
    *,
    given: Timeline | None = None,
    in_runs: bool = False,
) -> Timeline:
    """The :class:`Timeline` of ``lf``'s Easee rows (lazy, cached: queries collected together share it);
    ``given`` instead when a caller handed one of the same ``expected`` silence. ``in_runs``: see
    ``spans_and_gaps``."""
    if given is not None and given.expected == expected:
        return given
    # a frame made elsewhere read as the analyses read it (``_prep.require``): a timeline a user made
    # of it fits the analyses they hand it to
    found_spans, found_gaps = spans_and_gaps(heard(with_contract_types(lf)), expected, in_runs=in_runs)
    return Timeline(_shared(found_spans), _shared(found_gaps), expected)


def _shared(plan: pl.LazyFrame) -> pl.LazyFrame:
    """``plan`` cached (queries collected together compute it once), under a projection of all its
    columns: Polars 2.1 panics (``cse/cache_states.rs:571``) collecting on its own a plan whose root is
    a cache over a self-join such as the silences' (``timeline(lf).gaps.collect()``)."""
    return plan.cache().select(pl.all())


def gaps_of(times: pl.LazyFrame, expected: timedelta = DEFAULT_GAP) -> pl.LazyFrame:
    """Silences longer than ``expected`` between consecutive ``observed_at`` of one charger.

    Columns: ``charger_id``, ``gap_start`` (last message before), ``gap_end`` (first after), ``gap_s``.
    """
    return spans_and_gaps(times, expected)[1]
