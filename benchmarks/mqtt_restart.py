"""Benchmark: does `evkit capture mqtt` lose messages when the broker restarts? (issue 15)

The hostile tester's scenario: a private Mosquitto with persistence, a paced QoS 1 publisher
(200 msg/s) that itself loses nothing (it keeps every message until the broker's PUBACK and sends it
again after reconnecting), `evkit capture mqtt --qos 1` as a whole process, and one broker outage
(SIGTERM, so Mosquitto saves its persistence file; N seconds down; started again on the same port
with the same config) in the middle of the publishing. The capture's session is created first (as a
capture that ran before would have), so nothing published before evkit's first connect is lost either.

Printed: messages acknowledged to the publisher, distinct ids stored, lost (acknowledged, not
stored), duplicates, and evkit's exit summary and reconnect log lines.

    .venv/bin/python benchmarks/mqtt_restart.py                       # 200 msg/s, 8 s outage
    .venv/bin/python benchmarks/mqtt_restart.py --max-queued 1000     # Mosquitto's default queue
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as paho
import polars as pl
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the private broker and the lossless publisher are the tests' own

from tests.mqtt.helpers import PacedPublisher, PrivateBroker  # noqa: E402

CLIENT_ID = "bench-restart"
TOPIC = "bench/restart/counter"


def make_session(port: int, expiry: int) -> None:
    """The capture's MQTT 5 session with its QoS 1 subscription, left offline (queues for evkit)."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=CLIENT_ID, protocol=paho.MQTTv5)
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = expiry
    client.connect("127.0.0.1", port, clean_start=True, properties=props)
    client.loop_start()
    client.subscribe("bench/#", qos=1)[1]
    time.sleep(0.5)
    client.disconnect()
    client.loop_stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=200.0, help="messages per second (default 200)")
    parser.add_argument("--seconds", type=float, default=20.0, help="publishing time (default 20)")
    parser.add_argument("--outage", type=float, default=8.0, help="broker down this long (default 8 s)")
    parser.add_argument(
        "--max-queued",
        type=int,
        default=10_000,
        help="Mosquitto max_queued_messages (default 10000 >= outage x rate with margin; Mosquitto's own "
        "default is 1000)",
    )
    args = parser.parse_args()
    count = int(args.rate * args.seconds)
    with tempfile.TemporaryDirectory(prefix="evkit-bench-restart-") as tmp:
        root = Path(tmp)
        (root / "broker").mkdir()
        broker = PrivateBroker(
            root / "broker", settings=f"max_queued_messages {args.max_queued}\nautosave_interval 1\n"
        ).start()
        print(
            f"private Mosquitto :{broker.port}, persistence true, max_queued_messages {args.max_queued}; "
            f"{count} messages at {args.rate:g}/s, {args.outage:g} s outage"
        )
        out = root / "dataset"
        log_path = root / "capture.log"
        try:
            make_session(broker.port, 3600)
            with log_path.open("w") as log_file:
                capture = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "evkit",
                        "capture",
                        "mqtt",
                        "--host=127.0.0.1",
                        f"--port={broker.port}",
                        "--topic=bench/#",
                        f"--out={out}",
                        f"--client-id={CLIENT_ID}",
                        "--qos=1",
                        "--idle-exit=5",
                        "--quiet",
                    ],
                    env={**os.environ, "PYTHONPATH": str(REPO)},
                    stderr=log_file,
                )
                publisher = PacedPublisher(broker.port, TOPIC, args.rate, "bench-publisher").start(count)
                time.sleep(args.seconds / 3)
                broker.restart(outage=args.outage)
                acknowledged = publisher.finish(timeout=args.seconds + 120)
                code = capture.wait(timeout=args.seconds + 180)
        finally:
            broker.stop()
        stored = pl.scan_parquet(f"{out}/**/*.parquet").select("value").collect()["value"]
        ids = {int(v) for v in stored.drop_nulls().to_list()}
        lost = sorted(set(acknowledged) - ids)
        print(f"published {count}, acknowledged to the publisher {len(acknowledged)}")
        print(
            f"stored {len(ids)} distinct ids ({stored.len()} rows, {stored.len() - len(ids)} duplicates), "
            f"lost {len(lost)}" + (f" (first {lost[:5]})" if lost else "")
        )
        print(f"evkit exit code {code}; its log:")
        for line in log_path.read_text().splitlines():
            print("  " + line)


if __name__ == "__main__":
    main()
