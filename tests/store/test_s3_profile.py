"""Credentials from a named AWS profile (``AWS_PROFILE``, the AWS config files) instead of keys in
the environment: reading, writing and compaction on the real S3 server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import evkit
from evkit.errors import ConfigError
from evkit.store import ensure_writable, open_writer
from tests.conftest import REPO_ROOT
from tests.s3fixtures import ACCESS_KEY, SECRET_KEY
from tests.store.test_store import _rows


@pytest.fixture
def profile_env(s3_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Only the endpoint and a profile name in the environment; the keys are in the profile."""
    (tmp_path / "credentials").write_text(
        f"[evkit-test]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
    )
    (tmp_path / "config").write_text("[profile evkit-test]\nregion = us-east-1\n")
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"):
        monkeypatch.delenv(key)
    env = {
        "AWS_PROFILE": "evkit-test",
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def test_a_profile_writes_and_reads(profile_env: dict[str, str], s3_dataset: str) -> None:
    ensure_writable(s3_dataset)
    open_writer(s3_dataset, capture_id="p").write(_rows(3, key_prefix="EH7"))
    assert evkit.scan(s3_dataset).collect().height == 3
    result = subprocess.run(
        [sys.executable, "-m", "evkit", "sessions", s3_dataset, "--format", "json"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False, env=dict(os.environ),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert SECRET_KEY not in result.stdout + result.stderr


def test_an_unknown_profile_is_a_config_error(
    profile_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    with pytest.raises(ConfigError, match="AWS_PROFILE=no-such-profile: no such profile"):
        ensure_writable("s3://any-bucket/x")
