"""Energy per hour and per day, and a monotonicity check of the lifetime meter.

Sources, in order of trust:

- ``lifetime_meter`` (124): the difference of two consecutive readings, spread over the hours between
  them by linear interpolation of the meter to the hour boundaries. Easee sends the meter about once an
  hour, but not on the hour: 2-10 minutes after it (easee_hass #174), at a session start (evcc #15556)
  and at other irregular times, so a reading cannot be assumed to close the hour before it (a step
  ending 09:20 holds 20 minutes of 09:00-10:00). Interpolation uses only the meter - the figure this
  source is about - and is exact for a constant power between two readings; weighting by the power
  readings (120) instead would need every power row per hour and fails where power is missing.
  Differences spanning more than ``MAX_METER_SPAN`` or across a reset or glitch are not used.
- ``energy_per_hour`` (122): Easee's own figure for the hour that just ended: it is stamped exactly on
  the full hour (evcc #10428), so a reading at 10:00:00 is the energy of 09:00-10:00.
- ``session_energy`` (121): increments of the session counter (zeros ignored; a drop is a new session).
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from evkit.analysis import _ids
from evkit.analysis._prep import observations, require
from evkit.analysis.exact import divided, exact_sum, seconds
from evkit.analysis.schema import ENERGY_SCHEMA

#: A meter reading this long after the previous one cannot be split into hours.
MAX_METER_SPAN = timedelta(minutes=90)
#: More than this average power between two readings is not a real charge (22 kW chargers, margin).
MAX_POWER_KW = 25.0
#: Readings further apart than this leave a hole in the meter's history.
METER_GAP = timedelta(hours=2)
#: A fall to below this fraction of the previous reading is a counter reset, not a glitch.
RESET_FRACTION = 0.1

_HALF_HOUR = timedelta(minutes=30)


def _readings(lf: pl.LazyFrame, obs_id: int) -> pl.LazyFrame:
    return (
        observations(lf, [obs_id])
        .filter(pl.col("value").is_not_null())
        .select("charger_id", "observed_at", "value")
        # two readings of one instant (a glitch) in one order, run after run: the steps are the same
        .sort("charger_id", "observed_at", "value")
    )


def lifetime_meter_check(
    lf: pl.LazyFrame, max_power_kw: float = MAX_POWER_KW, max_interval: timedelta = METER_GAP
) -> pl.LazyFrame:
    """Every lifetime-meter (124) reading with its step from the previous one and what is wrong.

    ``issue`` is null when the step is plausible, else ``reset`` (fell to near zero), ``decrease``
    (fell: a glitch), ``jump`` (rose faster than ``max_power_kw`` could charge) or ``gap`` (readings
    more than ``max_interval`` apart; informative, the step itself may be fine).
    """
    frame = _readings(require(lf), _ids.LIFETIME_ENERGY).rename({"value": "value_kwh"})
    frame = frame.with_columns(
        pl.col("value_kwh").shift(1).over("charger_id").alias("previous_kwh"),
        pl.col("observed_at").shift(1).over("charger_id").alias("previous_at"),
    ).with_columns(
        (pl.col("value_kwh") - pl.col("previous_kwh")).alias("delta_kwh"),
        seconds(pl.col("observed_at") - pl.col("previous_at")).alias("interval_s"),
    )
    implied_kw = pl.col("delta_kwh") / divided(pl.col("interval_s"), 3600.0)
    issue = (
        pl.when(pl.col("previous_kwh").is_null())
        .then(None)
        .when(pl.col("value_kwh") < RESET_FRACTION * pl.col("previous_kwh"))
        .then(pl.lit("reset"))
        .when(pl.col("delta_kwh") < 0)
        .then(pl.lit("decrease"))
        .when((pl.col("interval_s") > 0) & (implied_kw > max_power_kw))
        .then(pl.lit("jump"))
        .when(pl.col("interval_s") > max_interval.total_seconds())
        .then(pl.lit("gap"))
        .otherwise(None)
    )
    return frame.with_columns(
        pl.when(pl.col("interval_s") > 0).then(implied_kw).alias("implied_kw"), issue.alias("issue")
    )


def _closing_hour(ts: pl.Expr) -> pl.Expr:
    """The hour a reading taken near its end belongs to (10:00:40 -> 09:00)."""
    return (ts - _HALF_HOUR).dt.truncate("1h")


_ONE_US = timedelta(microseconds=1)


def _from_meter(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Meter steps spread over the hours they span, in proportion to the time in each hour."""
    steps = lifetime_meter_check(lf).filter(
        pl.col("delta_kwh").is_not_null()
        & (pl.col("issue").is_null() | (pl.col("issue") == "gap"))
        & (pl.col("interval_s") <= MAX_METER_SPAN.total_seconds())
    )
    start, end = pl.col("previous_at"), pl.col("observed_at")
    # every hour the step (start, end] touches: at most three (steps are <= MAX_METER_SPAN)
    first = start.dt.truncate("1h")
    hours = pl.datetime_ranges(
        first, pl.max_horizontal(first, (end - _ONE_US).dt.truncate("1h")), interval="1h", time_unit="us"
    )
    spread = (
        steps.select(
            "charger_id", "previous_at", "observed_at", "delta_kwh", "interval_s", hours.alias("hour")
        )
        .explode("hour")
        .with_columns(pl.col("hour").dt.replace_time_zone("UTC"))
    )
    hour = pl.col("hour")
    overlap = seconds(pl.min_horizontal(end, hour + timedelta(hours=1)) - pl.max_horizontal(start, hour))
    share = (
        pl.when(pl.col("interval_s") > 0)
        .then(pl.col("delta_kwh") * overlap / pl.col("interval_s"))
        .otherwise(pl.col("delta_kwh"))  # two readings at one instant: the step is that hour's
    )
    return spread.group_by("charger_id", "hour").agg(exact_sum(share).alias("energy_lifetime_kwh"))


def _from_per_hour(lf: pl.LazyFrame) -> pl.LazyFrame:
    return (
        _readings(lf, _ids.ENERGY_PER_HOUR)
        .group_by("charger_id", _closing_hour(pl.col("observed_at")).alias("hour"))
        .agg(pl.col("value").max().alias("energy_per_hour_kwh"))
    )


def _from_counter(lf: pl.LazyFrame) -> pl.LazyFrame:
    value = pl.col("value")
    counter = _readings(lf, _ids.SESSION_ENERGY).with_columns(
        # the charger's very first reading has no known start: only what follows counts
        value.shift(1).over("charger_id").is_null().alias("first"),
        pl.when(value > 0).then(value).shift(1).forward_fill().over("charger_id").alias("prev"),
    )
    step = (
        pl.when(pl.col("prev").is_null() | (value < pl.col("prev")))
        .then(value)
        .otherwise(value - pl.col("prev"))
    )
    hour = (pl.col("observed_at") - timedelta(microseconds=1)).dt.truncate("1h")
    return (
        counter.filter((value > 0) & pl.col("first").not_())
        .group_by("charger_id", hour.alias("hour"))
        .agg(exact_sum(step).alias("energy_session_kwh"))
    )


def energy_per_hour(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Energy per charger and UTC hour in ``ENERGY_SCHEMA``; ``source`` names the figure used."""
    lf = require(lf)
    key = ["charger_id", "hour"]
    frame = (
        _from_meter(lf)
        .join(_from_per_hour(lf), on=key, how="full", coalesce=True)
        .join(_from_counter(lf), on=key, how="full", coalesce=True)
    )
    lt, ph, se = pl.col("energy_lifetime_kwh"), pl.col("energy_per_hour_kwh"), pl.col("energy_session_kwh")
    source = (
        pl.when(lt.is_not_null())
        .then(pl.lit("lifetime_meter"))
        .when(ph.is_not_null())
        .then(pl.lit("energy_per_hour"))
        .when(se.is_not_null())
        .then(pl.lit("session_energy"))
    )
    frame = frame.with_columns(pl.coalesce(lt, ph, se).alias("energy_kwh"), source.alias("source"))
    return frame.select([pl.col(n).cast(t) for n, t in ENERGY_SCHEMA.items()]).sort(key)


def energy_per_day(lf: pl.LazyFrame, zone: str = "UTC") -> pl.LazyFrame:
    """Energy per charger and day: the hourly figures summed; ``source`` lists the sources used.

    Days are ``zone``'s (default UTC): an hour belongs to the local date it starts on, so a day has
    23 or 25 hours across a daylight-saving change. Zones whose offset is not whole hours split no hour.
    """
    hourly = energy_per_hour(lf)
    hour = pl.col("hour") if zone == "UTC" else pl.col("hour").dt.convert_time_zone(zone)
    return (
        hourly.group_by("charger_id", hour.dt.date().alias("day"))
        .agg(
            exact_sum(pl.col("energy_kwh")),
            pl.col("source").unique().sort().str.join("+").alias("source"),
            pl.len().alias("hours"),
            exact_sum(pl.col("energy_lifetime_kwh")),
            exact_sum(pl.col("energy_per_hour_kwh")),
            exact_sum(pl.col("energy_session_kwh")),
        )
        .sort("charger_id", "day")
    )


__all__ = ["energy_per_day", "energy_per_hour", "lifetime_meter_check"]
