"""``evkit capture mqtt --out s3://...`` against the real Mosquitto and the real S3 server."""

from __future__ import annotations

import pytest

import evkit
from evkit.store import read_manifest
from tests.mqtt.helpers import publish
from tests.mqtt.test_cli import evkit_cli
from tests.s3fixtures import SECRET_KEY

pytestmark = pytest.mark.broker


def _capture(port: int, topic: str, out: str, n: int) -> tuple[int, str]:
    result = evkit_cli(
        "capture", "mqtt", "--host", "127.0.0.1", "--port", str(port), "--topic", f"{topic}/#",
        "--out", out, "--max-messages", str(n), "--quiet", "--session-expiry", "600",
    )  # fmt: skip
    return result.returncode, result.stderr + result.stdout


def test_mqtt_capture_to_s3_records_exactly_and_writes_its_manifest_object(
    mqtt_broker: tuple[str, int], unique_name: str, s3_dataset: str
) -> None:
    _, port = mqtt_broker
    topic = f"{unique_name}/evcc/loadpoints/1/chargePower"
    for i in range(30):  # retained: the capture gets them on subscribe whenever it starts
        publish(port, [(f"{topic}{i}", str(i), True)])
    try:
        code, output = _capture(port, unique_name, s3_dataset, 30)
    finally:
        publish(port, [(f"{topic}{i}", b"", True) for i in range(30)])
    assert code == 0, output
    frame = evkit.scan(s3_dataset).collect()
    assert sorted(frame["value"].to_list()) == [float(i) for i in range(30)]
    (record,) = read_manifest(s3_dataset)["captures"]
    assert record["source"] == "mqtt"
    assert record["status"] == "complete"  # what a local MQTT capture records too
    assert record["rows_written"] == 30
    assert SECRET_KEY not in output


def test_mqtt_capture_to_a_missing_bucket_exits_non_zero_with_a_sentence(
    mqtt_broker: tuple[str, int], unique_name: str, s3_env: dict[str, str]
) -> None:
    _, port = mqtt_broker
    code, output = _capture(port, unique_name, "s3://evkit-no-such-bucket/home", 1)
    assert code == 1, output
    assert "the bucket 'evkit-no-such-bucket' does not exist" in output
    assert "Traceback" not in output
