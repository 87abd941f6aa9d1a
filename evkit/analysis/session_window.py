"""Sessions starting in a time window, read from only the rows they depend on.

``sessions_starting(lf, start, end)`` is ``sessions(lf)`` filtered to ``start <= started_at < end``
(each bound optional), row for row, but reads far less of a long recording. What one Easee session
S (start ``s``, end ``e``, the next session of its charger at ``n``) depends on:

- op modes (109): where S starts and ends, whether it started before the data, time charging, and the
  previous session S0 (its end: a meter reading before ``s`` counts only after it);
- the output phase (110) reported last before ``s`` (when none is reported inside), at any time;
- the lifetime meter (124) reported last before S's first charge (after S0's end, or at any time when
  S is the charger's first session) and last before ``n``;
- every row inside ``[s, e]``: power, and the silences (one overlapping S begins at or after ``s``:
  there is a row at ``s``);
- after ``e``, until ``n`` (the end of the data when there is no next session): the session counter
  (the charger keeps it after unplug), tokens and meter readings;
- a session still connected: every row to the end of the data (its figures run to the charger's last
  message).

So two reads: first the op-mode and phase rows of the whole data (4 columns, ~1 % of the rows: they
find the sessions in the window), then, for the chargers with a session starting in the window, every
row from ``start`` to the latest end of those sessions, and counters, tokens and meter readings up to
the latest next-session start (meter readings from the earliest session before the window's first
one, or from the beginning when a charger has none). Bounds are the widest over the chargers (plain
time bounds the Parquet reader skips files and row groups by): a superset of what each needs, which
changes nothing. Rows that are not Easee's (evcc, go-e) are read whole: their sessions follow their
own rules.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from evkit.analysis import _ids
from evkit.analysis._prep import columns_of, easee_rows, require
from evkit.analysis._timeline import DEFAULT_GAP
from evkit.analysis.sessions import op_mode_rows


def _easee(lf: pl.LazyFrame) -> pl.Expr:
    """True on the rows ``easee_rows`` keeps (the rows Easee sessions are made of)."""
    cond = pl.col("charger_id").is_not_null() & pl.col("observed_at").is_not_null()
    cond = cond & (pl.col("kind").is_null() | (pl.col("kind") != "mqtt"))
    if "source" in columns_of(lf):
        cond = cond & (pl.col("source").is_null() | (pl.col("source") == "easee"))
    return cond


def _changes(op: pl.DataFrame) -> pl.DataFrame:
    """Every session start and end (``charger_id``, ``ts``, ``start``) as the sessioniser finds them."""
    modes = op_mode_rows(op.lazy())
    connected = pl.col("mode") != _ids.DISCONNECTED
    before = connected.shift(1).over("charger_id").fill_null(False)
    changes = modes.filter(connected != before).select("charger_id", "ts", connected.alias("start"))
    return changes.collect()


#: Rows that still count for a session after its end, until the next one starts (``_other_figures``):
#: the session counter, the lifetime meter, tokens.
_LATE = (_ids.SESSION_ENERGY, _ids.USER_ID_TOKEN, _ids.USER_ID_TOKEN_REVERSED)


def session_rows(lf: pl.LazyFrame, start: datetime | None, end: datetime | None) -> pl.LazyFrame:
    """The rows of ``lf`` the sessions starting in ``[start, end)`` depend on (module docstring).

    Reads the op-mode and phase rows (to find the sessions in the window); the rest stays lazy, with a
    predicate on ``charger_id`` and ``observed_at`` the Parquet reader uses to skip what it can."""
    lf = require(lf)
    if start is None and end is None:
        return lf
    always = pl.col("observation_id").is_in([_ids.OP_MODE, _ids.OUTPUT_PHASE]).fill_null(False)
    # only the columns the sessioniser reads of such rows (the rest of a row is costly to decode)
    first_read = (
        easee_rows(lf).filter(always).select("charger_id", "observation_id", "observed_at", "value").collect()
    )
    ts, is_start = pl.col("ts"), pl.col("start")
    after_end = ts >= end if end is not None else pl.lit(False)
    inside = is_start & (ts >= start if start is not None else pl.lit(True)) & after_end.not_()
    last_inside = ts.filter(inside).max()
    per_charger = (
        _changes(first_read)
        .lazy()
        .group_by("charger_id")
        .agg(
            inside.any().alias("wanted"),
            # the session before the window's first: its end decides whether a meter reading counts
            ts.filter(is_start & (ts < ts.filter(inside).min())).max().alias("previous"),
            # the end of the window's last session (null: still connected)
            ts.filter(is_start.not_() & (ts > last_inside)).min().alias("last_end"),
            # the next session after the window's last one: counters and meter readings count until it
            ts.filter(is_start & after_end).min().alias("next_start"),
        )
        .filter(pl.col("wanted"))
        .collect()
    )
    if per_charger.height == 0:
        return lf.filter(_easee(lf).not_())
    at, obs_id = pl.col("observed_at"), pl.col("observation_id")
    since = pl.lit(True) if start is None else at >= start
    # every row from the window's start to the end of its last session
    rows = since if per_charger["last_end"].null_count() else since & (at <= per_charger["last_end"].max())
    # counters and tokens until the next session; meter readings also from the session before
    late_until = pl.lit(True)
    if per_charger["next_start"].null_count() == 0:
        late_until = at < per_charger["next_start"].max()
    meter = obs_id == _ids.LIFETIME_ENERGY
    if start is not None and per_charger["previous"].null_count() == 0:
        meter = meter & (at >= per_charger["previous"].min())
    late = ((obs_id.is_in(list(_LATE)) & since) | meter).fill_null(False) & late_until
    keep = pl.col("charger_id").is_in(per_charger["charger_id"].to_list())
    rest = lf.filter(_easee(lf).not_() | (keep & always.not_() & (rows | late)))
    return pl.concat([first_read.lazy().filter(keep), rest], how="diagonal_relaxed")


def sessions_starting(
    lf: pl.LazyFrame,
    start: datetime | None,
    end: datetime | None,
    gap: timedelta = DEFAULT_GAP,
    *,
    next_start: bool = False,
) -> pl.LazyFrame:
    """``sessions(lf, gap)`` of the sessions starting in ``[start, end)``, reading only what they need.
    ``next_start``: each keeps the start of its charger's next session, in or after the window
    (``evkit.analysis.cost.NEXT_START``: pricing needs it, the cut list no longer shows it)."""
    from evkit.analysis.sessions import sessions

    result = sessions(session_rows(lf, start, end), gap)
    if next_start:
        from evkit.analysis.cost import NEXT_START  # pricing only: the tariffs load with it

        following = pl.col("started_at").shift(-1).over("charger_id", order_by="started_at")
        result = result.with_columns(following.alias(NEXT_START))
    if start is not None:
        result = result.filter(pl.col("started_at") >= start)
    if end is not None:
        result = result.filter(pl.col("started_at") < end)
    return result


__all__ = ["session_rows", "sessions_starting"]
