"""``evkit set easee``: send a documented Easee command over AMQP (validated, confirmed, audited).

Exit codes: 0 confirmed / accepted / dry run; 1 rejected, expired, no answer, or the broker failed us;
2 invalid input (nothing was sent; the message says what is allowed).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evkit.commands._args import integer, number
from evkit.commands._options import add_amqp_connection
from evkit.commands.goe import DEFAULT_STORE, STORE_ENV, audit_store
from evkit.errors import ConfigError, SourceError, ValidationError

if TYPE_CHECKING:
    from evkit.control.audit import AuditLog
    from evkit.control.base import CommandResult
    from evkit.easee.commands import EaseeCommand

#: Shown for ``--dry-run`` when the exchange name is only known after fetching details.
UNKNOWN_EXCHANGE = "<exchangeName>"
#: A backlog on the operator queue this large is worth a note (the answer waits behind it).
BACKLOG_NOTE = 1000


def register(top: Any, groups: dict[str, Any]) -> None:
    """Add ``evkit set easee``."""
    del top
    parser: argparse.ArgumentParser = groups["set"].add_parser(
        "easee",
        help="send a documented command to Easee chargers over AMQP (operator account)",
        description=(
            "Validate a documented Easee command, publish it to the operator's command exchange "
            "(routing key {serial}.C.{id}.{ticks}, persistent, mandatory, publisher confirms), wait for "
            "the command response ({serial}.CR.{id}.{ticks}) and the read-back observation, and audit it. "
            "While waiting it consumes the operator queue into --out (acknowledged once durable): nothing "
            "of the shared queue is lost. Examples: `evkit set easee --details streams.json EH123456 "
            "SetDynamicChargerCurrent 13 5` (13 A for 5 minutes), `... EH123456 pause --ttl 30`, "
            "`... EH123456 current 13 --ttl 5`, `... chargers.txt disable --yes`, `--list`."
        ),
        epilog="Exit 0 confirmed/accepted/dry run; 1 rejected, expired, no answer or broker failure; "
        "2 invalid input (nothing sent). Aliases: pause, resume, current AMPS (48, with --ttl, default 60 "
        "min), enable/disable (29), lock/unlock (30), smart-on/smart-off (11), reboot (1).",
    )
    where = parser.add_argument_group("connection (one of --url-env, --details, --token-env)")
    add_amqp_connection(where)
    parser.add_argument("--exchange", metavar="NAME", help="command exchange (Operator_<id>.C.X)")
    parser.add_argument(
        "--out",
        metavar="STORE",
        help="store (a directory or s3://BUCKET/PREFIX) for the messages consumed while waiting (default: "
        f"the audit store, ${STORE_ENV} or ./{DEFAULT_STORE})",
    )
    parser.add_argument(
        "--audit-dir", metavar="DIR", help="store for the audit log; rows go to DIR/audit/ (default as --out)"
    )
    parser.add_argument(
        "--timeout",
        type=number(above=0, max=3600),
        default=30.0,
        help="seconds to wait for the response and read-back (default 30)",
    )
    parser.add_argument(
        "--expires",
        type=number(above=0, max=86400),
        default=None,
        metavar="S",
        help="seconds until the command's ExpiresAt (default 80%% of --timeout)",
    )
    parser.add_argument(
        "--ttl",
        type=integer(min=1, max=1440),
        default=None,
        help="minutes, for pause/resume/current (1-1440)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the routing keys and bodies; send nothing"
    )
    parser.add_argument(
        "--list", action="store_true", help="list the documented commands and their arguments"
    )
    parser.add_argument("--yes", action="store_true", help="confirm a command to more than one charger")
    parser.add_argument(
        "--no-consume",
        action="store_true",
        help="do not consume the operator queue; find the answers only in --out, where a running capture "
        "of that queue writes them",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON lines")
    parser.add_argument(
        "words",
        nargs="*",
        metavar="CHARGER COMMAND [ARG ...]",
        help="one or more charger serials (or files with one serial per line), the command (documented name "
        "or id, or an alias) and its arguments in documented order",
    )
    parser.set_defaults(func=run_set)


# ------------------------------------------------------------------------------------------ parsing


def split_words(words: list[str]) -> tuple[list[str], str, list[str]]:
    """``(chargers, command, arguments)`` from ``CHARGER [CHARGER|FILE ...] COMMAND [ARG ...]``."""
    from evkit.easee.commands import EQUALIZER_PREFIX, SERIAL_PATTERN, check_serial

    chargers: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        path = Path(word)
        if path.is_file():
            chargers.extend(read_serials(path))
        elif SERIAL_PATTERN.match(word.upper()) or word.upper().startswith(EQUALIZER_PREFIX) or not chargers:
            chargers.append(check_serial(word))  # the first word must be a charger
        else:
            break
        index += 1
    if not chargers:
        raise ValidationError(
            "name a charger and a command, e.g. `EH123456 SetDynamicChargerCurrent 13 5` (--list)"
        )
    if index >= len(words):
        raise ValidationError(
            "a COMMAND is missing after the charger(s), e.g. `EH123456 pause --ttl 30` (--list)"
        )
    unique = list(dict.fromkeys(chargers))
    return unique, words[index], words[index + 1 :]


def read_serials(path: Path) -> list[str]:
    """Serials from a file: one or more per line (commas/spaces), ``#`` comments; each checked."""
    from evkit.easee.commands import check_serial

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read the charger list {path}: {exc}") from None
    serials: list[str] = []
    for number_, line in enumerate(text.splitlines(), start=1):
        for token in line.split("#", 1)[0].replace(",", " ").split():
            try:
                serials.append(check_serial(token))
            except ValidationError as exc:
                raise ValidationError(f"{path}:{number_}: {exc}") from None
    if not serials:
        raise ValidationError(f"{path} lists no charger serials")
    return serials


# -------------------------------------------------------------------------------------------- run


def run_set(args: argparse.Namespace) -> int:
    """Handler of ``evkit set easee``."""
    from evkit.control.easee import dry_run_result
    from evkit.easee.commands import build_command, expand_alias

    if args.list:
        _print_commands()
        return 0
    chargers, command_word, arguments = split_words(list(args.words))
    name, values = expand_alias(command_word, arguments, args.ttl)
    expires = args.expires if args.expires is not None else max(args.timeout * 0.8, 1.0)
    # Validation of every command first: one bad input and nothing is sent.
    commands = [build_command(serial, name, values, expires_in=expires) for serial in chargers]
    spec = commands[0].spec
    if len(commands) > 1 and not (args.yes or args.dry_run):
        raise ValidationError(
            f"this sends {spec.name} to {len(commands)} chargers ({_sample(chargers)}); "
            "add --yes to confirm (or --dry-run to preview)"
        )
    sources = [args.details, args.token_env, args.url_env]
    if sum(1 for s in sources if s) > 1 or (not args.dry_run and not any(sources)):
        raise ConfigError("give exactly one of --details FILE, --token-env VAR or --url-env VAR")
    if args.dry_run:
        exchange = args.exchange or _exchange_without_network(args)
        for command in commands:
            _print_result(dry_run_result(command, exchange), args.json, command)
        print(f"dry run: {spec.name} for {len(commands)} charger(s); nothing sent", file=sys.stderr)
        return 0
    store = audit_store(args.out)
    audit = audit_store(args.audit_dir) if args.audit_dir else store
    assert store is not None and audit is not None
    from evkit.control.audit import AuditLog

    with AuditLog(audit) as audit_log:  # closed: on s3:// its day leases are released
        return _send(args, commands, store, audit_log)


def _send(
    args: argparse.Namespace, commands: list[EaseeCommand], store: Path | str, audit_log: AuditLog
) -> int:
    from evkit.control.easee import EaseeController
    from evkit.sources.amqp import resolve_details
    from evkit.sources.easee_commands import AmqpCommandLink
    from evkit.store.writer import store_root

    if not getattr(args, "verbose", False):  # pika and the consumer log every connection step at INFO
        for name in ("pika", "evkit.sources.amqp"):
            logging.getLogger(name).setLevel(logging.WARNING)
    details, _refresh = resolve_details(details=args.details, token_env=args.token_env, url_env=args.url_env)
    audit_log.ensure_writable()
    # (the audit log's store was just checked)
    if not args.no_consume and store_root(store) != audit_log.store_dir:
        from evkit.store.writer import ensure_writable

        ensure_writable(store)  # a bucket that is missing or refuses writes: say so, send nothing
    link = AmqpCommandLink(
        details,
        exchange=args.exchange,
        queue=args.queue,
        out=None if args.no_consume else store,
        watch=store,
        insecure=args.insecure,
    )
    if len(commands) > 1:
        print(f"sending {commands[0].spec.name} to {len(commands)} chargers", file=sys.stderr)
    try:
        link.open()
    except SourceError as exc:
        from evkit.control.base import Outcome
        from evkit.control.easee import command_result

        results = [command_result(c, link.exchange, Outcome.NO_ANSWER, f"not sent: {exc}") for c in commands]
        audit_log.record(*results)
        for result, command in zip(results, commands, strict=True):
            _print_result(result, args.json, command)
        return 1
    try:
        if link.other_consumers:
            print(
                f"note: {link.other_consumers} other consumer(s) on {link.queue}: answers they take are "
                f"looked for in {store} (a capture writing elsewhere: give --out that store)",
                file=sys.stderr,
            )
        if link.backlog >= BACKLOG_NOTE and not args.no_consume:
            print(
                f"note: {link.backlog} messages are waiting in {link.queue}; they are stored while set easee "
                "waits (the answer queues up behind them)",
                file=sys.stderr,
            )
        controller = EaseeController(link, audit=audit_log, timeout=args.timeout, expires_in=args.expires)
        for command in commands:
            warning = controller.flash_warning(command)
            if warning:
                print(f"warning: {warning}", file=sys.stderr)
        results = controller.send_many(commands)
    finally:
        link.close()
    for result, command in zip(results, commands, strict=True):
        _print_result(result, args.json, command)
    kept = (link.capture_summary or {}).get("rows_written")
    if kept:
        print(f"kept {kept} message(s) taken from {link.queue} while waiting in {store}", file=sys.stderr)
    if link.capture_error is not None:
        print(f"evkit: consuming {link.queue} failed: {link.capture_error}", file=sys.stderr)
    if len(results) > 1:
        counts: dict[str, int] = {}
        for result in results:
            counts[result.outcome.label] = counts.get(result.outcome.label, 0) + 1
        print(", ".join(f"{n} {label}" for label, n in counts.items()), file=sys.stderr)
    return max(r.exit_code for r in results)


def _exchange_without_network(args: argparse.Namespace) -> str:
    if args.details:
        from evkit.sources.easee_details import read_details_file

        return read_details_file(args.details).exchange or UNKNOWN_EXCHANGE
    return UNKNOWN_EXCHANGE


def _sample(serials: list[str]) -> str:
    return ", ".join(serials[:5]) + (f" and {len(serials) - 5} more" if len(serials) > 5 else "")


def _print_result(result: CommandResult, as_json: bool, command: EaseeCommand) -> None:
    if as_json:
        print(
            json.dumps(
                {
                    "outcome": result.outcome.value,
                    "charger": command.serial,
                    "command": command.spec.name,
                    "exchange_and_key": result.topic_or_url,
                    "body": result.payload,
                    "detail": result.detail,
                    "latency_s": result.latency_s,
                    "time": result.time.isoformat(),
                }
            )
        )
        return
    line = f"{result.outcome.label}: {command.describe()} -> {result.topic_or_url} {result.payload}"
    if result.latency_s is not None:
        line += f" in {result.latency_s:.2f} s"
    if result.detail:
        line += f" ({result.detail})"
    print(line, file=sys.stdout if result.ok else sys.stderr)


def _print_commands() -> None:
    from evkit.easee.commands import ALIASES, COMMANDS, READBACK

    print("documented Easee AMQP commands (developer.easee.com/docs/amqp-commands):")
    for spec in COMMANDS.values():
        readback = ",".join(str(obs) for obs, _ in READBACK.get(spec.id, ())) or "-"
        flash = " [flash: not for frequent use]" if spec.flash else ""
        print(f"  {spec.id:>2} {spec.usage()}  -- {spec.description}{flash}; read-back {readback}")
        for arg in spec.args:
            print(f"       {arg.name}: {arg.allowed()}")
    print("aliases: " + ", ".join(f"{name} ({cid})" for name, (cid, _) in ALIASES.items()))
