"""How a command is confirmed by what evcc publishes afterwards (pure; the client feeds it messages).

A :class:`~evkit.evcc.setters.SetCommand` says which state paths show the new value (``expected``),
which of them count only when a message arrives after sending (``arrival``), and what a path evcc never
published stands for (``absent``). :class:`EchoWatch` applies that to the state before sending and to
the messages that follow; :func:`same_state` compares evcc's text with the expected one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from evkit.evcc.setters import SetCommand


def same_state(expected: str, published: str) -> bool:
    """True when evcc's published text shows ``expected`` (floats to evcc's 3 decimals)."""
    if expected == published:
        return True
    if expected == "" or published == "":
        return False
    try:
        a, b = float(expected), float(published)
    except ValueError:
        return expected.lower() == published.lower()
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0005 + 1e-9)  # evcc rounds to 3 decimals


def plan_deleted(path: str, text: str) -> bool:
    """True for ``vehicles/<n>/plan`` = "": evcc deleted the vehicle's plan (its ``plan/*`` are stale)."""
    parts = path.split("/")
    return text == "" and len(parts) == 3 and parts[0] == "vehicles" and parts[2] == "plan"


class EchoWatch:
    """Follows one command's confirmation: ``unchanged`` before sending, then :meth:`see` each message."""

    def __init__(self, command: SetCommand, state: Mapping[str, str]) -> None:
        self.expected = dict(command.expected)
        self.arrival = command.arrival
        self.current = {key: state.get(key, command.absent.get(key, "")) for key in self.expected}
        self.before = dict(self.current)
        self.absent = command.absent
        self.echoed: set[str] = set()

    @property
    def unchanged(self) -> bool:
        """evcc already shows every expected value and will publish nothing new (no arrival needed)."""
        return (
            bool(self.expected)
            and not self.arrival
            and all(same_state(text, self.before[key]) for key, text in self.expected.items())
        )

    def see(self, path: str, text: str) -> bool:
        """A message evcc published after sending; True once the command is confirmed."""
        if path in self.expected:
            # an empty payload (evcc's cleanup at a restart) stands for the never-published value:
            # a restarted evcc has no external battery mode, so the release holds too
            self.current[path] = text if text != "" else self.absent.get(path, "")
            if same_state(self.expected[path], text):
                self.echoed.add(path)
        return self.complete

    @property
    def complete(self) -> bool:
        """Every expected path echoed after sending, or (when no arrival is needed) already shown."""
        return all(
            key in self.echoed or (key not in self.arrival and same_state(text, self.current[key]))
            for key, text in self.expected.items()
        )


__all__ = ["EchoWatch", "plan_deleted", "same_state"]
