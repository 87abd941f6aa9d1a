"""Signals of long-running and read-only commands.

``stop_signals``: while a long-running command works, Ctrl-C (SIGINT) and SIGTERM call its stop handler
instead of interrupting it (so it can flush, acknowledge and exit 0); the previous handlers come back
afterwards.

``terminable``: SIGTERM ends a read-only command as Ctrl-C does, at once, even inside a Polars query.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
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


class Terminated(BaseException):
    """SIGTERM to a read-only command: ends it as Ctrl-C does, through every ``finally``."""


#: How long the relay waits for Python to handle SIGTERM itself (it can, between two of its steps).
GRACE_S = 0.05


def _in_polars(frame: FrameType | None) -> bool:
    """Whether ``frame`` runs inside a Polars call (a query calling back into Python: raising there
    makes Polars panic, and the panic would read as damaged data)."""
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module == "polars" or module.startswith("polars."):
            return True
        frame = frame.f_back
    return False


@contextlib.contextmanager
def terminable() -> Iterator[None]:
    """Inside the block (main thread only), SIGTERM ends the command as Ctrl-C does, at once, raising
    :class:`Terminated` so that its temporary files are removed on the way out (SIGTERM's default
    action ends the process at once, leaving the bucket files of a large analysis behind).

    Python runs a signal's handler between two steps of its own, so a Polars query under way would end
    first (10-14 s into a 60M-row report), and a handler raising inside a query's call back into Python
    makes Polars panic. Polars stops a query at once on Ctrl-C: its own SIGINT handler aborts it. So:
    where Python handles SIGTERM outside Polars, :class:`Terminated` is raised there; else a thread
    woken by SIGTERM (``signal.set_wakeup_fd``, written by Python's C-level handler at once) sends the
    process SIGINT after ``GRACE_S``, and the KeyboardInterrupt that ends the query is raised as
    :class:`Terminated`."""
    lock = threading.Lock()
    raised = threading.Event()  # Terminated raised by the handler: nothing to relay
    relayed = threading.Event()  # SIGINT sent: its KeyboardInterrupt is the termination
    ended = False

    def on_term(_signum: int, frame: FrameType | None) -> None:
        if _in_polars(frame):
            return  # the relay below stops the query
        with lock:
            if raised.is_set():
                return
            raised.set()
        raise Terminated

    read, write = os.pipe()
    os.set_blocking(write, False)
    previous = signal.signal(signal.SIGTERM, on_term)
    previous_fd = signal.set_wakeup_fd(write)

    def relay() -> None:
        with contextlib.closing(os.fdopen(read, "rb", buffering=0)) as woken:
            # empty at the block's end: the write end is closed
            while got := woken.read(64):
                if signal.SIGTERM not in got:
                    continue
                time.sleep(GRACE_S)  # Python may handle it itself meanwhile
                with lock:
                    if not (ended or raised.is_set() or relayed.is_set()):
                        relayed.set()
                        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=relay, name="evkit-sigterm", daemon=True).start()
    try:
        yield
    except KeyboardInterrupt:
        if relayed.is_set():
            raise Terminated from None
        raise
    finally:
        with lock:
            ended = True
        signal.set_wakeup_fd(previous_fd)
        os.close(write)
        signal.signal(signal.SIGTERM, previous)


__all__ = ["Terminated", "stop_signals", "terminable"]
