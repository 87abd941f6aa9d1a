"""A tqdm bar over the steps of a long analysis in charger buckets: the split into bucket files counts
rows, each pass over the buckets counts buckets, and each step starts the bar again at 0."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

#: Told as the work goes: the step (``SPLITTING``, "pass 1", ...), how much of it is done and of how
#: much (rows while splitting, buckets otherwise; None: not known).
Step = Callable[[str, int, int | None], None]

#: The step of the one read that splits the data into bucket files (``evkit.analysis.buckets``).
SPLITTING = "splitting into buckets"
#: The step of the buckets analysed one after another (``evkit.report.data``).
ANALYSING = "analysing"


def splitting(progress: Step) -> Callable[[int, int | None], None]:
    """``progress`` as the split into bucket files tells it (``buckets.Splitting``: rows, of rows)."""
    return partial(progress, SPLITTING)


def stepped(bar: Any, prefix: str) -> Step:
    """``(step, done, total)`` drawn on ``bar`` (a tqdm bar) as ``"{prefix}, {step}"``: a new step or
    total starts it again at 0, counting rows (scaled: 23.4M) while splitting, buckets otherwise."""
    current = [""]

    def tell(step: str, done: int, total: int | None) -> None:
        if step != current[0] or bar.total != total:
            current[0] = step
            bar.unit, bar.unit_scale = ("row", True) if step == SPLITTING else ("bucket", False)
            bar.set_description(f"{prefix}, {step}", refresh=False)
            # tqdm keeps the updates it skips between draws (learnt from 100k-row batches) across a
            # reset, and a reset to None keeps the old total: a pass's single buckets would not show
            bar.miniters, bar.total = 0, total
            bar.reset()
        bar.update(done - bar.n)

    return tell


__all__ = ["ANALYSING", "SPLITTING", "Step", "splitting", "stepped"]
