"""Cost of charging sessions: each session's energy priced by when it flowed.

**The rule.** A session's energy (``energy_kwh``, as ``evkit.analysis.sessions`` chose it) is spread over
time by the best profile the data has, then split at the tariff's price changes:

1. ``session_counter``: the increments of the session counter (Easee 121, reported every few minutes
   while charging). The energy of an increment flowed between the reading before it and its own
   reading; it is spread evenly over that interval. The previous session's count the charger still
   shows at plug-in (leading readings equal to the last one before the session), readings before a
   restart of the count (a fall to less than half) and zeros (spurious) are not used; a small dip and
   back adds nothing (increments of the running maximum).
2. ``power``: without counter readings, the total power (Easee 120; evcc ``chargePower``, go-e
   ``nrg.power_total`` in recordings of home chargers) held until its next reading (holds longer than
   ``MAX_HOLD`` span a hole in the data and are not used).
3. ``uniform``: with neither (e.g. a session known only from the lifetime meter), the energy is
   spread evenly from plug-in to unplug.

The profile only shapes the split; its total is scaled to ``energy_kwh``, so ``cost`` always prices
the session's own energy figure. ``price_per_kwh`` = ``cost / energy_kwh`` (the effective price).

**Error bound.** Within one profile interval the flow is assumed even. Where an interval spans a
price change, the truth lies anywhere between all of its energy at the lowest and all at the highest
of the prices it spans: ``cost_error_bound`` adds ``energy x (highest - lowest price)`` over those
intervals (0 when every interval has one price, e.g. a flat tariff, or readings on the price changes).
Where the data is sparse - a hole in the power readings, a counter that missed its last updates -
the readings account for less than ``energy_kwh``; the rest is spread like them, and since it could
have flowed at any time of the session the bound adds ``unseen kWh x (highest - lowest price of the
session)`` (``cost_note`` says how much the readings account for).

Energy in a span without a price (before the tariff's first row, after an hourly series ends, a row
with an empty price) is not guessed: ``cost`` is null and ``cost_note`` says how many kWh were not
priced. ``co2_g`` is null unless every kWh has a CO2 figure. Pure Polars: joins, no per-row Python.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from evkit.analysis import _ids
from evkit.analysis._prep import observations
from evkit.analysis.exact import divided, seconds, steady_sum
from evkit.analysis.tariff import Tariff

#: A power reading held longer than this spans a hole in the data (sessions use the same 20 minutes).
MAX_HOLD = timedelta(minutes=20)
#: A session counter reading below this fraction of the previous one is a restart of the count (the
#: stale value of the last session before this one's first reading); a smaller dip is a glitch.
RESTART_FRACTION = 0.5
#: Energy the readings do not account for is noted beyond this (kWh; counters report 0.001 kWh steps).
UNSEEN_NOTE_KWH = 0.05
#: Energy below this (kWh) is rounding, not energy without a price.
EPSILON_KWH = 1e-6

#: Columns ``session_costs`` adds to a sessions frame.
COST_SCHEMA: dict[str, pl.DataType] = {
    "cost": pl.Float64(),
    "price_per_kwh": pl.Float64(),
    "co2_g": pl.Float64(),
    "cost_error_bound": pl.Float64(),
    "cost_profile": pl.String(),  # session_counter / power / uniform
    "cost_note": pl.String(),
}

_SEG = ["session_id", "t0", "t1", "kwh"]


#: The next session's start of each session's charger, when a sessions frame was cut to a window
#: (:func:`evkit.analysis.session_window.sessions_starting` with ``next_start=True``): the cut frame
#: no longer shows the session after its last, and a session's readings run until that one starts.
NEXT_START = "next_start"


def _session_frame(sessions: pl.LazyFrame) -> pl.LazyFrame:
    """The sessions' keys and span; ``next_start`` is where readings stop belonging to the session
    (given, or the next session of the charger in ``sessions``)."""
    keys = ["charger_id", "session_id", "started_at", "ended_at", "energy_kwh", "source"]
    if NEXT_START in sessions.collect_schema().names():
        return sessions.select(*keys, NEXT_START).sort("charger_id", "started_at")
    return (
        sessions.select(keys)
        .sort("charger_id", "started_at")
        .with_columns(pl.col("started_at").shift(-1).over("charger_id").alias(NEXT_START))
    )


def _readings(lf: pl.LazyFrame, obs_id: int) -> pl.LazyFrame:
    return observations(lf, [obs_id]).select("charger_id", "observed_at", "value")


def _assigned(lf: pl.LazyFrame, obs_id: int, sess: pl.LazyFrame) -> pl.LazyFrame:
    """Readings of ``obs_id`` attached to the Easee session of their charger that started last before them."""
    return _attach(_readings(lf, obs_id), sess, ["easee"])


def readings_priced(lf: pl.LazyFrame) -> list[pl.LazyFrame]:
    """The readings of ``lf`` that ``session_costs(sessions, tariff, lf)`` reads, one plan per read:
    the session counter, the power, and home chargers' power when ``lf`` can hold it. For a caller
    planning its reads (``evkit.analysis.buckets.reads_of``): ``session_costs`` collects inside, so its
    own plan does not show them, and with no session it reads nothing at all."""
    home = _home_power(lf)
    found = [_readings(lf, _ids.SESSION_ENERGY), _readings(lf, _ids.TOTAL_POWER)]
    return found if home is None else [*found, home]


#: Power of home chargers in MQTT recordings (W): evcc loadpoints and go-e (``evkit.analysis.home``).
HOME_POWER_KEYS = {"evcc": "chargePower", "go-e": "nrg.power_total"}


def _home_power(lf: pl.LazyFrame) -> pl.LazyFrame | None:
    if not {"source", "device_id", "key", "received_at"} <= set(lf.collect_schema().names()):
        return None
    wanted = pl.any_horizontal(
        *[(pl.col("source") == src) & (pl.col("key") == key) for src, key in HOME_POWER_KEYS.items()]
    )
    return lf.filter(wanted).select(
        pl.col("device_id").alias("charger_id"),
        pl.col("received_at").alias("observed_at"),
        divided(pl.col("value"), 1000.0).alias("value"),
    )


def _attach(readings: pl.LazyFrame, sess: pl.LazyFrame, sources: list[str]) -> pl.LazyFrame:
    """``readings`` attached to the session (of ``sources``) of their charger that started last before."""
    starts = sess.filter(pl.col("source").is_in(sources)).sort("started_at")
    # only the chargers that have such sessions (a cheap semi-join before the sort of many rows)
    chargers = starts.select("charger_id").unique()
    readings = (
        readings.filter(pl.col("value").is_not_null())
        .join(chargers, on="charger_id", how="semi")
        .sort("observed_at")
    )
    joined = readings.join_asof(
        starts,
        left_on="observed_at",
        right_on="started_at",
        by="charger_id",
        strategy="backward",
        check_sortedness=False,
    )
    return joined.filter(
        pl.col("session_id").is_not_null()
        & (pl.col("next_start").is_null() | (pl.col("observed_at") < pl.col("next_start")))
    ).sort("session_id", "observed_at")


def _counter_segments(lf: pl.LazyFrame, sess: pl.LazyFrame) -> pl.LazyFrame:
    rows = _assigned(lf, _ids.SESSION_ENERGY, sess).filter(pl.col("value") > 0)
    by = "session_id"
    # The charger keeps showing the last session's count after unplug and at the next plug-in, until
    # charging starts: leading readings equal to the last reading before the session are that stale
    # value, not this session's energy (even when too small for the restart rule below).
    rows = rows.with_columns(
        pl.col("value").shift(1).over("charger_id", order_by="observed_at").alias("__before")
    )
    carry = pl.col("__before").first().over(by)  # the charger's last reading before this session's first
    fresh = (pl.col("value") != carry).fill_null(True).cast(pl.Int8).cum_max().over(by) > 0
    rows = rows.filter(fresh)
    prev = pl.col("value").shift(1).over(by)
    rows = rows.with_columns(
        # a restart of the count: less than half the previous reading (a small dip is a glitch)
        (pl.col("value") < RESTART_FRACTION * prev)
        .fill_null(False)
        .cast(pl.Int32)
        .cum_sum()
        .over(by)
        .alias("__run"),
        pl.col("observed_at").shift(1).over(by).alias("__prev_at"),
    )
    # only the readings after the counter's last restart belong to this session's count
    rows = rows.filter(pl.col("__run") == pl.col("__run").max().over(by))
    # increments of the running maximum: a glitch (a dip and back) adds nothing
    rows = rows.with_columns(pl.col("value").cum_max().over(by).alias("__max"))
    prev_kept = pl.col("__max").shift(1).over(by)
    end = pl.coalesce("ended_at", "observed_at")
    t1 = pl.min_horizontal("observed_at", end)
    t0 = pl.min_horizontal(pl.coalesce("__prev_at", "started_at"), t1)
    return rows.select(
        by,
        t0.alias("t0"),
        t1.alias("t1"),
        (pl.col("__max") - prev_kept.fill_null(0.0)).alias("kwh"),
    ).filter(pl.col("kwh") > 0)


def _power_segments(lf: pl.LazyFrame, sess: pl.LazyFrame) -> pl.LazyFrame:
    rows = _assigned(lf, _ids.TOTAL_POWER, sess)
    home = _home_power(lf)
    if home is not None:
        rows = pl.concat([rows, _attach(home, sess, list(HOME_POWER_KEYS))], how="vertical_relaxed")
    rows = rows.filter(pl.col("ended_at").is_null() | (pl.col("observed_at") <= pl.col("ended_at")))
    until = pl.col("observed_at").shift(-1).over("session_id").fill_null(pl.col("ended_at"))
    rows = rows.with_columns(until.alias("t1"))
    held = seconds(pl.col("t1") - pl.col("observed_at"))
    return rows.filter(
        pl.col("t1").is_not_null() & (held <= MAX_HOLD.total_seconds()) & (pl.col("value") > 0)
    ).select(
        "session_id", pl.col("observed_at").alias("t0"), "t1", (pl.col("value") * held / 3600.0).alias("kwh")
    )


def _profiles(lf: pl.LazyFrame | None, sess: pl.LazyFrame) -> pl.LazyFrame:
    """Profile segments of every session, by the first method that has data, with the method's name.

    Each method's segments are computed once (collected), and the next method only looks at the
    sessions still without a profile: on a fleet nearly every Easee session has its counter, so the
    power readings (most of the rows) of chargers whose sessions are all covered are never sorted.
    """
    found: list[pl.DataFrame] = []
    todo = sess
    if lf is not None:
        counter = (
            _counter_segments(lf, todo).with_columns(pl.lit("session_counter").alias("profile")).collect()
        )
        found.append(counter)
        todo = todo.join(counter.lazy().select("session_id").unique(), on="session_id", how="anti")
        power = _power_segments(lf, todo).with_columns(pl.lit("power").alias("profile")).collect()
        found.append(power)
        todo = todo.join(power.lazy().select("session_id").unique(), on="session_id", how="anti")
    rest = todo.select(
        "session_id",
        pl.col("started_at").alias("t0"),
        pl.coalesce("ended_at", "started_at").alias("t1"),
        pl.lit(1.0).alias("kwh"),
        pl.lit("uniform").alias("profile"),
    )
    return pl.concat([*(f.lazy() for f in found), rest], how="vertical_relaxed")


def _split(segments: pl.LazyFrame, tariff: Tariff) -> pl.LazyFrame:
    """Segments cut at the tariff's price changes: one row per (segment, tariff interval) overlap."""
    intervals = tariff.frame.lazy().with_row_index("idx").with_columns(pl.col("idx").cast(pl.Int64))
    keys = intervals.select("idx", "from").sort("from")
    one_us = timedelta(microseconds=1)
    seg = segments.with_row_index("seg").with_columns(
        pl.when(pl.col("t1") > pl.col("t0"))
        .then(pl.col("t1") - one_us)
        .otherwise(pl.col("t1"))
        .alias("__last")
    )
    seg = (
        seg.sort("t0")
        .join_asof(
            keys.rename({"idx": "i0", "from": "__f0"}), left_on="t0", right_on="__f0", strategy="backward"
        )
        .sort("__last")
        .join_asof(
            keys.rename({"idx": "i1", "from": "__f1"}), left_on="__last", right_on="__f1", strategy="backward"
        )
    )
    parts = seg.with_columns(pl.int_ranges("i0", pl.col("i1") + 1).alias("idx")).explode("idx")
    parts = parts.join(intervals, on="idx", how="left")
    length = seconds(pl.col("t1") - pl.col("t0"))
    inside = seconds(pl.min_horizontal("t1", pl.coalesce("to", "t1")) - pl.max_horizontal("t0", "from"))
    fraction = pl.when(length > 0).then(inside / length).otherwise(1.0)
    return parts.with_columns((pl.col("kwh") * fraction).alias("part_kwh"))


def _unseen_energy(segments: pl.LazyFrame, sess: pl.LazyFrame, tariff: Tariff) -> pl.LazyFrame:
    """Per session, the energy its readings do not account for and what its timing could change.

    A hole in the power readings, or a counter that is not the session's energy figure, leaves part
    of ``energy_kwh`` without a time; it is spread like the rest, but could have flowed at any price
    of the session's span: ``__unseen_bound`` = unseen kWh x (highest - lowest price of the span).
    """
    seen = (
        segments.filter(pl.col("profile") != "uniform")
        .group_by("session_id")
        .agg(steady_sum(pl.col("kwh")).alias("__seen_kwh"), pl.col("t1").max().alias("__last"))
    )
    span = sess.join(seen, on="session_id", how="inner").select(
        "session_id",
        pl.col("started_at").alias("t0"),
        pl.max_horizontal(pl.coalesce("ended_at", "__last"), "started_at").alias("t1"),
        pl.lit(1.0).alias("kwh"),
    )
    spread = (
        _split(span, tariff)
        .group_by("session_id")
        .agg((pl.col("price").max() - pl.col("price").min()).fill_null(0.0).alias("__range"))
    )
    unseen = (pl.col("energy_kwh") - pl.col("__seen_kwh")).clip(lower_bound=0.0)
    return (
        seen.join(sess.select("session_id", "energy_kwh"), on="session_id")
        .join(spread, on="session_id", how="left")
        .select(
            "session_id",
            "__seen_kwh",
            unseen.alias("__unseen_kwh"),
            (unseen * pl.col("__range").fill_null(0.0)).alias("__unseen_bound"),
        )
    )


def session_costs(
    sessions: pl.LazyFrame | pl.DataFrame, tariff: Tariff, lf: pl.LazyFrame | None = None
) -> pl.LazyFrame:
    """``sessions`` (``SESSION_SCHEMA``) with the ``COST_SCHEMA`` columns (see the module docstring).

    ``lf`` is the dataset the sessions came from (its counter and power readings shape each session's
    energy over time); without it every session is priced with the ``uniform`` profile. Sessions cut
    to a window carry ``NEXT_START`` (kept in the result): without it, the last session of a charger
    in the window would take the readings of the sessions after it.
    """
    # The sessions are few and used in several branches below: a lazy plan of them (``sessions(lf)``)
    # would be re-run in each, so it is collected once here.
    base = (sessions.collect() if isinstance(sessions, pl.LazyFrame) else sessions).lazy()
    sess = _session_frame(base)
    segments = _profiles(lf, sess)
    missing = _unseen_energy(segments, sess, tariff)
    total = steady_sum(pl.col("kwh")).over("session_id")
    segments = segments.with_columns(pl.col("kwh") / total, pl.col("profile"))
    energy = sess.select("session_id", "energy_kwh")
    parts = (
        _split(segments, tariff)
        .join(energy, on="session_id", how="left")
        .with_columns((pl.col("part_kwh") * pl.col("energy_kwh")).alias("e"))
    )
    per_segment = parts.group_by("session_id", "seg").agg(
        (
            (pl.col("price").max() - pl.col("price").min())
            * pl.col("kwh").first()
            * pl.col("energy_kwh").first()
        )
        .fill_null(0.0)
        .alias("bound")
    )
    priced = pl.col("price").is_not_null()
    per_session = parts.group_by("session_id").agg(
        steady_sum((pl.col("e") * pl.col("price")).filter(priced)).alias("__cost"),
        steady_sum(pl.col("e").filter(priced.not_() & (pl.col("e") > 0))).alias("__unpriced"),
        steady_sum(pl.col("e") * pl.col("co2")).alias("__co2"),
        steady_sum(pl.col("e").filter(pl.col("co2").is_null() & (pl.col("e") > 0))).alias("__no_co2"),
        pl.col("profile").first().alias("cost_profile"),
    )
    per_session = per_session.join(
        per_segment.group_by("session_id").agg(steady_sum(pl.col("bound")).alias("__straddle")),
        on="session_id",
        how="left",
    ).join(missing, on="session_id", how="left")
    per_session = per_session.with_columns(
        (pl.col("__straddle").fill_null(0.0) + pl.col("__unseen_bound").fill_null(0.0)).alias(
            "cost_error_bound"
        )
    )
    unpriced = pl.col("__unpriced") > EPSILON_KWH
    known = pl.col("energy_kwh").is_not_null()
    cost = pl.when(known & unpriced.not_()).then(pl.col("__cost"))
    note = (
        pl.when(known.not_())
        .then(pl.lit("no energy figure: no cost"))
        .when(unpriced)
        .then(
            pl.format(
                "{} kWh of {} kWh flowed when the tariff has no price: no cost",
                pl.col("__unpriced").round(3),
                pl.col("energy_kwh").round(3),
            )
        )
        .when(pl.col("cost_profile") == "uniform")
        .then(pl.lit("no counter or power readings: energy spread evenly from plug-in to unplug"))
        .when(pl.col("__unseen_kwh") > UNSEEN_NOTE_KWH)
        .then(
            pl.format(
                "the {} readings account for {} of {} kWh; the rest is spread like them "
                "(its timing is unknown: in the error bound)",
                pl.col("cost_profile").str.replace("_", " "),
                pl.col("__seen_kwh").round(3),
                pl.col("energy_kwh").round(3),
            )
        )
    )
    result = base.join(per_session, on="session_id", how="left").with_columns(
        cost.alias("cost"),
        pl.when(known & unpriced.not_() & (pl.col("energy_kwh") > 0))
        .then(pl.col("__cost") / pl.col("energy_kwh"))
        .alias("price_per_kwh"),
        pl.when(known & (pl.col("__no_co2") <= EPSILON_KWH)).then(pl.col("__co2")).alias("co2_g"),
        pl.when(known).then(pl.col("cost_error_bound")).alias("cost_error_bound"),
        note.alias("cost_note"),
    )
    columns = [*base.collect_schema().names()]
    columns = [c for c in columns if c not in COST_SCHEMA]
    return result.select(*columns, *[pl.col(n).cast(t) for n, t in COST_SCHEMA.items()]).sort(
        "charger_id", "started_at"
    )


__all__ = ["COST_SCHEMA", "MAX_HOLD", "NEXT_START", "readings_priced", "session_costs"]
