"""evkit.commands._args: every numeric option finite and in range, topic parts without wildcards."""

from __future__ import annotations

import argparse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evkit.commands._args import integer, number, port, topic_level, topic_part


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-inf", "1e309", "abc", ""])
def test_number_refuses_non_finite_and_non_numbers(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="must be"):
        number(min=0)(text)


def test_number_range_and_open_lower_bound() -> None:
    parse = number(above=0, max=60)
    assert parse("0.5") == 0.5
    assert parse("60") == 60.0
    for bad in ("0", "-1", "60.01"):
        with pytest.raises(argparse.ArgumentTypeError, match="above 0 and at most 60"):
            parse(bad)


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6))
def test_number_accepts_exactly_the_finite_values_in_range(value: float) -> None:
    parse = number(min=-10, max=10)
    if -10 <= value <= 10:
        assert parse(repr(value)) == value
    else:
        with pytest.raises(argparse.ArgumentTypeError):
            parse(repr(value))


def test_integer_and_port() -> None:
    assert integer(min=1, max=65535)("5000") == 5000
    with pytest.raises(argparse.ArgumentTypeError, match="whole number"):
        integer(min=1)("1.5")
    with pytest.raises(argparse.ArgumentTypeError, match="between 1 and 65535"):
        port("0")
    with pytest.raises(argparse.ArgumentTypeError):
        port("65536")
    assert port("1883") == 1883


@pytest.mark.parametrize("text", ["#", "+", "a/b", "x#", "", "a\x00"])
def test_topic_level_refuses_wildcards_slashes_and_empty(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        topic_level(text)


@pytest.mark.parametrize("text", ["evcc", "home/evcc", "/go-eCharger", "go-eCharger"])
def test_topic_part_accepts_prefixes(text: str) -> None:
    assert topic_part("prefix")(text) == text


@pytest.mark.parametrize("text", ["", "/", "#", "evcc/#", "+/evcc", "a//b", "evcc/", "//x"])
def test_topic_part_refuses_empty_levels_and_wildcards(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        topic_part("prefix")(text)


def test_argparse_exits_2_with_the_option_named(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="t")
    parser.add_argument("--timeout", type=number(above=0, max=3600))
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["--timeout", "nan"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--timeout" in err and "not a finite number" in err
