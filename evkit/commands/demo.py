"""``evkit demo``: the main job on the embedded default, headless (what ``make demo`` runs)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from evkit.commands._inputs import output_dir
from evkit.demo import LOCAL_AMQP_URL, SAMPLE, run_demo
from evkit.errors import ConfigError


def _amqp_url(text: str) -> str:
    """An AMQP URL, checked by the one URL parser (its messages never show the password)."""
    from evkit.sources.easee_details import parse_url

    try:
        parse_url(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def register(top: Any, groups: dict[str, Any]) -> None:
    """Add ``evkit demo`` to the top-level commands."""
    del groups
    parser = top.add_parser(
        "demo",
        help="analyse the bundled sample, run the quickstart notebook, write the HTML report",
        description=(
            "Analyse the bundled sample (and, when RabbitMQ answers, first record a fresh simulated "
            "session through the real capture path), execute notebooks/00_quickstart.ipynb and write "
            "OUT/report.html."
        ),
    )
    parser.add_argument(
        "--out", type=output_dir, default=Path("build"), help="output directory (default: build)"
    )
    parser.add_argument("--sample", type=Path, default=SAMPLE, help="dataset to analyse (default: bundled)")
    parser.add_argument(
        "--amqp-url",
        type=_amqp_url,
        default=LOCAL_AMQP_URL,
        help="RabbitMQ for the fresh session (default: local guest)",
    )
    fresh = parser.add_mutually_exclusive_group()
    fresh.add_argument("--record", dest="record", action="store_true", default=None, help="always record")
    fresh.add_argument("--no-record", dest="record", action="store_false", help="never record")
    parser.add_argument("--no-notebook", action="store_true", help="skip executing the quickstart notebook")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    run_demo(
        args.out,
        sample=args.sample,
        amqp_url=args.amqp_url,
        record_fresh=args.record,
        notebook=not args.no_notebook,
    )
    return 0
