"""The options every command that shows money or times has: ``--tariff``, ``--currency``, ``--tz``."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from evkit.errors import ConfigError
from evkit.timeutil import resolve_zone

if TYPE_CHECKING:
    import polars as pl

    from evkit.analysis.tariff import Tariff

# evkit.analysis.tariff is imported where a tariff is parsed: registering the options of every
# command must not load it (start-up time of `evkit sessions`).


def zone_option(text: str) -> str:
    """argparse type of ``--tz``: an IANA zone name (exit 2 with a sentence otherwise)."""
    try:
        return resolve_zone(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def currency_option(text: str) -> str:
    """argparse type of ``--currency``: an ISO 4217 code."""
    from evkit.analysis.tariff import check_currency

    try:
        return check_currency(text.strip().upper()) or ""  # "eur" is EUR
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--currency ")) from exc


def add_tariff_options(parser: argparse.ArgumentParser, *, tz_default: str = "UTC") -> None:
    """Add ``--tariff``, ``--currency`` and ``--tz`` (times shown in ``tz_default`` unless given)."""
    parser.add_argument(
        "--tariff",
        metavar="PRICE|FILE",
        help=(
            "price per kWh: a flat price (0.30, dot decimal) or a CSV file from,price[,co2][,feed_in] "
            "(from = UTC ISO time, the price holds until the next row); energy is priced by when it flowed. "
            "Without it, an evcc recording is priced at the tariffs evcc published"
        ),
    )
    parser.add_argument(
        "--currency", type=currency_option, metavar="CODE", help="currency of the tariff, e.g. EUR (a label)"
    )
    parser.add_argument(
        "--tz",
        type=zone_option,
        default=None,
        metavar="ZONE",
        help=f"time zone of the times shown, e.g. Europe/Oslo (default {tz_default}); stored data stays UTC",
    )


def tariff_of(args: argparse.Namespace) -> Tariff | None:
    """The tariff the options name (ConfigError, exit 2, when it is unusable), or None."""
    if args.tariff is None:
        if args.currency:
            raise ConfigError("--currency labels a tariff: give --tariff too")
        return None
    from evkit.analysis.tariff import parse_tariff

    return parse_tariff(args.tariff, args.currency or None)


def zone_of(args: argparse.Namespace, default: str | None = "UTC") -> str:
    """The zone of ``--tz``, else ``default`` (None: the machine's zone)."""
    zone: str | None = args.tz
    return zone if zone is not None else resolve_zone(default)


def resolve_tariff(args: argparse.Namespace, lf: pl.LazyFrame) -> Tariff | None:
    """``--tariff`` if given, else the tariff evcc published in the recording (said on stderr), else None."""
    tariff = tariff_of(args)
    if tariff is not None:
        return tariff
    if not {"source", "device_id", "key", "received_at"} <= set(lf.collect_schema().names()):
        return None  # no evcc recording (checked before loading the module that reads one)
    from evkit.analysis.evcc_tariff import recorded_tariff

    return said_recorded(recorded_tariff(lf))


def said_recorded(recorded: Tariff | None) -> Tariff | None:
    """``recorded`` (evcc's tariff in the recording, used for want of ``--tariff``), said on stderr."""
    if recorded is not None:
        print(f"no --tariff: using {recorded.source}", file=sys.stderr)
    return recorded


def with_currency(sessions: pl.DataFrame, tariff: Tariff | None) -> pl.DataFrame:
    """``sessions`` priced at ``tariff`` with its ``currency`` as a column, when the tariff names one."""
    if tariff is None or not tariff.currency:
        return sessions
    import polars as pl  # not at import: registering the options must not load Polars

    return sessions.with_columns(pl.lit(tariff.currency).alias("currency"))


def with_home_figures(sessions: pl.LazyFrame, lf: pl.LazyFrame) -> pl.LazyFrame:
    """``sessions`` with evcc's own session figures (``solar_percentage``, ``evcc_price``...) when
    ``lf`` is a recording of home chargers."""
    if not {"source", "device_id", "key"} <= set(lf.collect_schema().names()):
        return sessions  # checked before loading the module that reads them
    from evkit.analysis.evcc_tariff import with_session_figures

    return with_session_figures(sessions, lf)
