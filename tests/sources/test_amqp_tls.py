"""TLS of the AMQP capture against a real local TLS endpoint (a self-signed certificate, no broker behind):
certificates are verified and SNI names the server, unless ``insecure`` was asked for."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from evkit.errors import SourceError
from evkit.sources.amqp import AmqpCapture
from evkit.sources.easee_details import parse_url


@dataclass
class TlsEndpoint:
    port: int
    server_names: list[str | None] = field(default_factory=list)
    handshakes: int = 0


@pytest.fixture
def tls_endpoint(tmp_path: Path) -> Iterator[TlsEndpoint]:
    openssl = shutil.which("openssl")
    assert openssl, "openssl is needed to make a test certificate"
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    endpoint = TlsEndpoint(listener.getsockname()[1])

    def on_sni(_sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, _ctx: ssl.SSLContext) -> None:
        endpoint.server_names.append(name)

    context.sni_callback = on_sni  # type: ignore[assignment]
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                with context.wrap_socket(raw, server_side=True) as tls:
                    endpoint.handshakes += 1
                    tls.settimeout(2)
                    tls.recv(64)  # the AMQP protocol header; then hang up: no broker here
            except (ssl.SSLError, OSError):
                pass
            finally:
                raw.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield endpoint
    stop.set()
    listener.close()
    thread.join(5)


def _capture(port: int, out: Path, insecure: bool) -> AmqpCapture:
    details = parse_url(f"amqps://user:secret@localhost:{port}/%2F", queue="Operator_1.Q")
    return AmqpCapture(details, out, insecure=insecure, writer="thread")


def test_tls_verifies_the_certificate_and_sends_sni(tls_endpoint: TlsEndpoint, tmp_path: Path) -> None:
    with pytest.raises(SourceError) as caught:
        _capture(tls_endpoint.port, tmp_path, insecure=False).run()
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
    assert "secret" not in str(caught.value)
    assert tls_endpoint.handshakes == 0  # the self-signed certificate was refused
    assert "localhost" in tls_endpoint.server_names


def test_insecure_skips_verification(tls_endpoint: TlsEndpoint, tmp_path: Path) -> None:
    with pytest.raises(SourceError):  # TLS is fine, but there is no broker behind it
        _capture(tls_endpoint.port, tmp_path, insecure=True).run()
    assert tls_endpoint.handshakes >= 1
    assert "localhost" in tls_endpoint.server_names
