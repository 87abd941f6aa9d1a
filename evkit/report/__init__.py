"""evkit.report: a self-contained offline HTML report of a dataset (``build_report``, ``evkit report``)."""

from __future__ import annotations

from evkit.report.builder import build_report

__all__ = ["build_report"]
