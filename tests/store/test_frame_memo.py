"""``FrameMemo``: what the store and the analyses remember of a frame (how ``scan`` made it, its shape,
that it holds no NaN) lives as long as the frame, and never passes to another frame."""

from __future__ import annotations

import gc

import polars as pl

from evkit.store.frame_memo import FrameMemo


def test_a_value_lives_with_its_frame_and_no_other_frame_gets_it() -> None:
    memo: FrameMemo[str] = FrameMemo()
    frame, other = pl.LazyFrame({"a": [1]}), pl.LazyFrame({"a": [1]})
    assert memo.put(frame, "first") == "first" and memo.get(frame) == "first"
    assert memo.get(other) is None
    memo.put(frame, "again")  # replaced, one entry
    assert memo.get(frame) == "again" and len(memo) == 1
    del frame
    gc.collect()
    assert len(memo) == 0  # dropped with its frame
    for _ in range(50):  # frames made later (ids are reused) are not known
        assert memo.get(pl.LazyFrame({"a": [2]})) is None
