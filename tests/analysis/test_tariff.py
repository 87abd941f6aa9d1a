"""Tariff files: what a careful user writes is read exactly; anything doubtful is refused naming the line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evkit.analysis.tariff import EPOCH, flat_tariff, parse_tariff, read_tariff, tariff_from_text
from evkit.errors import ConfigError

T = datetime(2026, 11, 1, tzinfo=UTC)


def test_rows_become_contiguous_intervals_with_no_price_before_the_first() -> None:
    tariff = tariff_from_text("from,price,co2\n2026-11-01T00:00Z,0.20,100\n2026-11-01T07:00Z,0.35,\n")
    frame = tariff.frame
    assert frame["from"].to_list() == [EPOCH, T, T + timedelta(hours=7)]
    # a schedule (no regular step): the last row holds on without end
    assert frame["to"].to_list() == [T, T + timedelta(hours=7), None]
    assert frame["price"].to_list() == [None, 0.20, 0.35]
    assert frame["co2"].to_list() == [None, 100.0, None]
    assert tariff.has_co2


def test_an_hourly_series_ends_one_step_after_its_last_row() -> None:
    text = "from,price\n" + "".join(f"2026-11-01T0{h}:00:00Z,0.{h + 1}\n" for h in range(4))
    frame = tariff_from_text(text).frame
    assert frame["to"][-2] == T + timedelta(hours=4)
    assert frame["from"][-1] == T + timedelta(hours=4)
    assert frame["price"][-1] is None  # after the series: no price


def test_times_with_offsets_and_without_zone_are_utc() -> None:
    frame = tariff_from_text(
        "from,price\n2026-11-01 01:00:00+01:00,0.1\n2026-11-01T05:00,0.2\n2026-11-02,0.3\n"
    ).frame
    assert frame["from"].to_list()[1:] == [T, T + timedelta(hours=5), T + timedelta(days=1)]


def test_negative_prices_are_allowed_negative_co2_is_not() -> None:
    assert tariff_from_text("from,price\n2026-11-01T00:00Z,-0.05\n").frame["price"][1] == -0.05
    with pytest.raises(ConfigError, match=r"line 2: co2 '-1' is not a number of 0 or more"):
        tariff_from_text("from,price,co2\n2026-11-01T00:00Z,0.1,-1\n")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("from,price\n2026-11-01T00:00Z,0,25\n", r"line 2 has 3 field\(s\).*comma decimal \(0,25\).*0\.25"),
        ('from,price\n2026-11-01T00:00Z,"0,25"\n', r"line 2: price '0,25' has a comma decimal.*\(0\.25\)"),
        ("from;price\n2026-11-01T00:00Z;0,25\n", r"separated by semicolons.*dot decimals"),
        (
            "from,price\n2026-11-01T01:00Z,1\n2026-11-01T00:00Z,1\n",
            r"line 3 \(2026-11-01T00:00Z\) is before line 2.*time order",
        ),
        ("from,price\n2026-11-01T01:00Z,1\n2026-11-01T01:00Z,2\n", r"line 3 .* repeats the time of line 2"),
        (
            "from,price\n2026-11-01T00:00Z,1\n2026-11-01T01:00Z,1\n2026-11-01T03:00Z,1\n2026-11-01T04:00Z,1\n",
            r"gap after line 3: prices come every 1 h but none is given from 2026-11-01T02:00Z "
            r"to 2026-11-01T03:00Z",
        ),
        ("from,prcie\n2026-11-01T00:00Z,1\n", r"lacks the column\(s\) price"),
        ("from,price,vat\n2026-11-01T00:00Z,1,2\n", r"unknown or repeated column\(s\) vat"),
        ("from,price\nyesterday,1\n", r"line 2: 'yesterday' is not an ISO 8601 time"),
        ("from,price\n2026-11-01T00:00Z,cheap\n", r"line 2: price 'cheap' is not a number"),
        ("from,price\n2026-11-01T00:00Z,inf\n", r"line 2: price 'inf' is not a number"),
        ("from,price\n", r"no rows"),
        ("", r"empty"),
    ],
)
def test_doubtful_files_are_refused_naming_the_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        tariff_from_text(text)


def test_an_empty_price_marks_a_hole_instead_of_a_gap() -> None:
    text = (
        "from,price\n2026-11-01T00:00Z,1\n2026-11-01T01:00Z,1\n2026-11-01T02:00Z,\n"
        "2026-11-01T03:00Z,1\n2026-11-01T04:00Z,1\n"
    )
    assert tariff_from_text(text).frame["price"].to_list()[1:4] == [1.0, 1.0, None]


def test_a_quarter_hour_series_after_an_hourly_one_is_no_gap() -> None:
    # EPEX day-ahead moved from hourly to 15-minute prices: a file spanning that change is fine
    rows = [T + timedelta(hours=h) for h in range(3)] + [
        T + timedelta(hours=3, minutes=15 * q) for q in range(5)
    ]
    text = "from,price\n" + "".join(f"{t:%Y-%m-%dT%H:%M}Z,0.1\n" for t in rows)
    assert tariff_from_text(text).frame.height == len(rows) + 2


def test_flat_and_command_line_values() -> None:
    assert parse_tariff("0.30").frame["price"].to_list() == [0.30]
    assert parse_tariff(" 0.30 ").flat
    with pytest.raises(ConfigError, match=r"dot decimal \(0\.30\)"):
        parse_tariff("0,30")
    with pytest.raises(ConfigError, match="neither a price per kWh"):
        parse_tariff("tariff.csv")
    with pytest.raises(ConfigError, match="0 or more"):
        flat_tariff(-0.1)
    with pytest.raises(ConfigError, match="three capitals"):
        parse_tariff("0.3", currency="euro")
    assert parse_tariff("0.3", currency="NOK").label() == "NOK"


def test_a_file_is_read_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("\ufefffrom,price\r\n2026-11-01T00:00Z,0.2\r\n", encoding="utf-8")
    assert read_tariff(path).frame["price"][1] == 0.2
    assert parse_tariff(str(path), "EUR").currency == "EUR"


@settings(max_examples=50, deadline=None)
@given(
    steps=st.lists(st.integers(min_value=1, max_value=48), min_size=1, max_size=30),
    prices=st.lists(st.floats(min_value=-1, max_value=5, allow_nan=False), min_size=31, max_size=31),
)
def test_any_sorted_file_of_irregular_rows_reads_back_exactly(steps: list[int], prices: list[float]) -> None:
    times = [T]
    for s in steps:
        times.append(times[-1] + timedelta(minutes=15 * s + 60))  # irregular, more than an hour apart
    text = "from,price\n" + "".join(f"{t.isoformat()},{p!r}\n" for t, p in zip(times, prices, strict=False))
    frame = tariff_from_text(text).frame.filter(pl.col("price").is_not_null())
    assert frame["from"].to_list() == times
    assert frame["price"].to_list() == prices[: len(times)]
    # contiguous: each interval ends where the next starts
    assert frame["to"].to_list()[:-1] == times[1:]


@settings(max_examples=50, deadline=None)
@given(
    slots=st.integers(min_value=5, max_value=96),
    step=st.sampled_from([15, 30, 60]),
    data=st.data(),
)
def test_a_skipped_slot_of_a_regular_series_is_named(slots: int, step: int, data: st.DataObject) -> None:
    missing = data.draw(st.integers(min_value=2, max_value=slots - 3), label="missing slot")
    times = [T + timedelta(minutes=step * i) for i in range(slots) if i != missing]
    text = "from,price\n" + "".join(f"{t:%Y-%m-%dT%H:%M}Z,0.1\n" for t in times)
    gap_start = T + timedelta(minutes=step * missing)
    with pytest.raises(ConfigError, match=f"none is given from {gap_start:%Y-%m-%dT%H:%M}Z to "):
        tariff_from_text(text)
    # the same series without the hole is accepted, and so is the hole marked with an empty price
    full = "from,price\n" + "".join(
        f"{T + timedelta(minutes=step * i):%Y-%m-%dT%H:%M}Z,0.1\n" for i in range(slots)
    )
    assert tariff_from_text(full).priced_rows().height == slots
    marked = full.replace(f"{gap_start:%Y-%m-%dT%H:%M}Z,0.1\n", f"{gap_start:%Y-%m-%dT%H:%M}Z,\n")
    assert tariff_from_text(marked).priced_rows().height == slots - 1
