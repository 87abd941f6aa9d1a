"""The ``evkit`` command line. Each feature registers its sub-commands from ``evkit.commands``.

Exit codes: 0 done; 1 the device, broker or disk failed us; 2 invalid input (nothing was sent or written).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from typing import NoReturn

from evkit import __version__
from evkit.commands._signals import TERMINATED, Terminated, terminable
from evkit.errors import ConfigError, DatasetError, EvkitError, ValidationError, first_line
from evkit.secrets import mask_secrets
from evkit.store.footers import IGNORE_ZONE_ERRORS
from evkit.store.reader import damaged_parts_policy

#: Modules with ``register(top, groups)``; ``groups`` holds the sub-parsers of capture / sim / set.
COMMAND_MODULES = (
    "evkit.commands.capture_amqp",
    "evkit.commands.capture_mqtt",
    "evkit.commands.sim_easee",
    "evkit.commands.evcc",
    "evkit.commands.goe",
    "evkit.commands.easee",
    "evkit.commands.analysis",
    "evkit.commands.report",
    "evkit.commands.statement",
    "evkit.commands.replay",
    "evkit.commands.compact",
    "evkit.commands.demo",
    "evkit.commands.lab",
)

#: The module registering each command (``GROUP TARGET`` for the grouped ones). A command line naming
#: a command imports only its module: ``evkit sessions`` does not load the broker clients, the
#: simulators or the report (tests check this table against what the modules register).
COMMANDS = {
    "capture amqp": "evkit.commands.capture_amqp",
    "capture mqtt": "evkit.commands.capture_mqtt",
    "sim easee": "evkit.commands.sim_easee",
    "sim evcc": "evkit.commands.evcc",
    "set evcc": "evkit.commands.evcc",
    "sim goe": "evkit.commands.goe",
    "set goe": "evkit.commands.goe",
    "set easee": "evkit.commands.easee",
    "sessions": "evkit.commands.analysis",
    "latency": "evkit.commands.analysis",
    "report": "evkit.commands.report",
    "statement": "evkit.commands.statement",
    "replay": "evkit.commands.replay",
    "compact": "evkit.commands.compact",
    "demo": "evkit.commands.demo",
    "lab": "evkit.commands.lab",
}

GROUPS = {
    "capture": "record a stream into a Parquet dataset",
    "sim": "run a device simulator against a local broker",
    "set": "change a charger setting (validated, confirmed, audited)",
}

INPUT_ERRORS = (ConfigError, DatasetError, ValidationError)


def modules_for(argv: Sequence[str]) -> tuple[str, ...]:
    """The command modules needed to parse ``argv``: the named command's, else (no command, a group
    without its target, a typo: the message lists every choice) all of them."""
    words = [word for word in argv if not word.startswith("-")]
    if not words:
        return COMMAND_MODULES
    if words[0] in COMMANDS:
        return (COMMANDS[words[0]],)
    if words[0] in GROUPS and len(words) > 1 and f"{words[0]} {words[1]}" in COMMANDS:
        return (COMMANDS[f"{words[0]} {words[1]}"],)
    return COMMAND_MODULES


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser: every command's, or (given the command line) enough to parse ``argv``."""
    parser = argparse.ArgumentParser(prog="evkit", description="Record, analyse and steer EV chargers.")
    parser.add_argument("--version", action="version", version=f"evkit {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail to stderr")
    top = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    groups = {
        name: top.add_parser(name, help=help_text, description=help_text).add_subparsers(
            dest="target", required=True, metavar="TARGET"
        )
        for name, help_text in GROUPS.items()
    }
    for module_name in COMMAND_MODULES if argv is None else modules_for(argv):
        importlib.import_module(module_name).register(top, groups)
    return parser


def setup_logging(verbose: bool) -> None:
    """evkit's own INFO lines on stderr; other libraries' (httpx, pika, paho) only from WARNING on,
    unless ``-v`` (then everything, DEBUG included)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("evkit").setLevel(logging.DEBUG if verbose else logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    return _run(argv)[0]


def _run(argv: Sequence[str] | None) -> tuple[int, bool]:
    """The exit code, and whether the process may end at once (:func:`entry`)."""
    line = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(line)
    args, extra = parser.parse_known_args(line)
    if extra:  # ids listed after --charger are taken; any other word is refused, as parse_args does
        from evkit.commands._narrow import charger_hint, more_chargers

        if not more_chargers(args, line, extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}{charger_hint(args, line)}")
    setup_logging(args.verbose)
    # read-only commands (they set ``quick_exit``) leave no thread, child process or open file behind;
    # work sent to a Dask cluster does (its client closes at exit)
    quick = bool(getattr(args, "quick_exit", False)) and not getattr(args, "dask", None)
    TERMINATED.clear()
    try:
        with damaged_parts_policy(getattr(args, "skip_damaged", False)), _terminable(args):
            code: int = args.func(args)
    # Every message is masked once more here: a password in a path or URL the user typed (or one an
    # error quotes) never reaches the terminal, whichever module wrote the sentence.
    except INPUT_ERRORS as exc:
        print(f"evkit: {mask_secrets(str(exc))}", file=sys.stderr)
        return 2, quick
    except EvkitError as exc:
        print(f"evkit: {mask_secrets(str(exc))}", file=sys.stderr)
        return 1, quick
    except FileNotFoundError as exc:  # not a path the user gave (those are checked): one that vanished
        print(f"evkit: {mask_secrets(_vanished(exc))}", file=sys.stderr)
        return 1, quick
    except _polars_errors() as exc:  # data no check could see (a damaged page behind a sound footer)
        print(f"evkit: cannot read the data: {mask_secrets(first_line(exc))}", file=sys.stderr)
        return 2, quick
    except KeyboardInterrupt:  # Ctrl-C; or SIGTERM, relayed to stop a Polars query
        return (143 if TERMINATED.is_set() else 130), quick
    except Terminated:
        return 143, quick
    return code, quick


def _polars_errors() -> tuple[type[BaseException], ...]:
    """Polars' errors when Polars is loaded (every dataset command loads it), else none."""
    polars = sys.modules.get("polars")
    return (polars.exceptions.PolarsError,) if polars is not None else ()


def _vanished(exc: FileNotFoundError) -> str:
    """A file gone while it was read: a Parquet part a compaction replaced meanwhile, most likely."""
    name = exc.filename if exc.filename is not None else first_line(exc)
    if str(name).endswith(".parquet") or ".parquet" in first_line(exc):
        return (
            f"a part of the data vanished while it was read ({name}): did `evkit compact` run "
            "meanwhile? Run the command again"
        )
    return f"no such file: {name}"


@contextlib.contextmanager
def _terminable(args: argparse.Namespace) -> Iterator[None]:
    """For a read-only command (``quick_exit``), SIGTERM raises ``Terminated`` where the command is, at
    once (``evkit.commands._signals.terminable``), so its temporary files are removed on the way out.
    Commands that handle signals themselves (captures) are left alone."""
    if not getattr(args, "quick_exit", False):
        yield
        return
    with terminable():
        yield


def entry() -> NoReturn:
    """The ``evkit`` program: :func:`main`, and after a read-only command the process ends without the
    interpreter's teardown (unloading every module, freeing what Polars holds: 0.03-0.06 s, a tenth of
    ``evkit sessions`` on a month of 500 chargers). Its output is flushed first; were that to fail (a
    closed pipe), the usual exit reports it.

    The process reads parts whose times carry a zone Polars cannot validate ('+05:30', 'Z': pandas'
    from ISO text) as the instants they are (``IGNORE_ZONE_ERRORS``); in a user's own Python, where it
    would change Polars for the rest of their work, such a part is named damaged, saying so."""
    os.environ.setdefault(IGNORE_ZONE_ERRORS, "1")
    code, quick = _run(None)
    if quick:
        logging.shutdown()
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):
            sys.exit(code)
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
