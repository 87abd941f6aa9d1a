"""``evkit sim easee``: publish a simulated Easee fleet to RabbitMQ (Masterloop form + ArrivalTime)."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from datetime import datetime, timedelta
from typing import Any

from evkit.commands._args import integer, number
from evkit.commands._inputs import LONGEST_DAYS, name
from evkit.errors import ConfigError
from evkit.sources.easee_details import parse_url
from evkit.timeutil import parse_utc

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


#: Longest simulated --duration (ten years): longer overflows the simulated calendar.
LONGEST_S = LONGEST_DAYS * 86400.0


def parse_duration(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``15m``, ``6h`` or ``2d``: more than 0, at most ten years."""
    match = _DURATION.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration (e.g. 3600, 90m, 6h, 1d)")
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    if not 0 < seconds <= LONGEST_S:
        raise argparse.ArgumentTypeError(
            f"{text} is out of range; a duration must be above 0 and at most {LONGEST_DAYS}d"
        )
    return seconds


def parse_start(text: str) -> datetime:
    """An ISO 8601 start time (no zone = UTC)."""
    try:
        return parse_utc(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time (e.g. 2024-05-01T00:00:00Z)"
        ) from None


def run(args: argparse.Namespace) -> int:
    """Handler of ``evkit sim easee``."""
    from evkit.sim.easee import EaseeFleet, publish

    if not getattr(args, "verbose", False):
        # pika logs every connection step, and a refused login as a page of tracebacks; our own
        # message says what happened (password masked). -v shows pika's too.
        logging.getLogger("pika").setLevel(logging.CRITICAL)
    url = args.url
    if args.url_env:
        url = os.environ.get(args.url_env)
        if not url:
            raise ConfigError(
                f"environment variable {args.url_env} is empty or unset (it should hold the URL)"
            )
    try:
        details = parse_url(url)  # before anything is printed or sent; never shows the password
    except ConfigError as exc:
        raise ConfigError(
            f"environment variable {args.url_env}: {exc}" if args.url_env else str(exc)
        ) from None
    fleet = EaseeFleet(
        args.chargers, seed=args.seed, start=args.start, form=args.form, arrival_header=args.arrival_header
    )
    try:
        fleet.start + timedelta(seconds=args.duration + 86400)
    except OverflowError:
        raise ConfigError(f"--start {fleet.start:%Y-%m-%d} plus --duration runs past the year 9999") from None
    target = f"queue {args.queue}" if args.queue else f"exchange {args.exchange}"
    listener = None
    if args.commands:
        from evkit.sim.easee_cloud import CommandListener
        from evkit.sim.easee_commands import CommandHandler

        fleet.controls = CommandHandler(
            fleet.serials, reject=args.reject, ignore=args.ignore, expire=args.expire
        )
        listener = CommandListener(fleet.controls, args.commands)
        target += f"; answering commands on exchange {args.commands} until Ctrl-C"
    elif args.reject or args.ignore or args.expire:
        raise ConfigError("--reject/--ignore/--expire need --commands EXCHANGE")
    wall = (
        "as fast as possible"
        if args.speed == 0
        else f"~{timedelta(seconds=round(args.duration / args.speed))}"
    )
    print(
        f"evkit sim easee: {args.chargers} charger(s) {', '.join(fleet.serials[:5])}"
        f"{' ...' if args.chargers > 5 else ''} -> {target} on {details.masked_url()}; "
        f"{timedelta(seconds=round(args.duration))} simulated from {fleet.start:%Y-%m-%dT%H:%M:%SZ}, {wall}",
        file=sys.stderr,
    )
    stats = publish(
        fleet,
        url,
        duration=args.duration,
        queue=args.queue,
        exchange=args.exchange,
        declare=args.declare,
        speed=args.speed,
        max_messages=args.max_messages,
        progress=False if args.no_progress else None,
        commands=listener,
    )
    until = f" to {stats.simulated_to:%Y-%m-%dT%H:%M:%SZ}" if stats.simulated_to else ""
    print(
        f"published {stats.messages} messages from {stats.chargers} charger(s){until} "
        f"in {stats.wall_seconds:.1f} s",
    )
    return 0


def register(top: Any, groups: dict[str, Any]) -> None:
    """Add ``evkit sim easee``."""
    del top
    parser = groups["sim"].add_parser(
        "easee",
        help="publish a simulated Easee fleet to RabbitMQ",
        description=(
            "Publish a realistic simulated Easee fleet (Masterloop form, ArrivalTime header): plug-in / "
            "charge / pause / complete / unplug cycles, power, session and lifetime energy, currents, "
            "voltages, RSSI, temperature. Deterministic for a given --seed and --start."
        ),
    )
    broker = parser.add_mutually_exclusive_group(required=True)
    broker.add_argument(
        "--url", help="amqp[s]://user:pass@host:port/vhost (others can see it with ps: prefer --url-env)"
    )
    broker.add_argument("--url-env", metavar="VAR", help="environment variable holding that URL")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--queue",
        type=name("queue"),
        help="deliver into this queue (via a topic exchange bound to it: routing keys stay {serial}.O.{id})",
    )
    where.add_argument(
        "--exchange",
        type=name("exchange"),
        help="publish to this existing exchange with routing keys {serial}.O.{id}",
    )
    parser.add_argument(
        "--declare", action="store_true", help="create the --queue (a non-durable test queue)"
    )
    parser.add_argument(
        "--chargers", type=integer(min=1, max=10_000), default=3, help="number of chargers (default 3)"
    )
    parser.add_argument(
        "--speed",
        type=number(min=0, max=1e9),
        default=1000.0,
        help="simulated seconds per wall second (default 1000: a day in ~90 s; 0 = as fast as possible)",
    )
    parser.add_argument(
        "--duration",
        type=parse_duration,
        default=86400.0,
        help="simulated time to cover: seconds or 90m / 6h / 1d (default 1d)",
    )
    parser.add_argument(
        "--seed", type=integer(), default=0, help="random seed (same seed + start = same messages)"
    )
    parser.add_argument("--start", type=parse_start, default=None, help="simulated start time (default now)")
    parser.add_argument(
        "--max-messages", type=integer(min=1), default=None, help="stop after this many messages"
    )
    parser.add_argument(
        "--form",
        choices=("masterloop", "signalr", "flat"),
        default="masterloop",
        help="body form (default masterloop)",
    )
    parser.add_argument(
        "--arrival-header",
        choices=("iso", "timestamp", "ticks", "none"),
        default="iso",
        help="ArrivalTime header as ISO text (default), an AMQP timestamp, .NET ticks, or none",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--commands",
        metavar="EXCHANGE",
        help="also act as the cloud's command side: listen on this topic exchange (like Operator_<id>.C.X) "
        "for {serial}.C.{id}.{ticks}, apply the commands, answer with {serial}.CR.{id}.{ticks} and "
        "read-back observations",
    )
    for flag, what in (
        ("--reject", "answer its commands with WasAccepted false"),
        ("--ignore", "never answer its commands"),
        ("--expire", "answer its commands only once ExpiresAt passed, as expired"),
    ):
        parser.add_argument(flag, metavar="SERIAL", action="append", default=[], help=f"{what} (repeatable)")
    parser.set_defaults(func=run)
