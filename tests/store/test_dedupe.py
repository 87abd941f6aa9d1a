"""The store's duplicate view: only redelivered rows are compared, with the same result as the full rule.

A capture acknowledges a message only after the part holding it is on disk; a crash or a lost
connection before the acknowledgement makes the broker deliver it again, flagged ``redelivered``.
The model below runs that protocol (deliveries, flushes, crashes that lose the unwritten batch,
reconnects that lose the acknowledgement of a written batch, devices sending a message again) with the
real decoder and the real writer, and compares ``scan(dedupe=True)`` with the full rule applied to every
row. Of redelivered copies the first RECEIVED is kept, not the first stored: a crash starts a capture
whose parts may list first, and compaction re-sorts a day by receive time.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from evkit.easee.decode import Delivery, decode_deliveries
from evkit.store import PartWriter, scan
from evkit.store.reader import check_dataset

T0_US = 1_764_000_000_000_000

# (charger, observation id, second, value) of each published message: Easee's body carries the
# device time, so one (routing key, body) is one message (the store's definition of a message)
_messages = st.lists(
    st.tuples(
        st.sampled_from(["EH1", "EH2"]), st.sampled_from([109, 120]), st.integers(0, 5), st.integers(0, 3)
    ),
    min_size=1,
    max_size=25,
    unique=True,
)
# what happens between deliveries ("resend": the device sends the last message delivered again, plain)
_events = st.lists(
    st.sampled_from(["deliver", "deliver", "deliver", "flush", "crash", "reconnect", "resend"]), max_size=60
)


def _delivery(msg: tuple[str, int, int, int], redelivered: bool, received: int, epoch: int) -> Delivery:
    charger, obs, second, value = msg
    moment = f"2025-11-24T16:00:{second:02d}Z"
    body = json.dumps({"Timestamp": moment, "Value": value}).encode()
    return Delivery(f"{charger}.O.{obs}", body, None, redelivered, T0_US + received, epoch)


def _capture(
    root: Path, messages: list[tuple[str, int, int, int]], events: list[str], later_first: bool = False
) -> None:
    """Run the capture protocol over ``messages`` as ``events`` say; the rest is delivered at the end.
    Each crash starts a new capture; with ``later_first`` each one's parts list before the earlier ones'."""
    queue: list[tuple[tuple[str, int, int, int], bool]] = [(m, False) for m in messages]
    batch: list[Delivery] = []
    unacked: list[tuple[str, int, int, int]] = []
    captures = iter(f"capture-{99 - n:02d}" if later_first else None for n in range(100))
    writer = PartWriter(root, capture_id=next(captures))
    clock = 0
    epoch = 0

    def write() -> None:
        if batch:
            writer.write(decode_deliveries(batch))
            batch.clear()

    for event in [*events, *["deliver", "flush"] * (2 * len(messages) + 2)]:
        clock += 1_000
        if event == "deliver" and queue:
            msg, again = queue.pop(0)
            batch.append(_delivery(msg, again, clock, epoch))
            unacked.append(msg)
        elif event == "resend" and unacked:
            queue.append((unacked[-1], False))
        elif event == "flush":
            write()
            unacked.clear()  # acknowledged
        elif event == "crash":
            batch.clear()  # never written
            queue[:0] = [(m, True) for m in unacked]
            unacked.clear()
            writer.close()
            writer = PartWriter(root, capture_id=next(captures))  # a new capture: its parts may list first
            epoch += 1
        elif event == "reconnect":
            write()  # written, but the acknowledgement is lost with the connection
            queue[:0] = [(m, True) for m in unacked]
            unacked.clear()
            epoch += 1
    write()
    writer.close()


def _full_rule(root: Path) -> pl.DataFrame:
    """Every row not redelivered; of the redelivered rows of a (routing_key, raw) without one, the first
    received (then by ArrivalTime, then stored first); every body hashed."""
    found = check_dataset(root)
    frame = pl.scan_parquet(found.good, schema=found.schema, hive_partitioning=False).with_row_index("__i")
    order = frame.sort("redelivered", "received_at", "arrival_time", "__i", nulls_last=True)
    kept = order.filter(pl.col("redelivered").not_() | pl.struct("routing_key", "raw").is_first_distinct())
    return kept.sort("__i").drop("__i").collect()


def _key(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort("routing_key", "raw", "received_at", "capture_id")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages=_messages, events=_events, later_first=st.booleans())
# lost in a crash, then stored twice redelivered: by the second capture, then by a third listed first
@example([("EH1", 120, 0, 0)], ["deliver", "crash", "deliver", "reconnect", "deliver", "crash"], True)
def test_cheap_dedupe_equals_the_full_rule_on_captured_stores(
    messages: list[tuple[str, int, int, int]], events: list[str], later_first: bool
) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        _capture(root, messages, events, later_first)
        cheap = scan(root).collect()
        assert_frame_equal(_key(cheap), _key(_full_rule(root)))
        # every distinct message is there, once but for the device's own resends
        assert cheap.select("routing_key", "raw").n_unique() == len(messages)
        assert cheap.filter(pl.col("redelivered")).select("routing_key", "raw").is_unique().all()


def test_no_redelivered_rows_means_no_filter(tmp_path: Path) -> None:
    """Nothing to remove: the plan is the plain scan (no hash of any body)."""
    PartWriter(tmp_path).write(decode_deliveries([_delivery(("EH1", 120, 1, 1), False, 1, 0)]))
    plan = scan(tmp_path).explain()
    assert "is_first_distinct" not in plan and "JOIN" not in plan.upper()


def test_copies_of_a_reconnect_and_a_crash_are_removed_and_originals_kept(tmp_path: Path) -> None:
    messages = [("EH1", 120, s, 1) for s in range(4)]
    _capture(tmp_path, messages, ["deliver", "deliver", "reconnect", "deliver", "crash"])
    every = scan(tmp_path, dedupe=False).collect()
    assert every["redelivered"].sum() >= 2 and every.height > len(messages)
    kept = scan(tmp_path).collect()
    assert kept.height == len(messages)
    assert (
        kept.filter(pl.col("redelivered"))["raw"]
        .is_in(every.filter(~pl.col("redelivered"))["raw"].implode())
        .sum()
        == 0
    )


def _unflag(part: Path) -> None:
    """Rewrite ``part`` as a capture from before the ``redelivered`` column wrote it (no such column)."""
    pl.read_parquet(part).drop("redelivered").write_parquet(part)


def _mixed_rule(root: Path) -> pl.DataFrame:
    """Rows of parts without the flag: one per (routing_key, raw) among themselves, the first received;
    they are originals for the flagged rows, of which the plain ones stay and of the redelivered ones
    of a (routing_key, raw) without an original, the first received; every body hashed."""
    found = check_dataset(root)
    frames = [
        pl.read_parquet(part).with_columns(__old=pl.lit("redelivered" not in pl.read_parquet_schema(part)))
        for part in found.good
    ]
    every = pl.concat(frames, how="diagonal_relaxed").with_row_index("__i")
    if "redelivered" not in every.columns:  # every part old
        every = every.with_columns(redelivered=pl.lit(None, pl.Boolean))
    received = ["received_at", "arrival_time", "__i"]
    old = every.filter("__old").sort(received, nulls_last=True)
    old = old.filter(pl.struct("routing_key", "raw").is_first_distinct())
    red = pl.col("redelivered").fill_null(False) & pl.col("__old").not_()
    rest = pl.concat([old, every.filter(pl.col("__old").not_())]).with_columns(__red=red)
    ordered = rest.sort(["__red", *received], nulls_last=True)
    kept = ordered.filter(pl.col("__red").not_() | pl.struct("routing_key", "raw").is_first_distinct())
    return kept.sort("__i").drop("__i", "__old", "__red").select(list(found.schema))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    messages=_messages, events=_events, later_first=st.booleans(), old=st.lists(st.booleans(), max_size=12)
)
# a redelivered copy of an original stored by a capture from before the flag
@example([("EH1", 120, 0, 0)], ["deliver", "reconnect", "deliver", "flush"], False, [True, False])
# copies among the old parts, then a new part
@example(
    [("EH1", 120, 0, 0)], ["deliver", "reconnect", "deliver", "reconnect", "deliver"], False, [True, True]
)
def test_parts_without_the_flag_keep_the_full_rule_beside_flagged_ones(
    messages: list[tuple[str, int, int, int]], events: list[str], later_first: bool, old: list[bool]
) -> None:
    """A store of parts written before the ``redelivered`` column and after: the old rows' copies are
    found by their bodies, the new rows' by the flag, and old rows are originals for new copies."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        _capture(root, messages, events, later_first)
        parts = sorted(root.rglob("*.parquet"), key=lambda p: p.stat().st_mtime_ns)
        for part, unflag in zip(parts, old, strict=False):
            if unflag:
                _unflag(part)
        cheap = scan(root, require=False).collect()
        assert_frame_equal(_key(cheap), _key(_mixed_rule(root)))
        narrow = scan(root, require=False, chargers=["EH1"]).collect()
        assert_frame_equal(_key(narrow), _key(cheap.filter(pl.col("charger_id") == "EH1")))


def test_old_rows_keep_their_copies_removed_when_a_flagged_part_arrives(tmp_path: Path) -> None:
    messages = [("EH1", 120, s, 1) for s in range(3)]
    _capture(tmp_path, messages, ["deliver", "deliver", "reconnect", "deliver", "crash"])
    for part in tmp_path.rglob("*.parquet"):
        _unflag(part)
    before = scan(tmp_path, require=False).collect()
    assert before.height == len(messages) < scan(tmp_path, dedupe=False, require=False).collect().height
    PartWriter(tmp_path, capture_id="new").write(  # a capture with the flag: one new message
        decode_deliveries([_delivery(("EH2", 109, 1, 1), False, 10**9, 0)])
    )
    after = scan(tmp_path).collect()
    assert after.height == len(messages) + 1
    assert_frame_equal(_key(after.filter(pl.col("charger_id") == "EH1")).drop("redelivered"), _key(before))


def test_a_written_null_flag_is_a_plain_row(tmp_path: Path) -> None:
    """A row written with a null ``redelivered`` (audit rows, hand-made frames) is no copy: both stay."""
    row = decode_deliveries([_delivery(("EH1", 120, 1, 1), False, 1, 0)])
    PartWriter(tmp_path).write(pl.concat([row, row]).with_columns(redelivered=pl.lit(None, pl.Boolean)))
    PartWriter(tmp_path).write(decode_deliveries([_delivery(("EH2", 120, 1, 1), True, 5, 0)]))
    assert scan(tmp_path).collect().height == 3
