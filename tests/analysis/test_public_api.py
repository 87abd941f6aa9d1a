"""evkit.analysis exports its public functions, sorted, and every one returns a LazyFrame."""

from __future__ import annotations

import polars as pl

from evkit import analysis


def test_public_names_are_sorted_and_present() -> None:
    assert analysis.__all__ == sorted(analysis.__all__)
    for name in analysis.__all__:
        assert getattr(analysis, name) is not None, name


def test_every_function_stays_lazy(fleet_lf: pl.LazyFrame) -> None:
    functions = [getattr(analysis, n) for n in analysis.__all__ if callable(getattr(analysis, n))]
    assert len(functions) >= 15
    for func in functions:
        result = func(fleet_lf, [120]) if func is analysis.readings else func(fleet_lf)
        assert isinstance(result, pl.LazyFrame), func.__name__
