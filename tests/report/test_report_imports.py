"""The report's data path (``report_data``, and what a Dask worker runs of it) loads no Plotly: a
worker computing a bucket never draws, and the explorer asks for data before any figure."""

from __future__ import annotations

from tests.conftest import REPO_ROOT, python_output

SAMPLE = REPO_ROOT / "data" / "sample-session"


def test_report_data_loads_no_plotly() -> None:
    code = (
        "import sys\n"
        "import evkit.cluster.report_tasks\n"
        "from evkit.report import report_data\n"
        f"data = report_data({str(SAMPLE)!r}, rows_per_bucket=50)\n"
        "assert data.sessions.height and data.readings.height and data.latency.curves\n"
        "drawing = ('plotly', 'evkit.figures')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'plotly' or m.startswith(drawing)))\n"
        "import evkit.report\n"
        "assert evkit.report.build_report.__module__ == 'evkit.report.builder'\n"
        "assert {'build_report', 'report_data', 'ReportData'} <= set(dir(evkit.report))\n"
    )
    assert python_output(code).strip() == "[]"
