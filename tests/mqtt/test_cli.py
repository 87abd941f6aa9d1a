"""``evkit capture mqtt`` as a whole process: exit codes, SIGTERM flush, secrets, auth."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

import evkit
from tests.mqtt.helpers import PrivateBroker, publish

pytestmark = pytest.mark.broker

SECRET = "s3cret-Pa55word"


def evkit_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evkit", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def wait_for_subscription(out: Path, timeout: float = 15) -> None:
    """The manifest appears once the capture started; give the SUBSCRIBE a moment after."""
    deadline = time.monotonic() + timeout
    while not (out / "manifest.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)


def test_max_messages_records_exactly_and_exits_0(
    mqtt_broker: tuple[str, int], unique_name: str, dataset_dir: Path
) -> None:
    _, port = mqtt_broker
    topic = f"{unique_name}/evcc/loadpoints/1/chargePower"
    for i in range(40):  # retained: the capture gets it on subscribe whenever it starts
        publish(port, [(f"{topic}{i}", str(i), True)])
    try:
        result = evkit_cli(
            "capture",
            "mqtt",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--topic",
            f"{unique_name}/#",
            "--out",
            str(dataset_dir),
            "--max-messages",
            "40",
            "--evcc-root",
            f"{unique_name}/evcc",
            "--quiet",
            "--session-expiry",
            "600",
        )
    finally:
        publish(port, [(f"{topic}{i}", b"", True) for i in range(40)])
    assert result.returncode == 0, result.stderr
    frame = evkit.scan(dataset_dir).collect()
    assert sorted(frame["value"].to_list()) == [float(i) for i in range(40)]
    assert frame["retained"].all()
    assert "recorded 40 messages" in result.stderr


def test_sigterm_flushes_and_exits_0(
    mqtt_broker: tuple[str, int], unique_name: str, dataset_dir: Path
) -> None:
    _, port = mqtt_broker
    command = [
        sys.executable, "-m", "evkit", "capture", "mqtt", "--host", "127.0.0.1", "--port", str(port),
        "--topic", f"{unique_name}/#", "--out", str(dataset_dir), "--quiet", "--session-expiry", "600",
    ]  # fmt: skip
    process = subprocess.Popen([*command, "--flush-interval", "30"], stderr=subprocess.PIPE, text=True)
    try:
        wait_for_subscription(dataset_dir)
        publish(port, [(f"{unique_name}/t", str(i), False) for i in range(120)])
        time.sleep(2.0)  # delivered, but not yet flushed (flush interval 30 s, 500 rows)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    manifest = json.loads((dataset_dir / "manifest.json").read_text())
    first = manifest["captures"][0]
    assert first["status"] == "complete" and first["stop_reason"] == "stopped"
    assert first["messages"] > 0
    assert evkit.scan(dataset_dir).collect().height == first["messages"]  # buffered rows were flushed
    # whatever had not arrived yet stayed in the broker session: the same command picks it up
    again = evkit_cli(*command[3:], "--idle-exit", "2")
    assert again.returncode == 0, again.stderr
    values = evkit.scan(dataset_dir).collect()["value"].to_list()
    assert sorted(values) == [float(i) for i in range(120)]


def test_invalid_topic_filter_exits_2(dataset_dir: Path) -> None:
    result = evkit_cli(
        "capture", "mqtt", "--host", "127.0.0.1", "--topic", "a/#/b", "--out", str(dataset_dir)
    )
    assert result.returncode == 2
    assert "invalid topic filter" in result.stderr


def test_unreachable_broker_exits_1(dataset_dir: Path) -> None:
    from tests.mqtt.helpers import free_port

    result = evkit_cli(
        "capture",
        "mqtt",
        "--host",
        "127.0.0.1",
        "--port",
        str(free_port()),
        "--topic",
        "x/#",
        "--out",
        str(dataset_dir),
    )
    assert result.returncode == 1
    assert "cannot connect to MQTT broker" in result.stderr


def test_unwritable_output_exits_1_before_connecting(mqtt_broker: tuple[str, int], tmp_path: Path) -> None:
    _, port = mqtt_broker
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = evkit_cli(
        "capture",
        "mqtt",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--topic",
        "x/#",
        "--out",
        str(blocker / "ds"),
    )
    assert result.returncode == 1
    assert "cannot write" in result.stderr


def test_missing_password_variable_exits_2(dataset_dir: Path) -> None:
    result = evkit_cli(
        "capture",
        "mqtt",
        "--host",
        "127.0.0.1",
        "--topic",
        "x/#",
        "--out",
        str(dataset_dir),
        "--username",
        "u",
        "--password-env",
        "EVKIT_TEST_UNSET_VARIABLE",
    )
    assert result.returncode == 2
    assert "EVKIT_TEST_UNSET_VARIABLE" in result.stderr


@pytest.fixture
def password_broker(tmp_path: Path, private_mosquitto: Callable[..., PrivateBroker]) -> PrivateBroker:
    directory = tmp_path / "auth-broker"
    directory.mkdir()
    password_file = directory / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(password_file), "recorder", SECRET], check=True)
    password_file.chmod(0o644)
    return private_mosquitto(
        "auth-broker",
        start=False,
        extra_config=f"allow_anonymous false\npassword_file {password_file}\n",
    )


def test_password_is_used_but_never_written_or_printed(
    password_broker: PrivateBroker, unique_name: str, dataset_dir: Path
) -> None:
    password_broker.start()
    try:
        publish_with_auth = [(f"{unique_name}/v", "1", True)]
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        client = paho.Client(CallbackAPIVersion.VERSION2)
        client.username_pw_set("recorder", SECRET)
        client.connect("127.0.0.1", password_broker.port)
        client.loop_start()
        client.publish(*publish_with_auth[0][:2], qos=1, retain=True).wait_for_publish(5)
        client.disconnect()
        client.loop_stop()
        ok = evkit_cli(
            "capture",
            "mqtt",
            "--host",
            "127.0.0.1",
            "--port",
            str(password_broker.port),
            "--topic",
            f"{unique_name}/#",
            "--out",
            str(dataset_dir),
            "--username",
            "recorder",
            "--password-env",
            "EVKIT_TEST_PW",
            "--max-messages",
            "1",
            env={"EVKIT_TEST_PW": SECRET},
        )
        bad = evkit_cli(
            "capture",
            "mqtt",
            "--host",
            "127.0.0.1",
            "--port",
            str(password_broker.port),
            "--topic",
            "x/#",
            "--out",
            str(dataset_dir / "bad"),
            "--username",
            "recorder",
            "--password-env",
            "EVKIT_TEST_PW",
            env={"EVKIT_TEST_PW": "wrong"},
        )
    finally:
        password_broker.stop()
    assert ok.returncode == 0, ok.stderr
    assert evkit.scan(dataset_dir).collect().height == 1
    assert bad.returncode == 1
    assert "refused" in bad.stderr
    for path in dataset_dir.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    assert SECRET not in ok.stderr + ok.stdout + bad.stderr + bad.stdout
    assert pl.read_parquet(next(dataset_dir.rglob("*.parquet")))["value"].to_list() == [1.0]


def test_kill_9_mid_capture_then_capture_again_loses_nothing(
    private_broker: PrivateBroker, unique_name: str, dataset_dir: Path
) -> None:
    port = private_broker.port
    command = [
        sys.executable, "-m", "evkit", "capture", "mqtt", "--host", "127.0.0.1", "--port", str(port),
        "--topic", f"{unique_name}/#", "--out", str(dataset_dir), "--quiet", "--flush-rows", "50",
    ]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    try:
        wait_for_subscription(dataset_dir)
        publish(port, [(f"{unique_name}/evcc/site/pvPower", str(i), False) for i in range(400)])
        process.send_signal(signal.SIGKILL)  # mid-stream: some rows written, some only buffered
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
    publish(port, [(f"{unique_name}/evcc/site/pvPower", str(i), False) for i in range(400, 600)])
    again = evkit_cli(*command[3:], "--idle-exit", "2")
    assert again.returncode == 0, again.stderr
    values = evkit.scan(dataset_dir).collect()["value"].to_list()
    # at least once: every message is there; a message written but not yet acknowledged when the
    # process died comes again (flagged redelivered), nothing is missing
    assert sorted(set(values)) == [float(i) for i in range(600)]


def _make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1 (openssl)."""
    ca_key, ca, key, csr, cert = (
        directory / n for n in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem")
    )
    run = lambda *args: subprocess.run(["openssl", *args], check=True, capture_output=True)  # noqa: E731
    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(ca_key),
        "-out",
        str(ca),
        "-days",
        "1",
        "-subj",
        "/CN=evkit test CA",
    )
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(key),
        "-out",
        str(csr),
        "-subj",
        "/CN=127.0.0.1",
    )
    extensions = directory / "san.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1\n")
    run(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-out",
        str(cert),
        "-days",
        "1",
        "-extfile",
        str(extensions),
    )
    for path in (key, cert, ca):
        path.chmod(0o644)
    return ca, cert, key


def test_tls_capture_verifies_the_broker_and_records(
    tmp_path: Path, unique_name: str, dataset_dir: Path, private_mosquitto: Callable[..., PrivateBroker]
) -> None:
    from tests.mqtt.helpers import free_port, wait_port

    directory = tmp_path / "tls-broker"
    directory.mkdir()
    ca, cert, key = _make_certificates(directory)
    tls_port = free_port()
    broker = private_mosquitto(
        "tls-broker",
        extra_config=(
            "allow_anonymous true\n"
            f"listener {tls_port} 127.0.0.1\ncafile {ca}\ncertfile {cert}\nkeyfile {key}\n"
        ),
    )
    wait_port(tls_port, up=True)
    for i in range(300):  # retained: delivered on subscribe, through TLS, in one burst
        publish(broker.port, [(f"{unique_name}/evcc/loadpoints/1/k{i}", str(i), True)])
    base = [
        "capture",
        "mqtt",
        "--host",
        "127.0.0.1",
        "--port",
        str(tls_port),
        "--tls",
        "--topic",
        f"{unique_name}/#",
    ]
    verified = evkit_cli(*base, "--ca-file", str(ca), "--out", str(dataset_dir), "--max-messages", "300")
    unverified = evkit_cli(*base, "--out", str(tmp_path / "refused"), "--max-messages", "1")
    assert verified.returncode == 0, verified.stderr
    assert sorted(evkit.scan(dataset_dir).collect()["value"].to_list()) == [float(i) for i in range(300)]
    assert unverified.returncode == 1  # the system CAs do not know our test CA: refused, not ignored
    assert "cannot connect" in unverified.stderr and "CERTIFICATE_VERIFY_FAILED" in unverified.stderr


def test_output_lost_mid_capture_exits_1_and_acknowledges_nothing_unwritten(
    private_broker: PrivateBroker, unique_name: str, tmp_path: Path
) -> None:
    port = private_broker.port
    out = tmp_path / "dataset"
    command = [
        sys.executable, "-m", "evkit", "capture", "mqtt", "--host", "127.0.0.1", "--port", str(port),
        "--topic", f"{unique_name}/#", "--out", str(out), "--quiet", "--flush-interval", "60",
    ]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_subscription(out)
        publish(port, [(f"{unique_name}/go-eCharger/000009/wh", str(i), False) for i in range(50)])
        time.sleep(1.0)  # buffered, not yet written (60 s flush interval)
        out.rename(tmp_path / "moved")
        out.write_text("the disk is gone")  # every write below it now fails
        process.send_signal(signal.SIGTERM)  # stop: flush -> the write fails
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 1, stderr
    assert "could not be written" in stderr
    out.unlink()
    (tmp_path / "moved").rename(out)
    again = evkit_cli(*command[3:], "--idle-exit", "2")
    assert again.returncode == 0, again.stderr
    values = evkit.scan(out).collect()["value"].to_list()
    assert sorted(values) == [float(i) for i in range(50)]  # the broker kept every unwritten message
