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
import sys
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


#: How long the relay waits for Python to handle SIGTERM itself (it can, between two of its steps),
#: and how often it asks again while Python is inside Polars.
GRACE_S = 0.05

#: Set once a SIGTERM inside :func:`terminable` is under way (cleared as a block begins): a
#: KeyboardInterrupt that the relay caused, wherever it surfaces, is the termination (exit 143).
TERMINATED = threading.Event()


def _on_sigint(_signum: int, _frame: FrameType | None) -> None:
    """Ctrl-C as Python answers it (KeyboardInterrupt), but nothing for the SIGINT that
    :func:`terminable` sends to stop a Polars query once a termination is under way."""
    if not TERMINATED.is_set():
        raise KeyboardInterrupt


def own_sigint() -> None:
    """For a command line run (``evkit.__init__``, before Polars loads): Python's SIGINT handler is
    :func:`_on_sigint` instead of ``default_int_handler``, unless SIGINT is ignored (a script's
    background job) or handled otherwise.

    Polars stops a query on SIGINT with its own handler, which then calls the one found when Polars
    loaded (Python's). Set after Polars loads, a Python handler would replace Polars' (no query would
    stop); set before, a SIGINT that :func:`terminable` relays stops the query, and Python does not
    raise a second KeyboardInterrupt for it in the middle of the clean-up. Nothing once Polars is
    loaded."""
    if "polars" not in sys.modules and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)


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
    makes Polars panic. Polars stops a query at once on SIGINT (its own handler). So a thread woken by
    SIGTERM (``signal.set_wakeup_fd``, written by Python's C-level handler at once) sends the process
    SIGINT when Python has not handled SIGTERM within ``GRACE_S``: the query ends with a
    KeyboardInterrupt, raised as :class:`Terminated` (with :func:`own_sigint`, Python raises no second
    one). Until Python handles SIGTERM outside Polars or the termination is under way, the thread
    sends the main thread SIGTERM again every ``GRACE_S`` (no query may be running: Polars' own Python
    code, SIGINT ignored). Once a termination is under way, a later SIGTERM does not interrupt its
    clean-up. (A query stopped while it writes Parquet may print Polars' own
    ``__POLARS_ABORT_KEYBOARD_INTERRUPT`` panic line from a worker thread, as Ctrl-C does there.)"""
    lock = threading.Lock()
    under_way = threading.Event()  # Terminated raised, or a KeyboardInterrupt unwinding
    ended = False
    TERMINATED.clear()
    main = threading.main_thread().ident

    def on_term(_signum: int, frame: FrameType | None) -> None:
        TERMINATED.set()
        if under_way.is_set():
            return
        if isinstance(sys.exc_info()[1], KeyboardInterrupt | Terminated):  # unwinding already
            under_way.set()
            return
        if _in_polars(frame):
            return  # the thread below stops the query, or asks again
        with lock:  # the thread sends nothing more
            under_way.set()
        raise Terminated

    def relay(read: int) -> None:
        relayed = False
        with contextlib.closing(os.fdopen(read, "rb", buffering=0)) as woken:
            # empty at the block's end: the write end is closed
            while got := woken.read(64):
                if signal.SIGTERM not in got:
                    continue
                time.sleep(GRACE_S)  # Python may handle it itself meanwhile
                with lock:
                    if ended or under_way.is_set():
                        continue
                    if not relayed:
                        relayed = True
                        TERMINATED.set()  # first: the SIGINT's own handler then lets it pass
                        os.kill(os.getpid(), signal.SIGINT)
                    if main is not None:
                        signal.pthread_kill(main, signal.SIGTERM)  # wakes this loop again

    read, write = os.pipe()
    os.set_blocking(write, False)
    previous = signal.signal(signal.SIGTERM, on_term)
    previous_fd = signal.set_wakeup_fd(write)
    threading.Thread(target=relay, args=(read,), name="evkit-sigterm", daemon=True).start()
    try:
        yield
    except KeyboardInterrupt:
        if TERMINATED.is_set():
            raise Terminated from None
        raise
    finally:
        with lock:
            ended = True
        signal.set_wakeup_fd(previous_fd)
        os.close(write)
        # a termination under way: the process ends with 143 after this block, and a later SIGTERM
        # (a process manager's repeats) must not kill it with the default action meanwhile (exit -15)
        signal.signal(signal.SIGTERM, signal.SIG_IGN if TERMINATED.is_set() else previous)


__all__ = ["TERMINATED", "Terminated", "own_sigint", "stop_signals", "terminable"]
