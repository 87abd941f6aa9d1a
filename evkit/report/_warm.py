"""The page's drawing libraries loaded in a background thread while the data is analysed.

Drawing the page first loads NumPy and Plotly, and Plotly loads each trace's and the layout's
validators on their first use: about 0.3 s of one core, all Python, before a figure is drawn. The
analysis before it runs in Polars, which releases the GIL and leaves part of the machine idle (on
two cores it keeps 1.6 of them busy), so ``build_report`` starts this load when the analysis starts
(``Drawing``) and the drawing finds it done: 0.14-0.27 s less a report of 6M rows
(benchmarks/RESULTS.md, "the page's libraries loaded while the data is analysed").

Only third-party modules load here, never an evkit module: a module is imported by one thread while
the other waits on its lock, and two threads importing each other's modules can deadlock; NumPy and
Plotly never import evkit. Whatever fails here is left to the drawing, which meets it again and
says so.
"""

from __future__ import annotations

import threading


def _load() -> None:
    try:
        import numpy  # noqa: F401  (polars' to_numpy of every figure's columns)
        import plotly.graph_objects as go
        import plotly.io  # noqa: F401
        from plotly.offline import get_plotlyjs  # noqa: F401
        from plotly.subplots import make_subplots

        # the classes evkit's figures build (evkit.figures), their validators loaded by a first use
        axis = {"showgrid": True, "gridcolor": "#E4E7EB", "ticks": "outside", "automargin": True}
        layout = go.Layout(
            font={"family": "sans-serif", "size": 13},
            title={"x": 0.0, "font": {"size": 17}},
            legend={"orientation": "h"},
            hoverlabel={"font": {"family": "sans-serif"}},
            xaxis=axis,
            yaxis=axis,
            annotations=[{"text": "", "showarrow": False}],
            shapes=[{"type": "rect"}],
            template=go.layout.Template(layout=go.Layout(margin={"l": 70})),
        )
        bar = go.Bar(marker={"color": "#000000", "pattern": {"shape": ""}, "line": {"width": 0.5}})
        traces = [bar, go.Scatter(line={"width": 1}, marker={"size": 3}), go.Heatmap(colorbar={})]
        make_subplots(rows=2, cols=1).add_traces(traces, rows=[1, 1, 2], cols=[1, 1, 1])
        go.Figure(traces, layout).to_plotly_json()
    except Exception:  # a shortcut only: the drawing imports and uses these itself
        return


class Drawing:
    """The drawing libraries, loaded by a daemon thread from ``start`` on (once; later calls do
    nothing). Start it when the analysis enters Polars' long collects: before them (listing the parts,
    reading footers, the split into buckets) the main thread runs Python and the load would hold the
    GIL it needs."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=_load, name="evkit-report-drawing", daemon=True)
            self._thread.start()

    def join(self) -> None:
        """Wait for the load, when it was started (Plotly's lazy loading is one thread's at a time)."""
        if self._thread is not None:
            self._thread.join()


__all__ = ["Drawing"]
