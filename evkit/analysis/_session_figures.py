"""The figures of each session from the rows of its range: power integral and peak, session counter,
lifetime meter, phases, tokens, whether it went offline (see ``evkit.analysis.sessions``).

A session's range runs from its start until the next session of its charger starts: the counter, the
meter and tokens still count after the unplug. The many rows (power, 120) are assigned to their
session by one as-of join; the counter (121) and the meter (124), hundreds of thousands of rows at
fleet scale, are looked up once per session instead (the last reading of each range).
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from evkit.analysis import _ids
from evkit.analysis.exact import divided, exact_sum, seconds

#: A session's row number: one 32-bit key for the per-session windows, groups and joins of many rows
#: (much cheaper than the pair of charger and sequence number).
SID = "__sid"


def sorted_at_once(rows: pl.LazyFrame, *keys: str) -> pl.LazyFrame:
    """``rows.sort(*keys)`` as one sort of all rows held in memory: the streaming engine's sort of the
    same rows costs more (by charger and time, 0.13 s against 0.03 s for 1.2M power readings; by time
    up to three times more)."""
    return rows.map_batches(lambda frame: frame.sort(*keys))


def _assign(rows: pl.LazyFrame, sess: pl.LazyFrame, *, by_charger: bool = False) -> pl.LazyFrame:
    """Attach every row to the session of its charger that started last before it (``inside`` when
    the row is not after the session's end); rows before a charger's first session are dropped.

    The as-of join needs each charger's rows in time order: rows sorted by time, or (``by_charger``,
    cheaper for rows that come a whole charger at a time) by charger and time, in the order the
    sessions are numbered: then the rows come out session by session, ``SID`` ascending."""
    starts = sess.select(
        SID, "charger_id", "started_at", "ended_at", "first_charge_at", "started_mid_session", "last_seen"
    ).sort("started_at")
    ordered = (
        sorted_at_once(rows, "charger_id", "observed_at")
        if by_charger
        else sorted_at_once(rows, "observed_at")
    )
    joined = ordered.join_asof(
        starts,
        left_on="observed_at",
        right_on="started_at",
        by="charger_id",
        strategy="backward",
        check_sortedness=False,
    )
    return joined.filter(pl.col(SID).is_not_null()).with_columns(
        (pl.col("ended_at").is_null() | (pl.col("observed_at") <= pl.col("ended_at"))).alias("inside")
    )


def _power_figures(
    obs: pl.LazyFrame, sess: pl.LazyFrame, holes: pl.LazyFrame, *, by_charger: bool = False
) -> pl.LazyFrame:
    """Power integral, peak power and whether a hole in the data interrupted the power readings.

    Power (120) is most of the rows: they travel through the sort and joins with only the three
    columns they need, apart from the few other rows and their text columns. ``by_charger``: see
    :func:`_assign` (each session's rows then come together, in time order).
    """
    power = obs.filter((pl.col("observation_id") == _ids.TOTAL_POWER) & pl.col("value").is_not_null())
    power_rows = (
        _assign(power.select("charger_id", "observed_at", "value"), sess, by_charger=by_charger)
        .filter(pl.col("inside"))
        .select(SID, "charger_id", "observed_at", "value", "ended_at", "last_seen")
    )
    # Power is held until its next reading (or the session's end); a hold spanning a hole in the data
    # (a silence of the whole charger) is not integrated: what happened in the hole is unknown.
    next_hole = holes.select("charger_id", "gap_start").sort("gap_start")
    power_rows = power_rows.join_asof(
        next_hole,
        left_on="observed_at",
        right_on="gap_start",
        by="charger_id",
        strategy="forward",
        check_sortedness=False,
    )
    # Rows arrive sorted by device time and a window keeps its rows' order, so "next reading" is a
    # shift over the session. Per-row figures first, then only plain sums and maxima per session: a
    # group-by evaluating shifts and filters group by group is several times slower.
    at, sid = pl.col("observed_at"), pl.col(SID)
    if by_charger:  # session by session (``_assign``): the next row, when it is the same session's
        sid = sid.set_sorted()
        following: pl.Expr = pl.when(sid.shift(-1) == sid).then(at.shift(-1))
    else:  # the charger's next reading, or its session's end when that reading is a later session's
        # (a window over the charger's 500 groups costs less than over the sessions' 10,000)
        following = pl.min_horizontal(at.shift(-1).over("charger_id"), "ended_at")
    until = following.fill_null(pl.coalesce("ended_at", "last_seen"))
    in_hole = pl.col("gap_start").is_not_null() & (pl.col("gap_start") < until)
    kwh = pl.when(in_hole.not_()).then(divided(pl.col("value") * seconds(until - at), 3600.0))
    return (
        power_rows.with_columns(kwh.alias("__kwh"), in_hole.alias("__in_hole"), sid.alias(SID))
        .group_by(SID)
        .agg(
            exact_sum(pl.col("__kwh")).alias("energy_integral_kwh"),
            pl.col("value").max().alias("peak_power_kw"),
            pl.col("__in_hole").any().alias("power_hole"),
        )
    )


def _last_in_range(readings: pl.LazyFrame, sess: pl.LazyFrame, name: str) -> pl.LazyFrame:
    """Per session: the last of ``readings`` (``charger_id``, ``observed_at``, ``value``, sorted by
    time) from its start until the next one of its charger starts (the rows ``_assign`` gives it),
    as ``name`` and ``name_at`` (null when there is none). One as-of lookup per session instead of
    assigning every reading to its session."""
    at = f"{name}_at"
    dtype = sess.collect_schema()["started_at"]
    anchors = sess.select(
        SID, "charger_id", "started_at", pl.coalesce("next_start", _beyond(dtype)).alias("__until")
    ).sort("__until")
    found = anchors.join_asof(
        readings.select("charger_id", pl.col("observed_at").alias(at), pl.col("value").alias(name)),
        left_on="__until",
        right_on=at,
        by="charger_id",
        strategy="backward",
        allow_exact_matches=False,  # a reading at the next start is the next session's
        check_sortedness=False,
    )
    inside = pl.col(at) >= pl.col("started_at")
    return found.select(
        SID, pl.when(inside).then(pl.col(name)).alias(name), pl.when(inside).then(pl.col(at)).alias(at)
    )


def _beyond(dtype: pl.DataType) -> pl.Expr:
    """A time after any of type ``dtype`` (a ``Datetime``): the end of a charger's last range."""
    unit, zone = (dtype.time_unit, dtype.time_zone) if isinstance(dtype, pl.Datetime) else ("us", None)
    year = 2262 if unit == "ns" else 9999  # nanoseconds end in April 2262
    return pl.lit(datetime(year, 1, 1)).cast(pl.Datetime(unit, zone))


def _counter_and_meter(obs: pl.LazyFrame, sess: pl.LazyFrame) -> pl.LazyFrame:
    """Per session: the last positive session counter (121) from charging on (``counter_last``),
    whether any counter row came (``has_counter``), and the last lifetime meter (124) reading
    (``meter_stop_kwh``, ``meter_stop_at``), each of the session's range (:func:`_last_in_range`)."""
    obs_id, value = pl.col("observation_id"), pl.col("value")
    counters = obs.filter(obs_id == _ids.SESSION_ENERGY).select("charger_id", "observed_at", "value")
    counters = sorted_at_once(counters, "observed_at").cache()
    meters = obs.filter((obs_id == _ids.LIFETIME_ENERGY) & value.is_not_null()).select(
        "charger_id", "observed_at", "value"
    )
    # A stale counter from the previous session can linger until charging starts; zeros are spurious.
    counter_from = (
        pl.when(pl.col("started_mid_session")).then(pl.col("started_at")).otherwise(pl.col("first_charge_at"))
    )
    positive = _last_in_range(counters.filter(value.is_not_null() & (value > 0)), sess, "counter")
    any_counter = _last_in_range(counters, sess, "any_counter")
    meter = _last_in_range(sorted_at_once(meters, "observed_at"), sess, "meter_stop_kwh")
    return (
        sess.select(SID, counter_from.alias("__from"))
        .join(positive, on=SID, how="left")
        .join(any_counter, on=SID, how="left")
        .join(meter, on=SID, how="left")
        .select(
            SID,
            pl.when(pl.col("counter_at") >= pl.col("__from")).then(pl.col("counter")).alias("counter_last"),
            pl.col("any_counter_at").is_not_null().alias("has_counter"),
            "meter_stop_kwh",
            pl.col("meter_stop_kwh_at").alias("meter_stop_at"),
        )
    )


def _other_figures(obs: pl.LazyFrame, sess: pl.LazyFrame) -> pl.LazyFrame:
    """Counter, meter, phase, token and offline figures per session (a few rows per session)."""
    obs_id = pl.col("observation_id")
    others = obs.filter(
        obs_id.is_in([_ids.OUTPUT_PHASE, _ids.USER_ID_TOKEN, _ids.USER_ID_TOKEN_REVERSED])
        | ((obs_id == _ids.OP_MODE) & (pl.col("value") == _ids.OFFLINE))
    )
    rows = _assign(others, sess)
    phase = (obs_id == _ids.OUTPUT_PHASE) & pl.col("inside") & (pl.col("value") > 0)
    token = (obs_id == _ids.USER_ID_TOKEN) & (pl.col("value_text").str.len_chars() > 0)
    token_rev = (obs_id == _ids.USER_ID_TOKEN_REVERSED) & (pl.col("value_text").str.len_chars() > 0)
    offline = (obs_id == _ids.OP_MODE) & pl.col("inside")
    # Rows are in device-time order within a group, so "first" is the earliest. Masked per row first,
    # then only plain aggregations per session (filters inside a group-by are evaluated group by
    # group, several times slower). A reversed token may itself be null: it is wrapped so that "the
    # first token row" stays the first even then.
    masked = rows.with_columns(
        pl.when(phase).then(pl.col("value") // 10).alias("__phase"),
        pl.when(token).then(pl.col("value_text")).alias("__token"),
        pl.when(token_rev).then(pl.struct("token_reversed")).alias("__token_rev"),
        offline.alias("__offline"),
    )
    few = masked.group_by(SID).agg(
        pl.col("__phase").max().cast(pl.Int8).alias("phases_inside"),
        pl.col("__token").first(ignore_nulls=True).alias("token"),
        pl.col("__token_rev").first(ignore_nulls=True).struct.field("token_reversed").alias("token_rev"),
        pl.col("__offline").any().alias("went_offline"),
    )
    return _counter_and_meter(obs, sess).join(few, on=SID, how="left")


def per_session(
    obs: pl.LazyFrame, sess: pl.LazyFrame, holes: pl.LazyFrame, *, by_charger: bool = False
) -> pl.LazyFrame:
    """Power, counter, meter, phase, token and offline figures per session (``by_charger``: the rows
    likely come a whole charger at a time, :func:`_assign`)."""
    power = _power_figures(obs, sess, holes, by_charger=by_charger)
    return _other_figures(obs, sess).join(power, on=SID, how="full", coalesce=True)


def before(obs: pl.LazyFrame, sess: pl.LazyFrame, obs_id: int, at: pl.Expr, name: str) -> pl.LazyFrame:
    """The last ``obs_id`` reading at or before ``at`` of each session (value and time)."""
    readings = obs.filter((pl.col("observation_id") == obs_id) & pl.col("value").is_not_null()).select(
        "charger_id", pl.col("observed_at").alias(f"{name}_at"), pl.col("value").alias(name)
    )
    readings = sorted_at_once(readings, f"{name}_at")
    anchors = (
        sess.select(SID, "charger_id", at.alias("__at")).filter(pl.col("__at").is_not_null()).sort("__at")
    )
    return anchors.join_asof(
        readings,
        left_on="__at",
        right_on=f"{name}_at",
        by="charger_id",
        strategy="backward",
        check_sortedness=False,
    ).drop("__at", "charger_id")
