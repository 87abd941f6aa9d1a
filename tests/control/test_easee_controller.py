"""EaseeController rules on the in-process simulated cloud: outcomes, matching by ticks, read-back,
audit with secrets masked, the flash-wear warning."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from evkit.control.audit import AuditLog
from evkit.control.base import Outcome
from evkit.control.easee import EaseeController
from evkit.errors import ValidationError
from evkit.sim.easee_cloud import MemoryEaseeCloud
from evkit.sim.easee_commands import CommandHandler

SERIAL = "EH000001"


def _controller(tmp_path: Path, handler: CommandHandler, timeout: float = 0.5) -> EaseeController:
    return EaseeController(MemoryEaseeCloud(handler), audit=tmp_path, timeout=timeout)


def test_confirmed_with_readback(tmp_path: Path) -> None:
    controller = _controller(tmp_path, CommandHandler([SERIAL]))
    result = controller.send(controller.prepare(SERIAL, "SetDynamicChargerCurrent", ["13", "5"]))
    assert result.outcome is Outcome.CONFIRMED and result.exit_code == 0
    assert "48=13" in result.detail
    body = json.loads(result.payload)
    assert body["Arguments"] == [{"Id": 1, "Value": "13"}, {"Id": 2, "Value": "5"}]


def test_alias_pause(tmp_path: Path) -> None:
    handler = CommandHandler([SERIAL])
    controller = _controller(tmp_path, handler)
    result = controller.send(controller.prepare(SERIAL, "pause", [], ttl=5))
    assert result.outcome is Outcome.CONFIRMED
    assert handler.cap_power(SERIAL, time.time(), 11.0, True) == 0.0


def test_no_readback_command_is_accepted(tmp_path: Path) -> None:
    controller = _controller(tmp_path, CommandHandler([SERIAL]))
    result = controller.send(controller.prepare(SERIAL, "Reboot", []))
    assert result.outcome is Outcome.ACCEPTED and result.exit_code == 0


def test_rejected_shows_code_and_comment(tmp_path: Path) -> None:
    controller = _controller(tmp_path, CommandHandler([SERIAL], reject=[SERIAL]))
    result = controller.send(controller.prepare(SERIAL, 29, ["false"]))
    assert result.outcome is Outcome.REJECTED and result.exit_code == 1
    assert "ResultCode 1" in result.detail and "rejected by the simulator" in result.detail


def test_silence_is_no_answer(tmp_path: Path) -> None:
    controller = _controller(tmp_path, CommandHandler([SERIAL], ignore=[SERIAL]), timeout=0.3)
    result = controller.send(controller.prepare(SERIAL, 29, ["false"]))
    assert result.outcome is Outcome.NO_ANSWER and result.exit_code == 1


def test_expiry(tmp_path: Path) -> None:
    handler = CommandHandler([SERIAL], expire=[SERIAL])
    controller = EaseeController(MemoryEaseeCloud(handler), audit=tmp_path, timeout=1.0, expires_in=0.3)
    result = controller.send(controller.prepare(SERIAL, 29, ["false"]))
    assert result.outcome is Outcome.EXPIRED and result.exit_code == 1


def test_response_for_other_ticks_is_not_ours(tmp_path: Path) -> None:
    """A response to another command (another system steering the same charger) never confirms ours."""
    cloud = MemoryEaseeCloud(CommandHandler([SERIAL], ignore=[SERIAL]))
    controller = EaseeController(cloud, audit=None, timeout=0.3)
    command = controller.prepare(SERIAL, 48, ["13", "5"])
    foreign = f"{SERIAL}.CR.48.{command.ticks + 1}"
    cloud.subscribe(lambda key, body: None)
    cloud._deliver([(foreign, b'{"Id":48,"WasAccepted":true,"ResultCode":0}')])
    result = controller.send(command)
    assert result.outcome is Outcome.NO_ANSWER


def test_fleet_sends_all_and_waits_once(tmp_path: Path) -> None:
    serials = [f"EH00000{i}" for i in range(1, 6)]
    controller = _controller(tmp_path, CommandHandler(serials, reject=["EH000003"]))
    results = controller.send_many([controller.prepare(s, "disable", []) for s in serials])
    assert [r.outcome for r in results] == [
        Outcome.CONFIRMED, Outcome.CONFIRMED, Outcome.REJECTED, Outcome.CONFIRMED, Outcome.CONFIRMED
    ]  # fmt: skip


def test_validation_sends_nothing(tmp_path: Path) -> None:
    cloud = MemoryEaseeCloud(CommandHandler([SERIAL]))
    controller = EaseeController(cloud, audit=tmp_path, timeout=0.3)
    with pytest.raises(ValidationError, match="0 \\(pause\\) or 6-32"):
        controller.prepare(SERIAL, 48, ["40", "5"])
    assert cloud.published == []
    assert not (tmp_path / "audit").exists()


def test_audit_rows(tmp_path: Path) -> None:
    controller = _controller(tmp_path, CommandHandler([SERIAL]))
    controller.send(controller.prepare(SERIAL, 48, ["16", "5"]))
    rows = AuditLog(tmp_path).read().collect()
    assert rows.height == 1
    row = rows.row(0, named=True)
    assert row["target"] == "easee" and row["transport"] == "amqp" and row["outcome"] == "confirmed"
    assert row["setting"] == f"{SERIAL} SetDynamicChargerCurrent"
    assert row["topic"].endswith(".C.48." + row["topic"].rsplit(".", 1)[1])


def test_flash_warning_on_repeat(tmp_path: Path) -> None:
    controller = _controller(tmp_path, CommandHandler([SERIAL]))
    first = controller.prepare(SERIAL, "SetMaxChargerCurrent", ["16"])
    assert controller.flash_warning(first) is None
    controller.send(first)
    again = controller.prepare(SERIAL, "SetMaxChargerCurrent", ["20"])
    warning = controller.flash_warning(again)
    assert warning is not None and "flash" in warning and "1 time(s)" in warning
    assert controller.flash_warning(controller.prepare(SERIAL, 48, ["16", "5"])) is None


class _StaleReadbackCloud(MemoryEaseeCloud):
    """Accepts every command but only ever reports the value from a minute before it."""

    def publish(self, routing_key: str, body: bytes) -> None:
        from datetime import UTC, datetime, timedelta

        from evkit.easee.encode import encode_command_response, encode_observation

        serial, _c, cid, ticks = routing_key.split(".")
        now = datetime.now(UTC)
        self._deliver([
            encode_command_response(serial, int(cid), int(ticks), accepted=True, at=now),
            encode_observation(serial, 48, 13.0, now - timedelta(minutes=1)),
        ])  # fmt: skip


def test_an_old_observation_is_no_readback(tmp_path: Path) -> None:
    controller = EaseeController(_StaleReadbackCloud(CommandHandler([SERIAL])), audit=None, timeout=0.3)
    result = controller.send(controller.prepare(SERIAL, 48, ["13", "5"]))
    assert result.outcome is Outcome.ACCEPTED and "no read-back" in result.detail
