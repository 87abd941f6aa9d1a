"""go-e regressions from the fidelity review and the hostile tester: ``evkit set goe`` against the
simulator (real HTTP on 127.0.0.1, real Mosquitto) and against small hostile HTTP servers.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import evkit
from evkit.cli import main
from evkit.control.base import Outcome
from evkit.control.goe import GoeController, shown_text
from evkit.sim.goe import GoeSimulator
from tests.helpers import StartGoeSim

SERIAL = "310001"
PEM_KEY = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"


@pytest.fixture
def sim(start_goe_sim: StartGoeSim, unique_name: str) -> GoeSimulator:
    return start_goe_sim(SERIAL, unique_name, http_port=0, tick_s=0.05, speed=20)


def http_args(sim: GoeSimulator, store: Path, *rest: str) -> list[str]:
    return ["set", "goe", "--http", sim.http_url, "--audit-dir", str(store), *rest]


def mqtt_args(sim: GoeSimulator, store: Path, *rest: str) -> list[str]:
    host, port = sim.mqtt_host or "", sim.mqtt_port
    return ["set", "goe", "--host", host, "--port", str(port), "--serial", sim.serial, "--prefix", sim.prefix,
            "--audit-dir", str(store), *rest]  # fmt: skip


# ------------------------------------------------------------------------------ bac / sdp (review #1)


def test_bac_unlocked_is_refused_and_sends_nothing(
    sim: GoeSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # old evkit: "unlocked" was its name for 0, which go-e calls AlwaysLock (apikeys-en.md:25)
    before = (sim.sets_applied, sim.state["bac"])
    assert main(http_args(sim, tmp_path, "bac", "unlocked")) == 2
    assert main(mqtt_args(sim, tmp_path, "bac", "unlocked")) == 2
    assert (sim.sets_applied, sim.state["bac"]) == before
    assert "3 (NeverLock)" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["NeverLock", "never-lock", "3", "ALWAYS_LOCK", "always lock"])
def test_bac_takes_the_number_or_the_documented_name(sim: GoeSimulator, tmp_path: Path, text: str) -> None:
    assert main(http_args(sim, tmp_path, "bac", text)) == 0
    assert sim.state["bac"] == (0 if "always" in text.lower() else 3)


def test_the_http_examples_bac_false_is_sent_as_given(
    sim: GoeSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(http_args(sim, tmp_path, "sdp", "NeverLock")) == 0
    assert main(http_args(sim, tmp_path, "bac", "false")) == 0  # http-en.md:40
    assert "/api/set?bac=false" in capsys.readouterr().out
    assert sim.state["bac"] == 0


def test_list_shows_the_documented_names_and_keys(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["set", "goe", "--list"]) == 0
    out = capsys.readouterr().out
    for text in ("0 (AlwaysLock)", "3 (NeverLock)", "mqg", "mck", "trx", "fsp", "2 (PreferPowerToGrid)"):
        assert text in out


# ------------------------------------------------------------------------------ writable per the doc (#3)


def test_trx_0_starts_a_transaction_without_a_card(sim: GoeSimulator, tmp_path: Path) -> None:
    assert main(http_args(sim, tmp_path, "acs", "Wait")) == 0
    sim.plug(False)
    sim.plug(True)
    assert sim.state["trx"] is None
    assert main(http_args(sim, tmp_path, "trx", "0")) == 0
    assert sim.state["trx"] == 0 and sim.state["car"] == 2


# ------------------------------------------------------------------------------ hardware limits (#4)


def test_amp_above_an_11_kw_units_limit_exits_2_naming_the_limit(
    start_goe_sim: StartGoeSim, unique_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    small = start_goe_sim(SERIAL, unique_name, http_port=0, variant=11)
    assert main(http_args(small, tmp_path, "amp", "20")) == 2
    assert main(mqtt_args(small, tmp_path, "amp", "20")) == 2
    err = capsys.readouterr().err
    assert "amp 20 is above this charger's limit of 16 A (var=11: 11 kW / 16 A)" in err
    assert small.sets_applied == 0
    assert main(http_args(small, tmp_path, "amp", "16")) == 0


def test_the_16_a_adapter_caps_currents_before_sending(
    sim: GoeSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim.use_adapter(True)
    assert main(http_args(sim, tmp_path, "ama", "20")) == 2
    assert "limit of 16 A (adi=true" in capsys.readouterr().err


# ------------------------------------------------------------------------------ MQTT without /result (#6)


def test_firmware_without_result_is_confirmed_by_the_state_topic(
    start_goe_sim: StartGoeSim, unique_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = start_goe_sim(SERIAL, unique_name, http_port=None, firmware="051.4", tick_s=0.05)
    assert main(mqtt_args(old, tmp_path, "amp", "12")) == 0
    out = capsys.readouterr().out
    assert out.startswith("confirmed:") and "sends no /result" in out
    assert old.state["amp"] == 12


def test_firmware_without_result_and_no_new_value_is_sent_not_failed(
    start_goe_sim: StartGoeSim, unique_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = start_goe_sim(SERIAL, unique_name, http_port=0, firmware="051.4", tick_s=0.05)
    assert main(http_args(old, tmp_path, "mcr", "true")) == 0  # MQTT writes off: the set is ignored
    assert main([*mqtt_args(old, tmp_path, "amp", "12"), "--timeout", "1.5"]) == 0
    out = capsys.readouterr().out.splitlines()[-1]
    assert out.startswith("sent:") and "051.4" in out
    assert old.state["amp"] == 16
    rows = evkit.scan(tmp_path / "audit").sort("received_at").collect()
    assert rows["outcome"].to_list()[-1] == "sent"


def test_mtp_null_reads_back_the_default_prefix_and_is_confirmed(sim: GoeSimulator) -> None:
    with GoeController.over_http(sim.http_url) as goe:
        assert goe.set("mtp", "null").outcome is Outcome.CONFIRMED  # mqtt-en.md:28
    assert sim.state["mtp"] == "go-eCharger"


def test_mtp_null_over_mqtt_is_confirmed_by_the_default_prefix(sim: GoeSimulator) -> None:
    host, port = sim.mqtt_host or "", sim.mqtt_port
    with GoeController.over_mqtt(host, port, serial=sim.serial, prefix=sim.prefix, timeout=5) as goe:
        assert goe.wait_for_keys(["mtp"], timeout=5)
        result = goe.set("mtp", None)
    assert result.outcome is Outcome.CONFIRMED, result.summary()


# ------------------------------------------------------------------------------ secrets


def test_the_mqtt_client_key_never_reaches_output_or_audit(
    sim: GoeSimulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(http_args(sim, tmp_path, "mck", PEM_KEY)) == 0
    assert main([*http_args(sim, tmp_path, "mck", PEM_KEY), "--json"]) == 0
    assert main([*http_args(sim, tmp_path, "mck", PEM_KEY), "--dry-run"]) == 0
    assert sim.state["mck"] == PEM_KEY  # sent as given
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "MIIEvQ" not in text and "PRIVATE" not in text
    assert "***" in text
    audit = evkit.scan(tmp_path / "audit").collect()
    assert len(audit) == 2
    assert not any("MIIEvQ" in str(value) for row in audit.iter_rows() for value in row)


# ------------------------------------------------------------------------------ bad CLI input (issue 15)


@pytest.mark.parametrize(
    "option",
    [
        ["--serial", "+"],
        ["--serial", "a/b"],
        ["--timeout", "nan"],
        ["--timeout", "inf"],
        ["--timeout", "-1"],
        ["--timeout", "0"],
        ["--port", "0"],
        ["--prefix", "go-e/#"],
    ],
)
def test_bad_options_exit_2(option: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["set", "goe", "--host", "127.0.0.1", "--serial", "1", "--audit-dir", str(tmp_path)]
    with pytest.raises(SystemExit) as caught:
        main([*args, *option, "amp", "16"])
    assert caught.value.code == 2
    assert option[0] in capsys.readouterr().err
    assert not (tmp_path / "audit").exists()


@pytest.mark.parametrize("url", ["http://[::1", "http://", "http://exa mple"])
def test_malformed_http_url_exits_2_with_a_sentence(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["set", "goe", "--http", url, "--audit-dir", str(tmp_path), "amp", "16"]) == 2
    err = capsys.readouterr().err
    assert "is not a valid URL" in err and "http://192.168.0.77" in err
    assert not (tmp_path / "audit").exists()


@pytest.fixture
def hostile_server() -> Iterator[Callable[[Callable[[socket.socket], None]], str]]:
    """``start(handler)``: a TCP server on 127.0.0.1 calling ``handler(conn)`` per connection; its URL."""
    servers: list[socket.socket] = []
    stop = threading.Event()

    def start(handler: Callable[[socket.socket], None]) -> str:
        server = socket.create_server(("127.0.0.1", 0))
        server.settimeout(0.2)
        servers.append(server)

        def serve() -> None:
            while not stop.is_set():
                try:
                    conn, _ = server.accept()
                except (TimeoutError, OSError):
                    continue
                threading.Thread(target=handler, args=(conn,), daemon=True).start()

        threading.Thread(target=serve, daemon=True).start()
        return f"http://127.0.0.1:{server.getsockname()[1]}"

    yield start
    stop.set()
    for server in servers:
        server.close()


def _never_answers(conn: socket.socket) -> None:
    time.sleep(120)
    conn.close()


def _trickles(conn: socket.socket) -> None:
    try:
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        for _ in range(600):  # one header byte every 0.2 s: no single read ever times out
            conn.sendall(b"X")
            time.sleep(0.2)
    except OSError:
        pass
    finally:
        conn.close()


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evkit", *args], capture_output=True, text=True, timeout=90, check=False
    )


@pytest.mark.parametrize("handler", [_never_answers, _trickles], ids=["never-answers", "trickles"])
def test_timeout_bounds_the_whole_command(
    hostile_server: Callable[[Callable[[socket.socket], None]], str],
    handler: Callable[[socket.socket], None],
) -> None:
    url = hostile_server(handler)
    started = time.monotonic()
    done = _run_cli("set", "goe", "--http", url, "--timeout", "2", "--no-audit", "amp", "10")
    assert time.monotonic() - started < 60  # generous: the point is that it ends (subprocess timeout: 90)
    assert done.returncode == 1
    assert "no answer" in done.stderr or "no complete HTTP answer" in done.stderr


def _raw_body(conn: socket.socket) -> None:
    body = b"\x00\x1b[31mevil\x07\r\nsecond line" + b"A" * 500
    try:
        conn.recv(4096)
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
        )
    finally:
        conn.close()


def test_a_raw_non_json_body_is_escaped_and_shortened(
    hostile_server: Callable[[Callable[[socket.socket], None]], str],
) -> None:
    url = hostile_server(_raw_body)
    done = _run_cli("set", "goe", "--http", url, "--timeout", "5", "--no-audit", "amp", "10")
    assert done.returncode == 1
    shown = done.stdout + done.stderr
    assert "\x00" not in shown and "\x1b" not in shown and "\x07" not in shown
    assert "\\x00\\x1b[31mevil\\x07\\r\\nsecond line" in shown
    assert "A" * 300 not in shown and "…" in shown


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400), st.integers(min_value=1, max_value=300))
def test_shown_text_is_always_printable_and_short(text: str, limit: int) -> None:
    shown = shown_text(text, limit)
    assert shown.isprintable()
    assert len(shown) <= limit + 1  # the cut adds "…"
    if text.isprintable() and len(text) <= limit:
        assert shown == text
