"""go-e control over the local HTTP API v2: real HTTP to the simulator on 127.0.0.1.

Error bodies of real firmware the simulator does not produce (404 with no JSON, 400 with JSON) are
served by ``httpx.MockTransport``: still the real HTTP transport code, only the server is canned.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import evkit
from evkit.control.base import Outcome
from evkit.control.goe import GoeController, normalize_http_url
from evkit.errors import ConfigError, ValidationError
from evkit.sim.goe import READ_ONLY_TEXT, GoeSimulator
from evkit.sources.http import HttpxTransport


@pytest.fixture
def sim() -> Iterator[GoeSimulator]:
    with GoeSimulator("100001", mqtt_host=None, http_port=0, tick_s=0.05, speed=20) as simulator:
        yield simulator


@pytest.fixture
def goe(sim: GoeSimulator, tmp_path: Path) -> Iterator[GoeController]:
    with GoeController.over_http(sim.http_url, audit=tmp_path / "store", timeout=3) as controller:
        yield controller


def test_set_current_is_confirmed_by_read_back(sim: GoeSimulator, goe: GoeController) -> None:
    result = goe.set("amp", "10")
    assert result.outcome is Outcome.CONFIRMED
    assert result.exit_code == 0
    assert result.topic_or_url == f"{sim.http_url}/api/set?amp=10"
    assert result.payload == "10"
    assert sim.state["amp"] == 10


def test_same_value_is_still_sent_and_reported_unchanged(sim: GoeSimulator, goe: GoeController) -> None:
    goe.set("frc", "on")
    before = sim.sets_applied
    result = goe.set("frc", 2)
    assert result.outcome is Outcome.UNCHANGED
    assert sim.sets_applied == before + 1


def test_string_values_arrive_json_quoted(sim: GoeSimulator, goe: GoeController) -> None:
    result = goe.set("fna", "Garage & Carport ü")
    assert result.outcome is Outcome.CONFIRMED
    assert sim.state["fna"] == "Garage & Carport ü"
    assert "%22Garage%20%26%20Carport%20%C3%BC%22" in result.topic_or_url


def test_nullable_energy_limit_set_and_reset(sim: GoeSimulator, goe: GoeController) -> None:
    assert goe.set("dwo", "2500").outcome is Outcome.CONFIRMED
    assert sim.state["dwo"] == 2500
    assert goe.set("dwo", "null").outcome is Outcome.CONFIRMED
    assert sim.state["dwo"] is None


def test_write_only_key_is_accepted_without_read_back(sim: GoeSimulator, goe: GoeController) -> None:
    result = goe.set("ids", {"pGrid": -1500, "pPv": 4000})
    assert result.outcome is Outcome.ACCEPTED
    assert "cannot be read back" in result.detail
    assert sim.state["pgrid"] == -1500


def test_invalid_value_sends_nothing(sim: GoeSimulator, goe: GoeController) -> None:
    before = sim.sets_applied
    with pytest.raises(ValidationError, match="from 6 to 32"):
        goe.set("amp", "40")
    with pytest.raises(ValidationError, match="'frc'"):
        goe.set("alw", "true")
    with pytest.raises(ValidationError, match="--raw-key"):
        goe.set("xfw", "true")
    assert sim.sets_applied == before


def test_amp_above_the_chargers_ama_is_refused_before_sending(sim: GoeSimulator, goe: GoeController) -> None:
    assert goe.set("ama", 16).outcome is Outcome.CONFIRMED
    before = sim.sets_applied
    with pytest.raises(ValidationError, match=r"current ama \(16\)"):
        goe.set("amp", 20)
    assert sim.sets_applied == before


def test_raw_key_reaches_newer_firmware_keys(sim: GoeSimulator, goe: GoeController) -> None:
    result = goe.set("xfw", "true", raw_key=True)
    assert result.outcome is Outcome.CONFIRMED
    assert sim.state["xfw"] is True


def test_raw_key_unknown_to_the_charger_surfaces_its_error(goe: GoeController) -> None:
    result = goe.set("zzz", "1", raw_key=True)
    assert result.outcome is Outcome.REJECTED
    assert result.exit_code == 1
    assert "zzz: api key not found" in result.detail


def test_read_only_charger_error_string_is_surfaced() -> None:
    with (
        GoeSimulator("100002", mqtt_host=None, http_port=0, read_only=True) as sim,
        GoeController.over_http(sim.http_url, timeout=2) as goe,
    ):
        result = goe.set("amp", 8)
        assert result.outcome is Outcome.REJECTED
        assert READ_ONLY_TEXT in result.detail
        assert sim.state["amp"] == 16


def test_refresh_reads_status_with_a_filter(goe: GoeController) -> None:
    values = goe.refresh(["amp", "car", "nrg"])
    assert set(values) == {"amp", "car", "nrg"}
    assert len(values["nrg"]) == 16
    assert "fna" in goe.refresh()


def test_every_command_is_audited_and_readable_with_scan(goe: GoeController, tmp_path: Path) -> None:
    goe.set("amp", 12)
    goe.set("zzz", "1", raw_key=True)
    goe.set("amp", 13, dry_run=True)
    rows = evkit.scan(tmp_path / "store" / "audit").sort("received_at").collect()
    assert rows["outcome"].to_list() == ["confirmed", "rejected", "dry_run"]
    assert rows["setting"].to_list() == ["amp", "zzz", "amp"]
    assert rows["transport"].to_list() == ["http", "http", "http"]
    assert rows["target"].unique().to_list() == ["go-e"]
    assert rows["payload"].to_list() == ["12", "1", "13"]
    assert rows["latency_s"][0] is not None


def test_dry_run_sends_nothing(sim: GoeSimulator, goe: GoeController) -> None:
    before = sim.sets_applied
    result = goe.set("amp", 7, dry_run=True)
    assert result.outcome is Outcome.DRY_RUN
    assert result.topic_or_url.endswith("/api/set?amp=7")
    assert sim.sets_applied == before


def test_unreachable_charger_is_no_answer_and_not_sent(tmp_path: Path) -> None:
    with GoeController.over_http("http://127.0.0.1:9", timeout=1, audit=tmp_path) as goe:
        result = goe.set("amp", 16)
    assert result.outcome is Outcome.NO_ANSWER
    assert result.exit_code == 1
    assert "not sent" in result.detail
    assert evkit.scan(tmp_path / "audit").collect()["outcome"].to_list() == ["no_answer"]


# ------------------------------------------------------------------------------- real firmware replies


def _canned(status: int, body: str, content_type: str = "application/json") -> HttpxTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/status":
            return httpx.Response(200, json={"amp": 16, "ama": 32})
        return httpx.Response(status, text=body, headers={"content-type": content_type})

    return HttpxTransport(transport=httpx.MockTransport(handler))


def test_error_string_in_a_500_body_is_read() -> None:
    body = '{"amp":"value must be uint8"}'
    with GoeController.over_http("http://charger", http_transport=_canned(500, body)) as goe:
        result = goe.set("amp", 10)
    assert result.outcome is Outcome.REJECTED
    assert "value must be uint8" in result.detail


def test_json_body_of_a_400_is_read() -> None:
    with GoeController.over_http(
        "http://charger", http_transport=_canned(400, '{"amp":true}'), timeout=1
    ) as goe:
        result = goe.set("amp", 10)
    # accepted: the charger said true, but its status still shows 16
    assert result.outcome is Outcome.ACCEPTED
    assert "still reads 16" in result.detail


def test_404_says_the_http_api_may_be_disabled() -> None:
    transport = _canned(404, "Not Found", "text/plain")
    with GoeController.over_http("http://charger", http_transport=transport, timeout=1) as goe:
        result = goe.set("amp", 10)
    assert result.outcome is Outcome.REJECTED
    assert "HTTP API v2 seems disabled" in result.detail


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("192.168.0.77", "http://192.168.0.77"),
        ("http://192.168.0.77/", "http://192.168.0.77"),
        ("http://charger/api/status", "http://charger"),
        ("https://charger:8443/api", "https://charger:8443"),
    ],
)
def test_charger_urls_are_normalised(given: str, expected: str) -> None:
    assert normalize_http_url(given) == expected


def test_non_http_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        normalize_http_url("mqtt://broker")


def test_credentials_in_the_url_never_reach_results_or_audit(tmp_path: Path) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization", ""))
        if request.url.path == "/api/status":
            return httpx.Response(200, json={"amp": 16, "ama": 32})
        return httpx.Response(200, json={"amp": True})

    transport = HttpxTransport(transport=httpx.MockTransport(handler))
    url = "http://admin:s3cret@charger"
    with GoeController.over_http(url, http_transport=transport, audit=tmp_path, timeout=0.3) as goe:
        result = goe.set("amp", 10)
        assert "s3cret" not in goe.where
    assert all(header.startswith("Basic ") for header in seen)  # the password was used ...
    assert "s3cret" not in result.summary()  # ... and never shown or stored
    audit = evkit.scan(tmp_path / "audit").collect()
    assert not any("s3cret" in str(value) for value in audit.row(0))
