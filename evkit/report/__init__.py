"""evkit.report: a self-contained offline HTML report of a dataset (``build_report``, ``evkit report``).

``report_data`` gives the numbers and figure inputs the page renders (charger buckets locally, or a
Dask cluster's tasks), as frames: to compare, test or reuse them without HTML.
"""

from __future__ import annotations

from evkit.report.builder import build_report
from evkit.report.data import ReportData, report_data

__all__ = ["ReportData", "build_report", "report_data"]
