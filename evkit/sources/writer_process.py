"""Decode and write batches in a child process, so the consuming process keeps its GIL for the broker.

Decoding is pure Python; done on a thread of the consuming process it competes for the GIL with the
AMQP/MQTT client and costs about a third of the consume rate on a 2-core machine. The child process
(``python -m evkit.sources.writer_process``) receives pickled batches of plain tuples on stdin, turns
them into rows with a named decoder (``"module:function"`` taking the list of tuples and returning a
``pl.DataFrame``), writes them with :class:`~evkit.store.writer.PartWriter` (closed, fsynced parts)
and answers ``(rows, decode_errors, parts)`` on stdout -- only then does the parent acknowledge.

The child runs in its own session and ignores SIGINT/SIGTERM (the parent decides when to stop and
flushes first); it exits when its stdin closes, so it never outlives a killed parent by more than one
batch. Its environment holds no secrets (:func:`evkit.secrets.scrubbed_environ`).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

from evkit.errors import StoreError
from evkit.secrets import scrubbed_environ
from evkit.sources.pipeline import WriteResult
from evkit.store.objstore import is_s3

_HEADER = struct.Struct("!Q")


def _send(stream: IO[bytes], obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def _read_exact(stream: IO[bytes], size: int) -> bytes | None:
    chunks: list[bytes] = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _receive(stream: IO[bytes]) -> Any:
    """The next object, or ``EOFError`` when the other side closed."""
    header = _read_exact(stream, _HEADER.size)
    if header is None:
        raise EOFError
    data = _read_exact(stream, _HEADER.unpack(header)[0])
    if data is None:
        raise EOFError
    return pickle.loads(data)


def explain_write_failure(out: Path | str, exc: BaseException) -> str:
    """What went wrong writing below ``out``, saying so when the disk is (nearly) full.

    Polars sometimes reports a full disk as a ``ComputeError`` about the Parquet file rather than as
    ``ENOSPC``, so the free space is checked whatever the exception.
    """
    if isinstance(exc, StoreError):
        text = str(exc)
    else:
        text = f"writing Parquet below {out} failed: {type(exc).__name__}: {exc}"
    try:
        free = shutil.disk_usage(out).free
    except OSError:
        return text
    if free < 16 * 2**20 and "the disk is full" not in text:
        text += f" (the disk is full: {free / 2**20:.1f} MiB free below {out})"
    return text


def _load(target: str) -> Any:
    import importlib

    module_name, _, name = target.partition(":")
    return getattr(importlib.import_module(module_name), name)


class WriterProcess:
    """Parent side: ``write(items)`` blocks (GIL released) until the child made them durable."""

    def __init__(
        self,
        decoder: str,
        out: Path | str,
        capture_id: str,
        *,
        secret_names: Iterable[str | None] = (),
        secret_values: Iterable[str | None] = (),
    ) -> None:
        """Start the child. Its environment holds no secrets: not the variables ``secret_names``
        (``--url-env``, ``--token-env``, ``--password-env``), none whose name looks secret, none
        holding one of ``secret_values`` or a URL with a password (see ``scrubbed_environ``) -- except,
        for an ``s3://`` store, the ``AWS_*`` variables it needs to write the parts."""
        self.decoder = decoder
        self.parts_written = 0
        self._lock = threading.Lock()
        needed = ("AWS_",) if is_s3(out) else ()  # the child writes the parts: it needs the store's keys
        env = {
            **scrubbed_environ(os.environ, secret_names, secret_values, needed=needed),
            "PYTHONUNBUFFERED": "1",
        }
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "evkit.sources.writer_process", decoder, str(out), capture_id],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            # Its own session: Ctrl-C or a SIGTERM to our process group cannot kill it while it is
            # still starting up (before it ignores them); it stops when our end of its stdin closes.
            start_new_session=True,
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._stdin: IO[bytes] = self._proc.stdin
        self._stdout: IO[bytes] = self._proc.stdout
        self._ready: Any = None

    def wait_ready(self) -> None:
        """Wait for the child's start-up (imports, output directory check); raises StoreError."""
        with self._lock:
            if self._ready is None:
                self._ready = self._reply()

    def _reply(self) -> Any:
        try:
            answer = _receive(self._stdout)
        except (EOFError, OSError):
            code = self._proc.poll()
            raise StoreError(f"the Parquet writer process died (exit code {code})") from None
        if isinstance(answer, tuple) and answer and answer[0] == "error":
            raise StoreError(str(answer[1]))
        return answer

    def write(self, items: Sequence[Any]) -> WriteResult:
        """Decode and durably write ``items`` in the child; returns (rows, decode errors)."""
        self.wait_ready()
        with self._lock:
            try:
                _send(self._stdin, list(items))
            except (BrokenPipeError, OSError):
                raise StoreError("the Parquet writer process is gone") from None
            rows, errors, parts = self._reply()
        self.parts_written += parts
        return rows, errors

    def close(self, timeout: float = 30.0) -> None:
        """Close the child's stdin and wait for it to exit."""
        with contextlib.suppress(OSError):
            self._stdin.close()
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        with contextlib.suppress(OSError):
            self._stdout.close()


def child_main(argv: list[str]) -> int:
    """The child: ``python -m evkit.sources.writer_process DECODER OUT CAPTURE_ID``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        # A little below the consumer: the writer has half a prefetch window of slack, the consumer
        # none. Only a little: a writer starved by other work would stall the window.
        os.nice(2)
    decoder_name, out, capture_id = argv
    try:
        return _serve(decoder_name, out, capture_id, sys.stdin.buffer, sys.stdout.buffer)
    except (BrokenPipeError, ConnectionResetError):
        return 0  # the parent is gone (killed): what was written stays, it acknowledged nothing more


def _serve(decoder_name: str, out: str, capture_id: str, stdin: IO[bytes], stdout: IO[bytes]) -> int:
    try:
        from evkit.store.writer import open_writer

        decode = _load(decoder_name)
        writer = open_writer(out, capture_id=capture_id)
    except Exception as exc:
        _send(stdout, ("error", str(exc)))
        return 1
    _send(stdout, ("ready",))
    while True:
        try:
            items = _receive(stdin)
        except EOFError:
            writer.close()  # releases its day leases (evkit.store.lease)
            return 0
        try:
            frame = decode(items)
            paths = writer.write(frame)
            errors = frame.height - frame.get_column("error").null_count()
            answer: tuple[Any, ...] = (frame.height, errors, len(paths))
        except Exception as exc:  # reported to the parent, which acknowledges nothing of it
            answer = ("error", explain_write_failure(out, exc))
        _send(stdout, answer)


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
