"""The go-e simulator's local HTTP API v2 on loopback: ``/api/status`` (``filter=`` keys) and
``/api/set`` (one answer per key: ``true`` or go-e's error text; 500 when any set failed, and every
set refused when the simulator's HTTP writes are off), as the real charger answers (http-en.md)."""

from __future__ import annotations

import json
import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from evkit.sim.goe_state import READ_ONLY_TEXT

if TYPE_CHECKING:
    from evkit.sim.goe import GoeSimulator

log = logging.getLogger("evkit.sim.goe")


def serve_http(simulator: GoeSimulator, port: int | None) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Serve ``simulator``'s HTTP API on 127.0.0.1:``port`` (any free port when 0 or None) in a thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            _handle(simulator, self)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("go-e sim HTTP: " + format, *args)

    server = ThreadingHTTPServer(("127.0.0.1", port or 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="goe-sim-http", daemon=True
    )
    thread.start()
    return server, thread


def _handle(simulator: GoeSimulator, request: BaseHTTPRequestHandler) -> None:
    parts = urlsplit(request.path)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if parts.path == "/api/status":
        status, body = _status(simulator, query)
    elif parts.path == "/api/set":
        status, body = _set(simulator, query)
    else:
        status, body = HTTPStatus.NOT_FOUND, {"error": f"no such endpoint {parts.path}"}
    data = json.dumps(body, separators=(",", ":")).encode()
    request.send_response(status)
    request.send_header("Content-Type", "application/json")
    request.send_header("Content-Length", str(len(data)))
    request.end_headers()
    request.wfile.write(data)


def _status(simulator: GoeSimulator, query: list[tuple[str, str]]) -> tuple[HTTPStatus, dict[str, Any]]:
    state = simulator.state
    wanted = [key for name, value in query if name == "filter" for key in value.split(",") if key]
    if not wanted:
        return HTTPStatus.OK, state
    return HTTPStatus.OK, {key: state[key] for key in wanted if key in state}


def _set(simulator: GoeSimulator, query: list[tuple[str, str]]) -> tuple[HTTPStatus, dict[str, Any]]:
    if not query:
        return HTTPStatus.BAD_REQUEST, {"error": "no api key given"}
    answers: dict[str, Any] = {}
    for key, json_text in query:
        if simulator.http_read_only:
            answers[key] = READ_ONLY_TEXT
            continue
        error = simulator.apply_set(key, json_text)
        answers[key] = True if error is None else error
    ok = all(answer is True for answer in answers.values())
    return (HTTPStatus.OK if ok else HTTPStatus.INTERNAL_SERVER_ERROR), answers
