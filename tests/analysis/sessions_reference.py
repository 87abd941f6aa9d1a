"""The sessioniser as it was before issue 11's second speed pass (commit 962fbac), kept as the reference
the faster one must agree with (tests/analysis/test_sessions_equivalence.py). Not used by evkit."""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from evkit.analysis import _ids
from evkit.analysis._prep import columns_of, easee_rows, require
from evkit.analysis._timeline import DEFAULT_GAP, spans_and_gaps
from evkit.analysis.exact import seconds
from evkit.analysis.schema import SESSION_SCHEMA

#: Two energy estimates agree when they differ by at most this fraction of the larger ...
REL_TOLERANCE = 0.03
#: ... or by at most this many kWh (meter resolution, the last partial reading).
ABS_TOLERANCE_KWH = 0.1

_IDS = (
    _ids.OP_MODE,
    _ids.OUTPUT_PHASE,
    _ids.TOTAL_POWER,
    _ids.SESSION_ENERGY,
    _ids.LIFETIME_ENERGY,
    _ids.USER_ID_TOKEN,
    _ids.USER_ID_TOKEN_REVERSED,
)

_KEY = ["charger_id", "seq"]


def _op_modes(obs: pl.LazyFrame) -> pl.LazyFrame:
    """Op-mode rows with the session each belongs to (``seq``, null between sessions)."""
    op = (
        obs.filter(
            (pl.col("observation_id") == _ids.OP_MODE)
            & pl.col("value").is_not_null()
            & (pl.col("value") != _ids.OFFLINE)
        )
        .select("charger_id", pl.col("observed_at").alias("ts"), pl.col("value").cast(pl.Int32).alias("mode"))
        .sort("charger_id", "ts")
    )
    connected = pl.col("mode") != _ids.DISCONNECTED
    prev = pl.col("connected").shift(1).over("charger_id")
    op = op.with_columns(connected.alias("connected")).with_columns(
        (pl.col("connected") & prev.fill_null(False).not_()).alias("start"),
        (pl.col("connected").not_() & prev.fill_null(False)).alias("end"),
        prev.is_null().alias("first"),
        pl.col("ts").shift(-1).over("charger_id").alias("next_ts"),
    )
    seq = pl.col("start").cast(pl.Int32).cum_sum().over("charger_id")
    return op.with_columns(
        pl.when(pl.col("connected") | pl.col("end")).then(seq).otherwise(None).alias("seq")
    ).filter(pl.col("seq").is_not_null() & (pl.col("seq") > 0))


def _boundaries(op: pl.LazyFrame, last_seen: pl.LazyFrame) -> pl.LazyFrame:
    """One row per session: start, end, first charge, time charging, and the neighbours' times."""
    op = op.join(last_seen, on="charger_id", how="left")
    charging = pl.col("connected") & (pl.col("mode") == _ids.CHARGING)
    held = pl.col("next_ts").fill_null(pl.col("last_seen")) - pl.col("ts")
    sess = (
        op.group_by(_KEY)
        .agg(
            pl.col("ts").filter(pl.col("start")).min().alias("started_at"),
            pl.col("ts").filter(pl.col("end")).min().alias("ended_at"),
            pl.col("first").filter(pl.col("start")).first().alias("started_mid_session"),
            pl.col("ts").filter(charging).min().alias("first_charge_at"),
            seconds(held.filter(charging).sum()).alias("charge_duration_s"),
            pl.col("last_seen").first(),
        )
        .sort("charger_id", "started_at")
    )
    return sess.with_columns(
        pl.col("started_at").shift(-1).over("charger_id").alias("next_start"),
        pl.col("ended_at").shift(1).over("charger_id").alias("prev_end"),
    )


def _assign(rows: pl.LazyFrame, sess: pl.LazyFrame) -> pl.LazyFrame:
    """Attach every row to the session of its charger that started last before it (``inside`` when
    the row is not after the session's end); rows before a charger's first session are dropped."""
    starts = sess.select(
        *_KEY, "started_at", "ended_at", "first_charge_at", "started_mid_session", "last_seen"
    ).sort("started_at")
    joined = rows.sort("observed_at").join_asof(
        starts,
        left_on="observed_at",
        right_on="started_at",
        by="charger_id",
        strategy="backward",
        check_sortedness=False,
    )
    return joined.filter(pl.col("seq").is_not_null()).with_columns(
        (pl.col("ended_at").is_null() | (pl.col("observed_at") <= pl.col("ended_at"))).alias("inside")
    )


def _power_figures(obs: pl.LazyFrame, sess: pl.LazyFrame, holes: pl.LazyFrame) -> pl.LazyFrame:
    """Power integral, peak power and whether a hole in the data interrupted the power readings.

    Power (120) is most of the rows: they travel through the sort and joins with only the three
    columns they need, apart from the few other rows and their text columns.
    """
    power = obs.filter((pl.col("observation_id") == _ids.TOTAL_POWER) & pl.col("value").is_not_null())
    power_rows = (
        _assign(power.select("charger_id", "observed_at", "value"), sess)
        .filter(pl.col("inside"))
        .select(*_KEY, "observed_at", "value", "ended_at", "last_seen")
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
    at = pl.col("observed_at")
    until = at.shift(-1).over(_KEY).fill_null(pl.coalesce("ended_at", "last_seen"))
    in_hole = pl.col("gap_start").is_not_null() & (pl.col("gap_start") < until)
    kwh = pl.when(in_hole.not_()).then(pl.col("value") * seconds(until - at) / 3600.0)
    return (
        power_rows.with_columns(kwh.alias("__kwh"), in_hole.alias("__in_hole"))
        .group_by(_KEY)
        .agg(
            pl.col("__kwh").sum().alias("energy_integral_kwh"),
            pl.col("value").max().alias("peak_power_kw"),
            pl.col("__in_hole").any().alias("power_hole"),
        )
    )


def _other_figures(obs: pl.LazyFrame, sess: pl.LazyFrame) -> pl.LazyFrame:
    """Counter, meter, phase, token and offline figures per session (a few rows per session)."""
    obs_id = pl.col("observation_id")
    others = obs.filter(
        (obs_id != _ids.TOTAL_POWER) & ((obs_id != _ids.OP_MODE) | (pl.col("value") == _ids.OFFLINE))
    )
    rows = _assign(others, sess)
    # A stale counter from the previous session can linger until charging starts; zeros are spurious.
    counter_from = (
        pl.when(pl.col("started_mid_session")).then(pl.col("started_at")).otherwise(pl.col("first_charge_at"))
    )
    counter = (
        (obs_id == _ids.SESSION_ENERGY)
        & pl.col("value").is_not_null()
        & (pl.col("value") > 0)
        & (pl.col("observed_at") >= counter_from)
    )
    meter = (obs_id == _ids.LIFETIME_ENERGY) & pl.col("value").is_not_null()
    phase = (obs_id == _ids.OUTPUT_PHASE) & pl.col("inside") & (pl.col("value") > 0)
    token = (obs_id == _ids.USER_ID_TOKEN) & (pl.col("value_text").str.len_chars() > 0)
    token_rev = (obs_id == _ids.USER_ID_TOKEN_REVERSED) & (pl.col("value_text").str.len_chars() > 0)
    offline = (obs_id == _ids.OP_MODE) & pl.col("inside")
    # Rows are in device-time order within a group, so "last" and "first" are the latest and earliest.
    return rows.group_by(_KEY).agg(
        pl.col("value").filter(counter).last().alias("counter_last"),
        (obs_id == _ids.SESSION_ENERGY).any().alias("has_counter"),
        pl.col("value").filter(meter).last().alias("meter_stop_kwh"),
        pl.col("observed_at").filter(meter).max().alias("meter_stop_at"),
        (pl.col("value").filter(phase) // 10).max().cast(pl.Int8).alias("phases_inside"),
        pl.col("value_text").filter(token).first().alias("token"),
        pl.col("token_reversed").filter(token_rev).first().alias("token_rev"),
        offline.any().alias("went_offline"),
    )


def _per_session(obs: pl.LazyFrame, sess: pl.LazyFrame, holes: pl.LazyFrame) -> pl.LazyFrame:
    """Power, counter, meter, phase, token and offline figures per session."""
    return _other_figures(obs, sess).join(
        _power_figures(obs, sess, holes), on=_KEY, how="full", coalesce=True
    )


def _before(obs: pl.LazyFrame, sess: pl.LazyFrame, obs_id: int, at: pl.Expr, name: str) -> pl.LazyFrame:
    """The last ``obs_id`` reading at or before ``at`` of each session (value and time)."""
    readings = (
        obs.filter((pl.col("observation_id") == obs_id) & pl.col("value").is_not_null())
        .select("charger_id", pl.col("observed_at").alias(f"{name}_at"), pl.col("value").alias(name))
        .sort(f"{name}_at")
    )
    anchors = sess.select(*_KEY, at.alias("__at")).filter(pl.col("__at").is_not_null()).sort("__at")
    return anchors.join_asof(
        readings,
        left_on="__at",
        right_on=f"{name}_at",
        by="charger_id",
        strategy="backward",
        check_sortedness=False,
    ).drop("__at")


def _close(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    diff = (a - b).abs()
    return (diff <= ABS_TOLERANCE_KWH) | (diff <= REL_TOLERANCE * pl.max_horizontal(a.abs(), b.abs()))


def _fmt(expr: pl.Expr) -> pl.Expr:
    return expr.round(3).cast(pl.String)


def _choose_energy(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Pick ``energy_kwh`` and say why (see the module docstring)."""
    s, lt, i = pl.col("energy_session_kwh"), pl.col("energy_lifetime_kwh"), pl.col("energy_integral_kwh")
    whole = pl.col("started_mid_session").not_()
    disagree = s.is_not_null() & lt.is_not_null() & _close(s, lt).not_() & whole
    # the integral can only cross-check when no hole in the data interrupted it
    arbiter = i.is_not_null() & pl.col("power_hole").fill_null(False).not_()
    # The counter is out-voted only when both independent estimates agree with each other and not
    # with it (it missed its last updates): two witnesses against one.
    outvoted = disagree & arbiter & _close(lt, i) & _close(s, i).not_()
    source = (
        pl.when(outvoted)
        .then(pl.lit("lifetime_meter"))
        .when(s.is_not_null())
        .then(pl.lit("session_energy"))
        .when(lt.is_not_null())
        .then(pl.lit("lifetime_meter"))
        .when(i.is_not_null())
        .then(pl.lit("power_integral"))
        .otherwise(None)
    )
    pair = pl.concat_str(
        pl.lit("session counter "),
        _fmt(s),
        pl.lit(" kWh and lifetime meter "),
        _fmt(lt),
        pl.lit(" kWh disagree"),
    )
    integral = pl.concat_str(pl.lit("; power integral "), _fmt(i), pl.lit(" kWh"))
    note = (
        pl.when(outvoted)
        .then(
            pl.concat_str(
                pair,
                integral,
                pl.lit(" agrees with the lifetime meter: the counter missed updates, the meter is used"),
            )
        )
        .when(disagree & arbiter)
        .then(
            pl.concat_str(
                pair,
                integral,
                pl.when(_close(s, i))
                .then(pl.lit(" agrees with the session counter: the counter is kept"))
                .otherwise(pl.lit(" agrees with neither: the counter is kept")),
            )
        )
        .when(disagree)
        .then(
            pl.concat_str(
                pair,
                pl.lit("; no complete power data to cross-check, the counter is kept (the meter is hourly)"),
            )
        )
        .when(s.is_null() & lt.is_not_null())
        .then(pl.lit("no session counter (121) in the data"))
        .when(s.is_null() & arbiter)
        .then(pl.lit("no session counter (121) nor lifetime meter (124) around the session"))
        .when(s.is_null() & i.is_not_null())
        .then(pl.lit("only the power integral, and it spans a hole in the data: a lower bound"))
        .when(s.is_not_null() & lt.is_null() & arbiter & _close(s, i).not_())
        .then(
            pl.concat_str(
                pl.lit("session counter "),
                _fmt(s),
                pl.lit(" kWh vs power integral "),
                _fmt(i),
                pl.lit(" kWh (no meter to confirm); the counter is kept"),
            )
        )
        .otherwise(None)
    )
    value = (
        pl.when(source == "session_energy")
        .then(s)
        .when(source == "lifetime_meter")
        .then(lt)
        .when(source == "power_integral")
        .then(i)
        .otherwise(None)
    )
    return frame.with_columns(
        source.alias("energy_source"), note.alias("energy_note"), value.alias("energy_kwh")
    )


def easee_sessions(lf: pl.LazyFrame, gap: timedelta = DEFAULT_GAP) -> pl.LazyFrame:
    """Sessions of the Easee rows of ``lf`` (see the module docstring), in ``SESSION_SCHEMA``."""
    require(lf)
    extra = ["value_reversed"] if "value_reversed" in columns_of(lf) else []
    # every row is needed for the silences, only a few ids for the rest: one projection serves both
    # (cached: the optimiser would otherwise push different filters into as many scans of the input,
    # each re-running whatever the input does, such as a deduplicating window over every row)
    token_ids = [_ids.USER_ID_TOKEN, _ids.USER_ID_TOKEN_REVERSED]
    text_if_token = pl.when(pl.col("observation_id").is_in(token_ids))
    # Charger ids are strings; inside, a 64-bit hash of them keys every sort, join and group (much
    # cheaper on millions of rows); the names come back at the end.
    base = (
        easee_rows(lf)
        .select(
            pl.col("charger_id").hash().alias("charger_id"),
            # the name itself is kept only on op-mode rows: enough to name every session's charger
            pl.when(pl.col("observation_id") == _ids.OP_MODE)
            .then(pl.col("charger_id"))
            .alias("charger_name"),
            "observation_id",
            "observed_at",
            "value",
            text_if_token.then(pl.col("value_text")).alias("value_text"),
            *[text_if_token.then(pl.col(c)).alias(c) for c in extra],
        )
        .cache()
    )
    names = (
        base.filter(pl.col("charger_name").is_not_null())
        .group_by(pl.col("charger_id").alias("charger_key"))
        .agg(pl.col("charger_name").first())
    )
    base = base.drop("charger_name")
    times = base.select("charger_id", "observed_at")
    # Exact duplicates (redeliveries) change none of the figures below (a repeated reading holds for
    # zero seconds, a repeated op mode is no transition), so no costly deduplication is needed.
    obs = base.filter(pl.col("observation_id").is_in(_IDS)).cache()
    reversed_expr = pl.col("value_reversed") if extra else pl.col("value_text").str.reverse()
    obs = obs.with_columns(reversed_expr.alias("token_reversed"))
    spans, all_holes = spans_and_gaps(times, gap)
    seen = spans.select("charger_id", "last_seen")
    sess = _boundaries(_op_modes(obs), seen).cache()
    figures = _per_session(obs, sess, all_holes)

    anchor = pl.coalesce("first_charge_at", "started_at")
    meter_start = _before(obs, sess, _ids.LIFETIME_ENERGY, anchor, "meter_start_kwh")
    phases_before = _before(obs, sess, _ids.OUTPUT_PHASE, pl.col("started_at"), "phase_before")

    holes = all_holes.join(sess.select(*_KEY, "started_at", "ended_at", "last_seen"), on="charger_id")
    holes = (
        holes.filter(
            (pl.col("gap_end") > pl.col("started_at"))
            & (pl.col("gap_start") < pl.coalesce("ended_at", "last_seen"))
        )
        .group_by(_KEY)
        .agg(pl.len().alias("holes"))
    )

    frame = (
        sess.join(figures, on=_KEY, how="left")
        .join(meter_start, on=_KEY, how="left")
        .join(phases_before, on=_KEY, how="left")
        .join(holes, on=_KEY, how="left")
    )
    # The meter reading before the session must postdate the previous session, and the one after must
    # postdate the unplug; otherwise the delta would include another session or miss the end.
    start_ok = pl.col("prev_end").is_null() | (pl.col("meter_start_kwh_at") >= pl.col("prev_end"))
    stop_ok = pl.col("ended_at").is_null() | (pl.col("meter_stop_at") >= pl.col("ended_at"))
    delta = pl.col("meter_stop_kwh") - pl.col("meter_start_kwh")
    whole = pl.col("ended_at").is_not_null() & pl.col("started_mid_session").not_()
    lifetime = pl.when(start_ok & stop_ok & (delta >= 0) & whole).then(delta)
    no_charge = pl.col("first_charge_at").is_null() & pl.col("started_mid_session").not_()
    counter = (
        pl.when(pl.col("counter_last").is_not_null())
        .then(pl.col("counter_last"))
        .when(no_charge | (pl.col("has_counter").fill_null(False) & pl.col("first_charge_at").is_null()))
        .then(pl.lit(0.0))
        .otherwise(None)
    )
    phase_before = pl.when(pl.col("phase_before") > 0).then(pl.col("phase_before") // 10)
    frame = frame.with_columns(
        counter.alias("energy_session_kwh"),
        lifetime.alias("energy_lifetime_kwh"),
        pl.col("energy_integral_kwh").alias("raw_integral_kwh"),
        pl.when(pl.col("started_mid_session"))
        .then(None)
        .otherwise(pl.col("energy_integral_kwh"))
        .alias("energy_integral_kwh"),
        pl.when(start_ok).then(pl.col("meter_start_kwh")).alias("meter_start_kwh"),
        pl.when(stop_ok & pl.col("ended_at").is_not_null())
        .then(pl.col("meter_stop_kwh"))
        .alias("meter_stop_kwh"),
        pl.coalesce(pl.col("phases_inside"), phase_before.cast(pl.Int8)).alias("phases"),
        pl.coalesce("token", "token_rev").alias("rfid_token"),
        seconds(pl.coalesce("ended_at", "last_seen") - pl.col("started_at")).alias("connected_duration_s"),
        pl.col("ended_at").is_not_null().alias("closed"),
        (pl.col("holes").fill_null(0).gt(0) | pl.col("went_offline").fill_null(False)).alias("gap"),
    )
    frame = frame.join(names, left_on="charger_id", right_on="charger_key", how="left").with_columns(
        pl.col("charger_name").alias("charger_id")
    )
    frame = _choose_energy(frame).with_columns(
        pl.col("charge_duration_s").fill_null(0.0),
        # data that starts mid-session only saw part of the charging: average what it saw
        pl.when(pl.col("charge_duration_s") > 0)
        .then(
            pl.when(pl.col("started_mid_session"))
            .then(pl.col("raw_integral_kwh"))
            .otherwise(pl.col("energy_kwh"))
            / (pl.col("charge_duration_s") / 3600.0)
        )
        .alias("mean_power_kw"),
        (pl.col("closed") & pl.col("started_mid_session").not_()).alias("complete"),
        pl.concat_str(
            pl.col("charger_id"), pl.lit("/"), pl.col("started_at").dt.strftime("%Y%m%dT%H%M%SZ")
        ).alias("session_id"),
        pl.lit("easee").alias("source"),
    )
    return frame.select([pl.col(name).cast(dtype) for name, dtype in SESSION_SCHEMA.items()]).sort(
        "charger_id", "started_at"
    )
