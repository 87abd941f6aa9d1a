"""Tariffs: a flat price or a CSV file of prices over time, checked strictly before any cost is computed.

A tariff file is comma-separated with a header row::

    from,price,co2,feed_in
    2026-11-01T00:00:00Z,0.2513,312,0.05
    2026-11-01T01:00:00Z,0.2381,305,0.05

- ``from``: when the row's price starts, ISO 8601; a time without a zone is UTC (``Z`` or an offset
  may be given and is converted to UTC). The row holds until the next row's ``from``.
- ``price``: per kWh in the statement's currency, a dot decimal (``0.25``). A comma decimal (``0,25``)
  is refused with a message: in a comma-separated file it would split the cell silently.
- ``co2`` (g/kWh) and ``feed_in`` (per kWh) are optional columns; no other column is accepted (a typo
  such as ``prcie`` is an error, not a column quietly ignored). ``feed_in`` is kept with the tariff but
  does not change a session's cost: which kWh came from the sun is not in a charger's data (an evcc
  recording is priced at evcc's own loadpoint price, which counts solar at the feed-in price).

Rows must be in time order without repeated times (an unsorted or duplicated row is an error naming
it). An empty ``price`` means "no price from this time": energy in that span gets no cost (the session's
``cost`` is null and its note says how much energy was not priced) - the honest way to mark a hole.

**Gaps.** A series of prices an hour apart or less (day-ahead prices, hourly or quarter-hourly) must
not skip a slot: an interval longer than both its neighbours when those two are equal and at most an
hour (``1h, 3h, 1h``) is a gap, and the file is refused naming it (write the missing rows, or a row
with an empty price to mark it). Schedules (time-of-use, a price change) have no such regular step
and are taken as written (so is a slot skipped right after the first row or before the last one: it
cannot be told from a change of step). The last row of such a series holds for one step; any other
last row holds on without end. Before the first row there is no price.

Everything here is a Polars frame: the checks are vectorised, the file is read once.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from evkit.errors import ConfigError
from evkit.store.schema import UTC_US

#: Columns a tariff file may have; the first two are required.
REQUIRED = ("from", "price")
OPTIONAL = ("co2", "feed_in")
#: A series with a regular step of at most this long is checked for skipped slots.
SERIES_STEP = timedelta(hours=1)
#: The start of the tariff's time axis: before the first row, "no price".
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: The frame of a tariff: contiguous intervals [from, to) covering the whole time axis (``to`` null:
#: no end), ``price`` null where there is no price.
TARIFF_SCHEMA: dict[str, pl.DataType] = {
    "from": UTC_US,
    "to": UTC_US,
    "price": pl.Float64(),
    "co2": pl.Float64(),
    "feed_in": pl.Float64(),
}

_COMMA_DECIMAL = re.compile(r"^\s*[-+]?\d+,\d+\s*$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True)
class Tariff:
    """A checked tariff: ``frame`` in ``TARIFF_SCHEMA``, what it came from, and its currency label."""

    frame: pl.DataFrame
    source: str
    currency: str | None = None
    flat: bool = False
    has_co2: bool = field(default=False)

    def label(self) -> str:
        """``"EUR"`` or ``"(currency)"``: what a column of money is in."""
        return self.currency or "(currency)"

    def with_currency(self, currency: str | None) -> Tariff:
        """The same tariff labelled with ``currency`` (checked: three capital letters, ISO 4217)."""
        return Tariff(self.frame, self.source, check_currency(currency), self.flat, self.has_co2)

    def priced_rows(self) -> pl.DataFrame:
        """The intervals with a price (what a person wrote), for figures and tables."""
        return self.frame.filter(pl.col("price").is_not_null())


def check_currency(currency: str | None) -> str | None:
    """``currency`` if it is an ISO 4217 code (``EUR``, ``NOK``); ConfigError otherwise."""
    if currency is None:
        return None
    if not _CURRENCY.match(currency):
        raise ConfigError(
            f"--currency {currency!r} is not a currency code: use three capitals, e.g. EUR or NOK"
        )
    return currency


def flat_tariff(price: float, currency: str | None = None) -> Tariff:
    """One price at all times (``--tariff 0.30``)."""
    if not math.isfinite(price) or price < 0:
        raise ConfigError(f"a flat tariff must be a price of 0 or more per kWh, got {price}")
    frame = pl.DataFrame(
        {"from": [EPOCH], "to": [None], "price": [price], "co2": [None], "feed_in": [None]},
        schema=TARIFF_SCHEMA,
    )
    return Tariff(frame, f"flat {price:g} per kWh", check_currency(currency), flat=True)


def parse_tariff(text: str, currency: str | None = None) -> Tariff:
    """``--tariff``: a flat price (``0.30``) or the path of a tariff CSV file (see the module docstring)."""
    value = text.strip()
    path = Path(value)
    if path.is_file():
        return read_tariff(path, currency)
    if _COMMA_DECIMAL.match(value):
        raise ConfigError(
            f"--tariff {text!r}: write the price with a dot decimal ({value.replace(',', '.')}), "
            "or give the path of a tariff CSV file"
        )
    try:
        price = float(value)
    except ValueError:
        raise ConfigError(
            f"--tariff {text!r} is neither a price per kWh (e.g. 0.30) nor an existing tariff CSV file "
            "(columns from,price[,co2][,feed_in])"
        ) from None
    return flat_tariff(price, currency)


def read_tariff(path: Path | str, currency: str | None = None) -> Tariff:
    """A tariff CSV file, checked (ConfigError naming the row and what is allowed)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the tariff file {path}: {exc}") from exc
    return tariff_from_text(text, str(path), currency)


def _header(first: str, where: str) -> list[str]:
    if ";" in first and "," not in first:
        raise ConfigError(
            f"{where} is separated by semicolons; a tariff file is comma-separated with dot decimals "
            "(from,price / 2026-11-01T00:00Z,0.25)"
        )
    names = [n.strip().lower() for n in next(csv.reader([first]))]
    missing = [n for n in REQUIRED if n not in names]
    unknown = [n for n in names if n not in (*REQUIRED, *OPTIONAL)]
    if missing or unknown or len(set(names)) != len(names):
        problem = (
            f"lacks the column(s) {', '.join(missing)}"
            if missing
            else f"has unknown or repeated column(s) {', '.join(unknown) or 'repeated'}"
        )
        raise ConfigError(
            f"{where} {problem}: the header must be from,price with optional co2 and feed_in "
            f"(found {first.strip()!r})"
        )
    return names


def tariff_from_text(text: str, where: str = "the tariff file", currency: str | None = None) -> Tariff:
    """A tariff from CSV text (see the module docstring); ``where`` names it in error messages."""
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise ConfigError(f"{where} is empty: it needs a header from,price and at least one row")
    names = _header(lines[0], where)
    rows = list(csv.reader(io.StringIO("\n".join(lines[1:]))))
    if not rows:
        raise ConfigError(f"{where} has a header but no rows of prices")
    for number, row in enumerate(rows, start=2):
        if len(row) != len(names):
            hint = (
                ": a comma decimal (0,25) splits the price in two; write 0.25"
                if len(row) > len(names)
                else ""
            )
            raise ConfigError(
                f"{where} line {number} has {len(row)} field(s) but the header has {len(names)}{hint}"
            )
    raw = pl.DataFrame(
        {name: [row[i].strip() for row in rows] for i, name in enumerate(names)},
        schema=dict.fromkeys(names, pl.String),
    ).with_row_index("line", offset=2)
    return Tariff(_check(raw, where), where, check_currency(currency), has_co2="co2" in names)


def _parse_times(column: pl.Expr) -> pl.Expr:
    text = column.str.replace(" ", "T").str.replace(r"[zZ]$", "+00:00")
    aware = ("%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M%:z")
    naive = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d")
    return pl.coalesce(
        *[text.str.to_datetime(f, time_unit="us", time_zone="UTC", strict=False) for f in aware],
        *[text.str.to_datetime(f, time_unit="us", strict=False).dt.replace_time_zone("UTC") for f in naive],
    )


def _first_bad(frame: pl.DataFrame, bad: pl.Expr) -> dict[str, Any] | None:
    hit = frame.filter(bad)
    return hit.row(0, named=True) if hit.height else None


def _numbers(raw: pl.DataFrame, name: str, where: str, unit: str, minimum: float | None) -> pl.Expr:
    """``name`` as Float64 (empty = null); ConfigError for comma decimals, words, NaN, out of range."""
    text = pl.col(name)
    if (row := _first_bad(raw, text.str.contains(r"^\s*[-+]?\d+,\d+\s*$"))) is not None:
        raise ConfigError(
            f"{where} line {row['line']}: {name} {row[name]!r} has a comma decimal; "
            f"write it with a dot ({str(row[name]).replace(',', '.')})"
        )
    value = pl.when(text == "").then(None).otherwise(text).cast(pl.Float64, strict=False)
    bad = ((text != "") & value.is_null()) | value.is_nan() | value.is_infinite()
    if minimum is not None:
        bad = bad | (value < minimum)
    if (row := _first_bad(raw, bad)) is not None:
        allowed = f"a number of {minimum:g} or more" if minimum is not None else "a number"
        raise ConfigError(
            f"{where} line {row['line']}: {name} {row[name]!r} is not {allowed} ({unit}; empty = none)"
        )
    return value


def _check(raw: pl.DataFrame, where: str) -> pl.DataFrame:
    if (row := _first_bad(raw, pl.col("from") == "")) is not None:
        raise ConfigError(f"{where} line {row['line']}: the time ('from') is empty")
    parsed = raw.with_columns(_parse_times(pl.col("from")).alias("__from"))
    if (row := _first_bad(parsed, pl.col("__from").is_null())) is not None:
        raise ConfigError(
            f"{where} line {row['line']}: {row['from']!r} is not an ISO 8601 time "
            "(e.g. 2026-11-01T00:00:00Z; without a zone it is UTC)"
        )
    columns = {"price": ("per kWh", None), "co2": ("g/kWh", 0.0), "feed_in": ("per kWh", None)}
    values = [
        _numbers(raw, name, where, unit, minimum).alias(name)
        if name in raw.columns
        else pl.lit(None).alias(name)
        for name, (unit, minimum) in columns.items()
    ]
    frame = parsed.with_columns(*values).with_columns(
        pl.col("__from").shift(1).alias("__prev"), pl.col("line").shift(1).alias("__prev_line")
    )
    disorder = frame.filter(pl.col("__from") <= pl.col("__prev"))
    if disorder.height:
        row = disorder.row(0, named=True)
        same = row["__from"] == row["__prev"]
        raise ConfigError(
            f"{where} line {row['line']} ({row['from']}) "
            + (
                f"repeats the time of line {row['__prev_line']}"
                if same
                else f"is before line {row['__prev_line']}"
            )
            + ": rows must be in time order, each time once"
        )
    frame = frame.select("line", pl.col("__from").alias("from"), *columns)
    _refuse_gaps(frame, where)
    return _intervals(frame)


def _refuse_gaps(frame: pl.DataFrame, where: str) -> None:
    length = pl.col("from").shift(-1) - pl.col("from")
    steps = frame.with_columns(length.alias("len")).with_columns(
        pl.col("len").shift(1).alias("before"), pl.col("len").shift(-1).alias("after")
    )
    gap = (
        (pl.col("before") == pl.col("after"))
        & (pl.col("before") <= SERIES_STEP)
        & (pl.col("len") > pl.col("before"))
        & pl.col("price").is_not_null()
    )
    if (row := _first_bad(steps, gap)) is not None:
        start = row["from"] + row["before"]
        end = row["from"] + row["len"]
        raise ConfigError(
            f"{where} has a gap after line {row['line']}: prices come every {_span(row['before'])} but "
            f"none is given from {start:%Y-%m-%dT%H:%MZ} to {end:%Y-%m-%dT%H:%MZ}; add the missing rows, "
            "or a row with an empty price to mark the time without a price"
        )


def _span(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"


def _intervals(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows as contiguous [from, to) intervals over the whole time axis (see the module docstring)."""
    length = pl.col("from").shift(-1) - pl.col("from")
    with_len = frame.with_columns(length.alias("len"))
    last_step = with_len["len"].drop_nulls().tail(2)
    # a regular series (its last two steps equal and at most SERIES_STEP) ends one step after its last row
    end_step = (
        last_step[-1]
        if last_step.len() == 2 and last_step[0] == last_step[-1] and last_step[-1] <= SERIES_STEP
        else None
    )
    to = pl.col("from").shift(-1)
    if end_step is not None:
        to = to.fill_null(pl.col("from") + end_step)
    rows = with_len.select("from", to.alias("to"), "price", "co2", "feed_in").cast(TARIFF_SCHEMA)  # type: ignore[arg-type]
    first = rows["from"][0]
    lead = pl.DataFrame(
        {"from": [EPOCH], "to": [first], "price": [None], "co2": [None], "feed_in": [None]},
        schema=TARIFF_SCHEMA,
    )
    parts = [lead] if first > EPOCH else []
    parts.append(rows)
    last_to = rows["to"][-1]
    if last_to is not None:
        tail = pl.DataFrame(
            {"from": [last_to], "to": [None], "price": [None], "co2": [None], "feed_in": [None]},
            schema=TARIFF_SCHEMA,
        )
        parts.append(tail)
    return pl.concat(parts, how="vertical")


__all__ = [
    "TARIFF_SCHEMA",
    "Tariff",
    "check_currency",
    "flat_tariff",
    "parse_tariff",
    "read_tariff",
    "tariff_from_text",
]
