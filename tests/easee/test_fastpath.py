"""The vectorised fast path gives exactly the rows of the Python decoder (differential tests)."""

from __future__ import annotations

import itertools
import json
import os
from datetime import UTC, datetime
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from evkit.easee import _fastpath
from evkit.easee.catalog import ENUM_LABELS, OBSERVATIONS, DataType, Obs
from evkit.easee.decode import Delivery, decode_deliveries, decode_deliveries_python
from evkit.sim.easee import EaseeFleet

# Each example decodes a whole batch twice: fewer examples than the single-message property tests.
EXAMPLES = int(os.environ.get("EVKIT_HYPOTHESIS_EXAMPLES", "300")) // 3
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def ids_of(data_type: DataType) -> list[int]:
    return sorted(obs_id for obs_id, info in OBSERVATIONS.items() if info.data_type is data_type)


# Ids of every catalog type, labelled ids, the reversed-token id, and ids the catalog does not know.
obs_ids = st.sampled_from(
    [
        *ids_of(DataType.DOUBLE)[:3],
        *ids_of(DataType.INTEGER)[:3],
        *ids_of(DataType.BOOLEAN)[:3],
        *ids_of(DataType.STRING)[:3],
        *sorted(ENUM_LABELS)[:4],
        int(Obs.USER_ID_TOKEN_REVERSED),
        5,  # no published type
        54,  # Boolean or String, depending on the source
        156,
        21,  # a charger enum; an Equalizer's SoftwareRelease
        31,  # a charger Boolean; an Equalizer's current in A
    ]
) | st.integers(min_value=0, max_value=3000)
id_texts = obs_ids.map(str) | st.sampled_from(["007", "-1", "1.5", "", "4294967296", "99999999999", "12a"])
serials = st.sampled_from(["EHD5CPOK", "EH-12_3", "", "É1", "a b", "x\x00y", "QP123456", "QPX"])
routing_keys = st.builds(
    lambda serial, marker, obs_id: f"{serial}.{marker}.{obs_id}",
    serials,
    st.sampled_from(["O", "O", "O", "CR", "P", "o"]),
    id_texts,
) | st.sampled_from(["EHD5CPOK.O.120.extra", "EHD5CPOK", "EHD5CPOK.O", ".O.120", "EHD5CPOK.P"])

dates = st.sampled_from(
    [
        "2024-05-01",
        "2024-02-29",
        "2023-02-29",
        "2024-02-30",
        "2024-13-01",
        "2024-00-10",
        "0999-01-01",
        "9999-12-31",
    ]
)
clock = st.sampled_from(["00:00:00", "23:59:59", "24:00:00", "12:60:00", "12:00:60", "7:00:00"])
fractions = st.sampled_from(["", "."]) | st.integers(min_value=1, max_value=11).flatmap(
    lambda digits: st.from_regex(rf"\A\.[0-9]{{{digits}}}\Z")
)
zones = st.sampled_from(["Z", "", "+00:00", "z", "+01:00", "-00:00", " Z", "+0000"])
iso_times = st.builds(
    lambda date, sep, time_, fraction, zone: f"{date}{sep}{time_}{fraction}{zone}",
    dates,
    st.sampled_from(["T", "T", " ", "t"]),
    clock,
    fractions,
    zones,
)
number_texts = (
    st.integers(min_value=-(2**60), max_value=2**60).map(str)
    | st.floats(allow_nan=False, allow_infinity=False).map(repr)
    | st.floats(allow_nan=False, allow_infinity=False).map(lambda x: f"{x:.6f}")
    | st.sampled_from(["-0", "00", "0.10", "1.0", "-0.0", "1e3", "1E-7", "0.00001", ".5", "5.", "1.5e300"])
)
value_texts = (
    number_texts
    | st.sampled_from(["true", "false", "null", "True", '"1"', '"true"', "[1]", '{"a":1}'])
    | st.text(max_size=12).map(lambda text: json.dumps(text, ensure_ascii=False))
    | st.text(max_size=12).map(json.dumps)
    | st.from_regex(r'\A"[ -~]{0,10}"\Z')
)
templates = st.sampled_from(
    [
        '{{"Timestamp":"{ts}","Value":{value}}}',
        '{{"Timestamp": "{ts}", "Value": {value}}}',
        '{{"Value":{value},"Timestamp":"{ts}"}}',
        '{{"timestamp":"{ts}","value":{value}}}',
        ' {{"Timestamp":"{ts}","Value":{value}}}',
        '{{"Timestamp":"{ts}","Value":{value}}} ',
        '{{"Timestamp":"{ts}","Value":{value},"Value":1}}',
        '{{"Timestamp" :"{ts}","Value":{value}}}',
        '{{"Timestamp":"{ts}",\n"Value":{value}}}',
        '{{"Timestamp":{ts_number},"Value":{value}}}',
    ]
)
bodies = (
    st.builds(
        lambda template, ts, value, number: template.format(ts=ts, value=value, ts_number=number).encode(),
        templates,
        iso_times,
        value_texts,
        st.integers(min_value=0, max_value=2**62),
    )
    | st.binary(max_size=40)
    | st.sampled_from([b"", b"\xff\xfe", b'{"Timestamp":"2024-05-01T00:00:00Z","Value":"\xc3\xa9"}'])
)
headers = (
    st.none()
    | st.just({})
    | iso_times.map(lambda ts: {"ArrivalTime": ts})
    | st.sampled_from(
        [
            {"ArrivalTime": b"2024-05-01T00:00:00Z"},
            {"ArrivalTime": datetime(2024, 5, 1, 0, 0, 1)},
            {"ArrivalTime": 1714521600000},
            {"arrivaltime": "2024-05-01T00:00:00Z"},
            {"ArrivalTime": "2024-05-01T00:00:00Z", "x-other": "1"},
            {"ArrivalTime": None},
            {"ArrivalTime": '2024-05-01T00:00:00"Z'},
        ]
    )
)
deliveries = st.builds(
    Delivery,
    routing_keys,
    bodies,
    headers,
    st.booleans(),
    st.integers(min_value=0, max_value=2**53),
    st.integers(min_value=0, max_value=5),
)
typical = st.builds(
    lambda obs_id, ts, value: Delivery(
        f"EHD5CPOK.O.{obs_id}",
        f'{{"Timestamp":"{ts}","Value":{value}}}'.encode(),
        {"ArrivalTime": "2024-05-01T00:00:00.5224880Z"},
        False,
        1_714_521_600_000_000,
        1,
    ),
    obs_ids,
    iso_times,
    value_texts,
)

# The common shape in canonical spelling: the fast path must take every one of these.
canonical_times = st.builds(
    lambda moment, digits, zone: (
        moment.strftime("%Y-%m-%dT%H:%M:%S")
        + (f".{moment.microsecond:06d}0"[: digits + 1] if digits else "")
        + zone
    ),
    st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31)),
    st.integers(min_value=0, max_value=7),
    st.sampled_from(["Z", "+00:00", ""]),
)
plain_decimals = st.floats(min_value=1e-4, max_value=1e15).filter(lambda x: "e" not in repr(x))
canonical_values = st.one_of(
    st.tuples(
        st.sampled_from(ids_of(DataType.DOUBLE) + ids_of(DataType.INTEGER) + [2999]),
        st.integers(-(10**15) + 1, 10**15 - 1).map(str),
    ),
    st.tuples(
        st.sampled_from([*ids_of(DataType.DOUBLE), 2999]),
        plain_decimals.map(repr) | plain_decimals.map(lambda x: repr(-x)),
    ),
    st.tuples(st.sampled_from([*ids_of(DataType.BOOLEAN), 2999]), st.sampled_from(["true", "false"])),
    st.tuples(st.sampled_from(ids_of(DataType.BOOLEAN)), st.sampled_from(["0", "1"])),
    st.tuples(st.sampled_from(ids_of(DataType.STRING)), st.from_regex(r'\A"[ !#-\[\]-~]{0,12}"\Z')),
    st.tuples(st.sampled_from(sorted(ENUM_LABELS)), st.integers(-2, 60).map(str)),
)
canonical = st.builds(
    lambda serial, id_value, ts, arrival, spaced, redelivered, received: Delivery(
        f"{serial}.O.{id_value[0]}",
        (
            f'{{"Timestamp": "{ts}", "Value": {id_value[1]}}}'
            if spaced
            else f'{{"Timestamp":"{ts}","Value":{id_value[1]}}}'
        ).encode(),
        None if arrival is None else {"ArrivalTime": arrival},
        redelivered,
        received,
        2,
    ),
    st.from_regex(r"\A[!-\-/-~]{1,10}\Z").filter(lambda serial: not serial.startswith("QP")),
    canonical_values,
    canonical_times,
    st.none() | canonical_times,
    st.booleans(),
    st.booleans(),
    st.integers(min_value=0, max_value=2**53),
)


def assert_same_as_python(batch: list[Any]) -> None:
    assert_frame_equal(decode_deliveries(batch), decode_deliveries_python(batch))


@SETTINGS
@given(st.lists(deliveries | typical, min_size=_fastpath.MIN_BATCH, max_size=48))
def test_fast_path_equals_python_path(batch: list[Delivery]) -> None:
    assert_same_as_python(batch)


@SETTINGS
@given(st.lists(typical, min_size=_fastpath.MIN_BATCH, max_size=48))
def test_fast_path_equals_python_path_on_nearly_typical_traffic(batch: list[Delivery]) -> None:
    assert_same_as_python(batch)


@SETTINGS
@given(st.lists(canonical, min_size=_fastpath.MIN_BATCH, max_size=48))
def test_canonical_rows_all_take_the_fast_path_and_equal_python(batch: list[Delivery]) -> None:
    fast, rest = _fastpath.decode_fast(batch)
    assert rest == []
    assert_frame_equal(fast.drop("_index"), decode_deliveries_python(batch))


@SETTINGS
@given(st.lists(canonical | deliveries | typical, min_size=_fastpath.MIN_BATCH, max_size=48))
def test_mixed_fast_and_python_rows_equal_python(batch: list[Delivery]) -> None:
    assert_same_as_python(batch)


def fleet_batch(count: int) -> list[Delivery]:
    fleet = EaseeFleet(20, seed=3, start=datetime(2024, 5, 1, tzinfo=UTC))
    messages = itertools.islice(fleet.messages(30 * 86400), count)
    return [
        Delivery(m.routing_key, m.body, m.headers, False, 1_714_521_600_000_000 + i, 1)
        for i, m in enumerate(messages)
    ]


def test_simulated_fleet_traffic_takes_the_fast_path_entirely() -> None:
    batch = fleet_batch(5000)
    fast, rest = _fastpath.decode_fast(batch)
    assert rest == []
    assert fast.height == len(batch)
    assert_same_as_python(batch)


def test_mixed_batch_keeps_delivery_order_and_every_row() -> None:
    batch = fleet_batch(100)
    odd = [
        Delivery("EHD5CPOK.O.120", b"not json", None, True, 5, 1),
        Delivery("EHD5CPOK.CR.11.638500000000000000", b'{"WasAccepted":true}', None, False, 6, 1),
        Delivery(
            "x", b'{"mid":"EH1","id":120,"value":"1.5","timestamp":"2024-05-01T00:00:00Z"}', None, False, 7, 1
        ),
    ]
    mixed = batch[:10] + odd[:1] + batch[10:50] + odd[1:] + batch[50:]
    frame = decode_deliveries(mixed)
    assert frame.height == len(mixed)
    assert frame.get_column("raw").to_list() == [d.body for d in mixed]
    assert_same_as_python(mixed)


def test_invalid_utf8_in_a_batch_still_decodes_every_row() -> None:
    batch = fleet_batch(40)
    batch[7] = Delivery("EHD5CPOK.O.120", b"\xff\xfe{", None, False, 1, 1)
    frame = decode_deliveries(batch)
    assert frame.height == 40
    assert frame.row(7, named=True)["error"] is not None
    assert_same_as_python(batch)


def test_typed_values_and_labels_from_the_fast_path() -> None:
    ts = "2024-05-01T10:00:00.1234567Z"
    rows = [
        (int(Obs.OP_MODE), "3"),
        (int(Obs.USER_ID_TOKEN_REVERSED), '"ABC123"'),
    ]
    batch = [
        Delivery(f"EH1.O.{obs_id}", f'{{"Timestamp":"{ts}","Value":{value}}}'.encode(), None, False, 1, 0)
        for obs_id, value in rows
    ] * (_fastpath.MIN_BATCH // 2)
    fast, rest = _fastpath.decode_fast(batch)
    assert rest == []
    first, second = fast.drop("_index").row(0, named=True), fast.drop("_index").row(1, named=True)
    assert first["value"] == 3.0 and first["label"] == ENUM_LABELS[first["observation_id"]][3]
    assert first["observed_at"] == datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert second["value"] is None and second["value_text"] == "ABC123"
    assert second["value_reversed"] == "321CBA"
    assert_same_as_python(batch)


def test_small_batches_use_the_python_path_and_agree() -> None:
    batch = fleet_batch(_fastpath.MIN_BATCH - 1)
    assert_frame_equal(decode_deliveries(batch), decode_deliveries_python(batch))
    assert decode_deliveries([]).schema == decode_deliveries_python([]).schema


def test_five_field_tuples_and_odd_types_fall_back_to_python() -> None:
    batch: list[Any] = [tuple(d)[:5] for d in fleet_batch(40)]
    assert_same_as_python(batch)
    weird = fleet_batch(40)
    weird[3] = Delivery(12345, b"{}", None, False, 1, 0)  # type: ignore[arg-type]
    frame = decode_deliveries(weird)
    assert frame.height == 40
    assert_same_as_python(weird)
    assert isinstance(frame, pl.DataFrame)


# Equalizer traffic in the common shape: the Python path reads it with the Equalizer table.
equalizer_rows = st.builds(
    lambda obs_id, value, ts: Delivery(
        f"QP{obs_id:06d}.O.{obs_id}",
        f'{{"Timestamp":"{ts}","Value":{value}}}'.encode(),
        {"ArrivalTime": ts},
        False,
        1,
        1,
    ),
    st.sampled_from([21, 31, 40, 45, 120, 250, 54, 29]),
    st.sampled_from(["12.3", "0", "1", "true", '"x"', "322"]),
    canonical_times,
)


@SETTINGS
@given(st.lists(canonical | equalizer_rows, min_size=_fastpath.MIN_BATCH, max_size=48))
def test_equalizer_rows_leave_the_fast_path_and_agree_with_python(batch: list[Delivery]) -> None:
    _fast, rest = _fastpath.decode_fast(batch)
    assert sorted(rest) == [i for i, d in enumerate(batch) if d.routing_key.startswith("QP")]
    assert_same_as_python(batch)


def test_importing_the_decoder_builds_no_frames_until_a_batch_is_decoded() -> None:
    """Every CLI process imports evkit.easee (the capture's consumer too, which never decodes): the
    fast path's tables and plan are built by the first decode, not at import (they cost ~10 MiB RSS)."""
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    code = (
        "import evkit.cli, evkit.easee, evkit.easee._fastpath as f; "
        "print(f._tables.cache_info().currsize, f._build_plan.cache_info().currsize)"
    )
    fresh = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    assert fresh.stdout.split() == ["0", "0"]
    fleet = EaseeFleet(chargers=2, seed=3, start=datetime(2026, 1, 5, tzinfo=UTC))
    batch = [
        Delivery(m.routing_key, m.body, m.headers, False, 1_767_571_200_000_000 + i, 1)
        for i, m in enumerate(itertools.islice(fleet.messages(3600), _fastpath.MIN_BATCH))
    ]
    assert_frame_equal(decode_deliveries(batch), decode_deliveries_python(batch))
    assert _fastpath._tables.cache_info().currsize == 1
    assert _fastpath._build_plan.cache_info().currsize == 1
