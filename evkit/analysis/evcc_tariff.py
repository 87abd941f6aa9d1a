"""evcc's own tariffs and solar share from an MQTT recording: cost without a tariff file.

evcc publishes, in every update cycle of its site (``core/site.go:1189`` calls ``publishTariffs``;
evcc-io/evcc b29b49e, ``core/site_tariffs.go:86-116``), on ``<root>/site/<key>``:

- ``tariffGrid`` / ``tariffFeedIn``: the grid and feed-in price now (currency per kWh);
- ``tariffCo2``: the grid's CO2 now (g/kWh);
- ``greenShareLoadpoints``: the share of the loadpoints' power that is solar or battery (0..1);
- ``tariffPriceLoadpoints`` = grid x (1 - green share) + feed-in x green share, and
  ``tariffCo2Loadpoints`` = CO2 x (1 - green share) (``effectivePrice`` / ``effectiveCo2``,
  ``core/site_tariffs.go:64-84``): what a kWh into the cars costs now, solar counted at the feed-in
  price it did not earn - evcc's own rule for its session prices.

MQTT gets them every cycle (only evcc's InfluxDB writer deduplicates them, ``cmd/root.go:318-333``),
so a recorded value holds from its arrival (``received_at``: evcc stamps no time) until the next one,
at most ``MAX_HOLD``: a longer silence is a hole in the recording and has no price. The price used is
``tariffPriceLoadpoints`` when recorded, else ``tariffGrid``; CO2 likewise ``tariffCo2Loadpoints``,
else ``tariffCo2``. The error of a price change seen one cycle late is at most a cycle's energy.

``sessionSolarPercentage`` of a loadpoint (%) is evcc's solar share of the session so far; its last
value inside an evcc session is the session's ``solar_percentage`` (evcc's "Solar (%)").
"""

from __future__ import annotations

from datetime import timedelta

import polars as pl

from evkit.analysis.tariff import EPOCH, TARIFF_SCHEMA, Tariff, check_currency
from evkit.errors import DatasetError

#: A recorded tariff value holds at most this long (evcc's update interval is seconds to a minute).
MAX_HOLD = timedelta(minutes=10)

_PRICE = ("tariffPriceLoadpoints", "tariffGrid")
_CO2 = ("tariffCo2Loadpoints", "tariffCo2")
_FEED_IN = ("tariffFeedIn",)


def _has(lf: pl.LazyFrame, names: set[str]) -> bool:
    return names <= set(lf.collect_schema().names())


def _site_rows(lf: pl.LazyFrame) -> pl.LazyFrame:
    return lf.filter(
        (pl.col("source") == "evcc")
        & pl.col("device_id").str.ends_with("/site")
        & pl.col("key").is_not_null()
    )


def _series(site: pl.DataFrame, keys: tuple[str, ...]) -> pl.DataFrame | None:
    """The first of ``keys`` that was recorded, as (t, v) sorted; None when none was."""
    for key in keys:
        rows = site.filter((pl.col("key") == key) & pl.col("value").is_not_null())
        if rows.height:
            return rows.select(pl.col("received_at").alias("t"), pl.col("value").alias("v")).sort("t")
    return None


def recorded_tariff(lf: pl.LazyFrame) -> Tariff | None:
    """The tariff evcc published in the recording ``lf`` (see the module docstring), or None.

    DatasetError when the recording holds several evcc sites (their prices may differ: give --tariff).
    """
    if not _has(lf, {"source", "device_id", "key", "received_at"}):
        return None
    wanted = [*_PRICE, *_CO2, *_FEED_IN, "currency"]
    site = (
        _site_rows(lf)
        .filter(pl.col("key").is_in(wanted))
        .select("device_id", "key", "received_at", "value", "value_text")
        .collect()
    )
    if site.height == 0:
        return None
    sites = site["device_id"].unique().sort().to_list()
    if len(sites) > 1:
        raise DatasetError(
            f"the recording holds several evcc sites ({', '.join(sites)}): give --tariff for their prices"
        )
    price = _series(site, _PRICE)
    if price is None:
        return None
    co2 = _series(site, _CO2)
    feed_in = _series(site, _FEED_IN)
    times = pl.concat([s.select("t") for s in (price, co2, feed_in) if s is not None]).unique().sort("t")
    frame = times
    for name, series in (("price", price), ("co2", co2), ("feed_in", feed_in)):
        if series is None:
            frame = frame.with_columns(pl.lit(None, pl.Float64).alias(name))
            continue
        held = series.with_columns((pl.col("t") + MAX_HOLD).alias("__until"))
        frame = frame.join_asof(held.rename({"t": "__t"}), left_on="t", right_on="__t", strategy="backward")
        frame = frame.with_columns(
            pl.when(pl.col("t") < pl.col("__until")).then(pl.col("v")).alias(name)
        ).drop("v", "__t", "__until")
    frame = frame.filter(pl.col("price").is_not_null())
    currency_rows = site.filter((pl.col("key") == "currency") & (pl.col("value_text").str.len_chars() > 0))
    currency = currency_rows["value_text"][-1] if currency_rows.height else None
    try:
        checked = check_currency(currency)
    except Exception:  # evcc's currency is a Go currency.Unit string (EUR, CHF...); anything else: unlabeled
        checked = None
    return Tariff(
        _intervals(frame),
        f"evcc's recorded tariff ({sites[0]}: {price_key(site)})",
        checked,
        has_co2=co2 is not None,
    )


def price_key(site: pl.DataFrame) -> str:
    """Which evcc key gave the price."""
    present = set(site["key"].to_list())
    return next(k for k in _PRICE if k in present)


def _intervals(readings: pl.DataFrame) -> pl.DataFrame:
    """Readings (t, price, co2, feed_in) as contiguous tariff intervals: each holds until the next
    reading, at most ``MAX_HOLD``; equal neighbours merged; no price before, between holes and after."""
    values = ["price", "co2", "feed_in"]
    rows = readings.sort("t").with_columns(
        pl.min_horizontal(pl.col("t").shift(-1), pl.col("t") + MAX_HOLD)
        .fill_null(pl.col("t") + MAX_HOLD)
        .alias("to")
    )
    changed = pl.any_horizontal(
        *[pl.col(v).ne_missing(pl.col(v).shift(1)) for v in values],
        pl.col("t") != pl.col("to").shift(1),
        pl.col("t").shift(1).is_null(),
    )
    runs = (
        rows.with_columns(changed.cum_sum().alias("__run"))
        .group_by("__run", maintain_order=True)
        .agg(pl.col("t").min().alias("from"), pl.col("to").max(), *[pl.col(v).first() for v in values])
        .drop("__run")
    )
    holes = runs.select(pl.col("to").alias("from"), pl.col("from").shift(-1).alias("to")).filter(
        pl.col("to").is_not_null() & (pl.col("to") > pl.col("from"))
    )
    lead = pl.DataFrame({"from": [EPOCH], "to": [runs["from"][0]]})
    tail = pl.DataFrame({"from": [runs["to"][-1]], "to": [None]})
    parts = [
        runs,
        *(h.with_columns(*[pl.lit(None, pl.Float64).alias(v) for v in values]) for h in (holes, lead, tail)),
    ]
    return pl.concat([p.cast(TARIFF_SCHEMA).select(list(TARIFF_SCHEMA)) for p in parts]).sort("from")  # type: ignore[arg-type]


#: evcc's own session figures (loadpoint keys, ``core/keys/loadpoint.go``) and the columns they fill.
SESSION_KEYS = {
    "sessionSolarPercentage": "solar_percentage",  # %
    "sessionPrice": "evcc_price",  # currency
    "sessionPricePerKWh": "evcc_price_per_kwh",  # currency/kWh
    "sessionCo2PerKWh": "evcc_co2_per_kwh",  # g/kWh
}


def with_session_figures(sessions: pl.LazyFrame, lf: pl.LazyFrame) -> pl.LazyFrame:
    """``sessions`` with evcc's own figures for its sessions (:func:`session_figures`, the columns of
    ``SESSION_KEYS``, last) when ``lf`` is a recording of home chargers; else ``sessions``. A session's
    figures are its loadpoint's rows: a charger group's rows give its sessions' figures."""
    if not _has(lf, {"source", "device_id", "key"}):
        return sessions
    return sessions.join(session_figures(lf, sessions), on="session_id", how="left", maintain_order="left")


def session_figures(lf: pl.LazyFrame, sessions: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """``session_id`` with evcc's own figures for each evcc session: the last value of each
    ``SESSION_KEYS`` key inside the session (``solar_percentage``, ``evcc_price``,
    ``evcc_price_per_kwh``, ``evcc_co2_per_kwh``), to show beside evkit's cost (a cross-check)."""
    schema = {"session_id": pl.String(), **dict.fromkeys(SESSION_KEYS.values(), pl.Float64())}
    if not _has(lf, {"source", "device_id", "key", "received_at"}):
        return pl.LazyFrame(schema=schema)
    readings = (
        lf.filter(
            (pl.col("source") == "evcc")
            & pl.col("key").is_in(list(SESSION_KEYS))
            & pl.col("value").is_not_null()
        )
        .select(pl.col("device_id").alias("charger_id"), pl.col("received_at").alias("t"), "key", "value")
        .sort("t")
    )
    sess = (
        sessions.lazy()
        .filter(pl.col("source") == "evcc")
        .select("charger_id", "session_id", "started_at", "ended_at")
        .sort("started_at")
    )
    joined = readings.join_asof(
        sess, left_on="t", right_on="started_at", by="charger_id", strategy="backward", check_sortedness=False
    )
    inside = joined.filter(
        pl.col("session_id").is_not_null()
        & (pl.col("ended_at").is_null() | (pl.col("t") <= pl.col("ended_at")))
    )
    # rows keep the readings' time order through the as-of join: "last" is the latest
    return inside.group_by("session_id").agg(
        *[
            pl.col("value").filter(pl.col("key") == key).last().alias(name)
            for key, name in SESSION_KEYS.items()
        ]
    )


def solar_percentage(lf: pl.LazyFrame, sessions: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """``session_id, solar_percentage``: evcc's last ``sessionSolarPercentage`` inside each evcc session."""
    return session_figures(lf, sessions).select("session_id", "solar_percentage")


__all__ = [
    "MAX_HOLD",
    "SESSION_KEYS",
    "recorded_tariff",
    "session_figures",
    "solar_percentage",
    "with_session_figures",
]
