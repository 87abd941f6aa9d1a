"""The dataset contract: the columns every evkit dataset carries and the ones each source adds.

Analysis relies only on ``REQUIRED_COLUMNS``; anything else is welcome extra detail.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

import polars as pl

from evkit.errors import DatasetError
from evkit.store.frame_memo import FrameMemo

UTC_US = pl.Datetime("us", "UTC")

#: Columns every captured row has (Easee AMQP and MQTT alike), with their types.
REQUIRED_COLUMNS: dict[str, pl.DataType] = {
    "received_at": UTC_US,  # our wall clock when the message arrived; always known
    "arrival_time": UTC_US,  # Easee's ArrivalTime header (cloud arrival); null if absent
    "observed_at": UTC_US,  # device timestamp from the body
    "charger_id": pl.String(),
    "observation_id": pl.Int32(),
    "observation": pl.String(),  # catalog name, null if unknown
    "value": pl.Float64(),  # numeric value; booleans 1.0/0.0; null for strings
    "value_text": pl.String(),  # the value as sent, as text
    "kind": pl.String(),  # observation / command_response / pulse / unknown (MQTT: mqtt)
    "routing_key": pl.String(),
    "redelivered": pl.Boolean(),
    "raw": pl.Binary(),  # the exact body bytes
    "error": pl.String(),  # why decoding failed; null when clean
}

#: Extra columns of Easee AMQP rows.
EASEE_EXTRA_COLUMNS: dict[str, pl.DataType] = {
    "data_type": pl.String(),  # Boolean / Double / Integer / String / ... as decoded
    "label": pl.String(),  # enum label of the value (op mode, phase, ...), null if none or unknown
    "value_reversed": pl.String(),  # 108 UserIDTokenReversed read back to front
    "headers": pl.String(),  # all AMQP headers as JSON text (nothing lost)
    "arrival_time_raw": pl.String(),  # the ArrivalTime header as sent
    "conn_epoch": pl.Int32(),  # which (re)connection of the capture delivered the row
}

#: Extra columns of MQTT rows (evcc, go-e, anything else).
MQTT_EXTRA_COLUMNS: dict[str, pl.DataType] = {
    "topic": pl.String(),
    "retained": pl.Boolean(),
    "qos": pl.Int8(),
    "source": pl.String(),  # evcc / go-e / other
    "device_id": pl.String(),  # evcc loadpoint or vehicle path, go-e serial
    "key": pl.String(),  # evcc topic leaf path or go-e API key
    "label": pl.String(),  # enum label (go-e car / err / modelStatus), null if none or unknown
    "unit": pl.String(),  # unit of value as sent (W, Wh, kWh, s, A, V, %)
    "conn_epoch": pl.Int32(),
    "replayed": pl.Boolean(),  # published by `evkit replay` (MQTT 5 user property evkit-replay)
}

#: How copies of one message rank, after "not redelivered before redelivered": received first (our
#: clock), then Easee's ArrivalTime (nulls last), then the order of the rows. Not the order of the rows
#: alone: compaction rewrites a day sorted by charger, device time and receive time (and parts of several
#: captures list by capture id), so file order is not a property of the data; receive order is.
COPY_ORDER = ("received_at", "arrival_time")

#: Written by the store on every row: which capture process wrote it.
CAPTURE_ID_COLUMN = "capture_id"

#: How ``evkit replay`` marks what it publishes: AMQP header and MQTT 5 user property of this name
#: (value: when the replay started, ISO UTC). A capture keeps the mark: Easee AMQP rows in ``headers``
#: (all headers as JSON), MQTT rows in the ``replayed`` column (parts written before it existed lack
#: the column; read as null, i.e. not known to be replayed). :func:`replayed_rows` reads either.
REPLAY_MARK = "evkit-replay"
REPLAYED_COLUMN = "replayed"


def replayed_rows(columns: list[str] | set[str]) -> pl.Expr | None:
    """A boolean expression true on rows a replay published (see :data:`REPLAY_MARK`), for a dataset
    with ``columns``; ``None`` when no column can carry the mark."""
    present = set(columns)
    marks: list[pl.Expr] = []
    if REPLAYED_COLUMN in present:
        marks.append(pl.col(REPLAYED_COLUMN).fill_null(False))
    if "headers" in present:
        marks.append(pl.col("headers").str.contains(f'"{REPLAY_MARK}"', literal=True).fill_null(False))
    if not marks:
        return None
    return pl.any_horizontal(marks) if len(marks) > 1 else marks[0]


EASEE_SCHEMA: dict[str, pl.DataType] = {**REQUIRED_COLUMNS, **EASEE_EXTRA_COLUMNS}
MQTT_SCHEMA: dict[str, pl.DataType] = {**REQUIRED_COLUMNS, **MQTT_EXTRA_COLUMNS}

KINDS = ("observation", "command_response", "pulse", "unknown", "mqtt")


#: The contract's time columns (microseconds, UTC).
CONTRACT_TIMES = tuple(name for name, dtype in REQUIRED_COLUMNS.items() if dtype == UTC_US)


def time_casts() -> pl.ScanCastOptions:
    """How a Parquet scan reads a part whose times are of another type than the one asked (pandas'
    nanoseconds, milliseconds, no zone: UTC, or another zone): as the type asked, the same instants
    (to the asked unit). Polars' scan cast options, which Polars marks unstable:
    ``tests/store/test_contract_times.py`` holds every such type to it."""
    return pl.ScanCastOptions(
        datetime_cast=["downcast", "upcast", "convert-timezone"],
        # parts keeping a contract number in other types: read as the one the store settled on, which
        # holds each exactly (``parts.settle``), then cast to the contract's (``number_casts``)
        integer_cast=["upcast", "allow-float"],
        float_cast=["upcast"],
    )


def contract_schema(schema: Mapping[str, pl.DataType]) -> dict[str, pl.DataType]:
    """``schema`` with the contract's times (:data:`CONTRACT_TIMES`) in its type, microseconds in UTC:
    a hand-made store's nanoseconds or milliseconds (pandas, Spark), no zone (taken as UTC, the
    contract's zone) or another zone. Analyses compare these columns with each other and with UTC
    bounds, which Polars refuses across units or zones. Other time columns (a user's own) stay as
    they are: their zone, or the lack of one, is theirs to say."""
    return {
        name: UTC_US if name in CONTRACT_TIMES and isinstance(dtype, pl.Datetime) else dtype
        for name, dtype in schema.items()
    }


#: The contract's number columns: another number type (pandas' float64 for an integer column holding
#: nulls, MQTT rows' ``observation_id``) is read as the contract's.
CONTRACT_NUMBERS = tuple(name for name, dtype in REQUIRED_COLUMNS.items() if dtype.is_numeric())


def contract_casts(schema: Mapping[str, pl.DataType]) -> list[pl.Expr]:
    """The casts from ``schema`` to :func:`contract_schema` (none for data that keeps the contract),
    of a contract time in Parquet's or pandas' null type (``arrival_time = None``: no value at all)
    to the contract's type, as ``evkit.scan`` reads such a part, and :func:`number_casts`."""
    target = contract_schema(schema)
    times = [
        pl.col(name).cast(UTC_US)
        for name, dtype in schema.items()
        if name in CONTRACT_TIMES and (target[name] != dtype or dtype == pl.Null())
    ]
    return times + number_casts(schema)


def number_casts(schema: Mapping[str, pl.DataType]) -> list[pl.Expr]:
    """The casts of ``schema``'s contract numbers of another number type (or of the null type: no
    value at all) to the contract's: none for data that keeps the contract. A whole float is the
    integer, NaN (pandas' null) is null; a float id that is not whole, or an id beyond the contract's
    integers, is null too (:func:`number_problems` names them where a frame is checked). Parquet scans
    cannot cast a float to an integer: ``evkit.scan`` casts after reading."""
    return [cast for name in CONTRACT_NUMBERS if (cast := _number_cast(name, schema.get(name))) is not None]


def _number_cast(name: str, dtype: pl.DataType | None) -> pl.Expr | None:
    """:func:`number_casts`' cast of the contract number ``name`` held as ``dtype``, or None."""
    wanted = REQUIRED_COLUMNS[name]
    if dtype is None or dtype == wanted or not (dtype.is_numeric() or dtype == pl.Null()):
        return None
    value = pl.col(name)
    if dtype.is_float() and wanted.is_integer():
        value = pl.when(value == value.floor()).then(value)  # NaN, inf and 109.5 alike: null
    return value.cast(wanted, strict=False).alias(name)


def read_casts(schema: Mapping[str, pl.DataType]) -> list[pl.Expr]:
    """What every read of a store does to its parts' rows (``schema``: the store's settled one):
    :func:`number_casts`, and NaN in ``value`` read as null (:func:`nan_as_null`)."""
    casts = {cast.meta.output_name(): cast for cast in number_casts(schema)}
    if _float_values(schema):
        casts["value"] = casts.get("value", pl.col("value")).fill_nan(None).alias("value")
    return list(casts.values())


def nan_as_null(frame: pl.LazyFrame) -> pl.LazyFrame:
    """``frame`` with NaN in ``value`` read as null. NaN is pandas' and NumPy's "no value", and no
    charger sends it (evkit's decoders keep it out: ``evkit/easee/_values.py``, ``evkit/evcc/decode.py``,
    ``evkit/goe/decode.py``), so a frame made elsewhere holding one means a missing value. Kept as NaN
    it broke the analyses: ``sessions`` raised a Polars cast error on an op mode of NaN, and one NaN
    session counter made a charger's daily energy NaN. ``frame`` itself when its ``value`` is no float."""
    if not _float_values(frame.collect_schema()):
        return frame
    return frame.with_columns(pl.col("value").fill_nan(None))


def _float_values(schema: Mapping[str, pl.DataType]) -> bool:
    """Whether ``schema``'s ``value`` is a float, which alone can hold NaN."""
    dtype = schema.get("value")
    return dtype is not None and dtype.is_float()


#: Frames known to hold no NaN in ``value``: what ``evkit.scan`` returned (its reads make NaN null:
#: :func:`read_casts`) and what :func:`contract_frame` returned.
_NAN_FREE: FrameMemo[bool] = FrameMemo()


def known_nan_free(frame: pl.LazyFrame) -> pl.LazyFrame:
    """``frame``, remembered as holding no NaN in ``value`` (:func:`contract_frame` hands it on as
    it is)."""
    _NAN_FREE.put(frame, True)
    return frame


#: Lazy frames of rows held in memory (:func:`in_memory`).
_IN_MEMORY: FrameMemo[bool] = FrameMemo()


def in_memory(frame: pl.DataFrame) -> pl.LazyFrame:
    """``frame.lazy()``, remembered as rows in memory: a question about every row of it
    (``evkit.store.frame_facts.none_match``) costs one pass over memory, no read, and is answered
    once for the analyses that ask it in turn (a report's bucket: nine filters to Easee rows that keep
    every row, about 0.07 s of CPU of a 3M-row bucket's 2.1-2.3 s). The lazy frame is a snapshot:
    changing ``frame`` in place later does not change it."""
    return _held_in_memory(frame.lazy())


def _held_in_memory(lf: pl.LazyFrame) -> pl.LazyFrame:
    """``lf``, remembered as computed from rows in memory (:func:`in_memory`)."""
    _IN_MEMORY.put(lf, True)
    return lf


def is_in_memory(frame: pl.LazyFrame) -> bool:
    """Whether ``frame`` is an :func:`in_memory` frame (or :func:`contract_frame` of a frame in memory)."""
    return _IN_MEMORY.get(frame) is not None


def _may_hold_nan(frame: pl.LazyFrame | pl.DataFrame) -> bool:
    """Whether ``value`` of ``frame`` may hold NaN: a frame in memory is looked at (milliseconds for
    millions of rows), a frame ``evkit.scan`` or :func:`contract_frame` returned holds none, any other
    lazy frame may (it is read as null lazily: a vectorised step, not a second read)."""
    if isinstance(frame, pl.DataFrame):
        return _float_values(frame.schema) and bool(frame["value"].is_nan().any())
    return _NAN_FREE.get(frame) is None


def number_problems(lf: pl.LazyFrame, where: str = "the data") -> str | None:
    """Why ``lf``'s contract numbers cannot all be read as the contract's (:func:`number_casts` would
    make a value null): ids that are not whole, or beyond the contract's integers; None when they
    can. Reads those columns only when their type differs from the contract's."""
    schema = lf.collect_schema()
    checks = {}
    for name in CONTRACT_NUMBERS:
        dtype = schema.get(name)
        if REQUIRED_COLUMNS[name].is_integer() and (cast := _number_cast(name, dtype)) is not None:
            held = pl.col(name).fill_nan(None) if dtype is not None and dtype.is_float() else pl.col(name)
            checks[name] = (held.is_not_null() & cast.is_null()).sum()  # a value the cast loses
    if not checks:
        return None
    found = lf.select(**checks).collect().row(0, named=True)
    bad = [f"{name} holds {found[name]} value(s) that are not {REQUIRED_COLUMNS[name]} (not whole, or "
           f"too large)" for name in checks if found[name]]  # fmt: skip
    return f"{where} does not follow the dataset contract: {'; '.join(bad)}" if bad else None


#: A frame, lazy or held in memory.
Frame = TypeVar("Frame", pl.LazyFrame, pl.DataFrame)


def with_contract_types(lf: Frame) -> Frame:
    """``lf`` with its contract times and numbers in the contract's types (:func:`contract_casts`),
    else ``lf`` itself. ``evkit.scan`` reads every store so; this is for frames made elsewhere."""
    casts = contract_casts(lf.collect_schema())
    return lf.with_columns(casts) if casts else lf


def contract_frame(frame: pl.LazyFrame | pl.DataFrame, where: str = "the data") -> pl.LazyFrame:
    """A frame made elsewhere (pandas', a notebook's) as the analyses read it, lazily, in the words
    ``evkit.scan`` uses for a store: ``DatasetError`` naming the required columns it lacks or the
    contract times of another kind (text, a date) that hold a value; a required column of another
    kind holding no value at all (pandas' ``arrival_time = None``: text of nothing) read as missing
    values of the contract's type, as the scan reads a part whose column holds none; then
    :func:`with_contract_types`; NaN in ``value`` read as null (:func:`nan_as_null`). ``frame`` itself
    (lazily) when it keeps the contract and holds no NaN (a store's scan: its speed hints are kept)."""
    lf = frame.lazy()
    schema = lf.collect_schema()
    # rare: read only the odd columns, to tell those that hold no value
    if odd := of_another_kind(schema, REQUIRED_COLUMNS):
        held = lf.select(pl.col(odd).is_not_null().any()).collect().row(0, named=True)
        if hollow := [name for name in odd if not held[name]]:
            lf = lf.with_columns(pl.lit(None, REQUIRED_COLUMNS[name]).alias(name) for name in hollow)
            schema = lf.collect_schema()
    if error := contract_error(schema, where) or number_problems(lf, where):
        raise DatasetError(error)
    checked = with_contract_types(lf)
    found = known_nan_free(nan_as_null(checked) if _may_hold_nan(frame) else checked)
    # a frame in memory: computed from memory, whatever it converted (``in_memory``)
    return _held_in_memory(found) if isinstance(frame, pl.DataFrame) else found


def type_kind(dtype: pl.DataType) -> str:
    """The kind of ``dtype`` the analyses care about: any number is a number, each kind of time its own
    (a date-time of any unit or zone, a date, a duration), any other type itself."""
    if dtype.is_temporal():
        return type(dtype).__name__
    if dtype.is_numeric():
        return "number"
    return type(dtype).__name__


def contract_problems(
    schema: Mapping[str, pl.DataType], columns: Iterable[str] = REQUIRED_COLUMNS
) -> list[str]:
    """Why ``schema``'s required ``columns`` break the contract (one sentence per column; none when they
    keep it): a column of another kind of type (text or a date for a time, text for a number); another
    number type, time unit or zone is read as the contract's, and an all-null column passes."""
    return [
        f"{name} is {schema[name]} (expected {REQUIRED_COLUMNS[name]})"
        for name in of_another_kind(schema, columns)
    ]


def of_another_kind(schema: Mapping[str, pl.DataType], columns: Iterable[str]) -> list[str]:
    """Those of the required ``columns`` that ``schema`` holds in a type of another kind than the
    contract's (:func:`type_kind`; the null type, no value at all, is of every kind)."""
    return [
        name
        for name in columns
        if name in schema
        and schema[name] != pl.Null()
        and type_kind(schema[name]) != type_kind(REQUIRED_COLUMNS[name])
    ]


def contract_error(
    schema: Mapping[str, pl.DataType], where: str, kinds: Iterable[str] = CONTRACT_TIMES
) -> str | None:
    """Why the data ``where`` names (a path, "the data") cannot be read as the contract says, or None:
    required columns missing, or those of ``kinds`` of another kind of type (:func:`contract_problems`;
    by default the times, which every reader converts; the commands check every column)."""
    if missing := missing_required(list(schema)):
        return f"{where} lacks required column(s): {', '.join(missing)}"
    if problems := contract_problems(schema, kinds):
        return f"{where} does not follow the dataset contract: {'; '.join(problems)}"
    return None


def missing_required(columns: list[str] | set[str]) -> list[str]:
    """Names of required columns absent from ``columns``, in contract order."""
    present = set(columns)
    return [name for name in REQUIRED_COLUMNS if name not in present]


def empty_frame(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """A zero-row frame with ``schema``."""
    return pl.DataFrame(schema=schema)
