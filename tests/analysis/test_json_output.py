"""``evkit sessions --format json`` writes exactly what ``json.dump(records, indent=2)`` wrote, faster."""

from __future__ import annotations

import io
import json
import math
from datetime import UTC, datetime

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from evkit.commands import _records as records_module
from evkit.commands._records import as_records, json_frame, json_records, round4, write_json_frame

_values = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
_records = st.lists(st.dictionaries(st.text(), _values, max_size=6), max_size=6)


@given(_records)
def test_json_records_is_json_dumps_indent_2(records: list[dict[str, object]]) -> None:
    assert json_records(records) == json.dumps(records, indent=2)


_times = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC))
_columns = st.sampled_from(
    [
        (pl.Float64, st.none() | st.floats()),  # NaN and infinities too: they become null
        (pl.Float32, st.none() | st.floats(width=32)),
        (pl.Int8, st.none() | st.integers(-128, 127)),
        (pl.Int64, st.none() | st.integers(-(2**63), 2**63 - 1)),
        (pl.UInt32, st.none() | st.integers(0, 2**32 - 1)),
        (pl.Boolean, st.none() | st.booleans()),
        (pl.String, st.none() | st.text() | st.sampled_from(["EH000001", 'a "quoted"\nline', "Zürich ⚡"])),
        (pl.Datetime("us", "UTC"), st.none() | _times),
        # a type the column-wise path leaves to json_records
        (pl.List(pl.Int64), st.none() | st.lists(st.integers(-5, 5), max_size=3)),
    ]
)


@st.composite
def _frames(draw: st.DrawFn) -> pl.DataFrame:
    rows = draw(st.integers(0, 8))
    specs = draw(st.lists(st.tuples(st.text(max_size=8), _columns), max_size=6, unique_by=lambda s: s[0]))
    series = [
        pl.Series(name, [draw(values) for _ in range(rows)], dtype=dtype) for name, (dtype, values) in specs
    ]
    if not series:
        return pl.DataFrame()
    return pl.DataFrame(series)


@given(_frames())
def test_json_frame_is_json_dumps_of_the_records(frame: pl.DataFrame) -> None:
    """Column by column or record by record: the same bytes (rounding, null for NaN, escapes, times)."""
    records = as_records(frame)
    assert json_frame(frame) == json_records(records)
    if not any(isinstance(dtype, pl.List) for dtype in frame.dtypes):
        assert json_frame(frame) == json.dumps(records, indent=2)


@given(_frames(), st.integers(1, 9))
def test_written_in_chunks_is_the_same_text(frame: pl.DataFrame, chunk_rows: int) -> None:
    """``evkit sessions --format json`` writes a chunk of records at a time (bounded memory): same bytes."""
    out = io.StringIO()
    write_json_frame(frame, out, chunk_rows=chunk_rows)
    assert out.getvalue() == json_frame(frame)
    json.loads(out.getvalue())  # and valid JSON whatever the chunking


# floats anywhere, and values on a tie of the fifth decimal (where rounding the scaled value can differ)
_floats = st.floats() | st.integers(-(10**13), 10**13).map(lambda k: k / 10**5)


@given(st.lists(_floats, max_size=50))
def test_round4_rounds_as_python_does(values: list[float]) -> None:
    """Polars rounds the column; the text is Python's ``repr(round(v, 4))`` to the last digit."""
    got = round4(pl.Series(values, dtype=pl.Float64)).to_list()
    expected = [round(v, 4) if math.isfinite(v) else None for v in values]
    assert [repr(v) for v in got] == [repr(v) for v in expected]


def test_text_is_quoted_as_it_is_exactly_when_json_would_not_escape_it() -> None:
    """A text column without a character ``json`` escapes is written quoted as it is (no Python per
    value); the test of that character agrees with ``json`` on every character of the BMP."""
    chars = [chr(code) for code in range(0x10000) if not 0xD800 <= code < 0xE000]
    flagged = pl.Series(chars).str.contains(records_module._ESCAPED).to_list()
    assert flagged == [json.dumps(c) != f'"{c}"' for c in chars]
    plain = pl.DataFrame({"id": ["EH000001", None, "2026-03-01T10:00:00Z"]})
    assert json_frame(plain) == json.dumps(plain.to_dicts(), indent=2)
