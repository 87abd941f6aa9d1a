"""``evkit set ... --audit-dir s3://...``: the audit log on the real S3 server (go-e simulator)."""

from __future__ import annotations

import pytest

import evkit
from evkit.cli import main
from evkit.sim.goe import GoeSimulator
from tests.helpers import StartGoeSim
from tests.s3fixtures import SECRET_KEY

pytestmark = pytest.mark.broker


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
