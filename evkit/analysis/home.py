"""Home-charger analysis on MQTT recordings: evcc and go-e sessions, evcc liveness, go-e command round trips.

Input is any dataset from ``evkit.scan`` whose MQTT rows carry ``source``, ``device_id`` and ``key``
(``evkit capture mqtt`` writes them). Every function is lazy and returns a ``pl.LazyFrame``.

Sessions (``SESSION_SCHEMA``, energies in kWh):

- **evcc** (per loadpoint, ``device_id`` like ``evcc/loadpoints/1``): a session opens when
  ``connected`` turns true and closes when it turns false. ``energy_session_kwh`` is the last
  ``sessionEnergy`` (Wh) inside the session; ``meter_start_kwh``/``meter_stop_kwh`` come from
  ``chargeTotalImport`` (kWh) and give ``energy_lifetime_kwh``; ``chargePower`` (W) is integrated
  for ``energy_integral_kwh`` and gives peak power; ``charging`` gives the charge duration;
  ``phasesActive`` the phases.
- **go-e** (per serial): ``car`` 2/3/4 (charging / waiting for car / complete) is connected, 1 (idle)
  is not; 0, 5 and null (unknown, error) neither open nor close a session. ``wh`` (Wh since plug-in,
  reset on unplug) gives the session counter (its maximum in the session), ``eto`` (Wh) the meter,
  ``nrg.power_total`` (W) the power integral, ``car == 2`` the charge duration, ``pnp`` the phases.

Energy is the session counter when there is one; if the meter disagrees beyond 3 % and 0.1 kWh
``energy_note`` says so and the power integral decides. A silence longer than ``gap`` inside a session
sets ``gap`` and is not integrated.
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from evkit.analysis.exact import divided, exact_sum, seconds
from evkit.analysis.schema import SESSION_SCHEMA

#: evcc publishes every ~30 s; this much silence inside a session is a hole in the data.
DEFAULT_HOME_GAP = timedelta(minutes=5)
#: Two energy estimates agree when they differ by at most this fraction of the larger, or ...
REL_TOLERANCE = 0.03
#: ... by at most this many kWh.
ABS_TOLERANCE_KWH = 0.1

_DEV = "device_id"


def _has_columns(lf: pl.LazyFrame, names: set[str]) -> bool:
    return names <= set(lf.collect_schema().names())


def _empty_sessions() -> pl.LazyFrame:
    return pl.LazyFrame(schema=SESSION_SCHEMA)


def _readings(lf: pl.LazyFrame, source: str, key: str, scale: float = 1.0) -> pl.LazyFrame:
    """``device_id, t, v`` of one key (deleted values and null values dropped), sorted."""
    return (
        lf.filter((pl.col("source") == source) & (pl.col("key") == key) & pl.col("value").is_not_null())
        .select(pl.col(_DEV), pl.col("received_at").alias("t"), (pl.col("value") * scale).alias("v"))
        .sort(_DEV, "t")
    )


def _state_sessions(states: pl.LazyFrame, last_seen: pl.LazyFrame) -> pl.LazyFrame:
    """Sessions from a ``device_id, t, connected`` (bool) timeline: one row per plug-in.

    Columns: device_id, started_at, ended_at (null while connected), started_mid_session, end_at
    (ended_at or the device's last message), next_start.
    """
    states = states.sort(_DEV, "t").with_columns(pl.col("connected").shift(1).over(_DEV).alias("prev"))
    changes = states.filter(pl.col("prev").is_null() | (pl.col("connected") != pl.col("prev")))
    starts = changes.filter(pl.col("connected")).select(
        _DEV, pl.col("t").alias("started_at"), pl.col("prev").is_null().alias("started_mid_session")
    )
    ends = changes.filter(pl.col("connected").not_() & pl.col("prev").is_not_null()).select(
        _DEV, pl.col("t").alias("ended_at")
    )
    sessions = starts.sort(_DEV, "started_at").join_asof(
        ends.sort(_DEV, "ended_at"),
        left_on="started_at",
        right_on="ended_at",
        by=_DEV,
        strategy="forward",
        check_sortedness=False,
    )
    return (
        sessions.join(last_seen, on=_DEV, how="left")
        .with_columns(
            pl.coalesce("ended_at", "last_seen").alias("end_at"),
            pl.col("started_at").shift(-1).over(_DEV, order_by="started_at").alias("next_start"),
        )
        .sort(_DEV, "started_at")
    )


def _assign(readings: pl.LazyFrame, sessions: pl.LazyFrame) -> pl.LazyFrame:
    """Readings inside a session, tagged with its ``started_at`` and ``end_at``."""
    keys = sessions.select(_DEV, "started_at", "end_at").sort(_DEV, "started_at")
    return (
        readings.sort(_DEV, "t")
        .join_asof(
            keys, left_on="t", right_on="started_at", by=_DEV, strategy="backward", check_sortedness=False
        )
        .filter(pl.col("started_at").is_not_null() & (pl.col("t") <= pl.col("end_at")))
    )


def _held(readings: pl.LazyFrame, sessions: pl.LazyFrame, gap: timedelta | None) -> pl.LazyFrame:
    """Each in-session reading with how long it held (until the next one or the session end, seconds).

    A hold longer than ``gap`` is a hole in the data: it counts 0 s. ``gap=None`` is for values
    published only on change (go-e ``car``), which legitimately hold for hours.
    """
    with_next = readings.sort(_DEV, "t").with_columns(pl.col("t").shift(-1).over(_DEV).alias("t_next"))
    inside = _assign(with_next, sessions)
    until = pl.min_horizontal(pl.coalesce("t_next", "end_at"), pl.col("end_at"))
    held_for = seconds(until - pl.col("t"))
    held = held_for.clip(0.0)
    if gap is not None:
        held = pl.when(held_for <= gap.total_seconds()).then(held).otherwise(0.0)
    return inside.with_columns(held.alias("held_s"))


def _silences(lf: pl.LazyFrame, source: str, sessions: pl.LazyFrame, gap: timedelta) -> pl.LazyFrame:
    """Per session: True when the device was silent longer than ``gap`` inside it."""
    times = (
        lf.filter(pl.col("source") == source)
        .select(_DEV, pl.col("received_at").alias("t"))
        .unique()
        .sort(_DEV, "t")
        .with_columns(pl.col("t").shift(-1).over(_DEV).alias("t_next"))
    )
    inside = _assign(times, sessions)
    silence = pl.min_horizontal(pl.coalesce("t_next", "end_at"), pl.col("end_at")) - pl.col("t")
    return inside.group_by(_DEV, "started_at").agg((silence > gap).any().alias("gap"))


def _session_frame(
    lf: pl.LazyFrame,
    *,
    source: str,
    states: pl.LazyFrame,
    charging: pl.LazyFrame,
    counter: pl.LazyFrame,
    counter_pick: str,
    meter: pl.LazyFrame,
    power_w: pl.LazyFrame,
    phases: pl.LazyFrame,
    gap: timedelta,
    charging_on_change: bool = False,
) -> pl.LazyFrame:
    last_seen = (
        lf.filter(pl.col("source") == source)
        .group_by(_DEV)
        .agg(pl.col("received_at").max().alias("last_seen"))
    )
    sessions = _state_sessions(states, last_seen)
    key = [_DEV, "started_at"]

    counter_in = _assign(counter, sessions).group_by(key)
    counter_agg = counter_in.agg(
        (pl.col("v").sort_by("t").last() if counter_pick == "last" else pl.col("v").max()).alias(
            "energy_session_kwh"
        )
    )
    power = (
        _held(power_w, sessions, gap)
        .group_by(key)
        .agg(
            exact_sum(divided(pl.col("v") * pl.col("held_s"), 3.6e6)).alias("energy_integral_kwh"),
            divided(pl.col("v").max(), 1000.0).alias("peak_power_kw"),
        )
    )
    charge = (
        _held(charging, sessions, None if charging_on_change else gap)
        .group_by(key)
        .agg(exact_sum(pl.col("held_s").filter(pl.col("v") > 0), places=6).alias("charge_duration_s"))
    )
    phase = _assign(phases, sessions).group_by(key).agg(pl.col("v").max().alias("phases"))
    meter_inside = (
        _assign(meter, sessions)
        .group_by(key)
        .agg(pl.col("v").min().alias("meter_first"), pl.col("v").max().alias("meter_stop_kwh"))
    )
    meter_before = (
        sessions.select(_DEV, "started_at")
        .sort(_DEV, "started_at")
        .join_asof(
            meter.sort(_DEV, "t").select(
                _DEV, pl.col("t").alias("t_meter"), pl.col("v").alias("meter_before")
            ),
            left_on="started_at",
            right_on="t_meter",
            by=_DEV,
            strategy="backward",
            check_sortedness=False,
        )
        .select(*key, "meter_before")
    )
    holes = _silences(lf, source, sessions, gap)

    frame = (
        sessions.join(counter_agg, on=key, how="left")
        .join(power, on=key, how="left")
        .join(charge, on=key, how="left")
        .join(phase, on=key, how="left")
        .join(meter_inside, on=key, how="left")
        .join(meter_before, on=key, how="left")
        .join(holes, on=key, how="left")
    )
    closed = pl.col("ended_at").is_not_null()
    whole = closed & pl.col("started_mid_session").not_()
    meter_start = pl.coalesce("meter_before", "meter_first")
    lifetime = pl.when(whole & (pl.col("meter_stop_kwh") >= meter_start)).then(
        pl.col("meter_stop_kwh") - meter_start
    )
    frame = frame.with_columns(
        meter_start.alias("meter_start_kwh"),
        pl.when(closed).then(pl.col("meter_stop_kwh")).alias("meter_stop_kwh"),
        lifetime.alias("energy_lifetime_kwh"),
        pl.when(pl.col("started_mid_session"))
        .then(None)
        .otherwise(pl.col("energy_integral_kwh"))
        .alias("energy_integral_kwh"),
        pl.col("charge_duration_s").fill_null(0.0),
        seconds(pl.col("end_at") - pl.col("started_at")).alias("connected_duration_s"),
        pl.col("gap").fill_null(False),
        (closed & pl.col("started_mid_session").not_()).alias("complete"),
    )
    counter_e, meter_e, integral_e = (
        pl.col("energy_session_kwh"),
        pl.col("energy_lifetime_kwh"),
        pl.col("energy_integral_kwh"),
    )

    def close(a: pl.Expr, b: pl.Expr) -> pl.Expr:
        diff = (a - b).abs()
        return (diff <= ABS_TOLERANCE_KWH) | (diff <= REL_TOLERANCE * pl.max_horizontal(a.abs(), b.abs()))

    disagree = counter_e.is_not_null() & meter_e.is_not_null() & close(counter_e, meter_e).not_()
    integral_side = (
        pl.when(integral_e.is_null())
        .then(pl.lit("session_energy"))
        .when(close(integral_e, meter_e) & close(integral_e, counter_e).not_())
        .then(pl.lit("lifetime_meter"))
        .otherwise(pl.lit("session_energy"))
    )
    energy_source = (
        pl.when(disagree)
        .then(integral_side)
        .when(counter_e.is_not_null())
        .then(pl.lit("session_energy"))
        .when(meter_e.is_not_null())
        .then(pl.lit("lifetime_meter"))
        .when(integral_e.is_not_null())
        .then(pl.lit("power_integral"))
    )
    note = pl.when(disagree).then(
        pl.format(
            "session counter {} kWh and meter {} kWh disagree; power integral {} kWh",
            counter_e.round(3),
            meter_e.round(3),
            integral_e.round(3),
        )
    )
    frame = frame.with_columns(energy_source.alias("energy_source"), note.alias("energy_note"))
    energy = (
        pl.when(pl.col("energy_source") == "session_energy")
        .then(counter_e)
        .when(pl.col("energy_source") == "lifetime_meter")
        .then(meter_e)
        .when(pl.col("energy_source") == "power_integral")
        .then(integral_e)
    )
    frame = frame.with_columns(energy.alias("energy_kwh")).with_columns(
        pl.when(pl.col("charge_duration_s") > 0)
        .then(pl.col("energy_kwh") / divided(pl.col("charge_duration_s"), 3600.0))
        .alias("mean_power_kw"),
        pl.col(_DEV).alias("charger_id"),
        pl.concat_str(pl.col(_DEV), pl.lit("/"), pl.col("started_at").dt.strftime("%Y%m%dT%H%M%SZ")).alias(
            "session_id"
        ),
        pl.lit(None, pl.String).alias("rfid_token"),
        pl.lit(source).alias("source"),
    )
    return frame.select([pl.col(n).cast(t) for n, t in SESSION_SCHEMA.items()]).sort(
        "charger_id", "started_at"
    )


def evcc_sessions(lf: pl.LazyFrame, gap: timedelta = DEFAULT_HOME_GAP) -> pl.LazyFrame:
    """Charging sessions of every evcc loadpoint in ``lf`` (see the module docs), in ``SESSION_SCHEMA``."""
    if not _has_columns(lf, {"source", _DEV, "key"}):
        return _empty_sessions()
    loadpoints = lf.filter(pl.col(_DEV).str.contains("/loadpoints/"))
    connected = _readings(loadpoints, "evcc", "connected").select(
        _DEV, "t", (pl.col("v") > 0).alias("connected")
    )
    return _session_frame(
        loadpoints,
        source="evcc",
        states=connected,
        charging=_readings(loadpoints, "evcc", "charging"),
        counter=_readings(loadpoints, "evcc", "sessionEnergy", 1e-3),
        counter_pick="max",
        meter=_readings(loadpoints, "evcc", "chargeTotalImport"),
        power_w=_readings(loadpoints, "evcc", "chargePower"),
        phases=_readings(loadpoints, "evcc", "phasesActive"),
        gap=gap,
    )


#: go-e ``car`` codes that mean a car is plugged in, and the one that means it is not.
GOE_CONNECTED = (2, 3, 4)
GOE_IDLE = 1
GOE_CHARGING = 2


def goe_sessions(lf: pl.LazyFrame, gap: timedelta = DEFAULT_HOME_GAP) -> pl.LazyFrame:
    """Charging sessions of every go-e charger in ``lf`` (see the module docs), in ``SESSION_SCHEMA``."""
    if not _has_columns(lf, {"source", _DEV, "key"}):
        return _empty_sessions()
    car = _readings(lf, "go-e", "car")
    known = car.filter(pl.col("v").is_in([float(c) for c in (*GOE_CONNECTED, GOE_IDLE)]))
    states = known.select(_DEV, "t", pl.col("v").is_in([float(c) for c in GOE_CONNECTED]).alias("connected"))
    charging = car.with_columns((pl.col("v") == GOE_CHARGING).cast(pl.Float64).alias("v"))
    return _session_frame(
        lf,
        source="go-e",
        states=states,
        charging=charging,
        counter=_readings(lf, "go-e", "wh", 1e-3),
        counter_pick="max",
        meter=_readings(lf, "go-e", "eto", 1e-3),
        power_w=_readings(lf, "go-e", "nrg.power_total"),
        phases=_readings(lf, "go-e", "pnp"),
        gap=gap,
        charging_on_change=True,
    )


def evcc_liveness(lf: pl.LazyFrame, stale_after: timedelta = timedelta(seconds=90)) -> pl.LazyFrame:
    """evcc's heartbeat (``<root>/updated``): one row per heartbeat received.

    Columns: ``device_id`` (the evcc root), ``received_at``, ``updated_at`` (evcc's clock),
    ``delay_s`` (our clock minus evcc's: publish delay plus clock skew), ``silence_s`` (time since the
    previous heartbeat, our clock) and ``stale`` (that silence exceeded ``stale_after``: evcc was quiet,
    stopped, or lost its broker). evcc publishes ``updated`` at most once a second while it publishes.
    """
    schema = {
        "device_id": pl.String(),
        "received_at": pl.Datetime("us", "UTC"),
        "updated_at": pl.Datetime("us", "UTC"),
        "delay_s": pl.Float64(),
        "silence_s": pl.Float64(),
        "stale": pl.Boolean(),
    }
    if not _has_columns(lf, {"source", _DEV, "key"}):
        return pl.LazyFrame(schema=schema)
    beats = (
        lf.filter((pl.col("source") == "evcc") & (pl.col("key") == "updated") & pl.col("value").is_not_null())
        .select(
            _DEV,
            "received_at",
            (pl.col("value") * 1e6).cast(pl.Int64).cast(pl.Datetime("us", "UTC")).alias("updated_at"),
        )
        .sort(_DEV, "received_at")
    )
    silence = seconds(pl.col("received_at") - pl.col("received_at").shift(1).over(_DEV))
    return (
        beats.with_columns(
            seconds(pl.col("received_at") - pl.col("updated_at")).alias("delay_s"),
            silence.alias("silence_s"),
        )
        .with_columns((pl.col("silence_s") > stale_after.total_seconds()).fill_null(False).alias("stale"))
        .select(list(schema))
    )


def evcc_liveness_summary(lf: pl.LazyFrame, stale_after: timedelta = timedelta(seconds=90)) -> pl.LazyFrame:
    """One row per evcc instance: ``heartbeats``, ``first_at``/``last_at`` (our clock),
    ``longest_silence_s``, ``stale_n`` (silences over ``stale_after``) and ``delay_median_s``."""
    return (
        evcc_liveness(lf, stale_after)
        .group_by(_DEV)
        .agg(
            pl.len().cast(pl.Int64).alias("heartbeats"),
            pl.col("received_at").min().alias("first_at"),
            pl.col("received_at").max().alias("last_at"),
            pl.col("silence_s").max().alias("longest_silence_s"),
            pl.col("stale").sum().cast(pl.Int64).alias("stale_n"),
            pl.col("delay_s").median().alias("delay_median_s"),
        )
        .sort(_DEV)
    )


def _command_topic(goe: pl.LazyFrame, suffix: str, *, at: str, text: str) -> pl.LazyFrame:
    """go-e ``<key><suffix>`` rows as (charger_id, key, ``at``, ``text``), sorted for as-of joins."""
    return (
        goe.filter(pl.col("key").str.ends_with(suffix))
        .select(
            pl.col(_DEV).alias("charger_id"),
            pl.col("key").str.strip_suffix(suffix).alias("key"),
            pl.col("received_at").alias(at),
            pl.col("value_text").alias(text),
        )
        .sort("charger_id", "key", at)
    )


def goe_command_roundtrips(lf: pl.LazyFrame, timeout: timedelta = timedelta(seconds=30)) -> pl.LazyFrame:
    """go-e commands seen on the wire (``<key>/set``) with the charger's answer (``<key>/result``).

    One row per set: ``charger_id``, ``key``, ``sent_at``, ``value_sent``, ``answered_at``, ``result``
    (``success`` or the charger's error text), ``success``, ``roundtrip_s`` (our clock, set to result),
    ``echo_at`` / ``echo_s`` (the state topic showing the sent value), and ``hop`` =
    ``"command_roundtrip"`` so it sits beside :func:`evkit.analysis.latency` rows. Unanswered sets
    (read-only charger, MQTT writes disabled) have null answer columns. Needs the capture to subscribe
    to the ``/set`` topics too (``go-eCharger/#`` does).
    """
    schema = {
        "charger_id": pl.String(),
        "key": pl.String(),
        "sent_at": pl.Datetime("us", "UTC"),
        "value_sent": pl.String(),
        "answered_at": pl.Datetime("us", "UTC"),
        "result": pl.String(),
        "success": pl.Boolean(),
        "roundtrip_s": pl.Float64(),
        "echo_at": pl.Datetime("us", "UTC"),
        "echo_s": pl.Float64(),
        "hop": pl.String(),
    }
    if not _has_columns(lf, {"source", _DEV, "key"}):
        return pl.LazyFrame(schema=schema)
    goe = lf.filter(pl.col("source") == "go-e")
    sets = _command_topic(goe, "/set", at="sent_at", text="value_sent")
    results = _command_topic(goe, "/result", at="answered_at", text="result")
    states = (
        goe.filter(pl.col("key").str.contains("/").not_())
        .select(
            pl.col(_DEV).alias("charger_id"),
            "key",
            pl.col("received_at").alias("echo_at"),
            pl.col("value_text").alias("value_sent"),
        )
        .sort("charger_id", "key", "echo_at")
    )
    paired = sets.join_asof(
        results,
        left_on="sent_at",
        right_on="answered_at",
        by=["charger_id", "key"],
        strategy="forward",
        tolerance=timeout,
        check_sortedness=False,
    ).join_asof(
        states,
        left_on="sent_at",
        right_on="echo_at",
        by=["charger_id", "key", "value_sent"],
        strategy="forward",
        tolerance=timeout,
        check_sortedness=False,
    )
    return paired.with_columns(
        (pl.col("result") == "success").alias("success"),
        seconds(pl.col("answered_at") - pl.col("sent_at")).alias("roundtrip_s"),
        seconds(pl.col("echo_at") - pl.col("sent_at")).alias("echo_s"),
        pl.lit("command_roundtrip").alias("hop"),
    ).select([pl.col(n).cast(t) for n, t in schema.items()])


__all__ = [
    "DEFAULT_HOME_GAP",
    "GOE_CONNECTED",
    "evcc_liveness",
    "evcc_liveness_summary",
    "evcc_sessions",
    "goe_command_roundtrips",
    "goe_sessions",
]
