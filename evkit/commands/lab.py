"""``evkit lab``: JupyterLab on ``notebooks/`` with the evcc and go-e simulators running (``make lab``)."""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from evkit.commands._inputs import existing_dir
from evkit.demo import LOCAL_MQTT, NOTEBOOKS, reachable

LAB_EVCC_PREFIX = "evkit-lab/evcc"
LAB_GOE_PREFIX = "evkit-lab/go-eCharger"


def register(top: Any, groups: dict[str, Any]) -> None:
    """Add ``evkit lab`` to the top-level commands."""
    del groups
    parser = top.add_parser(
        "lab",
        help="open JupyterLab on notebooks/ (starting the evcc/go-e simulators when Mosquitto is up)",
        description=(
            "Start the evcc and go-e simulators in the background when Mosquitto answers (stopped on "
            "exit), then run JupyterLab on the notebooks folder. Extra arguments go to jupyter lab."
        ),
    )
    parser.add_argument("--notebooks", type=existing_dir, default=NOTEBOOKS, help="folder to open")
    parser.add_argument("--no-simulators", action="store_true", help="do not start the simulators")
    parser.add_argument("lab_args", nargs=argparse.REMAINDER, help="arguments for jupyter lab")
    parser.set_defaults(func=_run)


@contextlib.contextmanager
def simulators(host: str, port: int) -> Iterator[dict[str, str]]:
    """Run the evcc and go-e simulators; yields the environment that points the notebooks at them."""
    from evkit.sim.evcc import EvccSimulator
    from evkit.sim.goe import GoeSimulator

    evcc = EvccSimulator(host=host, port=port, prefix=LAB_EVCC_PREFIX, sessions=True)
    goe = GoeSimulator(mqtt_host=host, mqtt_port=port, prefix=LAB_GOE_PREFIX, http_port=0)
    evcc.start()
    try:
        goe.start()
        try:
            yield {
                "EVKIT_EVCC_PREFIX": LAB_EVCC_PREFIX,
                "EVKIT_EVCC_SIMULATOR": "0",
                "EVKIT_GOE_PREFIX": LAB_GOE_PREFIX,
                "EVKIT_GOE_HTTP": str(goe.http_url),
                "EVKIT_GOE_SIMULATOR": "0",
            }
        finally:
            goe.stop()
    finally:
        evcc.stop(clear_status=True)  # leave nothing retained on the broker


def lab_command(notebooks: Path, extra: list[str], uid: int | None = None) -> list[str]:
    """The ``jupyter lab`` command line; as root (``uid`` 0, e.g. in a container) it adds
    ``--allow-root``, without which JupyterLab refuses to start."""
    uid = os.geteuid() if uid is None else uid
    extra = [arg for arg in extra if arg != "--"]
    if uid == 0 and "--allow-root" not in extra:
        extra = ["--allow-root", *extra]
    return [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={notebooks}", *extra]


def _run(args: argparse.Namespace) -> int:
    host, port = LOCAL_MQTT
    command = lab_command(args.notebooks, args.lab_args)
    if "--allow-root" in command and "--allow-root" not in args.lab_args:
        print("evkit lab: running as root, so JupyterLab is started with --allow-root")
    with contextlib.ExitStack() as stack:
        env = dict(os.environ)
        if args.no_simulators:
            print("evkit lab: simulators not started (--no-simulators)")
        elif reachable(host, port):
            env.update(stack.enter_context(simulators(host, port)))
            print(
                f"evkit lab: evcc simulator on mqtt://{host}:{port} prefix {LAB_EVCC_PREFIX}, "
                f"go-e simulator at {env['EVKIT_GOE_HTTP']} (stopped when you quit)"
            )
        else:
            print(f"evkit lab: Mosquitto is not reachable on {host}:{port}; the panel notebooks will say so")
        try:
            return subprocess.call(command, env=env)
        except KeyboardInterrupt:
            return 0
