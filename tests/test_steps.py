"""``evkit._steps.stepped``: the steps of a long analysis on one tqdm bar, each counted from 0."""

from __future__ import annotations

import io

from tqdm.std import tqdm

from evkit._steps import stepped


def _drawn(bar_text: str) -> list[str]:
    return [line.strip() for line in bar_text.split("\r") if line.strip()]


def test_a_pass_after_a_split_in_rows_shows_every_bucket() -> None:
    """The split reports rows in 100k batches; the pass after it one bucket at a time, each drawn
    (tqdm would otherwise skip as many updates as it learnt to skip while counting rows)."""
    out = io.StringIO()
    bar = tqdm(total=2, desc="latency", unit="step", file=out, mininterval=0, ascii=True)
    tell = stepped(bar, "latency")
    for done in range(0, 6_000_001, 100_000):
        tell("splitting into buckets", done, 6_000_000)
    tell("splitting into buckets", 6_000_000, 6_000_000)
    for k in range(16):
        tell("pass 1", k, 15)
    lines = _drawn(out.getvalue())
    split = [line for line in lines if line.startswith("latency, splitting into buckets")]
    assert any("3.00M/6.00M [" in line and "row/s" in line for line in split)  # rows, scaled
    passes = [line for line in lines if line.startswith("latency, pass 1")]
    assert all(any(f"| {k}/15 [" in line for line in passes) for k in range(16))
    assert all("bucket" in line for line in passes)


def test_a_step_of_unknown_size_has_no_total() -> None:
    out = io.StringIO()
    bar = tqdm(total=2, desc="evkit report", file=out, mininterval=0, ascii=True)
    tell = stepped(bar, "evkit report")
    tell("splitting into buckets", 5, None)
    assert bar.total is None and bar.n == 5
    tell("analysing", 1, 4)
    assert (bar.total, bar.n, bar.unit) == (4, 1, "bucket")
