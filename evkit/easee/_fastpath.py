"""Vectorised decoding of the common Masterloop delivery (a few Polars expressions per batch).

Nearly all real traffic has one shape: routing key ``{serial}.O.{id}``, body
``{"Timestamp":"2024-05-01T00:00:00.2847490Z","Value":322}`` and a single text ``ArrivalTime`` header.
Rows of exactly that shape are decoded here with regexes, vectorised time parsing and catalog joins;
every other row (other wire forms, casings, escapes, odd numbers, malformed input) is left to the
Python decoder, which stays the single definition of the result. The regexes are deliberately narrow:
a row is only decoded here when the Python path would give the very same row (the differential
property test in ``tests/easee/test_fastpath.py`` checks that frame for frame).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import polars as pl

from evkit.easee.catalog import ENUM_LABELS, OBSERVATIONS, DataType, Obs
from evkit.easee.equalizer import EQUALIZER_SERIAL_PREFIX
from evkit.store.schema import EASEE_SCHEMA

# An ISO time the Python decoder reads the same way: T separator, valid hour/minute/second ranges
# (no leap second), up to 9 fractional digits (truncated to µs), UTC as Z, +00:00 or no zone.
_TIME = r"[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?"
_TIME_ZONE = rf"{_TIME}(?:Z|\+00:00)?"
# Values: canonical integers (no -0, exact as float), plain decimals, booleans, simple ASCII text.
_INT = r"(?:0|-?[1-9][0-9]{0,14})"
_DECIMAL = r"-?(?:0|[1-9][0-9]{0,15})\.[0-9]{1,24}"
_STRING = r'"[ !#-\[\]-~]*"'
# Compact JSON or json.dumps' default spacing. Validation only (no capture groups: the regex engine
# then runs as a DFA, several times faster); the parts are cut out by position afterwards.
_BODY = rf'^\{{"Timestamp": ?"{_TIME_ZONE}", ?"Value": ?(?:{_INT}|{_DECIMAL}|true|false|{_STRING})\}}$'
_ARRIVAL = rf"^{_TIME_ZONE}$"
_ROUTE = r"^[!-\-/-~]+\.O\.[0-9]{1,9}$"  # printable ASCII serial without dots
_PLAIN_NUMBER_CODES = [int(DataType.DOUBLE), int(DataType.INTEGER)]
_NON_NUMERIC_CODES = [
    int(t) for t in (DataType.STRING, DataType.BINARY, DataType.POSITION, DataType.STATISTICS)
]
_BOOLEAN_CODE = int(DataType.BOOLEAN)


@functools.cache
def _tables() -> tuple[pl.DataFrame, pl.DataFrame]:
    """The catalog and enum-label tables the plan joins, built on the first decode: a process that
    only imports ``evkit.easee`` (the capture's consumer, every CLI command) pays nothing for them."""
    catalog = pl.DataFrame(
        {
            "observation_id": list(OBSERVATIONS),
            "observation": [info.name for info in OBSERVATIONS.values()],
            # Ids of no published type have none here either (null: read as a number when it is one).
            "type_code": [None if i.data_type is None else int(i.data_type) for i in OBSERVATIONS.values()],
            "data_type": [None if i.data_type is None else i.data_type.title for i in OBSERVATIONS.values()],
        },
        schema={
            "observation_id": pl.Int32,
            "observation": pl.String,
            "type_code": pl.Int8,
            "data_type": pl.String,
        },
    )
    enum_labels = pl.DataFrame(
        [(obs_id, code, label) for obs_id, labels in ENUM_LABELS.items() for code, label in labels.items()],
        schema={"observation_id": pl.Int32, "label_code": pl.Int64, "label": pl.String},
        orient="row",
    )
    return catalog, enum_labels


_REVERSED_ID = int(Obs.USER_ID_TOKEN_REVERSED)
BAD_HEADER = "\x00"  # never matches _ARRIVAL: headers of another shape go to the Python path
_TIME_COLUMNS = ("received_at", "arrival_time", "observed_at")
#: Smaller batches are not worth the fixed cost of the Polars plan.
MIN_BATCH = 32


def arrival_texts(headers: Sequence[Any]) -> list[str | None]:
    """The ArrivalTime text of headers that hold only it, ``None`` without headers, else a marker."""
    return [
        None if not h else (a if len(h) == 1 and type(a := h.get("ArrivalTime")) is str else BAD_HEADER)
        for h in headers
    ]


def _body_text(raw: pl.Series) -> pl.Series:
    """The bodies as text; with any invalid UTF-8 in the batch, only the ASCII bodies (the others
    are null: they cannot have the fast shape, and one bad body must not fail the batch)."""
    try:
        return raw.cast(pl.String).alias("_text")
    except pl.exceptions.ComputeError:
        texts = [body.decode() if body.isascii() else None for body in raw.to_list()]
        return pl.Series("_text", texts, dtype=pl.String)


def _epoch_us(text: pl.Expr) -> pl.Expr:
    """Epoch µs of an ISO text matched by ``_TIME_ZONE`` (null for impossible dates such as Feb 30).

    Seconds from a fixed-width ``strptime`` (cheap), the fraction's first 6 digits added as integer
    µs: further digits are truncated, as ``datetime.fromisoformat`` does.
    """
    seconds = text.str.slice(0, 19).str.to_datetime("%Y-%m-%dT%H:%M:%S", strict=False, time_unit="us")
    fraction = text.str.slice(20).str.strip_suffix("Z").str.strip_suffix("+00:00")
    micros = fraction.str.pad_end(6, "0").str.slice(0, 6).cast(pl.Int64, strict=False).fill_null(0)
    return seconds.cast(pl.Int64) + micros


@functools.cache
def _build_plan() -> list[list[pl.Expr]]:
    """The fast path as ``with_columns`` steps, built once, on the first decode. Intermediate
    results are columns of their own: small expression trees plan faster and nothing is computed
    twice."""
    text, route, arrival = pl.col("_text"), pl.col("routing_key"), pl.col("arrival_time_raw")
    locate = [
        (
            text.str.contains(_BODY)
            & route.str.contains(_ROUTE)
            # Equalizers have their own id table: the Python path reads them.
            & route.str.starts_with(EQUALIZER_SERIAL_PREFIX).not_()
            & (arrival.is_null() | arrival.str.contains(_ARRIVAL))
        )
        .fill_null(False)
        .alias("_shaped"),
        # Where the parts start (compact or spaced JSON; ASCII only, so characters = bytes).
        (pl.lit(14) + (text.str.slice(13, 1) == " ").cast(pl.Int64)).alias("_ts_start"),
        (text.str.find('"Value":', literal=True) + 8).alias("_value_key"),
        route.str.find(".", literal=True).alias("_dot"),
    ]
    ts_start, value_key, dot = pl.col("_ts_start"), pl.col("_value_key"), pl.col("_dot")
    value_start = value_key + (text.str.slice(value_key, 1) == " ").cast(pl.Int64)
    cut = [
        text.str.slice(ts_start, text.str.find('",', literal=True) - ts_start).alias("_observed"),
        text.str.slice(value_start, text.str.len_bytes() - 1 - value_start).alias("_value"),
        route.str.slice(0, dot).alias("charger_id"),
        route.str.slice(dot + 3).cast(pl.Int32, strict=False).alias("observation_id"),
    ]
    value, code = pl.col("_value"), pl.col("type_code")
    classify = [
        (value.str.slice(0, 1) == '"').alias("_is_text"),
        value.is_in(["true", "false"]).alias("_is_bool"),
        value.cast(pl.Float64, strict=False).alias("_number"),
        (code.is_null() | code.is_in(_PLAIN_NUMBER_CODES)).alias("_plain"),
        code.is_in(_NON_NUMERIC_CODES).fill_null(False).alias("_non_numeric"),
        (code == _BOOLEAN_CODE).fill_null(False).alias("_boolean"),
    ]
    is_text, is_bool, number = pl.col("_is_text"), pl.col("_is_bool"), pl.col("_number")
    plain, non_numeric, boolean = pl.col("_plain"), pl.col("_non_numeric"), pl.col("_boolean")
    is_decimal = value.str.contains(".", literal=True)
    # A decimal is taken as sent only when that is also Python's repr: the shortest round trip, in
    # the range where repr writes no exponent.
    decimal_ok = (number.cast(pl.String) == value) & (
        (number.abs() >= 1e-4) & (number.abs() < 1e16) | (number == 0)
    )
    ok_value = (
        pl.when(is_text)
        .then(non_numeric)
        .when(is_bool)
        .then(pl.lit(True))
        .when(is_decimal)
        .then(decimal_ok & (plain | non_numeric))
        .otherwise(plain | non_numeric | (boolean & value.is_in(["0", "1"])))
    )
    convert = [
        pl.when(non_numeric | is_text)
        .then(None)
        .when(is_bool)
        .then((value == "true").cast(pl.Float64))
        .otherwise(number)
        .alias("value"),
        pl.when(is_text)
        .then(value.str.slice(1, value.str.len_chars() - 2))
        .otherwise(value)
        .alias("value_text"),
        _epoch_us(pl.col("_observed")).alias("observed_at"),
        _epoch_us(arrival).alias("arrival_time"),
        ok_value.fill_null(False).alias("_ok_value"),
    ]
    whole = pl.col("value").floor() == pl.col("value")
    finish = [
        (
            pl.col("_shaped")
            & pl.col("observed_at").is_not_null()
            & (arrival.is_null() | pl.col("arrival_time").is_not_null())
            & pl.col("_ok_value")
        ).alias("_ok"),
        pl.when(whole).then(pl.col("value").cast(pl.Int64, strict=False)).alias("label_code"),
        pl.lit("observation").alias("kind"),
        pl.lit(None, dtype=pl.String).alias("error"),
        pl.when(pl.col("observation_id") == _REVERSED_ID)
        .then(pl.col("value_text").str.reverse())
        .alias("value_reversed"),
        pl.when(arrival.is_not_null())
        .then(pl.concat_str(pl.lit('{"ArrivalTime":"'), arrival, pl.lit('"}')))
        .alias("headers"),
    ]
    select = [pl.col("_index"), pl.col("_ok")] + [
        pl.col(name).cast(dtype if name not in _TIME_COLUMNS else pl.Int64).cast(dtype)
        for name, dtype in EASEE_SCHEMA.items()
    ]
    return [locate, cut, classify, convert, finish, select]


# The plan is written by hand already; optimising it costs more than it saves on capture batches.
_OPTIMIZATIONS = pl.QueryOptFlags.none()


def delivery_frame(deliveries: Sequence[Any]) -> pl.DataFrame:
    """The columns the fast path reads, from deliveries in ``Delivery`` field order (all six
    fields). Raises on input that is not column-shaped (odd types, 5-field tuples)."""
    routing_keys, bodies, headers, redelivered, received_us, epochs = zip(*deliveries, strict=True)
    return pl.DataFrame(
        [
            pl.Series("routing_key", routing_keys, dtype=pl.String),
            pl.Series("raw", bodies, dtype=pl.Binary),
            pl.Series("arrival_time_raw", arrival_texts(headers), dtype=pl.String),
            pl.Series("redelivered", redelivered, dtype=pl.Boolean),
            pl.Series("received_at", received_us, dtype=pl.Int64),
            pl.Series("conn_epoch", epochs, dtype=pl.Int32),
        ]
    )


def decode_frame(frame: pl.DataFrame) -> tuple[pl.DataFrame, list[int]]:
    """Rows (``EASEE_SCHEMA`` plus a leading ``_index``) of the deliveries of the common shape, and
    the indices of the others, which the caller decodes with the Python path.

    ``frame`` has the columns of :func:`delivery_frame`: ``routing_key`` (String), ``raw`` (Binary),
    ``arrival_time_raw`` (the text of a lone ``ArrivalTime`` header, null without headers, any
    other text for other headers: such rows are left to the caller), ``redelivered``,
    ``received_at`` (epoch µs), ``conn_epoch``.
    """
    locate, cut, classify, convert, finish, select = _build_plan()
    catalog, labels = _tables()
    plan = (
        frame.lazy()
        .with_row_index("_index")
        .with_columns(_body_text(frame.get_column("raw")))
        .with_columns(locate)
        .with_columns(cut)
        .join(catalog.lazy(), on="observation_id", how="left", maintain_order="left")
        .with_columns(classify)
        .with_columns(convert)
        .with_columns(finish)
        .join(labels.lazy(), on=["observation_id", "label_code"], how="left", maintain_order="left")
        .select(select)
    )
    decoded = plan.collect(engine="in-memory", optimizations=_OPTIMIZATIONS)
    ok = decoded.get_column("_ok")
    if ok.all():
        return decoded.drop("_ok"), []
    fallback = decoded.get_column("_index").filter(~ok).to_list()
    return decoded.filter(ok).drop("_ok"), fallback


def decode_fast(deliveries: Sequence[Any]) -> tuple[pl.DataFrame, list[int]]:
    """:func:`decode_frame` of :func:`delivery_frame` (raises on input that is not column-shaped)."""
    return decode_frame(delivery_frame(deliveries))


__all__ = ["BAD_HEADER", "MIN_BATCH", "arrival_texts", "decode_fast", "decode_frame", "delivery_frame"]
