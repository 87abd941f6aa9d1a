"""``evkit capture mqtt``: record evcc, go-e or any MQTT topics into a Parquet dataset."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from evkit.commands._args import integer, port
from evkit.commands._inputs import existing_file, host
from evkit.commands._options import add_capture_output, add_flush_options, add_stop_conditions
from evkit.commands._signals import stop_signals
from evkit.errors import ConfigError
from evkit.sources.mqtt_session import DEFAULT_SESSION_EXPIRY_S, MAX_SESSION_EXPIRY_S

EXAMPLES = """\
examples:
  evkit capture mqtt --host 127.0.0.1 --topic 'evcc/#' --out data/home
  evkit capture mqtt --host broker.lan --topic 'go-eCharger/#' --topic 'evcc/#' --out data/home \\
      --username me --password-env MQTT_PASSWORD --tls --idle-exit 600

Rows keep evcc's and go-e's units as sent (column `unit`: evcc sessionEnergy Wh, chargeTotalImport
kWh; go-e eto Wh); an empty payload (a deleted retained value) has value null and value_text "".

Nothing is lost across a broker restart only if the broker keeps our session and queues enough for it
(README: "Broker settings under which nothing is lost"). A reconnect that finds no session
(session present: False) is reported in the log, the manifest (session_lost) and the exit summary.
"""


def register(top: Any, groups: dict[str, Any]) -> None:
    """Add ``capture mqtt``."""
    del top
    parser = groups["capture"].add_parser(
        "mqtt",
        help="record MQTT (evcc, go-e, anything) into a Parquet dataset",
        description="Record MQTT topics into a Parquet dataset: QoS 1, persistent session, "
        "acknowledged only once written to disk.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    conn = parser.add_argument_group("connection")
    conn.add_argument("--host", required=True, type=host, help="MQTT broker host")
    conn.add_argument("--port", type=port, default=None, help="broker port (default 1883, 8883 with --tls)")
    conn.add_argument("--username", help="user name")
    conn.add_argument("--password-env", metavar="VAR", help="environment variable holding the password")
    conn.add_argument("--tls", action="store_true", help="connect with TLS (certificate verified)")
    conn.add_argument("--ca-file", type=existing_file, help="CA bundle to verify the broker with")
    conn.add_argument("--insecure", action="store_true", help="TLS without certificate verification (warns)")
    conn.add_argument(
        "--client-id",
        help="MQTT client id (default: derived from host, topics and --out, "
        "so a restart resumes the session)",
    )
    conn.add_argument(
        "--protocol",
        choices=["5", "311"],
        default="5",
        help="MQTT version: 5 (default; the broker may keep many unacknowledged messages in flight and "
        "drops the session after --session-expiry) or 311 (MQTT 3.1.1, for old brokers)",
    )
    conn.add_argument("--qos", type=int, choices=[0, 1], default=1, help="subscription QoS (default 1)")
    conn.add_argument(
        "--session-expiry",
        type=integer(min=1, max=MAX_SESSION_EXPIRY_S),
        default=DEFAULT_SESSION_EXPIRY_S,
        metavar="S",
        help="seconds the broker keeps the session (and queues for it) while we are away (MQTT 5; "
        f"default {DEFAULT_SESSION_EXPIRY_S} = 1 day; {MAX_SESSION_EXPIRY_S} = never expires)",
    )
    what = parser.add_argument_group("what and where")
    what.add_argument(
        "--topic",
        action="append",
        required=True,
        metavar="FILTER",
        help="topic filter to record (repeatable), e.g. 'evcc/#'",
    )
    add_capture_output(what)
    what.add_argument(
        "--evcc-root", action="append", metavar="ROOT", help="evcc's topic root (repeatable; default evcc)"
    )
    what.add_argument(
        "--goe-prefix",
        action="append",
        metavar="PREFIX",
        help="go-e topic prefix (repeatable; default go-eCharger, with or without leading /)",
    )
    add_stop_conditions(parser)
    tune = parser.add_argument_group("tuning")
    add_flush_options(
        tune,
        rows=500,
        rows_help="write (and acknowledge) once this many messages are buffered; keep it well below the "
        "broker's per-client queue limit",
    )
    tune.add_argument(
        "--receive-maximum",
        type=integer(min=1, max=65535),  # MQTT 5 Receive Maximum: two bytes, 0 is a protocol error
        default=1000,
        metavar="N",
        help="MQTT 5: unacknowledged messages the broker may send ahead (default 1000; more speeds up "
        "draining a backlog, but Mosquitto counts them against a disconnected client's queue)",
    )
    tune.add_argument("--quiet", action="store_true", help="no progress line")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handler of ``evkit capture mqtt``."""
    from evkit.sources.mqtt import MqttCapture, MqttSettings, TopicRules
    from evkit.sources.mqtt_session import SESSION_LOST_HINT

    password = None
    if args.password_env:
        password = os.environ.get(args.password_env)
        if password is None:
            raise ConfigError(f"environment variable {args.password_env} is not set")
    if args.insecure and not args.tls:
        raise ConfigError("--insecure only makes sense with --tls")
    port = args.port if args.port is not None else (8883 if args.tls else 1883)
    rules = TopicRules(
        evcc_roots=tuple(args.evcc_root) if args.evcc_root else ("evcc",),
        goe_prefixes=tuple(args.goe_prefix) if args.goe_prefix else ("go-eCharger",),
    )
    settings = MqttSettings(
        host=args.host,
        port=port,
        topics=args.topic,
        out=args.out,
        username=args.username,
        password=password,
        tls=args.tls,
        ca_file=args.ca_file,
        insecure=args.insecure,
        client_id=args.client_id,
        qos=args.qos,
        protocol=int(args.protocol),
        session_expiry=args.session_expiry,
        max_messages=args.max_messages,
        idle_exit=args.idle_exit,
        duration=args.duration,
        flush_rows=args.flush_rows,
        flush_interval=args.flush_interval,
        receive_maximum=args.receive_maximum,
        rules=rules,
    )
    capture = MqttCapture(settings, progress=not args.quiet)
    with stop_signals(lambda _sig: capture.request_stop()):
        summary = capture.run()
    print(
        f"recorded {summary['messages']:,} messages ({summary['rows_written']:,} rows, "
        f"{summary['decode_errors']:,} with decode errors, {summary['reconnects']} reconnects) "
        f"in {summary['elapsed_s']:.1f} s into {summary['out']} [{summary['stop_reason']}]",
        file=sys.stderr,
    )
    if summary["session_lost"]:
        print(
            f"WARNING: the broker had lost this capture's session {summary['session_lost']} time(s) "
            f"(at {', '.join(summary['session_lost_at'])}): {SESSION_LOST_HINT}",
            file=sys.stderr,
        )
    if summary["broker_dropped"]:
        from evkit.sources.mqtt_drops import DROPPED_HINT

        print(
            f"WARNING: the broker dropped {summary['broker_dropped']:,} message(s) while this capture ran: "
            f"{DROPPED_HINT}",
            file=sys.stderr,
        )
    return 0
