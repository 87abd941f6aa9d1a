"""``evkit set goe`` (change one go-e setting: validated, confirmed, audited) and ``evkit sim goe``.

Exit codes of ``set goe``: 0 confirmed / accepted / unchanged / dry run; 1 rejected by the charger, no
answer or connection failure; 2 invalid input (nothing was sent; the message says what is allowed).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evkit.commands._args import integer, number, port, topic_level, topic_part
from evkit.errors import ConfigError, SourceError, ValidationError

if TYPE_CHECKING:
    from evkit.control.base import CommandResult
    from evkit.control.goe import GoeController
    from evkit.goe.values import GoeSetting

#: Where audit rows go unless ``--audit-dir`` says otherwise (``<store>/audit/``); same as ``set evcc``.
STORE_ENV = "EVKIT_AUDIT_DIR"
DEFAULT_STORE = "data"


def register(top: Any, groups: dict[str, Any]) -> None:
    """Add ``set goe`` and ``sim goe``."""
    del top
    _register_set(groups["set"])
    _register_sim(groups["sim"])


# ---------------------------------------------------------------------------------------------- set


def _register_set(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "goe",
        help="change a go-e Charger setting over HTTP API v2 or MQTT",
        description=(
            "Validate a go-e setting, send it (HTTP /api/set, or MQTT <prefix>/<serial>/<key>/set with "
            "QoS 1, never retained), confirm it (HTTP read-back, MQTT /result) and audit it. "
            "Examples: `evkit set goe --http 192.168.0.77 amp 16`, "
            '`evkit set goe --host broker --serial 012345 frc on`, `... fna "Garage"`, `... dwo null`.'
        ),
        epilog="Exit 0 confirmed/accepted/unchanged; 1 rejected, no answer or connection failure; "
        "2 invalid input (nothing sent).",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--http", metavar="URL", help="the charger's local HTTP API, e.g. http://192.168.0.77")
    where.add_argument("--host", metavar="H", help="MQTT broker the charger is connected to")
    parser.add_argument(
        "--port", type=port, default=None, help="MQTT broker port (default 1883, 8883 with --tls)"
    )
    parser.add_argument(
        "--serial", metavar="S", type=_serial, help="charger serial number (MQTT topics), e.g. 012345"
    )
    parser.add_argument(
        "--prefix",
        type=topic_part("prefix"),
        default="go-eCharger",
        help="MQTT topic prefix, key mtp (default go-eCharger)",
    )
    parser.add_argument("--username", help="MQTT user name")
    parser.add_argument(
        "--password-env", metavar="VAR", help="name of the environment variable holding the MQTT password"
    )
    parser.add_argument("--tls", action="store_true", help="connect to the broker with TLS")
    parser.add_argument("key", metavar="KEY", nargs="?", help="API key, e.g. amp, frc, psm, lmo, fna, dwo")
    parser.add_argument(
        "value",
        metavar="VALUE",
        nargs="?",
        help="the value: 16; an enum's number or documented name (frc On, bac NeverLock or never-lock); "
        "true/false, plain or quoted text, null",
    )
    parser.add_argument(
        "--timeout",
        type=number(above=0, max=3600),
        default=5.0,
        help="seconds the whole command may take: reading the state, sending, confirming (default 5)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print what would be sent; send nothing")
    parser.add_argument(
        "--raw-key",
        action="store_true",
        help="allow a key evkit does not know (newer firmware); VALUE is sent as the JSON given",
    )
    parser.add_argument(
        "--audit-dir",
        metavar="DIR",
        help=f"store for the audit log; rows go to DIR/audit/ (default ${STORE_ENV} or ./{DEFAULT_STORE})",
    )
    parser.add_argument("--no-audit", action="store_true", help="do not record this command in the audit log")
    parser.add_argument(
        "--list", action="store_true", help="list the keys go-e documents and what they allow (enum names)"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=run_set)


def audit_store(option: str | None, *, disabled: bool = False) -> Path | str | None:
    """The store directory for audit rows (``DIR/audit`` given directly is accepted too); an
    ``s3://bucket/prefix`` store stays a URL."""
    if disabled:
        return None
    location = option or os.environ.get(STORE_ENV) or DEFAULT_STORE
    if location.startswith("s3://"):
        return location.rstrip("/").removesuffix("/audit")
    path = Path(option or os.environ.get(STORE_ENV) or DEFAULT_STORE)
    return path.parent if path.name == "audit" else path


def _serial(text: str) -> str:
    return topic_level(text, what="serial")


def _firmware(text: str) -> str:
    from evkit.goe.keys import firmware_version

    if firmware_version(text) is None or not text.strip().isprintable():
        raise argparse.ArgumentTypeError(f"{text!r} is not a go-e firmware version such as 056.2 or 060.4")
    return text.strip()


def run_set(args: argparse.Namespace) -> int:
    """Handler of ``evkit set goe``."""
    from evkit.control.goe import normalize_http_url
    from evkit.goe.values import prepare_setting

    deadline = time.monotonic() + args.timeout  # --timeout is for the whole command
    if args.list:
        _print_keys()
        return 0
    if args.key is None or args.value is None:
        raise ValidationError(
            "KEY and VALUE are required, e.g. `evkit set goe --http 192.168.0.77 amp 16` (--list)"
        )
    if args.http is None and args.host is None:
        raise ConfigError("say where the charger is: --http URL, or --host H --serial S for MQTT")
    if args.http is not None:
        normalize_http_url(args.http)  # a malformed URL exits 2 before anything else
    if args.host is not None and not args.serial:
        raise ConfigError("MQTT needs --serial (the charger's serial number, as in go-eCharger/<serial>/...)")
    if args.http is not None and (args.serial or args.username or args.password_env or args.tls):
        raise ConfigError("--serial/--username/--password-env/--tls are for MQTT (--host), not --http")
    password = _password(args.password_env)
    # The static rules first: invalid input exits 2 without contacting anything.
    setting = prepare_setting(args.key, args.value, raw_key=args.raw_key)

    if args.dry_run:
        return _dry_run(args, password)

    store = audit_store(args.audit_dir, disabled=args.no_audit)
    try:
        controller = _connect(args, password, store, args.timeout)
    except SourceError as exc:
        result = _not_sent(args, setting, f"not sent: {exc}", store)
    else:
        with controller:
            remaining = max(0.0, deadline - time.monotonic())
            result = controller.set(args.key, args.value, raw_key=args.raw_key, timeout=remaining)
    if args.json:
        print(json.dumps(_result_json(result)))
    else:
        print(result.summary(), file=sys.stdout if result.ok else sys.stderr)
    return result.exit_code


def _not_sent(
    args: argparse.Namespace, setting: GoeSetting, detail: str, store: Path | str | None
) -> CommandResult:
    """The audited result of a command that never left: the broker could not be reached."""
    from evkit.control.audit import AuditLog
    from evkit.control.base import CommandResult, Outcome, utc_now
    from evkit.control.goe import mqtt_command

    command = mqtt_command(setting, args.serial, args.prefix)
    result = CommandResult(
        time=utc_now(),
        target="go-e",
        transport="mqtt",
        topic_or_url=command.target,
        payload=command.payload,
        outcome=Outcome.NO_ANSWER,
        detail=detail,
        setting=setting.key,
    )
    if store is not None:
        with AuditLog(store) as log:
            log.record(result)
    return result


def _connect(
    args: argparse.Namespace, password: str | None, store: Path | str | None, timeout: float
) -> GoeController:
    from evkit.control.goe import GoeController, state_keys_for

    if args.http is not None:
        return GoeController.over_http(args.http, audit=store, timeout=timeout)
    controller = GoeController.over_mqtt(
        args.host,
        args.port if args.port is not None else (8883 if args.tls else 1883),
        serial=args.serial,
        prefix=args.prefix,
        username=args.username,
        password=password,
        tls=args.tls,
        audit=store,
        timeout=timeout,
    )
    # let the retained state arrive: enables "unchanged", amp <= ama, the var/adi limit, and tells
    # whether this firmware answers on /result (fwv)
    controller.wait_for_keys([*state_keys_for(args.key), "fwv"], timeout=min(1.0, timeout))
    return controller


def _dry_run(args: argparse.Namespace, password: str | None) -> int:
    """Print the exact command. Reads the charger's state if it can (amp <= ama); sends nothing."""
    from evkit.control.goe import Command, http_command, mqtt_command, normalize_http_url, state_keys_for
    from evkit.goe.values import prepare_setting

    command: Command
    try:
        with _connect(args, password, None, min(args.timeout, 2.0)) as controller:
            if controller.transport_name == "http":
                controller.refresh(state_keys_for(args.key))
            command = controller.prepare(args.key, args.value, raw_key=args.raw_key)
    except SourceError as exc:
        print(f"evkit: {exc}; checked without the charger's current state", file=sys.stderr)
        setting = prepare_setting(args.key, args.value, raw_key=args.raw_key)
        if args.http is not None:
            command = http_command(setting, normalize_http_url(args.http))
        else:
            command = mqtt_command(setting, args.serial, args.prefix)
    if args.json:
        print(json.dumps({"outcome": "dry_run", "transport": command.transport, "target": command.target,
                          "payload": command.payload}))  # fmt: skip
    else:
        print(f"dry run, nothing sent: {command.describe()}")
        print(f"payload: {command.payload}")
    return 0


def _result_json(result: CommandResult) -> dict[str, Any]:
    return {
        "outcome": result.outcome.value,
        "transport": result.transport,
        "target": result.topic_or_url,
        "setting": result.setting,
        "payload": result.payload,
        "detail": result.detail,
        "latency_s": result.latency_s,
        "time": result.time.isoformat(),
    }


def _print_keys() -> None:
    from evkit.goe.keys import KEYS, READ_ONLY_KEYS, WRITABLE_KEYS

    print("writable go-e keys (evkit validates these; enums take the number or the documented name):")
    for name in WRITABLE_KEYS:
        spec = KEYS[name]
        print(f"  {name:<6} {spec.description}: {spec.allowed()}")
    print("read-only keys (refused; the key to write instead in brackets):")
    for name in READ_ONLY_KEYS:
        spec = KEYS[name]
        instead = f" [{spec.use_instead}]" if spec.use_instead else ""
        print(f"  {name:<11} {spec.description}{instead}")
    print("other keys (newer firmware): --raw-key sends the JSON value as given")


def _password(variable: str | None) -> str | None:
    if variable is None:
        return None
    value = os.environ.get(variable)
    if value is None:
        raise ConfigError(f"--password-env {variable}: that environment variable is not set")
    return value


# ---------------------------------------------------------------------------------------------- sim


def _register_sim(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "goe",
        help="simulate a go-e Charger (MQTT + HTTP API v2)",
        description=(
            "Publish a simulated go-e Charger's state (retained JSON per key), apply /set with /result "
            "answers, and serve /api/status and /api/set on 127.0.0.1. Ctrl-C stops it."
        ),
    )
    parser.add_argument("--serial", type=_serial, default="000001", help="serial number (default 000001)")
    parser.add_argument("--mqtt-host", default="127.0.0.1", help="MQTT broker (default 127.0.0.1)")
    parser.add_argument("--mqtt-port", type=port, default=1883, help="MQTT broker port (default 1883)")
    parser.add_argument("--no-mqtt", action="store_true", help="serve HTTP only")
    parser.add_argument(
        "--prefix",
        type=topic_part("prefix"),
        default="go-eCharger",
        help="topic prefix (default go-eCharger)",
    )
    parser.add_argument(
        "--http-port",
        type=integer(min=0, max=65535),
        default=0,
        help="HTTP port on 127.0.0.1 (default 0: a free one)",
    )
    parser.add_argument("--no-http", action="store_true", help="serve MQTT only")
    parser.add_argument(
        "--read-only", action="store_true", help="writes disabled: no MQTT /result, HTTP set errors"
    )
    parser.add_argument(
        "--speed", type=number(above=0, max=10_000), default=1.0, help="simulated seconds per real second"
    )
    parser.add_argument(
        "--firmware",
        type=_firmware,
        default="056.2",
        help="fwv to report: picks the err numbering (59.4+) and, before 051.5, no MQTT /result",
    )
    parser.add_argument(
        "--variant", type=int, choices=(11, 22), default=22, help="var: 11 (16 A) or 22 (32 A)"
    )
    parser.add_argument("--no-car", action="store_true", help="start with no car connected")
    parser.add_argument(
        "--keep-retained", action="store_true", help="leave the retained state on the broker when stopping"
    )
    parser.set_defaults(func=run_sim)


def run_sim(args: argparse.Namespace) -> int:
    """Handler of ``evkit sim goe``: runs until Ctrl-C."""
    from evkit.sim.goe import GoeSimulator

    if args.no_mqtt and args.no_http:
        raise ConfigError("--no-mqtt and --no-http together leave nothing to simulate")
    if args.speed <= 0:
        raise ConfigError("--speed must be more than 0")
    simulator = GoeSimulator(
        args.serial,
        mqtt_host=None if args.no_mqtt else args.mqtt_host,
        mqtt_port=args.mqtt_port,
        prefix=args.prefix,
        http_port=None if args.no_http else args.http_port,
        read_only=args.read_only,
        speed=args.speed,
        car_connected=not args.no_car,
        firmware=args.firmware,
        variant=args.variant,
        cleanup=not args.keep_retained,
    )
    simulator.start()
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        parts = []
        if not args.no_mqtt:
            parts.append(f"MQTT {simulator.prefix}/{args.serial}/# on {args.mqtt_host}:{args.mqtt_port}")
        if not args.no_http:
            parts.append(f"HTTP {simulator.http_url}/api/status")
        mode = " (read-only: writes disabled)" if args.read_only else ""
        print(f"go-e simulator {args.serial}{mode}: {'; '.join(parts)}. Ctrl-C stops it.", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        simulator.stop()


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    del signum, frame
    raise KeyboardInterrupt  # stop cleanly (tidy retained topics) on `kill` as on Ctrl-C
