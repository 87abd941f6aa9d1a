"""Sessions starting in a time window, read from only the rows they depend on.

``sessions_starting(lf, start, end)`` is ``sessions(lf)`` filtered to ``start <= started_at < end``
(each bound optional), row for row, but reads far less of a long recording. What one Easee session
(start ``s``, end ``e``, next session of its charger at ``n``) depends on:

- every op mode (109) of its charger, at any time: where it starts and ends, whether it started
  before the data, the previous session's end (is the meter reading before ``s`` after it?), time
  spent charging;
- the lifetime meter (124) and output phase (110) readings, at any time: the last ones before ``s``
  (meter start, phases when none is reported inside) and the last meter reading before ``n``;
- every other row from ``s`` on, up to ``n``: power, session counter (kept until the next plug-in),
  tokens, and the silences inside ``[s, e]`` (a silence overlapping the session begins at or after
  ``s``: there is a row at ``s``);
- for a session without a next one (still connected, or the charger's last): every row to the end of
  the data (its figures run to the charger's last message).

So the rows read are: the op mode, meter and phase rows of all time (a few % of the rows), and the
other rows from ``start`` up to the latest next-session start ``n`` of the sessions that start in the
window (no upper bound for chargers whose session in the window has no successor), only for chargers
with a session starting in the window. A first small read of the op-mode rows finds those. Rows that
are not Easee's (evcc, go-e) are read whole: their sessions follow their own rules.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from evkit.analysis import _ids
from evkit.analysis._prep import columns_of, easee_rows, require
from evkit.analysis._timeline import DEFAULT_GAP

#: Read at any time (small): op modes, lifetime meter, output phase.
_ALWAYS = (_ids.OP_MODE, _ids.LIFETIME_ENERGY, _ids.OUTPUT_PHASE)


def _easee(lf: pl.LazyFrame) -> pl.Expr:
    """True on the rows ``easee_rows`` keeps (the rows Easee sessions are made of)."""
    cond = pl.col("charger_id").is_not_null() & pl.col("observed_at").is_not_null()
    cond = cond & (pl.col("kind").is_null() | (pl.col("kind") != "mqtt"))
    if "source" in columns_of(lf):
        cond = cond & (pl.col("source").is_null() | (pl.col("source") == "easee"))
    return cond


def _starts(lf: pl.LazyFrame) -> pl.DataFrame:
    """Every session start (``charger_id``, ``ts``) as the sessioniser finds them, from op modes only."""
    op = (
        easee_rows(lf, [_ids.OP_MODE])
        .filter(pl.col("value").is_not_null() & (pl.col("value") != _ids.OFFLINE))
        .select("charger_id", pl.col("observed_at").alias("ts"), pl.col("value").cast(pl.Int32).alias("mode"))
        .sort("charger_id", "ts")
    )
    connected = pl.col("mode") != _ids.DISCONNECTED
    before = connected.shift(1).over("charger_id").fill_null(False)
    return op.filter(connected & before.not_()).select("charger_id", "ts").collect()


def session_rows(lf: pl.LazyFrame, start: datetime | None, end: datetime | None) -> pl.LazyFrame:
    """The rows of ``lf`` the sessions starting in ``[start, end)`` depend on (module docstring).

    Reads the op-mode rows once (to find the sessions in the window); the rest stays lazy, with a
    predicate on ``charger_id`` and ``observed_at`` the Parquet reader uses to skip what it can."""
    require(lf)
    if start is None and end is None:
        return lf
    starts = _starts(lf)
    after_end = pl.col("ts") >= end if end is not None else pl.lit(False)
    inside = (pl.col("ts") >= start if start is not None else pl.lit(True)) & after_end.not_()
    per_charger = starts.group_by("charger_id").agg(
        inside.any().alias("wanted"),
        # the next session after the window's last one: the rows needed end there
        pl.col("ts").filter(after_end).min().alias("next_start"),
    )
    wanted = per_charger.filter(pl.col("wanted"))
    bounded = wanted.filter(pl.col("next_start").is_not_null())
    unbounded = wanted.filter(pl.col("next_start").is_null())["charger_id"].to_list()
    keep = pl.col("charger_id").is_in(wanted["charger_id"].to_list())
    timed = pl.lit(True) if start is None else pl.col("observed_at") >= start
    if bounded.height:
        limit = bounded["next_start"].max()
        timed = timed & ((pl.col("observed_at") < limit) | pl.col("charger_id").is_in(unbounded))
    always = pl.col("observation_id").is_in(list(_ALWAYS))
    return lf.filter(_easee(lf).not_() | (keep & (always | timed)))


def sessions_starting(
    lf: pl.LazyFrame, start: datetime | None, end: datetime | None, gap: timedelta = DEFAULT_GAP
) -> pl.LazyFrame:
    """``sessions(lf, gap)`` of the sessions starting in ``[start, end)``, reading only what they need."""
    from evkit.analysis.sessions import sessions

    result = sessions(session_rows(lf, start, end), gap)
    if start is not None:
        result = result.filter(pl.col("started_at") >= start)
    if end is not None:
        result = result.filter(pl.col("started_at") < end)
    return result


__all__ = ["session_rows", "sessions_starting"]
