"""Hypothesis: any input decodes to one row per delivery, raw byte-exact; encode -> decode round trips."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evkit.easee import catalog
from evkit.easee.catalog import DataType
from evkit.easee.decode import Delivery, decode_deliveries
from evkit.easee.encode import WIRE_FORMS, arrival_time_header, encode_observation
from evkit.store.schema import EASEE_SCHEMA

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EXAMPLES = int(os.environ.get("EVKIT_HYPOTHESIS_EXAMPLES", "300"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
key_names = st.sampled_from(
    ["Timestamp", "timestamp", "TIMESTAMP", "Value", "value", "id", "Id", "ObservationId", "mid",
     "ChargerId", "dataType", "DataType", "WasAccepted", "Comment"]
) | st.text(max_size=10)  # fmt: skip
times = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).map(
    lambda moment: moment.isoformat()
)
body_objects = st.dictionaries(key_names, json_values | times, max_size=6)
bodies = (
    st.binary(max_size=80)
    | body_objects.map(lambda obj: json.dumps(obj).encode())
    | json_values.map(lambda obj: json.dumps(obj).encode())
)
header_values = (
    st.none()
    | st.text(max_size=30)
    | st.binary(max_size=30)
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats()
    | st.datetimes()
    | times
    | st.lists(st.integers(), max_size=3)
    | st.decimals()
    | st.dictionaries(st.text(max_size=5), st.binary(max_size=5) | st.integers(), max_size=2)
)
headers = st.none() | st.dictionaries(
    st.sampled_from(["ArrivalTime", "arrivaltime", "x-other"]) | st.text(max_size=8),
    header_values,
    max_size=3,
)
routing_keys = st.sampled_from(
    ["EH1.O.120", "EH1.O.109", "EH1.CR.48.1", "EH1.P", "EH1.O.x", "", "a.b"]
) | st.text(max_size=20)
deliveries = st.builds(
    Delivery,
    routing_key=routing_keys,
    body=bodies,
    headers=headers,
    redelivered=st.booleans(),
    received_at_us=st.integers(min_value=0, max_value=4_102_444_800_000_000),
    conn_epoch=st.integers(min_value=0, max_value=1000),
)


@SETTINGS
@given(st.lists(deliveries, max_size=8))
def test_any_input_gives_one_row_per_delivery_with_the_schema(batch: list[Delivery]) -> None:
    frame = decode_deliveries(batch)
    assert frame.schema == pl.Schema(EASEE_SCHEMA)
    assert frame.height == len(batch)
    assert frame["raw"].to_list() == [item.body for item in batch]
    assert frame["received_at"].null_count() == 0
    assert frame["routing_key"].to_list() == [
        item.routing_key.encode("utf-8", "backslashreplace").decode() for item in batch
    ]
    assert frame["redelivered"].to_list() == [item.redelivered for item in batch]
    assert set(frame["kind"].to_list()) <= {"observation", "command_response", "pulse", "unknown"}


@SETTINGS
@given(st.lists(deliveries, min_size=1, max_size=4))
def test_rows_do_not_depend_on_batch_neighbours(batch: list[Delivery]) -> None:
    together = decode_deliveries(batch)
    alone = pl.concat([decode_deliveries([item]) for item in batch])
    assert together.equals(alone)


def _catalog_value(info: catalog.ObservationInfo) -> st.SearchStrategy[Any]:
    if info.data_type is DataType.BOOLEAN:
        return st.booleans()
    if info.data_type is DataType.INTEGER:
        return st.integers(min_value=-(2**31), max_value=2**31 - 1)
    if info.data_type is DataType.DOUBLE:
        return st.floats(allow_nan=False, allow_infinity=False, width=64)
    if info.data_type is DataType.STRING:
        return st.text(max_size=30)
    return st.fixed_dictionaries({"Latitude": st.floats(-90, 90), "Longitude": st.floats(-180, 180)})


observations = st.sampled_from(sorted(catalog.OBSERVATIONS.values(), key=lambda info: info.id)).flatmap(
    lambda info: st.tuples(st.just(info), _catalog_value(info))
)
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
serials = st.from_regex(r"E[HC][0-9A-Z]{6}", fullmatch=True)


@SETTINGS
@given(observations, moments, moments, serials, st.sampled_from(WIRE_FORMS))
def test_encode_then_decode_round_trips(
    observed: tuple[catalog.ObservationInfo, Any],
    observed_at: datetime,
    arrived: datetime,
    serial: str,
    form: str,
) -> None:
    info, value = observed
    routing_key, body = encode_observation(serial, info.id, value, observed_at, form)  # type: ignore[arg-type]
    delivery = Delivery(routing_key, body, {"ArrivalTime": arrival_time_header(arrived)}, False, 1)
    got = decode_deliveries([delivery]).to_dicts()[0]
    assert got["error"] is None
    assert (got["charger_id"], got["observation_id"], got["observation"]) == (serial, info.id, info.name)
    assert got["kind"] == "observation"
    assert got["observed_at"] == observed_at
    assert got["arrival_time"] == arrived
    if info.data_type is DataType.BOOLEAN:
        assert got["value"] == (1.0 if value else 0.0)
    elif info.data_type in (DataType.INTEGER, DataType.DOUBLE):
        assert got["value"] == float(value)
        assert got["label"] == catalog.label(info.id, value)
    elif info.data_type is DataType.STRING:
        assert got["value"] is None and got["value_text"] == value
        if info.id == catalog.USER_ID_TOKEN_REVERSED:
            assert got["value_reversed"] == value[::-1]
    else:
        assert json.loads(got["value_text"]) == value


@SETTINGS
@given(st.integers(min_value=0, max_value=2**62))
def test_arrival_time_integer_forms_agree(micros: int) -> None:
    moment = EPOCH + timedelta(microseconds=micros % 4_000_000_000_000_000 + 200_000_000_000_000)
    whole = moment.replace(microsecond=0)
    seconds = int((whole - EPOCH).total_seconds())
    ticks = 621_355_968_000_000_000 + seconds * 10_000_000
    frame = decode_deliveries(
        [
            Delivery("EH1.O.120", b"{}", {"ArrivalTime": value}, False, 1)
            for value in (seconds, seconds * 1000, seconds * 1_000_000, ticks, whole.replace(tzinfo=None))
        ]
    )
    assert frame["arrival_time"].to_list() == [whole] * 5
