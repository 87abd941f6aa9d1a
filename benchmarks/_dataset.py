"""Benchmark datasets: a month of a simulated Easee fleet in both shapes users have, and what a
benchmarked capture wrote (row count and consume window).

Shapes:

- ``arrival``: what ``evkit capture`` writes: daily partitions (``date=YYYY-MM-DD``), rows in arrival
  order, ~1 % redelivered copies (flagged ``redelivered``) arriving 30 s after the original;
- ``sorted``: an export of the same month, the contract's required columns only, no copies, one file
  per block of chargers sorted by (charger_id, observed_at);
- ``compacted``: the arrival shape after ``evkit compact`` (one part a day sorted by charger and
  device time, small row groups with statistics).

Latencies are constant (0.9 s to the broker, 0.3 s more to the capture) unless ``varied``: then each
message draws its own, log-normal as network delays are (median 0.9 s and 0.3 s, a long tail of
seconds), so nearly every latency is distinct, as in a real fleet (``ensure(..., varied=True)``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from evkit.easee.catalog import OBSERVATIONS
from evkit.store.schema import EASEE_SCHEMA, REQUIRED_COLUMNS
from evkit.store.writer import PartWriter

#: Observation names by id (the capture names every id the catalog knows).
_NAMES = {obs_id: info.name for obs_id, info in OBSERVATIONS.items()}


def written_window(out: Path | str) -> tuple[int, datetime, datetime]:
    """(rows, first received_at, last received_at) of the dataset below ``out``."""
    frame = (
        pl.scan_parquet(f"{out}/**/*.parquet")
        .select(
            pl.len().alias("rows"),
            pl.col("received_at").min().alias("a"),
            pl.col("received_at").max().alias("b"),
        )
        .collect()
    )
    return int(frame["rows"][0]), frame["a"][0], frame["b"][0]


START = datetime(2026, 2, 1, tzinfo=UTC)
US_PER_MIN = 60_000_000


def _day_rows(
    rng: np.random.Generator, chargers: int, day: int, meters: np.ndarray, varied: bool = False
) -> pl.DataFrame:
    """One day of observations for every charger (numpy-vectorised; no per-row Python)."""
    day_us = int((START + timedelta(days=day)).timestamp() * 1e6)
    cid: list[np.ndarray] = []
    oid: list[np.ndarray] = []
    ts: list[np.ndarray] = []
    val: list[np.ndarray] = []

    def add(c: np.ndarray, obs: int, t: np.ndarray, v: np.ndarray) -> None:
        cid.append(c.astype(np.int32))
        oid.append(np.full(len(c), obs, dtype=np.int32))
        ts.append(t.astype(np.int64))
        val.append(v.astype(np.float64))

    ids = np.arange(chargers)
    # background telemetry: heartbeat (150) every 15 min, voltage (190) every 10 min, RSSI (132) hourly
    for obs, every, level in ((150, 15, 21.0), (190, 10, 231.0), (132, 60, -67.0)):
        slots = np.arange(0, 1440, every)
        c = np.repeat(ids, len(slots))
        t = day_us + np.tile(slots, chargers) * US_PER_MIN + rng.integers(0, 30_000_000, len(c))
        add(c, obs, t, level + rng.normal(0, 1, len(c)))

    # one session on ~70 % of charger-days: plug in, charge (maybe with a pause), unplug
    has = rng.random(chargers) < 0.7
    c_s = ids[has]
    n = len(c_s)
    plug = rng.integers(0, 1440 - 400, n)
    charge1 = rng.integers(30, 180, n)
    pause = np.where(rng.random(n) < 0.3, rng.integers(10, 60, n), 0)
    charge2 = np.where(pause > 0, rng.integers(10, 60, n), 0)
    power = rng.choice(np.array([3.7, 7.4, 11.0]), n)
    start_c = plug + 2
    end_c1 = start_c + charge1
    end_c2 = end_c1 + pause + charge2
    unplug = end_c2 + rng.integers(5, 60, n)
    paused = pause > 0
    everyone = np.ones(n, bool)
    for minute, mode, who in (
        (plug, 2, everyone),
        (start_c, 3, everyone),
        (end_c1, 4, everyone),
        (end_c1 + pause, 3, paused),
        (end_c2, 4, paused),
        (unplug, 1, everyone),
    ):
        add(c_s[who], 109, day_us + minute[who] * US_PER_MIN, np.full(who.sum(), mode))
    add(c_s, 110, day_us + start_c * US_PER_MIN, np.full(n, 30))
    # power every minute while charging, session counter every 5 minutes while connected
    for lo, hi in ((start_c, end_c1), (end_c1 + pause, end_c2)):
        lengths = np.maximum(hi - lo, 0)
        rep = np.repeat(np.arange(n), lengths)
        minute = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi, strict=True)])
        add(c_s[rep], 120, day_us + minute * US_PER_MIN + 1_000_000, power[rep])
    conn = unplug - plug
    rep = np.repeat(np.arange(n), conn // 5 + 1)
    minute = np.concatenate([np.arange(a, b + 1, 5) for a, b in zip(plug, unplug, strict=True)])
    charged_min = np.clip(minute - start_c[rep], 0, charge1[rep]) + np.clip(
        minute - (end_c1[rep] + pause[rep]), 0, charge2[rep]
    )
    counter = np.round(charged_min * power[rep] / 60.0, 3)
    counter[rng.random(len(counter)) < 0.01] = 0.0  # spurious zeros
    add(c_s[rep], 121, day_us + minute * US_PER_MIN + 2_000_000, counter)
    # lifetime meter on the hour: the day's opening reading plus what was charged before that hour
    hour_min = np.arange(24) * 60
    before = np.zeros((chargers, 24))
    before[c_s] = (
        (
            np.clip(hour_min[None, :] - start_c[:, None], 0, charge1[:, None])
            + np.clip(hour_min[None, :] - (end_c1 + pause)[:, None], 0, charge2[:, None])
        )
        * power[:, None]
        / 60.0
    )
    readings = meters[:, None] + before
    add(
        np.repeat(ids, 24),
        124,
        day_us + np.tile(hour_min, chargers) * US_PER_MIN + 3_000_000,
        readings.ravel(),
    )
    meters[c_s] += (charge1 + charge2) * power / 60.0

    frame = pl.DataFrame(
        {
            "cid": np.concatenate(cid),
            "observation_id": np.concatenate(oid),
            "t": np.concatenate(ts),
            "value": np.concatenate(val),
        }
    )
    if varied:  # drawn per message: a redelivered copy keeps its original's ArrivalTime
        frame = frame.with_columns(
            pl.Series("__broker", _log_normal_us(rng, frame.height, 0.9, 0.7)),
            pl.Series("__capture", _log_normal_us(rng, frame.height, 0.3, 0.9)),
        )
    # ~1 % redelivered copies, arriving 30 s after the original
    again = frame.sample(fraction=0.01, seed=day).with_columns(pl.lit(True).alias("redelivered"))
    frame = pl.concat([frame.with_columns(pl.lit(False).alias("redelivered")), again])
    observed = pl.from_epoch(pl.col("t"), time_unit="us").dt.replace_time_zone("UTC")
    delay = pl.when("redelivered").then(pl.duration(seconds=30)).otherwise(pl.duration(seconds=0))
    if varied:
        broker, capture = pl.duration(microseconds="__broker"), pl.duration(microseconds="__capture")
    else:
        broker, capture = pl.duration(milliseconds=900), pl.duration(milliseconds=300)
    arrival = observed + broker
    received = arrival + capture + delay
    frame = frame.select(
        received.alias("received_at"),
        arrival.alias("arrival_time"),
        observed.alias("observed_at"),
        pl.format("EH{}", pl.col("cid").cast(pl.String).str.zfill(6)).alias("charger_id"),
        "observation_id",
        # the catalog's name, as the capture writes it (null only for an id the catalog does not know)
        pl.col("observation_id")
        .replace_strict(_NAMES, default=None, return_dtype=pl.String)
        .alias("observation"),
        "value",
        pl.col("value").round(3).cast(pl.String).alias("value_text"),
        pl.lit("observation").alias("kind"),
        pl.format("EH{}.O.{}", pl.col("cid"), pl.col("observation_id")).alias("routing_key"),
        "redelivered",
        pl.format('{{"Timestamp":{},"Value":{}}}', pl.col("t"), pl.col("value").round(3))
        .cast(pl.Binary)
        .alias("raw"),
        pl.lit(None, pl.String).alias("error"),
    ).cast({k: v for k, v in EASEE_SCHEMA.items() if k in {"observation_id", "observation", "error"}})
    # a capture writes rows in the order they arrive
    return frame.sort("received_at")


def _log_normal_us(rng: np.random.Generator, n: int, median_s: float, sigma: float) -> np.ndarray:
    """``n`` log-normal delays in whole microseconds with this median (seconds) and spread."""
    return np.rint(rng.lognormal(np.log(median_s * 1e6), sigma, n)).astype(np.int64)


def generate(
    root: Path, chargers: int, days: int, seed: int = 42, *, silent_share: float = 0.0, varied: bool = False
) -> int:
    """Write the dataset; ``silent_share`` of the chargers lose 01:00-02:30 of every day (capture
    holes); ``varied``: latencies per message (module docstring)."""
    rng = np.random.default_rng(seed)
    writer = PartWriter(root, capture_id="bench")
    meters = rng.uniform(100, 5000, chargers)
    silent = [f"EH{i:06d}" for i in range(round(chargers * silent_share))]
    hour = pl.col("observed_at").dt.hour() + pl.col("observed_at").dt.minute() / 60
    hole = pl.col("charger_id").is_in(silent) & (hour >= 1) & (hour < 2.5)
    for day in range(days):
        frame = _day_rows(rng, chargers, day, meters, varied)
        writer.write(frame.filter(hole.not_()) if silent else frame)
    return writer.rows_written


def sort_by_charger(src: Path, dst: Path, per_file: int = 50) -> int:
    """Write ``src`` (arrival shape) as the sorted shape into ``dst``; returns rows written."""
    dst.mkdir(parents=True, exist_ok=True)
    lf = pl.scan_parquet(src / "**/*.parquet", hive_partitioning=False)
    lf = lf.filter(pl.col("redelivered").not_()).select(list(REQUIRED_COLUMNS))
    ids = lf.select(pl.col("charger_id").unique().sort()).collect()["charger_id"].to_list()
    rows = 0
    for n, first in enumerate(range(0, len(ids), per_file)):
        block = ids[first : first + per_file]
        part = lf.filter(pl.col("charger_id").is_in(block)).sort("charger_id", "observed_at").collect()
        part.write_parquet(dst / f"chargers-{n:04d}.parquet", compression="zstd", statistics=True)
        rows += part.height
    return rows


def compacted_copy(src: Path, dst: Path) -> None:
    """``src`` (arrival shape, one part a day) as a capture leaves it (two parts a day), then compacted."""
    from evkit.store.compact import compact

    for day in sorted(src.glob("date=*")):
        frame = pl.read_parquet(sorted(day.glob("*.parquet")), hive_partitioning=False)
        half = frame.height // 2
        for n, part in enumerate((frame.head(half), frame.tail(frame.height - half))):
            (dst / day.name).mkdir(parents=True, exist_ok=True)
            part.write_parquet(dst / day.name / f"part-bench-{n}.parquet", compression="zstd")
    compact(dst)


def ensure(
    root: Path, shape: str, chargers: int, days: int, *, silent_share: float = 0.0, varied: bool = False
) -> Path:
    """The dataset of ``shape`` below ``root`` (``root/arrival``, ``root/sorted``), generated when absent
    (``varied``: latencies per message, below ``root/varied``)."""
    if varied:
        root = root / "varied"
    arrival = root / "arrival"
    if not (arrival.exists() and any(arrival.rglob("*.parquet"))):
        generate(arrival, chargers, days, silent_share=silent_share, varied=varied)
    if shape == "arrival":
        return arrival
    if shape == "compacted":
        out = root / "compacted"
        if not (out.exists() and any(out.rglob("part-compacted-*.parquet"))):
            compacted_copy(arrival, out)
        return out
    out = root / "sorted"
    if not (out.exists() and any(out.glob("*.parquet"))):
        sort_by_charger(arrival, out)
    return out
