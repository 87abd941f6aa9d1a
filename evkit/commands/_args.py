"""Argument types for every ``evkit`` command: numbers that are finite and in range, ports, MQTT topic
parts. Each raises ``argparse.ArgumentTypeError`` with a sentence, so argparse exits 2 naming the option
and nothing is sent or written.

Use them as ``type=`` of ``add_argument``::

    parser.add_argument("--timeout", type=number(min=0.1, max=3600), default=5.0)
    parser.add_argument("--port", type=port)
    parser.add_argument("--prefix", type=topic_part("prefix"))
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

__all__ = ["integer", "number", "port", "topic_level", "topic_part"]


def _range_text(low: float | None, high: float | None, low_open: bool) -> str:
    if low is not None and high is not None:
        return f"between {low:g} and {high:g}" if not low_open else f"above {low:g} and at most {high:g}"
    if low is not None:
        return f"above {low:g}" if low_open else f"at least {low:g}"
    if high is not None:
        return f"at most {high:g}"
    return "a finite number"


def number(
    *, min: float | None = None, max: float | None = None, above: float | None = None
) -> Callable[[str], float]:
    """A finite float in ``[min, max]`` (or ``(above, max]``); ``nan``, ``inf`` and ``1e309`` are refused."""
    low, low_open = (above, True) if above is not None else (min, False)
    allowed = _range_text(low, max, low_open)

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number; it must be {allowed}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number; it must be {allowed}")
        if low is not None and (value <= low if low_open else value < low):
            raise argparse.ArgumentTypeError(f"{text} is out of range; it must be {allowed}")
        if max is not None and value > max:
            raise argparse.ArgumentTypeError(f"{text} is out of range; it must be {allowed}")
        return value

    parse.__name__ = "number"  # argparse names the type in its messages
    return parse


def integer(*, min: int | None = None, max: int | None = None) -> Callable[[str], int]:
    """A whole number in ``[min, max]``."""
    allowed = "a whole number " + _range_text(min, max, False)

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {allowed}") from None
        if (min is not None and value < min) or (max is not None and value > max):
            raise argparse.ArgumentTypeError(f"{text} is out of range; it must be {allowed}")
        return value

    parse.__name__ = "integer"
    return parse


def port(text: str) -> int:
    """A TCP port, 1 to 65535 (0 is refused rather than silently meaning a default)."""
    return integer(min=1, max=65535)(text)


def topic_level(text: str, what: str = "topic level") -> str:
    """One MQTT topic level: not empty, no ``/``, no wildcard ``#`` or ``+``, no NUL."""
    if text == "":
        raise argparse.ArgumentTypeError(f"the {what} must not be empty")
    bad = sorted({c for c in text if c in "#+/\x00"})
    if bad:
        shown = " ".join(repr(c) for c in bad)
        raise argparse.ArgumentTypeError(
            f"the {what} {text!r} contains {shown}; MQTT wildcards, '/' and NUL are not allowed here"
        )
    return text


def topic_part(what: str) -> Callable[[str], str]:
    """A topic prefix of one or more levels (``evcc``, ``home/evcc``, ``/go-eCharger``): no empty level
    (a single leading ``/`` is legal MQTT and allowed), no wildcard, no NUL."""

    def parse(text: str) -> str:
        body = text[1:] if text.startswith("/") else text
        if body.strip("/") == "":
            raise argparse.ArgumentTypeError(f"the {what} must not be empty")
        for level in body.split("/"):
            if level == "":
                raise argparse.ArgumentTypeError(
                    f"the {what} {text!r} has an empty level ('//' or a trailing '/')"
                )
            topic_level(level, what=f"{what} level")
        return text

    parse.__name__ = what.replace(" ", "_")
    return parse
