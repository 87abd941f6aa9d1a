"""Easee command round trips (command -> response -> read-back) as latency hops, from captured rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from evkit.analysis.easee_commands import easee_command_roundtrips
from evkit.analysis.latency import latency, latency_stats
from evkit.easee.commands import build_command
from evkit.easee.decode import decode_deliveries
from evkit.easee.encode import encode_command_response, encode_observation

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _us(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def _dataset() -> pl.LazyFrame:
    command = build_command("EH000001", 48, ["13", "5"], at=T0)
    other = build_command("EH000002", 1, [], at=T0 + timedelta(seconds=1))  # Reboot: no read-back
    response = encode_command_response("EH000001", 48, command.ticks, accepted=True, at=T0)
    reboot = encode_command_response("EH000002", 1, other.ticks, accepted=True, at=T0)
    early = encode_observation("EH000001", 48, 32.0, T0 - timedelta(seconds=5))  # before: not a read-back
    readback = encode_observation("EH000001", 48, 13.0, T0)
    rows = [
        (*early, None, False, _us(T0 - timedelta(seconds=4)), 1),
        (*response, None, False, _us(T0 + timedelta(seconds=0.4)), 1),
        (*response, None, True, _us(T0 + timedelta(seconds=3)), 1),  # a redelivered copy
        (*readback, None, False, _us(T0 + timedelta(seconds=0.9)), 1),
        (*reboot, None, False, _us(T0 + timedelta(seconds=1.2)), 1),
    ]
    return decode_deliveries(rows).lazy()  # type: ignore[arg-type]


def test_roundtrips_from_ticks_and_first_readback() -> None:
    trips = easee_command_roundtrips(_dataset()).collect().sort("charger_id")
    assert trips.get_column("command_id").to_list() == [48, 1]
    assert trips.get_column("roundtrip_s").to_list() == pytest.approx([0.4, 0.2])
    assert trips.get_column("readback_s").to_list()[0] == pytest.approx(0.9)
    assert trips.get_column("readback_s").to_list()[1] is None


def test_command_hops_in_latency() -> None:
    stats = latency_stats(_dataset()).collect()
    by_hop = {row["hop"]: row for row in stats.iter_rows(named=True)}
    assert by_hop["command_roundtrip"]["n"] == 2
    assert by_hop["command_readback"]["n"] == 1
    assert by_hop["command_readback"]["p50_s"] == pytest.approx(0.9)
    rows = latency(_dataset()).filter(pl.col("hop") == "command_readback").collect()
    assert rows.get_column("observation").to_list() == ["easee command 48"]


def test_no_commands_no_rows() -> None:
    frame = decode_deliveries([(*encode_observation("EH000001", 120, 1.0, T0), None, False, _us(T0), 1)])  # type: ignore[list-item]
    assert easee_command_roundtrips(frame.lazy()).collect().height == 0


@pytest.mark.parametrize("rows_per_bucket", [1, 2, 3])
def test_command_hops_are_the_same_in_charger_buckets(rows_per_bucket: int) -> None:
    """The buckets hold only command responses' routing keys: the command hops come out the same."""
    from polars.testing import assert_frame_equal

    from evkit.analysis.latency_buckets import latency_stats_in_buckets

    lf = _dataset()
    got = latency_stats_in_buckets(lf, by="charger", rows_per_bucket=rows_per_bucket)
    assert {"command_roundtrip", "command_readback"} <= set(got["hop"])
    assert_frame_equal(got, latency_stats(lf, by="charger").collect(), check_dtypes=False, rel_tol=1e-12)
