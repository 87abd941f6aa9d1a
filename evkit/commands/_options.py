"""Option blocks shared by several commands, so the same option means the same everywhere:

- :func:`add_amqp_connection`: where an AMQP command connects (``capture amqp``, ``set easee``);
- :func:`add_capture_output`, :func:`add_stop_conditions`, :func:`add_flush_options`: where a capture
  writes, when it stops and how often it writes (``capture amqp``, ``capture mqtt``).

Each takes the parser (or argument group) to add to and returns nothing but what the caller needs.
"""

from __future__ import annotations

import argparse
from typing import Any

from evkit.commands._args import integer, number
from evkit.commands._inputs import output_dir, seconds

#: What ``add_argument`` and ``add_argument_group`` return have no public type; both have ``add_argument``.
_Adder = Any


def add_amqp_connection(where: _Adder) -> None:
    """``--url-env``, ``--details``, ``--token-env`` (give one), ``--queue`` and ``--insecure``."""
    where.add_argument(
        "--url-env", metavar="VAR", help="environment variable holding the amqp[s]://user:pass@host/vhost URL"
    )
    where.add_argument(
        "--details",
        metavar="FILE",
        help="JSON saved from Easee's AMQP v2 streams endpoint (GET /api/streams/amqp/v2)",
    )
    where.add_argument(
        "--token-env", metavar="VAR", help="environment variable holding an Easee partner Bearer token"
    )
    where.add_argument(
        "--queue",
        metavar="NAME",
        help="operator queue, Operator_<id>.Q (default: queueName from the details)",
    )
    where.add_argument(
        "--insecure", action="store_true", help="TLS without certificate verification (not recommended)"
    )


def add_capture_output(where: _Adder) -> None:
    """``--out DIR`` (required): a dataset directory or an ``s3://`` store."""
    where.add_argument(
        "--out",
        required=True,
        type=output_dir,
        metavar="DIR",
        help="dataset directory (created if needed) or s3://BUCKET/PREFIX (endpoint, keys: AWS_* env)",
    )


def add_stop_conditions(parser: argparse.ArgumentParser) -> None:
    """``--max-messages``, ``--idle-exit``, ``--duration``, in a group of their own."""
    stop = parser.add_argument_group(
        "stop conditions (default: run until Ctrl-C / SIGTERM, which flush and exit 0)"
    )
    stop.add_argument("--max-messages", type=integer(min=1), metavar="N", help="stop after N messages")
    stop.add_argument(
        "--idle-exit",
        type=seconds(),
        metavar="SECONDS",
        help="stop once no message came this long while connected (an outage does not count)",
    )
    stop.add_argument("--duration", type=seconds(), metavar="SECONDS", help="stop after this long")


def add_flush_options(where: _Adder, *, rows: int, rows_help: str, interval: float = 5.0) -> None:
    """``--flush-rows N`` (default ``rows``) and ``--flush-interval SECONDS`` (default ``interval``)."""
    where.add_argument(
        "--flush-rows",
        type=integer(min=1, max=10_000_000),
        default=rows,
        metavar="N",
        help=f"{rows_help} (%(default)s)",
    )
    where.add_argument(
        "--flush-interval",
        type=number(above=0, max=3600),
        default=interval,
        metavar="SECONDS",
        help="write (and acknowledge) buffered rows at least this often (%(default)s)",
    )


__all__ = ["add_amqp_connection", "add_capture_output", "add_flush_options", "add_stop_conditions"]
