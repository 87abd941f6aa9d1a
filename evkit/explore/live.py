"""What a live view shows while a recording runs, without widgets: new rows, last values, rolling power.

:class:`LiveFeed` follows a store that a capture is writing: each :meth:`LiveFeed.poll` reads only the
Parquet parts that appeared since the last one (a part is written once and never changed), keeps the
rows a live view needs (power, session energy, op mode / car state, decode errors) for a rolling
window, and the last value of each per charger for as long as the view runs. :class:`LiveController`
adds the capture's counters (messages per second since the last tick, last-message age, decode errors).

Which readings count, per source (each device's own names; evkit's decoders keep them):
Easee 109 op mode, 120 total power (kW), 121 session energy (kWh); evcc ``chargePower`` (W),
``sessionEnergy`` (Wh), ``charging``/``connected``; go-e ``nrg.power_total`` (W), ``wh`` (Wh), ``car``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl

from evkit.analysis import _ids
from evkit.analysis.exact import divided
from evkit.errors import DatasetError, first_line
from evkit.store.pages import relative_name
from evkit.store.parts import live_parts
from evkit.store.schema import REQUIRED_COLUMNS, contract_casts
from evkit.wording import words

#: Polls in a row a part still in the store must fail to read before the view says it cannot be read
#: (a part being replaced by a compaction fails once, then is gone).
UNREADABLE_AFTER = 3

#: Columns read from each new part (those a part lacks read as null).
COLUMNS = ("received_at", "observed_at", "charger_id", "observation_id", "value", "value_text", "label",
           "error", "source", "key")  # fmt: skip
#: The type of a column a part lacks: the contract's, else text.
_TYPES = {c: REQUIRED_COLUMNS.get(c, pl.String()) for c in COLUMNS}


def tag(rows: pl.DataFrame) -> pl.DataFrame:
    """The rows a live view uses: ``charger_id, received_at, observed_at, at, measure, number, text``
    (``at``: the device's time, or ours when the device sends none).

    ``measure``: ``power_kw``, ``session_kwh``, ``state`` (op mode / car state, as words in ``text``),
    ``charging``, ``connected`` (evcc); rows with a decode ``error`` become measure ``error``.
    """
    src, oid, key = pl.col("source"), pl.col("observation_id"), pl.col("key")
    easee = src.is_null() | (src == "easee")
    evcc, goe = src == "evcc", src == "go-e"
    measure = (
        pl.when(pl.col("error").is_not_null())
        .then(pl.lit("error"))
        .when(easee & (oid == _ids.TOTAL_POWER))
        .then(pl.lit("power_kw"))
        .when(easee & (oid == _ids.SESSION_ENERGY))
        .then(pl.lit("session_kwh"))
        .when(easee & (oid == _ids.OP_MODE))
        .then(pl.lit("state"))
        .when((evcc & (key == "chargePower")) | (goe & (key == "nrg.power_total")))
        .then(pl.lit("power_kw"))
        .when((evcc & (key == "sessionEnergy")) | (goe & (key == "wh")))
        .then(pl.lit("session_kwh"))
        .when(evcc & key.is_in(["charging", "connected"]))
        .then(key)
        .when(goe & (key == "car"))
        .then(pl.lit("state"))
    )
    watts = (evcc | goe) & pl.col("measure").is_in(["power_kw", "session_kwh"])
    return (
        rows.with_columns(measure.alias("measure"))
        .filter(pl.col("measure").is_not_null())
        .with_columns(
            pl.when(watts).then(divided(pl.col("value"), 1000.0)).otherwise(pl.col("value")).alias("number"),
            pl.coalesce(pl.col("label"), pl.col("value_text")).alias("text"),
            pl.coalesce(pl.col("observed_at"), pl.col("received_at")).alias("at"),  # evcc sends no stamp
        )
        .select("charger_id", "received_at", "observed_at", "at", "measure", "number", "text")
    )


def _state_words(text: str | None, number: float | None) -> str:
    if text:
        return words(text)
    return "–" if number is None else f"{number:g}"


def last_values(latest: pl.DataFrame, now: float | None = None) -> pl.DataFrame:
    """One row per charger: ``charger``, ``state``, ``power (kW)``, ``session (kWh)``, ``last seen``."""
    schema = {"charger": pl.String, "state": pl.String, "power (kW)": pl.Float64,
              "session (kWh)": pl.Float64, "last seen": pl.String}  # fmt: skip
    if latest.height == 0:
        return pl.DataFrame(schema=schema)
    now = time.time() if now is None else now
    rows = []
    for charger, part in latest.sort("charger_id").group_by("charger_id", maintain_order=True):
        got = {m: (n, t) for m, n, t in part.select("measure", "number", "text").iter_rows()}
        state = _state_words(got["state"][1], got["state"][0]) if "state" in got else "–"
        if "charging" in got or "connected" in got:  # evcc says it in two booleans
            charging = (got.get("charging") or (None, None))[0] == 1.0
            connected = (got.get("connected") or (None, None))[0] == 1.0
            state = "Charging" if charging else ("Car connected" if connected else "No car")
        seen = part["received_at"].max()
        age = now - seen.timestamp() if seen is not None else None  # type: ignore[union-attr]
        rows.append(
            {
                "charger": str(charger[0]),
                "state": state,
                "power (kW)": round(got["power_kw"][0], 2)
                if got.get("power_kw", (None,))[0] is not None
                else None,
                "session (kWh)": round(got["session_kwh"][0], 2)
                if got.get("session_kwh", (None,))[0] is not None
                else None,
                "last seen": "–" if age is None else f"{max(age, 0):,.0f} s ago",
            }
        )
    return pl.DataFrame(rows, schema=schema)


@dataclass
class LiveFeed:
    """Follows the store at ``store`` (see the module docs); ``window`` is the rolling chart's span."""

    store: Path
    window: timedelta = timedelta(minutes=15)
    rows: pl.DataFrame = field(default_factory=pl.DataFrame)
    latest: pl.DataFrame = field(default_factory=pl.DataFrame)
    errors_seen: int = 0
    _seen: set[Path] = field(default_factory=set)
    #: parts that failed to read, by path: (polls in a row, why the last one failed)
    _failing: dict[Path, tuple[int, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.store = Path(self.store)

    @property
    def unreadable(self) -> dict[Path, str]:
        """Parts still in the store that no read of the last ``UNREADABLE_AFTER`` polls could read (a
        damaged part, not one a compaction just removed): why, by path. Each poll tries them again."""
        return {path: why for path, (polls, why) in self._failing.items() if polls >= UNREADABLE_AFTER}

    def _read(self, path: Path) -> pl.DataFrame | None:
        try:
            present = pl.read_parquet_schema(path)
            frame = pl.read_parquet(path, columns=[c for c in COLUMNS if c in present])
        except (OSError, pl.exceptions.PolarsError, pl.exceptions.PanicException) as exc:
            # removed by a compaction meanwhile, or not finished: the next poll decides; one that
            # stays and still fails is damaged, and said so (``unreadable``). A damaged data page can
            # make Polars panic (a BaseException): caught too, or it would end the view's polling
            polls = self._failing.get(path, (0, ""))[0]
            self._failing[path] = (polls + 1, first_line(exc))
            return None
        self._failing.pop(path, None)
        missing = [pl.lit(None, dtype=_TYPES[c]).alias(c) for c in COLUMNS if c not in frame.columns]
        # a part another tool wrote: its times as the contract's (as ``evkit.scan`` reads them)
        frame = frame.with_columns(*contract_casts(frame.schema), *missing)
        return frame.select(COLUMNS)

    def poll(self) -> int:
        """Read the parts written since the last poll; returns how many new rows they held."""
        try:
            parts = live_parts(self.store) if self.store.is_dir() else []
        except (OSError, DatasetError):
            parts = []
        new = [p for p in parts if p not in self._seen]
        for gone in set(self._failing) - set(new):  # removed (a compaction): nothing to say
            del self._failing[gone]
        frames = []
        for path in new:
            frame = self._read(path)
            if frame is not None:
                self._seen.add(path)
                frames.append(frame)
        if not frames:
            return 0
        fresh = pl.concat(frames, how="vertical_relaxed")
        tagged = tag(fresh)
        self.errors_seen += tagged.filter(pl.col("measure") == "error").height
        useful = tagged.filter(pl.col("measure") != "error")
        combined = pl.concat([self.rows, useful], how="vertical_relaxed") if self.rows.height else useful
        newest = combined["received_at"].max()
        if newest is not None:
            combined = combined.filter(pl.col("received_at") >= newest - self.window)  # type: ignore[operator]
        self.rows = combined.unique(["charger_id", "measure", "at", "number"], maintain_order=True)
        everything = (
            pl.concat([self.latest, useful], how="vertical_relaxed") if self.latest.height else useful
        )
        self.latest = everything.sort("at").group_by("charger_id", "measure").last().select(useful.columns)
        return fresh.height

    def power(self) -> pl.DataFrame:
        """The rolling window's power readings: ``charger_id``, ``at``, ``power_kw``."""
        if self.rows.height == 0:
            return pl.DataFrame(schema={"charger_id": pl.String, "at": pl.Datetime("us", "UTC"),
                                        "power_kw": pl.Float64})  # fmt: skip
        return (
            self.rows.filter(pl.col("measure") == "power_kw")
            .select("charger_id", "at", pl.col("number").alias("power_kw"))
            .sort("charger_id", "at")
        )

    def lag_s(self) -> float | None:
        """Median seconds from the device's time to ours over the window (transport plus capture)."""
        if self.rows.height == 0:
            return None
        lag = divided((pl.col("received_at") - pl.col("observed_at")).dt.total_milliseconds(), 1000.0)
        value = self.rows.filter(pl.col("observed_at").is_not_null()).select(lag.median()).item()
        return None if value is None else float(value)


def _store_of(handle: Any) -> Path | None:
    capture = getattr(handle, "capture", handle)
    out = getattr(capture, "out", None) or getattr(getattr(capture, "settings", None), "out", None)
    return Path(out) if out is not None else None


@dataclass
class LiveSnapshot:
    """One tick of a live view."""

    counters: str
    chargers: pl.DataFrame
    power: pl.DataFrame
    running: bool


class LiveController:
    """A live view's logic: ``handle`` is what ``record_amqp``/``record_mqtt`` returned (or ``None``
    to follow a ``store`` another process writes)."""

    def __init__(self, handle: Any = None, store: Path | str | None = None, window_s: float = 900.0) -> None:
        where = Path(store) if store is not None else _store_of(handle)
        if where is None:
            raise DatasetError("a live view needs a recording handle or the store it writes to")
        self.handle = handle
        self.feed = LiveFeed(where, timedelta(seconds=window_s))
        self._last: tuple[float, int] | None = None

    @property
    def running(self) -> bool:
        """Whether the recording still runs (a store without a handle: always)."""
        return bool(getattr(self.handle, "running", True))

    def counters(self) -> str:
        """Messages/s since the last tick, total, last-message age, lag, decode errors."""
        now = time.monotonic()
        parts: list[str] = []
        stats: dict[str, Any] = self.handle.stats if self.handle is not None else {}
        if stats:
            messages = int(stats.get("messages", 0))
            rate = stats.get("rate_msg_s", 0.0)
            if self._last is not None and now > self._last[0]:
                rate = (messages - self._last[1]) / (now - self._last[0])
            self._last = (now, messages)
            age = stats.get("last_message_age_s")
            written = int(stats.get("rows_written", 0))
            parts += [f"{rate:,.1f} msg/s", f"{messages:,} messages", f"{written:,} written",
                      "no message yet" if age is None else f"last {age:,.1f} s ago"]  # fmt: skip
        lag = self.feed.lag_s()
        parts.append("lag – (no device time)" if lag is None else f"lag {lag:,.1f} s (device time to stored)")
        errors = int(stats.get("decode_errors", self.feed.errors_seen)) if stats else self.feed.errors_seen
        parts.append(f"{errors:,} decode errors")
        if unreadable := self.feed.unreadable:
            store = self.feed.store
            names = "; ".join(f"{relative_name(store, p)} ({why})" for p, why in sorted(unreadable.items()))
            parts.append(f"{len(unreadable)} part(s) cannot be read, not shown: {names}")
        if not self.running:
            parts.append("recording stopped")
        return " · ".join(parts)

    def tick(self) -> LiveSnapshot:
        """Read what was written since the last tick and return what to show."""
        self.feed.poll()
        return LiveSnapshot(self.counters(), last_values(self.feed.latest), self.feed.power(), self.running)


__all__ = ["LiveController", "LiveFeed", "LiveSnapshot", "last_values", "tag"]
