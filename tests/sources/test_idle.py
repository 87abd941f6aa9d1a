"""``ConnectedIdleClock``: --idle-exit counts only time connected since the last message."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from evkit.sources.idle import ConnectedIdleClock

# An event after a gap: "flip" connects or disconnects, "message" arrives (only while connected),
# "ask" reads the clock.
events = st.lists(
    st.tuples(st.floats(0.0, 100.0), st.sampled_from(["flip", "message", "ask"])), min_size=1, max_size=40
)


def reference(intervals: list[tuple[float, float]], last_message: float | None, now: float) -> float:
    """Seconds connected in (last_message, now], from the connected intervals (brute force)."""
    start = last_message if last_message is not None else float("-inf")
    return sum(max(0.0, min(b, now) - max(a, start)) for a, b in intervals)


@given(events)
def test_idle_seconds_are_the_time_connected_since_the_last_message(steps: list[tuple[float, str]]) -> None:
    clock = ConnectedIdleClock()
    now = 0.0
    clock.connected(now, None)  # captures start connected (a failed first connect ends them)
    intervals: list[tuple[float, float]] = []
    up_since: float | None = now
    last: float | None = None
    for gap, kind in steps:
        now += gap
        if kind == "flip" and up_since is not None:
            intervals.append((up_since, now))
            up_since = None
            clock.disconnected(now, last)
        elif kind == "flip":
            up_since = now
            clock.connected(now, last)
        elif kind == "message" and up_since is not None:
            last = now  # the capture only stores the time; the clock learns it on its next call
        elif kind == "ask":
            current = [*intervals, (up_since, now)] if up_since is not None else intervals
            assert abs(clock.seconds(now, last) - reference(current, last, now)) < 1e-6


def test_an_outage_pauses_the_clock() -> None:
    clock = ConnectedIdleClock()
    clock.connected(0.0, None)
    clock.disconnected(2.0, None)
    assert clock.seconds(100.0, None) == 2.0  # away for 98 s: still 2 s idle
    clock.connected(100.0, None)
    assert clock.seconds(101.0, None) == 3.0
    assert clock.seconds(103.0, 102.0) == 1.0  # a message at 102 s resets it
