"""``--idle-exit`` for streaming captures: seconds *connected* without a message (pure, no I/O).

A broker outage is not idleness: while we are disconnected nothing can arrive, and the broker may
be holding messages for us. So only time connected counts; the clock pauses while disconnected and
starts again from where it stood (a message, seen later through ``last_message``, resets it).

The capture's hot path only stores the newest message time (``CaptureStats.last_message_at``);
every call here takes it and catches up, so nothing runs per message. Call :meth:`disconnected` as
soon as a connection is lost (it settles the time connected up to then).
"""

from __future__ import annotations


class ConnectedIdleClock:
    """Seconds spent connected since the last message (or since the first connect, if none came).

    >>> clock = ConnectedIdleClock()
    >>> clock.connected(0.0, None); clock.disconnected(10.0, None); clock.connected(50.0, None)
    >>> clock.seconds(55.0, None)  # 10 s + 5 s connected; the 40 s outage does not count
    15.0
    """

    def __init__(self) -> None:
        self._banked = 0.0  # connected seconds without a message, up to the last disconnect
        self._since: float | None = None  # connected since (or since the last message), None if down
        self._last: float | None = None  # newest message time seen

    def _catch_up(self, last_message: float | None) -> None:
        if last_message is None or (self._last is not None and last_message <= self._last):
            return
        self._last = last_message
        self._banked = 0.0
        if self._since is not None:
            self._since = max(self._since, last_message)

    def connected(self, now: float, last_message: float | None) -> None:
        """A connection is up (again)."""
        self._catch_up(last_message)
        if self._since is None:
            self._since = now

    def disconnected(self, now: float, last_message: float | None) -> None:
        """The connection is lost: bank the idle time connected until now, then pause."""
        self._catch_up(last_message)
        if self._since is not None:
            self._banked += max(0.0, now - self._since)
            self._since = None

    def seconds(self, now: float, last_message: float | None) -> float:
        """Idle seconds connected, as of ``now``."""
        self._catch_up(last_message)
        running = max(0.0, now - self._since) if self._since is not None else 0.0
        return self._banked + running


__all__ = ["ConnectedIdleClock"]
