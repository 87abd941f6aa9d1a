"""A hostile observation frame (Easee schema) for report and quality tests: varied
latencies (lognormal, a few negative, a clock reset), ties in ``received_at``, out-of-order and
redelivered messages, rows without a charger, odd charger ids, nulls in values, several days crossing
a DST change. No two rows of a charger and observation id share a device time with different values
(which rows win then is not stable from run to run)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from evkit.store.schema import EASEE_SCHEMA

T0 = datetime(2026, 10, 24, 18, tzinfo=UTC)  # Europe's DST ends 2026-10-25 01:00 UTC


def hostile(
    seed: int = 1, chargers: int = 5, hours: int = 30, sort_received: bool = True, null_received: bool = False
) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    ids = [f"EH{n:06d}" for n in range(chargers - 2)] + ["x" * 90, "ÆØÅ <b>id</b>"]
    rows: list[dict[str, Any]] = []

    def add(
        charger: str | None,
        obs_id: int,
        observed: datetime,
        value: float | None,
        *,
        delay_s: float,
        capture_s: float,
        redelivered: bool = False,
    ) -> None:
        arrival = observed + timedelta(seconds=delay_s)
        received = arrival + timedelta(seconds=capture_s)
        received = received.replace(microsecond=(received.microsecond // 100_000) * 100_000)  # ties
        rows.append(
            {
                "received_at": received,
                "arrival_time": arrival,
                "observed_at": observed,
                "charger_id": charger,
                "observation_id": obs_id,
                "observation": None,
                "value": value,
                "value_text": None if value is None else str(value),
                "kind": "observation",
                "routing_key": f"{charger}.O.{obs_id}",
                "redelivered": redelivered,
                "raw": json.dumps({"id": obs_id, "value": value}).encode(),
                "error": None,
                "label": None,
                "data_type": "Double",
            }
        )

    for c, charger in enumerate(ids):
        minute = 0.0
        while minute < hours * 60:
            observed = T0 + timedelta(minutes=minute)
            delay = float(rng.lognormal(-1.0, 1.6))
            if rng.random() < 0.01:
                delay = -float(rng.lognormal(0, 1))  # device clock ahead
            if rng.random() < 0.001:
                delay = 56 * 365 * 86400.0  # a clock reset to 1970-ish
            capture = float(rng.lognormal(-3, 1))
            obs_id = int(rng.choice([120, 130, 132, 183, 184, 185, 109, 250, 124]))
            value: float | None = float(rng.integers(-90, 20))
            if obs_id == 109:
                value = float(rng.choice([1, 2, 3, 4, 5]))
            if obs_id == 250:
                value = float(rng.integers(0, 2))
            if rng.random() < 0.02:
                value = None
            add(charger, obs_id, observed, value, delay_s=delay, capture_s=capture)
            if rng.random() < 0.03:  # a redelivered copy, later
                add(
                    charger, obs_id, observed, value, delay_s=delay, capture_s=capture + 2.0, redelivered=True
                )
            if rng.random() < 0.03:  # an older value arriving late: out of order
                add(
                    charger,
                    obs_id,
                    observed - timedelta(minutes=3, milliseconds=-7),
                    value,
                    delay_s=delay + 200,
                    capture_s=capture,
                )
            if rng.random() < 0.01:
                add(None, obs_id, observed, value, delay_s=delay, capture_s=capture)
            minute += float(rng.choice([0.25, 0.5, 1.0, 2.0, 30.0], p=[0.3, 0.3, 0.3, 0.09, 0.01]))
        # a session for the power curve
        for m in range(60 + c, 180 + c):
            observed = T0 + timedelta(minutes=m, milliseconds=1)
            add(charger, 109, observed, 3.0 if m < 170 + c else 4.0, delay_s=0.3, capture_s=0.05)
            add(charger, 120, observed, 7.0 + c, delay_s=0.3, capture_s=0.05)
    frame = pl.DataFrame(rows, schema=EASEE_SCHEMA, strict=False)
    if sort_received:
        frame = frame.sort("received_at", maintain_order=True)
    if null_received:
        frame = frame.with_columns(
            pl.when(pl.int_range(pl.len()) % 97 == 5)
            .then(None)
            .otherwise(pl.col("received_at"))
            .alias("received_at")
        )
    return frame


if __name__ == "__main__":
    import sys

    hostile(int(sys.argv[2]) if len(sys.argv) > 2 else 1).write_parquet(sys.argv[1])
