"""``evkit replay``: republish a recorded dataset into an MQTT broker or an AMQP exchange."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from evkit.commands._args import integer, number, port
from evkit.commands._dataset import add_skip_damaged, reading_whole_parts
from evkit.commands._inputs import host
from evkit.errors import ConfigError, DatasetError

if TYPE_CHECKING:
    from evkit.replay import ReplaySummary

EXAMPLES = """\
examples:
  evkit replay data/home --mqtt-host 127.0.0.1 --speed 10
  evkit replay data/home --mqtt-host 127.0.0.1 --rewrite-prefix evcc/=test/evcc/ --speed 0 --max-rate 2000
  evkit replay data/fleet --url amqp://guest:guest@127.0.0.1/%2F --exchange replay --declare-exchange topic \\
      --from 2026-11-21T18:00Z --to 2026-11-21T20:00Z

Messages keep their topic / routing key, body bytes, QoS, retained flag and AMQP headers, and their
original spacing (by received_at) divided by --speed.
"""


def register(top: Any, groups: dict[str, Any]) -> None:
    """Add ``replay``."""
    del groups
    parser = top.add_parser(
        "replay",
        help="republish a recorded dataset into a broker, with its original timing",
        description="Republish a recorded dataset (MQTT topics or AMQP routing keys) with the original "
        "spacing, bodies byte for byte.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("dataset", metavar="DIR", help="dataset directory (or one Parquet file)")
    amqp = parser.add_argument_group("AMQP target")
    amqp.add_argument("--url", help="amqp[s]://user:pass@host:port/vhost")
    amqp.add_argument(
        "--url-env",
        metavar="VAR",
        help="environment variable holding the AMQP URL (keeps the password out of ps)",
    )
    amqp.add_argument("--exchange", help="exchange to publish to ('' = the default exchange)")
    amqp.add_argument(
        "--declare-exchange", metavar="TYPE", help="declare the exchange (durable, of TYPE) if missing"
    )
    mqtt = parser.add_argument_group("MQTT target")
    mqtt.add_argument("--mqtt-host", type=host, help="MQTT broker host")
    mqtt.add_argument(
        "--mqtt-port", type=port, default=None, help="MQTT port (default 1883, 8883 with --mqtt-tls)"
    )
    mqtt.add_argument("--mqtt-username", help="MQTT user name")
    mqtt.add_argument(
        "--mqtt-password-env", metavar="VAR", help="environment variable holding the MQTT password"
    )
    mqtt.add_argument("--mqtt-tls", action="store_true", help="MQTT over TLS")
    mqtt.add_argument(
        "--retain",
        choices=["as-recorded", "all", "none"],
        default="as-recorded",
        help="retained flag of replayed MQTT messages (default: as recorded)",
    )
    what = parser.add_argument_group("what and how fast")
    what.add_argument(
        "--speed",
        type=number(min=0, max=1e9),
        default=1.0,
        help="time scale: 2 = twice as fast, 0 = no waiting",
    )
    what.add_argument(
        "--max-rate", type=number(above=0, max=1e9), metavar="MSG_S", help="cap messages per second"
    )
    what.add_argument(
        "--rewrite-prefix",
        action="append",
        default=[],
        metavar="OLD=NEW",
        help="replace a topic / routing-key prefix (repeatable; the first match applies)",
    )
    what.add_argument(
        "--from", dest="start", metavar="TIME", help="only messages received at or after TIME (UTC)"
    )
    what.add_argument("--to", dest="end", metavar="TIME", help="only messages received before TIME (UTC)")
    what.add_argument("--max-messages", type=integer(min=1), metavar="N", help="publish at most N messages")
    what.add_argument(
        "--no-mark",
        action="store_true",
        help="publish without the evkit-replay mark (AMQP header / MQTT 5 user property; "
        "a capture of the replay then cannot tell it is one)",
    )
    what.add_argument(
        "--mqtt-version", type=int, choices=(5, 311), default=5, help="MQTT protocol (3.1.1 carries no mark)"
    )
    what.add_argument("--quiet", action="store_true", help="no progress bar")
    add_skip_damaged(parser)
    parser.set_defaults(func=run)


def _target(args: argparse.Namespace) -> Any:
    from evkit.replay import AmqpTarget, MqttTarget

    url = args.url
    if args.url_env:
        if url:
            raise ConfigError("give --url or --url-env, not both")
        url = os.environ.get(args.url_env)
        if not url:
            raise ConfigError(
                f"environment variable {args.url_env} is empty or unset (it should hold the AMQP URL)"
            )
    if bool(url) == bool(args.mqtt_host):
        raise ConfigError("give either --url/--url-env with --exchange (AMQP) or --mqtt-host (MQTT)")
    if url:
        if args.exchange is None:
            raise ConfigError("--url needs --exchange (use --exchange '' for the default exchange)")
        try:
            return AmqpTarget(url, args.exchange, declare_type=args.declare_exchange)
        except ConfigError as exc:
            raise ConfigError(
                f"environment variable {args.url_env}: {exc}" if args.url_env else str(exc)
            ) from None
    password = None
    if args.mqtt_password_env:
        password = os.environ.get(args.mqtt_password_env)
        if password is None:
            raise ConfigError(f"environment variable {args.mqtt_password_env} is not set")
    port = args.mqtt_port if args.mqtt_port is not None else (8883 if args.mqtt_tls else 1883)
    return MqttTarget(
        args.mqtt_host,
        port,
        username=args.mqtt_username,
        password=password,
        tls=args.mqtt_tls,
        version=args.mqtt_version,
    )


def _replayed(where: str, replay: Callable[[], ReplaySummary]) -> ReplaySummary:
    """``replay()``, run again without the parts whose data pages it found unreadable with
    ``--skip-damaged`` (``reading_whole_parts``); without it, the sentence naming them says that
    nothing was published: the replay reads every value before its first message goes out (one that
    stops later says itself what went out)."""
    try:
        return reading_whole_parts(where, replay)
    except DatasetError as exc:
        from evkit.store.pages import is_decoding_error

        if not is_decoding_error(exc):
            raise
        raise DatasetError(f"{exc}. Nothing was published") from exc


def run(args: argparse.Namespace) -> int:
    """Handler of ``evkit replay``."""
    from evkit.replay import Rewrite, parse_time, replay_dataset

    if not getattr(args, "verbose", False):
        # pika logs a refused login as a page of tracebacks; our message says it in one sentence.
        logging.getLogger("pika").setLevel(logging.CRITICAL)
    if args.max_messages is not None and args.max_messages < 1:
        raise ConfigError("--max-messages must be at least 1")
    target = _target(args)
    rewrites = [Rewrite.parse(text) for text in args.rewrite_prefix]
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        del signum, frame
        stop.set()

    start, end = parse_time(args.start), parse_time(args.end)

    def replay() -> ReplaySummary:
        return replay_dataset(
            args.dataset,
            target,
            speed=args.speed,
            rewrites=rewrites,
            start=start,
            end=end,
            max_messages=args.max_messages,
            max_rate=args.max_rate,
            retain=args.retain,
            progress=not args.quiet,
            stop=stop,
            mark=not args.no_mark,
        )

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        summary = _replayed(args.dataset, replay)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    note = " (stopped early)" if summary.stopped else ""
    print(
        f"replayed {summary.published:,} messages spanning {summary.recorded_span_s:,.1f} s "
        f"in {summary.elapsed_s:,.1f} s{note}",
        file=sys.stderr,
    )
    return 0
