"""``stop_signals``: while a long-running command works, Ctrl-C (SIGINT) and SIGTERM call its stop
handler instead of interrupting it (so it can flush, acknowledge and exit 0); the previous handlers
come back afterwards."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from types import FrameType


@contextlib.contextmanager
def stop_signals(stop: Callable[[signal.Signals], None]) -> Iterator[None]:
    """Call ``stop(signal)`` on SIGINT or SIGTERM inside the ``with`` block."""

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop(signal.Signals(signum))

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


__all__ = ["stop_signals"]
