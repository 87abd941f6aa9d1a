"""``evkit capture amqp``: record an Easee AMQP queue into a Parquet dataset, losing nothing."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from types import FrameType
from typing import Any

from evkit.commands._args import integer, number
from evkit.commands._inputs import output_dir, seconds
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
    source.add_argument("--url-env", metavar="VAR", help="environment variable holding that URL")
    source.add_argument("--details", metavar="FILE", help="JSON saved from Easee's AMQP v2 streams endpoint")
    source.add_argument(
        "--token-env", metavar="VAR", help="environment variable holding an Easee partner Bearer token"
    )
    source.add_argument("--streams-url", default=DEFAULT_STREAMS_URL, help="streams endpoint (%(default)s)")
    source.add_argument("--queue", help="queue to consume (default: queueName from the details)")
    source.add_argument(
        "--insecure", action="store_true", help="TLS without certificate verification (not recommended)"
    )
    parser.add_argument(
        "--out",
        required=True,
        type=output_dir,
        metavar="DIR",
        help="dataset directory (created if needed) or s3://BUCKET/PREFIX (endpoint, keys: AWS_* env)",
    )
    stop = parser.add_argument_group("stop conditions (default: run until Ctrl-C / SIGTERM)")
    stop.add_argument("--max-messages", type=integer(min=1), metavar="N", help="stop after N messages")
    stop.add_argument(
        "--idle-exit",
        type=seconds(),
        metavar="SECONDS",
        help="stop once no message came this long",
    )
    stop.add_argument("--duration", type=seconds(), metavar="SECONDS", help="stop after this long")
    tuning = parser.add_argument_group("tuning")
    tuning.add_argument(
        "--prefetch",
        type=integer(min=1, max=65535),  # AMQP's prefetch-count is a 16-bit unsigned number
        default=DEFAULT_PREFETCH,
        help="unacked window, 1 to 65535 (%(default)s)",
    )
    tuning.add_argument(
        "--flush-interval",
        type=number(above=0, max=3600),
        default=DEFAULT_FLUSH_INTERVAL,
        metavar="SECONDS",
        help="write (and ack) buffered rows at least this often (%(default)s)",
    )
    tuning.add_argument(
        "--flush-rows",
        type=integer(min=1, max=10_000_000),
        default=DEFAULT_FLUSH_ROWS,
        metavar="N",
        help="write once this many rows are buffered (capped at half the prefetch; %(default)s)",
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

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        capture.request_stop(f"signal {signal.Signals(signum).name}")

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    if not args.quiet:
        print(
            f"evkit: capturing {capture.queue} from {details.masked_url()} into {args.out}", file=sys.stderr
        )
    try:
        summary = capture.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
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
