"""EaseePanel driven through its widgets' traits: in-process cloud for the logic, then on a running
recorder against the real RabbitMQ with the simulator answering."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pika
import polars as pl
import pytest

import evkit
from evkit.easee.encode import encode_observation
from evkit.sim.easee_cloud import CommandSim, MemoryEaseeCloud, reply_exchange_for
from evkit.sim.easee_commands import CommandHandler
from evkit.widgets import EaseePanel
from tests.helpers import wait_until

SERIALS = ["EH000001", "EH000002"]


def _panel(tmp_path: Path, **options: object) -> tuple[EaseePanel, MemoryEaseeCloud]:
    cloud = MemoryEaseeCloud(CommandHandler(SERIALS, **options))  # type: ignore[arg-type]
    panel = EaseePanel(transport=cloud, audit=tmp_path, timeout=0.5, chargers=SERIALS)
    return panel, cloud


def test_writes_off_until_enabled_and_nothing_sent(tmp_path: Path) -> None:
    panel, cloud = _panel(tmp_path)
    panel.chargers.value = tuple(SERIALS)
    panel.action.value = "disable"
    panel.apply_button.click()
    assert cloud.published == []
    assert "writes are off" in panel.result_log.entries[0]
    assert panel.apply_button.disabled


def test_preview_shows_exact_keys_and_bodies(tmp_path: Path) -> None:
    panel, _cloud = _panel(tmp_path)
    panel.chargers.value = (SERIALS[0],)
    panel.action.value = "dynamic current"
    panel.amps.value = 13
    panel.ttl.value = 5
    assert not panel.amps.disabled and not panel.ttl.disabled
    preview = panel.preview.value
    assert "EH000001.C.48." in preview and "persistent, mandatory" in preview
    assert '"Arguments":[{"Id":1,"Value":"13"},{"Id":2,"Value":"5"}]' in preview
    panel.amps.value = 3
    assert "0 (pause) or 6-32" in panel.preview.value
    panel.action.value = "enable"
    assert panel.amps.disabled and panel.ttl.disabled


def test_apply_to_a_selection_logs_outcomes(tmp_path: Path) -> None:
    panel, cloud = _panel(tmp_path, reject=["EH000002"])
    panel.chargers.value = tuple(SERIALS)
    panel.action.value = "pause"
    panel.writes.value = True
    panel.apply_button.click()
    assert len(cloud.published) == 2
    assert [e.split(":")[0] for e in panel.result_log.entries[:2]] == ["rejected", "confirmed"]
    assert "evkit-rejected" in panel.result_log.value


def test_fleet_table_from_observations(tmp_path: Path) -> None:
    panel, _cloud = _panel(tmp_path)
    for obs, value in ((109, 3), (120, 7.4), (48, 16.0), (31, True)):
        panel.controller.hear(*encode_observation("EH000003", obs, value, datetime.now(UTC)))
    row = next(r for r in panel.controller.rows() if r.serial == "EH000003")
    assert (row.op_mode, row.power_kw, row.dynamic_current, row.enabled) == (3, 7.4, 16.0, True)
    assert "EH000003" in panel.chargers.options
    assert "3 charging" in panel.fleet_table.value


@pytest.mark.broker
def test_panel_rides_on_a_recorder(amqp_url: str, unique_name: str, tmp_path: Path) -> None:
    queue, exchange, store = f"{unique_name}.Q", f"{unique_name}.C.X", tmp_path / "store"
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = conn.channel()
    channel.queue_declare(queue, durable=True)
    try:
        with CommandSim(amqp_url, queue, SERIALS, command_exchange=exchange):
            rec = evkit.record_amqp(amqp_url, out=store, queue=queue, flush_interval=0.3)
            panel = EaseePanel(recorder=rec, exchange=exchange, audit=store, timeout=10)
            try:
                key, body = encode_observation(SERIALS[0], 109, 3, datetime.now(UTC))
                channel.basic_publish(reply_exchange_for(queue), key, body)
                assert wait_until(lambda: SERIALS[0] in panel.chargers.options, timeout=10)
                panel.chargers.value = (SERIALS[0],)
                panel.action.value = "disable"
                panel.writes.value = True
                panel.apply_button.click()
                assert panel.result_log.entries[0].startswith("confirmed:"), panel.result_log.entries
            finally:
                panel.close()
                rec.stop()
        rows = pl.read_parquet([p for p in store.rglob("part-*.parquet") if "audit" not in p.parts])
        keys = rows.get_column("routing_key").to_list()
        assert any(k.startswith(f"{SERIALS[0]}.CR.29.") for k in keys)  # the response is still stored
        assert f"{SERIALS[0]}.O.31" in keys
        audit = pl.read_parquet(list((store / "audit").rglob("*.parquet")))
        assert json.loads(audit.get_column("payload")[0])["Id"] == 29
    finally:
        channel.queue_delete(queue)
        conn.close()


def test_40_amperes_is_refused_not_clamped_and_discard_clears(tmp_path: Path) -> None:
    panel, cloud = _panel(tmp_path)
    panel.chargers.value = (SERIALS[0],)
    panel.action.value = "dynamic current"
    panel.amps.value = 40
    assert panel.amps.value == 40  # a bounded widget made it 32 and sent that
    assert "0 (pause) or 6-32" in panel.preview.value
    panel.writes.value = True
    panel.apply_button.click()
    assert cloud.published == []
    panel.discard_button.click()
    assert panel.chargers.value == () and panel.controller.selected == []
    assert "No changes" in panel.preview.value


def test_last_seen_and_log_times_carry_their_zone() -> None:
    """Issue 13: panel times are shown in the panel's zone, labelled."""
    from evkit.widgets.common import clock
    from evkit.widgets.easee_panel import FleetRow, _fleet_html

    seen = datetime(2026, 12, 5, 6, 0, 0, tzinfo=UTC)
    assert clock(seen, "Asia/Tokyo") == "15:00:00 JST"
    assert clock(seen, "UTC") == "06:00:00 UTC"
    assert "15:00:00 JST" in _fleet_html([FleetRow("EH000001", last_seen=seen)], "Asia/Tokyo")
