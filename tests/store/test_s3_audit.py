"""``evkit set ... --audit-dir s3://...``: the audit log on the real S3 server (go-e simulator)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import evkit
from evkit.cli import main
from evkit.control.audit import AuditLog
from evkit.control.base import CommandResult, Outcome
from evkit.sim.goe import GoeSimulator
from tests.helpers import StartGoeSim
from tests.s3fixtures import SECRET_KEY
from tests.store.test_s3_lease import _leases

pytestmark = pytest.mark.broker


def _result(setting: str, payload: str) -> CommandResult:
    return CommandResult(
        time=datetime.now(UTC), target="go-e", transport="http", topic_or_url="http://charger/api/set",
        payload=payload, outcome=Outcome.CONFIRMED, setting=setting,
    )  # fmt: skip


@pytest.fixture
def sim(start_goe_sim: StartGoeSim, unique_name: str) -> GoeSimulator:
    return start_goe_sim("300002", unique_name, http_port=0, tick_s=0.05, speed=20)


def test_set_goe_audits_into_s3(
    sim: GoeSimulator, s3_dataset: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["set", "goe", "--http", sim.http_url, "--audit-dir", s3_dataset, "amp", "12"]) == 0
    assert (
        main(["set", "goe", "--http", sim.http_url, "--audit-dir", f"{s3_dataset}/audit", "amp", "13"]) == 0
    )
    rows = evkit.scan(f"{s3_dataset}/audit").sort("received_at").collect()
    assert rows["setting"].to_list() == ["amp", "amp"]
    assert rows["outcome"].to_list() == ["confirmed", "confirmed"]
    captured = capsys.readouterr()
    assert SECRET_KEY not in captured.out + captured.err
    assert _leases(f"{s3_dataset}/audit") == []  # the command closed its log: today is not held


def test_an_audit_log_holds_todays_lease_until_it_is_closed(s3_dataset: str) -> None:
    """A panel's log keeps its writer (and on S3 the day's lease, renewed in the background) while
    it records; ``close()`` releases the lease and ends the renewal, and the log can record again."""
    with AuditLog(s3_dataset) as log:
        log.record(_result("amp", "12"))
        assert len(_leases(f"{s3_dataset}/audit")) == 1
        renewal = log._writer._leases._thread  # type: ignore[union-attr]
        assert renewal is not None and renewal.is_alive()
    renewal.join(timeout=5)
    assert not renewal.is_alive()
    assert _leases(f"{s3_dataset}/audit") == []
    log.record(_result("amp", "13"))
    log.close()
    assert _leases(f"{s3_dataset}/audit") == []
    assert sorted(log.read().collect()["payload"].to_list()) == ["12", "13"]  # two parts, either order


def test_set_goe_with_a_missing_bucket_sends_nothing(
    sim: GoeSimulator, s3_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    before = sim.state["amp"]
    code = main(
        ["set", "goe", "--http", sim.http_url, "--audit-dir", "s3://evkit-no-such-bucket/x", "amp", "9"]
    )
    assert code != 0
    assert "the bucket 'evkit-no-such-bucket' does not exist" in capsys.readouterr().err
    assert sim.state["amp"] == before
