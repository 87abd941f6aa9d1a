"""``evkit sessions --format json`` writes exactly what ``json.dump(records, indent=2)`` wrote, faster."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from evkit.commands.analysis import json_records

_values = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
_records = st.lists(st.dictionaries(st.text(), _values, max_size=6), max_size=6)


@given(_records)
def test_json_records_is_json_dumps_indent_2(records: list[dict[str, object]]) -> None:
    assert json_records(records) == json.dumps(records, indent=2)
