"""``evkit set evcc`` (change one evcc setting over MQTT) and ``evkit sim evcc`` (a simulated evcc).

Exit codes of ``set evcc``: 0 confirmed / unchanged (or dry run); 2 invalid input, nothing sent, the
message says what is allowed; 1 no echo, or the broker could not be reached.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import threading
from typing import Any

from evkit.commands._args import integer, number, port, topic_part
from evkit.commands._inputs import seconds
from evkit.errors import ConfigError

DEFAULT_AUDIT_DIR = "data"


def _add_broker_options(parser: argparse.ArgumentParser) -> None:
    broker = parser.add_argument_group("broker")
    broker.add_argument("--host", default="127.0.0.1", help="MQTT broker host (default 127.0.0.1)")
    broker.add_argument(
        "--port", type=port, default=None, help="MQTT broker port (default 1883, 8883 with --tls)"
    )
    broker.add_argument(
        "--prefix",
        type=topic_part("prefix"),
        default="evcc",
        help="evcc's topic root, mqtt.topic (default evcc)",
    )
    broker.add_argument("--username", default=None, help="broker user name")
    broker.add_argument(
        "--password-env",
        metavar="VAR",
        default=None,
        help="name of the environment variable holding the password",
    )
    broker.add_argument("--tls", action="store_true", help="connect with TLS (system CA certificates)")


def _broker_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    password = None
    if args.password_env:
        password = os.environ.get(args.password_env)
        if password is None:
            raise ConfigError(f"environment variable {args.password_env} (from --password-env) is not set")
    if password is not None and args.username is None:
        raise ConfigError("--password-env needs --username")
    port_number = args.port if args.port is not None else (8883 if args.tls else 1883)
    return {
        "host": args.host,
        "port": port_number,
        "prefix": args.prefix,
        "username": args.username,
        "password": password,
        "tls": args.tls,
    }


def register(top: Any, groups: dict[str, Any]) -> None:
    """Add ``set evcc`` and ``sim evcc``."""
    del top
    setter = groups["set"].add_parser(
        "evcc",
        help="change an evcc setting over MQTT (validated, never retained, confirmed, audited)",
        description=(
            "Publish one evcc setting to <prefix>/<PATH>/set (QoS 1, not retained) and wait for evcc's state "
            "echo. PATH like loadpoints/1/mode, site/residualPower, vehicles/<name>/limitSoc. Plans: "
            'loadpoints/1/planEnergy \'{"value": 20, "time": "2026-03-05T07:00:00Z"}\' '
            "or 20@2026-03-05T07:00Z. "
            "Exit 0 confirmed/unchanged, 2 invalid input (nothing sent), 1 no echo or broker unreachable."
        ),
    )
    _add_broker_options(setter)
    setter.add_argument("path", metavar="PATH", nargs="?", help="e.g. loadpoints/1/mode")
    setter.add_argument("value", metavar="VALUE", nargs="?", help="e.g. pv, 16, true, null (reset)")
    setter.add_argument(
        "--timeout",
        type=number(above=0, max=3600),
        default=5.0,
        help="seconds to wait for the echo (default 5)",
    )
    setter.add_argument(
        "--dry-run", action="store_true", help="print the exact topic and payload; send nothing"
    )
    setter.add_argument(
        "--audit-dir",
        default=os.environ.get("EVKIT_AUDIT_DIR", DEFAULT_AUDIT_DIR),
        help="store whose audit/ gets every command (default $EVKIT_AUDIT_DIR or ./data)",
    )
    setter.add_argument("--no-audit", action="store_true", help="do not write the audit log")
    setter.add_argument(
        "--list",
        action="store_true",
        help="list the writable topics (of this evcc, and its version) and exit",
    )
    setter.add_argument("--json", action="store_true", help="print the result as JSON")
    setter.set_defaults(func=run_set)

    sim = groups["sim"].add_parser(
        "evcc",
        help="run a simulated evcc on an MQTT broker (state like evcc, /set applied by evcc's rules)",
        description="Publish evcc-style retained state and apply /set commands until Ctrl-C.",
    )
    _add_broker_options(sim)
    sim.add_argument(
        "--loadpoints", type=integer(min=1, max=100), default=1, help="number of loadpoints (default 1)"
    )
    sim.add_argument("--vehicles", default="ev", help="comma-separated vehicle names (default ev)")
    sim.add_argument(
        "--interval",
        type=number(above=0, max=86400),
        default=2.0,
        help="seconds per control cycle (default 2)",
    )
    sim.add_argument(
        "--speed",
        type=number(above=0, max=1e6),
        default=1.0,
        help="simulated seconds per real second (default 1)",
    )
    sim.add_argument("--duration", type=seconds(), default=None, help="stop after this many seconds")
    sim.add_argument(
        "--version",
        dest="evcc_version",
        metavar="VERSION",
        default=None,
        help=(
            "the evcc release to impersonate, e.g. 0.311.0 or '0.313.0 (b29b49e30)' for a nightly: "
            "published on site/version, and only that release's setters are subscribed "
            "(default: the nightly evkit models)"
        ),
    )
    sim.add_argument(
        "--sessions", action="store_true", help="vehicles come and go by themselves (whole charging sessions)"
    )
    sim.set_defaults(func=run_sim)


def _print_catalog(loadpoints: list[int], vehicles: list[str], version: str | None = None) -> None:
    from evkit.evcc.setters import SETTERS
    from evkit.evcc.state import Scope
    from evkit.evcc.versions import SINCE, Availability, availability, parse_version

    parsed = parse_version(version)
    if version is not None:
        print(f"evcc {version}: setters it lacks are not listed")
    else:
        print("evcc's version is unknown (no site/version): every setter is listed with its first release")
    scopes: list[tuple[Scope, str]] = [("site", "site")]
    scopes += [("loadpoint", f"loadpoints/{n}") for n in loadpoints or [1]]
    scopes += [("vehicle", f"vehicles/{v}") for v in vehicles or ["<name>"]]
    for scope, device in scopes:
        for name, setter in SETTERS[scope].items():
            verdict = availability(scope, name, parsed)
            if verdict is Availability.NO:
                continue
            since = SINCE.get((scope, name))
            extra = ""
            if since is not None:
                extra = (
                    f"  (evcc {since.text()} or newer)" if since.released else f"  (only in {since.text()})"
                )
            print(f"{device}/{name:<26} {setter.allowed()}{extra}")


def run_set(args: argparse.Namespace) -> int:
    """Handler of ``evkit set evcc``."""
    from evkit.control.audit import AuditLog
    from evkit.control.evcc import EvccClient
    from evkit.errors import SourceError, ValidationError
    from evkit.evcc.setters import build_command, resolve

    broker = _broker_kwargs(args)
    if args.list:
        try:
            with EvccClient(**broker, timeout=args.timeout) as client:
                _print_catalog(client.loadpoints, client.vehicles, client.evcc_version())
        except SourceError as exc:
            print(f"evkit: {exc}; listing the generic catalog", file=sys.stderr)
            _print_catalog([1], ["<name>"])
        return 0
    if args.path is None or args.value is None:
        raise ValidationError(
            "PATH and VALUE are required, e.g. `evkit set evcc loadpoints/1/mode pv` (--list shows all)"
        )

    # validate without evcc's state first: invalid input exits 2 even when the broker is down
    build_command(resolve(args.path, prefix=args.prefix), args.value)
    audit = None if args.no_audit or args.dry_run else AuditLog(args.audit_dir)

    if args.dry_run:
        try:
            client = EvccClient(**broker, timeout=min(args.timeout, 3.0), settle_s=1.0)
        except SourceError as exc:
            print(f"evkit: {exc}; checked without evcc's current state", file=sys.stderr)
            command = build_command(resolve(args.path, prefix=args.prefix), args.value)
            return _report_dry_run(command.topic(args.prefix), command.payload, args.json)
        with client:
            command = client.prepare(args.path, args.value)
            return _report_dry_run(client.topic(command), command.payload, args.json)

    with audit or contextlib.nullcontext(), EvccClient(**broker, audit=audit, timeout=args.timeout) as client:
        if not client.state:
            print(
                f"evkit: nothing is published under {args.prefix}/ on {broker['host']}:{broker['port']} "
                "(is evcc running with mqtt.topic set to this prefix?); sending anyway",
                file=sys.stderr,
            )
        result = client.set(args.path, args.value, timeout=args.timeout)
    if args.json:
        print(
            json.dumps(
                {
                    "outcome": result.outcome.value,
                    "topic": result.topic_or_url,
                    "payload": result.payload,
                    "detail": result.detail,
                    "latency_s": result.latency_s,
                    "time": result.time.isoformat(),
                }
            )
        )
    else:
        print(result.summary())
    return result.exit_code


def _report_dry_run(topic: str, payload: str, as_json: bool) -> int:
    if as_json:
        print(
            json.dumps({"outcome": "dry_run", "topic": topic, "payload": payload, "qos": 1, "retain": False})
        )
    else:
        print(f"dry run, nothing sent\ntopic:   {topic}\npayload: {payload}\nqos 1, retain false")
    return 0


def run_sim(args: argparse.Namespace) -> int:
    """Handler of ``evkit sim evcc``."""
    from evkit.evcc.versions import parse_version
    from evkit.sim.evcc import DEFAULT_VERSION, EvccSimulator

    broker = _broker_kwargs(args)
    vehicles = tuple(v.strip() for v in args.vehicles.split(",") if v.strip())
    bad = sorted({c for name in vehicles for c in name if c in "#+/\x00"})
    if bad:
        raise ConfigError(f"--vehicles: a vehicle name must not contain {' '.join(map(repr, bad))}")
    version = args.evcc_version or DEFAULT_VERSION
    if parse_version(version) is None:
        raise ConfigError(
            f"--version {version!r} is not an evcc version: give a release such as 0.311.0 "
            "or a nightly such as '0.313.0 (b29b49e30)'"
        )
    sim = EvccSimulator(
        **broker,
        loadpoints=args.loadpoints,
        vehicles=vehicles,
        interval_s=args.interval,
        speed=args.speed,
        sessions=args.sessions,
        version=version,
    )
    sim.start()
    print(
        f"evcc {version} simulator on {broker['host']}:{broker['port']} under {sim.prefix}/: "
        f"{args.loadpoints} loadpoint(s), vehicles {', '.join(vehicles) or '(none)'}; Ctrl-C stops",
        flush=True,
    )
    stopped = threading.Event()
    try:
        stopped.wait(args.duration)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    for error in sim.errors:
        print(f"refused set {error.topic} {error.payload!r}: {error.error}", file=sys.stderr)
    return 0
