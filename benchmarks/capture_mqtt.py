"""Benchmark: `evkit capture mqtt` against a plain paho drain of the same queued traffic, in one run.

Setup (stated, since Mosquitto's defaults drop QoS 1 messages beyond 1000 queued per client): a
private Mosquitto on a free port with ``max_queued_messages 0`` and ``max_inflight_messages 0``
(unlimited), persistence off. Two persistent MQTT 5 sessions (QoS 1 on ``bench/#``) are created and
left offline; one publisher then sends N realistic evcc + go-e messages (evcc plain text, go-e JSON
incl. ``nrg`` arrays), so the broker queues the identical N messages for both sessions.

- plain paho: reconnects its session and drains the N messages (auto-ack, nothing decoded or written);
- evkit: ``python -m evkit capture mqtt --max-messages N`` as a whole process reconnects its session
  and records them (decode, nrg expansion, fsynced Parquet, ack after durability).

Printed: both rates, the ratio, evkit's peak RSS. Two evkit rates: the consume window (first to last
``received_at`` in the dataset; the plain drain is timed the same way, first to last message) and the
whole process (interpreter start-up, imports, connect and the final flush included).

    .venv/bin/python benchmarks/capture_mqtt.py --messages 200000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
from _dataset import written_window
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

REPO = Path(__file__).resolve().parent.parent
TOPIC_FILTER = "bench/#"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_broker(directory: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    config = directory / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 0\nmax_inflight_messages 0\nmax_queued_bytes 0\n"
        f"log_dest file {directory}/mosquitto.log\n" + ("user root\n" if os.geteuid() == 0 else "")
    )
    process = subprocess.Popen(["mosquitto", "-c", str(config)])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process, port
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("mosquitto did not start")


def connect_props() -> Properties:
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = 65535
    return props


def new_client(client_id: str, protocol: int) -> paho.Client:
    if protocol == 5:
        return paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    return paho.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311, clean_session=False
    )


def connect(client: paho.Client, port: int, protocol: int) -> None:
    if protocol == 5:
        client.connect("127.0.0.1", port, clean_start=False, properties=connect_props())
    else:
        client.connect("127.0.0.1", port)


def make_session(port: int, client_id: str, protocol: int) -> None:
    """Create a persistent QoS 1 session subscribed to ``bench/#`` and leave it offline."""
    done = threading.Event()
    client = new_client(client_id, protocol)
    client.on_subscribe = lambda *a: done.set()
    connect(client, port, protocol)
    client.loop_start()
    client.subscribe(TOPIC_FILTER, qos=1)
    if not done.wait(10):
        raise SystemExit("subscribe failed")
    client.disconnect()
    client.loop_stop()


def traffic(count: int, seed: int = 1) -> list[tuple[str, bytes]]:
    """A realistic evcc + go-e mix (about one go-e nrg array per eight messages)."""
    rng = random.Random(seed)
    makers = [
        lambda i: (
            "bench/evcc/loadpoints/1/chargePower",
            f"{rng.uniform(0, 11000):.3f}".rstrip("0").rstrip("."),
        ),
        lambda i: ("bench/evcc/loadpoints/1/sessionEnergy", f"{i * 0.917:.3f}".rstrip("0").rstrip(".")),
        lambda i: ("bench/evcc/loadpoints/1/charging", rng.choice(["true", "false"])),
        lambda i: ("bench/evcc/updated", str(1_795_300_000 + i)),
        lambda i: (
            "bench/go-eCharger/012345/nrg",
            json.dumps(
                [round(rng.uniform(225, 235), 1) for _ in range(4)]
                + [16.1, 16.0, 15.9]
                + [3700, 3690, 3680, 0, 11070, 99, 99, 98, 0]
            ),
        ),
        lambda i: ("bench/go-eCharger/012345/car", str(rng.choice([1, 2, 3, 4]))),
        lambda i: ("bench/go-eCharger/012345/wh", f"{i * 3.1:.1f}"),
        lambda i: ("bench/go-eCharger/012345/rbt", str(1000 * i)),
    ]
    return [(t, p.encode()) for i in range(count) for t, p in [makers[i % len(makers)](i)]]


def publish_all(port: int, messages: list[tuple[str, bytes]]) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-publisher")
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    pending = []
    for topic, payload in messages:
        pending.append(client.publish(topic, payload, qos=1))
        if len(pending) >= 2000:
            for info in pending:
                info.wait_for_publish(60)
            pending = []
    for info in pending:
        info.wait_for_publish(60)
    client.disconnect()
    client.loop_stop()


def drain_plain(port: int, client_id: str, count: int, protocol: int) -> tuple[float, float]:
    """Plain paho drain of a queued session: (first-to-last message seconds, connect-to-last seconds)."""
    received = 0
    first: list[float] = []
    last = [0.0]
    done = threading.Event()

    def on_message(client: object, userdata: object, message: object) -> None:
        nonlocal received
        now = time.perf_counter()
        if not first:
            first.append(now)
        received += 1
        last[0] = now
        if received >= count:
            done.set()

    client = new_client(client_id, protocol)
    client.on_message = on_message
    began = time.perf_counter()
    connect(client, port, protocol)
    thread = threading.Thread(target=client.loop_forever, daemon=True)
    thread.start()
    if not done.wait(600):
        raise SystemExit(f"plain paho drained only {received} of {count}")
    client.disconnect()
    thread.join(10)
    return last[0] - first[0], last[0] - began


def run_plain_process(
    port: int, client_id: str, count: int, protocol: int
) -> tuple[float, float, float, float]:
    """The plain paho drain as a whole process: (window s, from-connect s, whole s, CPU s)."""
    command = [sys.executable, __file__, "--plain-drain", str(port), client_id, str(count), str(protocol)]
    began = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    whole = time.perf_counter() - began
    output = process.stdout.read().decode() if process.stdout else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"plain drain failed: {output}")
    window, from_connect = json.loads(output)
    return window, from_connect, whole, usage.ru_utime + usage.ru_stime


def drain_evkit(
    port: int, client_id: str, count: int, out: Path, protocol: int, *, extra: list[str]
) -> tuple[float, float, float, int, float]:
    """``evkit capture mqtt`` whole process: (consume window s, whole process s, peak RSS MiB, rows)."""
    command = [
        sys.executable,
        "-m",
        "evkit",
        "capture",
        "mqtt",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--topic",
        TOPIC_FILTER,
        "--out",
        str(out),
        "--client-id",
        client_id,
        "--max-messages",
        str(count),
        "--evcc-root",
        "bench/evcc",
        "--goe-prefix",
        "bench/go-eCharger",
        "--quiet",
        "--protocol",
        str(protocol),
        *extra,
    ]
    began = time.perf_counter()
    began_wall = time.time()
    process = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    whole = time.perf_counter() - began
    ended_wall = time.time()
    cpu = usage.ru_utime + usage.ru_stime  # the capture and its writer process
    stderr = process.stderr.read().decode() if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"evkit capture failed:\n{stderr}")
    rows, first, last = written_window(out)
    window = (last - first).total_seconds()
    lead = first.timestamp() - began_wall
    tail = ended_wall - last.timestamp()
    print(f"  evkit: {lead:.2f} s from start to first message, {tail:.2f} s from last message to exit")
    messages = json.loads((out / "manifest.json").read_text())["captures"][0]["messages"]
    if messages != count:
        raise SystemExit(f"evkit recorded {messages} messages, expected {count}")
    return window, whole, usage.ru_maxrss / 1024, rows, cpu


def one_round(count: int, protocol: int, evkit_first: bool, root: Path, extra: list[str]) -> dict[str, float]:
    broker, port = start_broker(root)
    try:
        make_session(port, "bench-plain", protocol)
        make_session(port, "bench-evkit", protocol)
        publish_all(port, traffic(count))
        result: dict[str, float] = {}
        for contender in ["evkit", "plain"] if evkit_first else ["plain", "evkit"]:
            if contender == "plain":
                window, _, whole, cpu = run_plain_process(port, "bench-plain", count, protocol)
                result |= {"plain_window": window, "plain_whole": whole, "plain_cpu": cpu}
            else:
                window, whole, rss, rows, cpu = drain_evkit(
                    port, "bench-evkit", count, root / "dataset", protocol, extra=extra
                )
                result |= {
                    "evkit_window": window,
                    "evkit_whole": whole,
                    "evkit_cpu": cpu,
                    "rss": rss,
                    "rows": rows,
                }
        return result
    finally:
        broker.terminate()
        broker.wait(10)


def main() -> None:
    if len(sys.argv) == 6 and sys.argv[1] == "--plain-drain":
        port, client_id, count, protocol = int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
        print(json.dumps(drain_plain(port, client_id, count, protocol)))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--protocol", type=int, choices=[5, 311], default=5, help="MQTT version, both sides")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, alternating who drains first")
    parser.add_argument(
        "--evkit-option",
        action="append",
        default=[],
        metavar="ARG",
        help="extra argument for evkit capture mqtt (repeatable), e.g. --evkit-option=--flush-rows=2000",
    )
    args = parser.parse_args()
    count = args.messages
    version = "5" if args.protocol == 5 else "3.1.1"
    load = os.getloadavg()[0]
    print(
        f"{count:,} messages queued for each of 2 offline sessions per round (private Mosquitto, "
        f"unlimited queues, QoS 1, MQTT {version}); both contenders are whole processes; load {load:.1f}"
        + (f"; evkit options: {' '.join(args.evkit_option)}" if args.evkit_option else "")
    )
    rounds = []
    for number in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="evkit-bench-mqtt-") as tmp:
            r = one_round(count, args.protocol, number % 2 == 1, Path(tmp), args.evkit_option)
        rounds.append(r)
        plain = f"{count / r['plain_window']:>8,.0f} window, {count / r['plain_whole']:>8,.0f} whole"
        evkit = f"{count / r['evkit_window']:>8,.0f} window, {count / r['evkit_whole']:>8,.0f} whole"
        print(
            f"round {number + 1} (msg/s): plain {plain}, {r['plain_cpu'] / count * 1e6:4.1f} µs CPU/msg | "
            f"evkit {evkit}, {r['evkit_cpu'] / count * 1e6:4.1f} µs CPU/msg, {r['rss']:.0f} MiB | "
            f"load {os.getloadavg()[0]:.1f}"
        )

    def median(key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    window_ratio = statistics.median(r["plain_window"] / r["evkit_window"] for r in rounds)
    whole_ratio = statistics.median(r["plain_whole"] / r["evkit_whole"] for r in rounds)
    rows = rounds[0]["rows"]
    print(f"plain paho drain     : {count / median('plain_window'):>9,.0f} msg/s (median, first to last)")
    print(
        f"evkit capture mqtt   : {count / median('evkit_window'):>9,.0f} msg/s "
        f"(median, first to last received_at; {rows:,.0f} rows incl. nrg fields)"
    )
    print(f"ratio consume window : {window_ratio:.3f}   ratio whole process: {whole_ratio:.3f} (medians)")
    plain_cpu = median("plain_cpu") / count * 1e6
    evkit_cpu = median("evkit_cpu") / count * 1e6
    print(
        f"CPU per message      : plain {plain_cpu:.1f} µs, evkit {evkit_cpu:.1f} µs "
        "(capture + writer process: decode, Parquet, fsync)"
    )
    print(f"evkit peak RSS       : {max(r['rss'] for r in rounds):,.0f} MiB")


if __name__ == "__main__":
    main()
