"""``evkit capture amqp``: record an Easee AMQP queue into a Parquet dataset, losing nothing."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from evkit.commands._args import integer, number
from evkit.commands._options import (
    add_amqp_connection,
    add_capture_output,
    add_flush_options,
    add_stop_conditions,
)
from evkit.commands._signals import stop_signals
from evkit.sources.easee_details import DEFAULT_STREAMS_URL

log = logging.getLogger(__name__)

EPILOG = """\
examples:
  evkit capture amqp --url amqp://guest:guest@127.0.0.1:5672/%2F --queue Operator_1.Q --out data/fleet
  evkit capture amqp --details easee-streams.json --out data/fleet --idle-exit 60
  EASEE_TOKEN=... evkit capture amqp --token-env EASEE_TOKEN --out data/fleet
  AMQP_URL=amqps://... evkit capture amqp --url-env AMQP_URL --queue Operator_1.Q --out data/fleet

Every message becomes one row; rows are acknowledged only once they are in a closed, fsynced Parquet
file. Several captures may consume one queue into one directory (evkit.scan removes duplicates).
Ctrl-C / SIGTERM flushes, acknowledges and exits 0.
"""


def register(top: Any, groups: dict[str, Any]) -> None:
    """Add ``evkit capture amqp``."""
    del top
    from evkit.sources.amqp import (
        BACKOFF_INITIAL,
        BACKOFF_MAX,
        DEFAULT_FLUSH_INTERVAL,
        DEFAULT_FLUSH_ROWS,
        DEFAULT_PREFETCH,
    )

    parser = groups["capture"].add_parser(
        "amqp",
        help="record an Easee AMQP queue into a Parquet dataset",
        description="Record an Easee AMQP observation queue into a Parquet dataset (at-least-once).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_argument_group("connection (exactly one)")
    source.add_argument(
        "--url",
        help="amqp[s]://user:pass@host:port/vhost (vhost URL-encoded, %%2F = /); other users can see it "
        "with ps: prefer --url-env",
    )
    add_amqp_connection(source)
    source.add_argument("--streams-url", default=DEFAULT_STREAMS_URL, help="streams endpoint (%(default)s)")
    add_capture_output(parser)
    add_stop_conditions(parser)
    tuning = parser.add_argument_group("tuning")
    tuning.add_argument(
        "--prefetch",
        type=integer(min=1, max=65535),  # AMQP's prefetch-count is a 16-bit unsigned number
        default=DEFAULT_PREFETCH,
        help="unacked window, 1 to 65535 (%(default)s)",
    )
    add_flush_options(
        tuning,
        rows=DEFAULT_FLUSH_ROWS,
        rows_help="write once this many rows are buffered, capped at half the prefetch",
        interval=DEFAULT_FLUSH_INTERVAL,
    )
    tuning.add_argument(
        "--backoff-initial",
        type=number(min=1, max=3600),
        default=BACKOFF_INITIAL,
        metavar="SECONDS",
        help="first wait before reconnecting; doubles with jitter up to --backoff-max (%(default)g)",
    )
    tuning.add_argument(
        "--backoff-max",
        type=number(min=1, max=86400),
        default=BACKOFF_MAX,
        metavar="SECONDS",
        help="longest wait between reconnect attempts (%(default)g; Easee asked clients not to retry "
        "at short intervals)",
    )
    tuning.add_argument(
        "--writer",
        choices=("process", "thread"),
        default="process",
        help="decode and write in a child process (default: keeps the consumer fast) or a thread",
    )
    parser.add_argument("--quiet", action="store_true", help="no live counters on stderr")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handler of ``evkit capture amqp``."""
    from evkit.errors import ConfigError
    from evkit.sources.amqp import AmqpCapture, resolve_details

    if args.backoff_max < args.backoff_initial:
        raise ConfigError(
            f"--backoff-max ({args.backoff_max:g} s) must be at least --backoff-initial "
            f"({args.backoff_initial:g} s)"
        )
    if not getattr(args, "verbose", False):
        # pika logs a page per connection and a traceback per failed attempt; our own messages say
        # what happened (with the password masked). -v shows pika's too.
        logging.getLogger("pika").setLevel(logging.CRITICAL)
    details, refresh = resolve_details(
        args.url, args.details, args.token_env, args.streams_url, url_env=args.url_env
    )
    if args.insecure:
        log.warning("--insecure: TLS certificates are NOT verified; anyone on the path can read the stream")
    capture = AmqpCapture(
        details,
        args.out,
        queue=args.queue,
        prefetch=args.prefetch,
        flush_rows=args.flush_rows,
        flush_interval=args.flush_interval,
        max_messages=args.max_messages,
        idle_exit=args.idle_exit,
        duration=args.duration,
        insecure=args.insecure,
        refresh_details=refresh,
        progress=not args.quiet,
        backoff_initial=args.backoff_initial,
        backoff_max=args.backoff_max,
        writer=args.writer,
        secret_env=(args.url_env, args.token_env),
    )
    with stop_signals(lambda sig: capture.request_stop(f"signal {sig.name}")):
        if not args.quiet:
            print(
                f"evkit: capturing {capture.queue} from {details.masked_url()} into {args.out}",
                file=sys.stderr,
            )
        summary = capture.run()
    if args.json:
        print(json.dumps(summary, default=str))
    else:
        print(
            f"evkit: {summary['messages']:,} messages, {summary['rows_written']:,} rows in "
            f"{summary['parts_written']} parts below {args.out} ({summary['decode_errors']} decode errors, "
            f"{summary['reconnects']} reconnects; stopped: {summary['stop_reason']})",
            file=sys.stderr,
        )
    return 0
