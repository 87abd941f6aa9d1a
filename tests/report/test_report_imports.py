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


def test_building_a_report_imports_no_plotly_before_it_draws() -> None:
    code = (
        "import sys\n"
        "import evkit.report.builder\n"
        "print(sorted(m for m in sys.modules if m.startswith('plotly')))\n"
    )
    assert python_output(code).strip() == "[]"


def test_the_drawing_libraries_are_loaded_while_the_data_is_analysed(tmp_path) -> None:
    # what render finds loaded when it is called: the figures' classes and their validators, loaded
    # by the background thread during the analysis, not by render itself
    code = (
        "import sys, threading\n"
        "import evkit.report.builder as builder\n"
        "seen = {}\n"
        "real = builder.render\n"
        "def render(data, title=None):\n"
        "    seen['loaded'] = {m for m in ('numpy', 'plotly.graph_objs._bar', 'plotly.graph_objs._scatter',\n"
        "        'plotly.graph_objs._heatmap', 'plotly.subplots') if m in sys.modules}\n"
        "    seen['threads'] = [t.name for t in threading.enumerate() if t.name == 'evkit-report-drawing']\n"
        "    return real(data, title)\n"
        "builder.render = render\n"
        f"builder.build_report({str(SAMPLE)!r}, {str(tmp_path / 'r.html')!r},"
        " progress=False, rows_per_bucket=50)\n"
        "print(sorted(seen['loaded']), seen['threads'])\n"
    )
    assert python_output(code).strip() == (
        "['numpy', 'plotly.graph_objs._bar', 'plotly.graph_objs._heatmap', 'plotly.graph_objs._scatter',"
        " 'plotly.subplots'] []"
    )
    assert (tmp_path / "r.html").stat().st_size > 1_000_000


def test_the_background_load_imports_no_evkit_module() -> None:
    # a module is imported by one thread while the others wait on its lock: importing evkit's own
    # modules from two threads could deadlock on an import cycle
    code = (
        "import sys\n"
        "from evkit.report._warm import Drawing\n"
        "before = {m for m in sys.modules if m.startswith('evkit')}\n"
        "drawing = Drawing()\n"
        "drawing.join()\n"  # not started: nothing to wait for
        "assert 'plotly' not in sys.modules\n"
        "drawing.start(); drawing.start(); drawing.join()\n"
        "assert 'plotly.graph_objs._bar' in sys.modules and 'numpy' in sys.modules\n"
        "print(sorted({m for m in sys.modules if m.startswith('evkit')} - before))\n"
    )
    assert python_output(code).strip() == "[]"
