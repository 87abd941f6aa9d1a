"""``--charger A B``: the words after ``--charger ID`` taken as more ids only when argparse left
exactly them over (``evkit.commands._narrow.more_chargers``), on the command's own parser."""

from __future__ import annotations

import pytest

from evkit.cli import build_parser
from evkit.commands._narrow import charger_hint, more_chargers


def _parsed(line: list[str]) -> tuple[object, list[str] | None]:
    args, extra = build_parser(line).parse_known_args(line)
    taken = more_chargers(args, line, extra) if extra else True
    return (args.charger if taken else None), extra


@pytest.mark.parametrize(
    ("line", "chargers"),
    [
        (["sessions", "d", "--charger", "A", "B", "C"], ["A", "B", "C"]),
        (["sessions", "d", "--charger", "A", "B", "--format", "json"], ["A", "B"]),
        (["sessions", "d", "--charger=A", "B"], ["A", "B"]),
        (["sessions", "d", "--charger", "A", "B", "--charger", "C", "D"], ["A", "C", "B", "D"]),
        (["latency", "d", "--charger", "A", "--charger", "B"], ["A", "B"]),
        (["report", "d", "--charger", "A", "B", "--no-progress"], ["A", "B"]),
        (["statement", "--charger", "A", "d"], ["A"]),
    ],
)
def test_ids_after_charger_are_more_ids(line: list[str], chargers: list[str]) -> None:
    got, _ = _parsed(line)
    assert got == chargers


@pytest.mark.parametrize(
    "line",
    [
        ["sessions", "--charger", "A", "B", "d"],  # B was taken for DIR
        ["sessions", "d", "stray", "--charger", "A", "B"],  # a word that no --charger lists
        ["sessions", "d", "--charger", "A", "--", "B"],  # after --, words are no option's
        ["compact", "d", "x"],  # a command without --charger
    ],
)
def test_other_left_over_words_are_not_taken(line: list[str]) -> None:
    got, extra = _parsed(line)
    assert got is None and extra


def test_the_hint_names_the_id_taken_for_dir_only_when_one_was() -> None:
    line = ["sessions", "--charger", "A", "B", "d"]
    args, _ = build_parser(line).parse_known_args(line)
    assert charger_hint(args, line).startswith(" (B was taken for DIR: --charger takes one id")
    line = ["sessions", "d", "--charger", "A", "B", "--bogus"]
    args, _ = build_parser(line).parse_known_args(line)
    assert charger_hint(args, line).startswith(" (--charger takes one id")
    line = ["sessions", "d", "--bogus"]
    args, _ = build_parser(line).parse_known_args(line)
    assert charger_hint(args, line) == ""
