"""The demo and the notebooks' plumbing: the bundled sample, local brokers, a simulated Easee fleet.

``run_demo(out)`` is ``make demo``: analyse the bundled sample (and, when RabbitMQ answers, first
record a fresh simulated session through the real capture path), execute the quickstart notebook,
write the HTML report, and say what it did. The small helpers below keep the notebooks thin.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import logging
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

import polars as pl

from evkit.secrets import mask_url
from evkit.sources.easee_details import parse_url

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE = REPO_ROOT / "data" / "sample-session"
NOTEBOOKS = REPO_ROOT / "notebooks"
QUICKSTART = NOTEBOOKS / "00_quickstart.ipynb"
LOCAL_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
LOCAL_MQTT = ("127.0.0.1", 1883)
NOTEBOOK_CELL_TIMEOUT_S = 300

Echo = Callable[[str], None]


class _HasStop(Protocol):
    def stop(self) -> Any: ...


_Stoppable = TypeVar("_Stoppable", bound=_HasStop)


def reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when a TCP connection to ``host:port`` succeeds (a broker is listening)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def amqp_reachable(url: str = LOCAL_AMQP_URL) -> bool:
    """True when the AMQP broker of ``url`` accepts TCP connections."""
    details = parse_url(url)  # a malformed URL is a ConfigError that never shows the password
    return reachable(details.host, details.port)


def env_or(name: str, default: str) -> str:
    """The environment variable ``name`` when set and not empty, else ``default`` (for parameters cells)."""
    value = os.environ.get(name, "")
    return value or default


def output_dir(name: str) -> Path:
    """Where a notebook writes: ``$EVKIT_NOTEBOOK_OUT/name`` or ``build/notebooks/name`` in the repo."""
    base = Path(env_or("EVKIT_NOTEBOOK_OUT", str(REPO_ROOT / "build" / "notebooks")))
    return base / name


def stop_at_exit(running: _Stoppable, **stop_options: Any) -> _Stoppable:
    """Stop a simulator when the kernel shuts down (it keeps serving the panel until then).

    ``stop_options`` go to its ``stop()``, e.g. ``clear_status=True`` so an evcc simulator leaves no
    retained ``status`` behind on a shared broker.
    """
    atexit.register(running.stop, **stop_options)
    return running


def unique_suffix() -> str:
    """A short random token for queue names and topic prefixes nobody else uses."""
    return uuid.uuid4().hex[:8]


@contextlib.contextmanager
def temporary_queue(url: str = LOCAL_AMQP_URL, name: str | None = None) -> Iterator[str]:
    """Declare a throw-away queue for a simulated fleet; deleted (with its messages) on exit."""
    import pika

    queue = name or f"evkit-demo-{unique_suffix()}"
    parameters = parse_url(url).pika_parameters(connection_name="evkit demo")
    connection = pika.BlockingConnection(parameters)
    try:
        connection.channel().queue_declare(queue=queue, durable=False)
    finally:
        connection.close()
    try:
        yield queue
    finally:
        with contextlib.suppress(Exception):
            connection = pika.BlockingConnection(parameters)
            try:
                connection.channel().queue_delete(queue=queue)
            finally:
                connection.close()


def publish_fleet(
    url: str, queue: str, *, chargers: int = 3, hours: float = 12.0, seed: int = 7, speed: float = 0.0
) -> Any:
    """Publish ``hours`` of a simulated Easee fleet into ``queue`` (``speed`` 0 = as fast as possible)."""
    from evkit.sim.easee import EaseeFleet, publish

    # Simulated time ends now, so the recording looks like the last ``hours`` of a real fleet.
    fleet = EaseeFleet(chargers, seed=seed, start=datetime.now(UTC) - timedelta(hours=hours))
    return publish(fleet, url, queue=queue, duration=hours * 3600.0, speed=speed, progress=False)


def record_simulated_session(
    out: Path,
    url: str = LOCAL_AMQP_URL,
    *,
    chargers: int = 3,
    hours: float = 12.0,
    seed: int = 7,
    timeout_s: float = 300.0,
) -> dict[str, Any]:
    """Record a simulated fleet through the real capture path (RabbitMQ queue -> ``evkit.record_amqp``)."""
    from evkit.sources.amqp import record_amqp
    from evkit.store.manifest import annotate

    with temporary_queue(url) as queue:
        recorder = record_amqp(url, out=out, queue=queue, idle_exit=3.0)
        published = publish_fleet(url, queue, chargers=chargers, hours=hours, seed=seed)
        summary = recorder.wait(timeout=timeout_s)
        if summary is None:
            summary = recorder.stop()
    # The fleet's hours were published in seconds: our receive times are not the devices' times plus
    # transport. The manifest says so; the report and the explorer show it as a latency caveat.
    annotate(
        out,
        "simulated",
        {"what": f"simulated Easee fleet ({chargers} chargers, {hours:g} h, seed {seed})", "fast": True},
    )
    return {"published": getattr(published, "messages", None), "capture": summary or {}}


@dataclass
class DatasetSummary:
    """What the demo prints about one dataset."""

    path: Path
    rows: int
    chargers: int
    sessions: int
    energy_kwh: float
    latency_p50_s: float | None
    latency_p95_s: float | None
    decode_errors: int

    def lines(self, *, with_latency: bool = True) -> list[str]:
        latency = (
            f"end-to-end latency p50 {self.latency_p50_s:.2f} s, p95 {self.latency_p95_s:.2f} s"
            if self.latency_p50_s is not None and self.latency_p95_s is not None
            else "no latency data"
        )
        if not with_latency:
            latency = "latency not meaningful: the fleet was published faster than real time"

        return [
            f"  {self.rows:,} messages from {self.chargers} chargers",
            f"  {self.sessions} charging sessions, {self.energy_kwh:,.1f} kWh",
            f"  {latency}",
            f"  {self.decode_errors} messages that did not decode (kept with their raw body)",
        ]


def summarise(path: Path) -> DatasetSummary:
    """Sessions, energy, latency and decode errors of the dataset at ``path``."""
    from evkit import analysis
    from evkit.store.reader import scan

    lf = scan(path)
    counts = lf.select(pl.len().alias("rows"), pl.col("charger_id").n_unique().alias("chargers")).collect()
    sessions = analysis.sessions(lf).collect()
    stats = analysis.latency_stats(lf).collect()
    end_to_end = stats.filter(pl.col("hop") == "end_to_end")
    errors = lf.filter(pl.col("error").is_not_null()).select(pl.len()).collect().item()
    return DatasetSummary(
        path=path,
        rows=int(counts["rows"][0]),
        chargers=int(counts["chargers"][0]),
        sessions=sessions.height,
        energy_kwh=float(sessions["energy_kwh"].fill_null(0).sum()),
        latency_p50_s=float(end_to_end["p50_s"][0]) if end_to_end.height else None,
        latency_p95_s=float(end_to_end["p95_s"][0]) if end_to_end.height else None,
        decode_errors=int(errors),
    )


def execute_notebook(notebook: Path, out_dir: Path, env: dict[str, str] | None = None) -> tuple[Path, Path]:
    """Run ``notebook`` headless (cwd = its folder); write the executed copy and an HTML rendering."""
    # Imported by name: nbformat/nbconvert ship no type information.
    nbformat: Any = importlib.import_module("nbformat")
    nbconvert: Any = importlib.import_module("nbconvert")
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    from evkit.errors import EvkitError

    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=NOTEBOOK_CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(notebook.parent)}},
    )
    # Both Plotly outputs: JupyterLab's mimetype, and HTML with plotly.js inlined once (offline HTML copy).
    renderer = {"PLOTLY_RENDERER": "plotly_mimetype+notebook"}
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / notebook.name
    kernel_log = executed.with_suffix(".kernel.log")  # the kernel's own stderr chatter, kept apart
    with kernel_log.open("wb") as log:
        try:
            client.execute(env={**os.environ, **renderer, **(env or {})}, stderr=log)
        except CellExecutionError as exc:
            nbformat.write(nb, executed)  # keep what ran, with the error, for the reader
            first_line = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise EvkitError(f"{notebook.name} failed: {first_line} (see {executed})") from exc
    nbformat.write(nb, executed)
    body, _ = nbconvert.HTMLExporter().from_notebook_node(nb)
    rendered = executed.with_suffix(".html")
    rendered.write_text(body, encoding="utf-8")
    return executed, rendered


#: Where the report builder may live (looked up at run time, so the demo works while it moves).
REPORT_MODULES = ("evkit.report", "evkit.figures.report", "evkit.figures")


def _build_report(dataset: Path, out: Path) -> Path | None:
    """The HTML report builder's ``build_report(dataset, out)``, when this version has one."""
    for name in REPORT_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        build_report = getattr(module, "build_report", None)
        if build_report is not None:
            return Path(build_report(dataset, out))
    return None


@dataclass
class DemoResult:
    """Everything ``make demo`` produced."""

    out: Path
    sample: DatasetSummary
    fresh: DatasetSummary | None = None
    notebook: Path | None = None
    notebook_html: Path | None = None
    report: Path | None = None
    fresh_report: Path | None = None
    notes: list[str] = field(default_factory=list)


def run_demo(
    out: Path,
    *,
    sample: Path = SAMPLE,
    amqp_url: str = LOCAL_AMQP_URL,
    record_fresh: bool | None = None,
    notebook: bool = True,
    echo: Echo = print,
) -> DemoResult:
    """``make demo``: see the module docs. ``record_fresh=None`` records only when RabbitMQ answers."""
    from evkit.errors import DatasetError

    started = time.monotonic()
    logging.getLogger("pika").setLevel(logging.WARNING)  # its INFO lines drown the demo's story
    out.mkdir(parents=True, exist_ok=True)
    if not sample.is_dir():
        raise DatasetError(f"the bundled sample is missing: {sample}")
    echo(f"evkit demo: writing to {out.resolve()}")
    echo(f"1. the bundled sample ({sample}):")
    result = DemoResult(out=out, sample=summarise(sample))
    for line in result.sample.lines():
        echo(line)

    if record_fresh is None:
        record_fresh = amqp_reachable(amqp_url)
        if not record_fresh:
            note = f"RabbitMQ is not reachable at {mask_url(amqp_url)}: skipped recording a fresh session"
            result.notes.append(note)
            echo(f"2. {note}")
    elif not record_fresh:
        echo("2. not recording a fresh session (asked not to)")
    if record_fresh:
        fresh = out / "fresh-session"
        shutil.rmtree(fresh, ignore_errors=True)  # the demo's own output from an earlier run
        echo(f"2. recording a simulated fleet through RabbitMQ ({mask_url(amqp_url)}) into {fresh} ...")
        recorded = record_simulated_session(fresh, amqp_url)
        echo(f"  published {recorded['published']} messages, captured {recorded['capture'].get('messages')}")
        result.fresh = summarise(fresh)
        for line in result.fresh.lines(with_latency=False):
            echo(line)

    if notebook:
        echo(f"3. executing {QUICKSTART.name} on the bundled sample ...")
        result.notebook, result.notebook_html = execute_notebook(
            QUICKSTART, out, env={"EVKIT_DATASET": str(sample.resolve())}
        )
        echo(f"  {result.notebook} (and {result.notebook_html.name})")

    echo("4. writing the HTML report ...")
    result.report = _build_report(sample, out / "report.html")
    if result.report is None:
        result.notes.append("the report builder is not available in this version")
        echo("  the report builder is not available in this version")
    else:
        echo(f"  {result.report}")
        if result.fresh is not None:
            result.fresh_report = _build_report(out / "fresh-session", out / "fresh-session-report.html")
            echo(f"  {result.fresh_report}")

    echo(f"done in {time.monotonic() - started:.0f} s. Open {(out / 'report.html').resolve()} in a browser,")
    echo("or run `make lab` and start with notebooks/00_quickstart.ipynb.")
    return result


__all__ = [
    "LOCAL_AMQP_URL",
    "LOCAL_MQTT",
    "SAMPLE",
    "DatasetSummary",
    "DemoResult",
    "amqp_reachable",
    "env_or",
    "execute_notebook",
    "mask_url",
    "output_dir",
    "publish_fleet",
    "reachable",
    "record_simulated_session",
    "run_demo",
    "stop_at_exit",
    "summarise",
    "temporary_queue",
    "unique_suffix",
]
