"""evkit.report: a self-contained offline HTML report of a dataset (``build_report``, ``evkit report``).

``report_data`` gives the numbers and figure inputs the page renders (charger buckets locally, or a
Dask cluster's tasks), as frames: to compare, test or reuse them without HTML. Plotly loads with
``build_report`` (first use), not with the data path: a Dask worker computing a bucket never needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from evkit.report.data import ReportData, report_data

if TYPE_CHECKING:
    from evkit.report.builder import build_report


def __getattr__(name: str) -> object:
    if name != "build_report":
        raise AttributeError(f"module 'evkit.report' has no attribute {name!r}")
    from evkit.report.builder import build_report

    return build_report


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = ["ReportData", "build_report", "report_data"]
