"""The real S3 server of the tests: SeaweedFS on loopback, started by ``scripts/ensure-s3.sh``
(``make test`` runs it). Fixtures FAIL (never skip) when it is down.

The identities are the test-only keys of ``scripts/seaweedfs-s3.json`` (a loopback server nobody
else reaches). evkit gets them the way users give theirs: ``AWS_*`` environment variables only.
Buckets are made (and removed) through the SeaweedFS filer, where a bucket is a folder under
``/buckets``: the test identities, like a capture's, may not create buckets.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

S3_HOST = "127.0.0.1"
S3_PORT = int(os.environ.get("EVKIT_S3_PORT", "8333"))
FILER_PORT = S3_PORT + 1002  # scripts/ensure-s3.sh
ACCESS_KEY = "evkit-test-access"
SECRET_KEY = "evkit-test-secret-4b1d"
READONLY_ACCESS_KEY = "evkit-readonly-access"
READONLY_SECRET_KEY = "evkit-readonly-secret-77c2"


def s3_environ(access: str = ACCESS_KEY, secret: str = SECRET_KEY, port: int = S3_PORT) -> dict[str, str]:
    """The ``AWS_*`` variables pointing evkit at the test server with an identity."""
    return {
        "AWS_ENDPOINT_URL": f"http://{S3_HOST}:{port}",
        "AWS_ACCESS_KEY_ID": access,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_REGION": "us-east-1",
        "EVKIT_S3_RETRY_S": "3",
    }


def make_bucket(name: str) -> None:
    response = httpx.post(f"http://{S3_HOST}:{FILER_PORT}/buckets/{name}/", timeout=30)
    assert response.status_code in (200, 201), response.text


def remove_bucket(name: str) -> None:
    httpx.delete(f"http://{S3_HOST}:{FILER_PORT}/buckets/{name}/?recursive=true", timeout=60)


@pytest.fixture(scope="session")
def s3_server() -> str:
    """The endpoint URL of the real SeaweedFS S3 gateway."""
    try:
        with socket.create_connection((S3_HOST, S3_PORT), timeout=3):
            pass
    except OSError as exc:
        pytest.fail(f"no S3 server on {S3_HOST}:{S3_PORT} ({exc}); run `make test` (scripts/ensure-s3.sh)")
    return f"http://{S3_HOST}:{S3_PORT}"


@pytest.fixture
def s3_env(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """``AWS_*`` of the test identity, set in this process (and inherited by subprocesses)."""
    env = s3_environ()
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3", "AWS_ALLOW_HTTP"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def s3_bucket(s3_env: dict[str, str]) -> Iterator[str]:
    """A fresh bucket of its own (removed afterwards)."""
    name = f"evkit-{uuid.uuid4().hex[:12]}"
    make_bucket(name)
    yield name
    remove_bucket(name)


@pytest.fixture
def s3_dataset(s3_bucket: str) -> str:
    """``s3://<fresh bucket>/fleet``: an empty dataset location."""
    return f"s3://{s3_bucket}/fleet"


def upload_dataset(local: Path, url: str) -> int:
    """Copy a dataset directory's visible files to ``url`` (same relative paths); returns the count."""
    import obstore

    from evkit.store.objstore import S3Location, open_store

    store = open_store(S3Location.parse(url))
    files = [p for p in sorted(local.rglob("*")) if p.is_file() and not p.name.startswith(".")]
    for path in files:
        obstore.put(store, path.relative_to(local).as_posix(), path.read_bytes())
    return len(files)
