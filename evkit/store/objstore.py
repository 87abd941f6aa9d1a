"""S3-compatible object storage as a dataset location: ``s3://bucket/prefix``.

Endpoint and credentials come only from the standard environment variables (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_REGION``, or
``AWS_PROFILE`` naming a profile of the AWS config files, read through boto3; an ``http://``
endpoint such as a MinIO or SeaweedFS on the LAN is allowed without ``AWS_ALLOW_HTTP``).
They are read by the client libraries themselves and never copied into a manifest, log or message.

The client is ``obstore``: it is the Python face of the Rust ``object_store`` crate that Polars
itself reads ``s3://`` with (one S3 implementation, one set of environment variables for reading and
writing), it releases the GIL, retries transient errors with backoff, and does conditional
``PUT`` (``If-None-Match: *``) so a part is never overwritten.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from evkit.errors import ConfigError, DatasetError, StoreError, first_line
from evkit.secrets import mask_secrets

if TYPE_CHECKING:
    from obstore.store import S3Store

SCHEME = "s3://"
T = TypeVar("T")
log = logging.getLogger("evkit.store")

#: Transient errors (connection refused, 5xx, throttling) are retried with exponential backoff:
#: 0.2 s, 0.4 s, ... up to 5 s apart, for at most ``EVKIT_S3_RETRY_S`` seconds (default 20).
_DEFAULT_RETRY_S = 20.0


def is_s3(path: object) -> bool:
    """Whether ``path`` names an object-store location (``s3://...``)."""
    return isinstance(path, str) and path.startswith(SCHEME)


@dataclass(frozen=True)
class S3Location:
    """``s3://bucket/prefix`` (the prefix without leading or trailing ``/``, maybe empty)."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> S3Location:
        rest = url[len(SCHEME) :]
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise DatasetError(f"{url!r} names no bucket (use s3://BUCKET/PREFIX)")
        if "@" in bucket or ":" in bucket:  # no bucket name has them: credentials (never used, never shown)
            raise DatasetError(
                f"{mask_secrets(url)}: an s3:// URL carries no credentials; evkit takes them from "
                "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or AWS_PROFILE): use s3://BUCKET/PREFIX"
            )
        if "?" in rest or "#" in rest:  # a query is no prefix: a token there would become part of keys
            raise DatasetError(
                f"{mask_secrets(url)} is not an s3://BUCKET/PREFIX: a prefix has no ?query or #fragment "
                "(credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE)"
            )
        return cls(bucket, prefix.strip("/"))

    @property
    def url(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.prefix}" if self.prefix else f"{SCHEME}{self.bucket}"

    def key(self, relative: str) -> str:
        """The full object key of ``relative`` (a path below the prefix)."""
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def child(self, relative: str) -> str:
        """The ``s3://`` URL of ``relative`` below the prefix."""
        return f"{SCHEME}{self.bucket}/{self.key(relative)}"


def _endpoint() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")


def _allow_http() -> bool:
    endpoint = _endpoint()
    return bool(endpoint and endpoint.startswith("http://"))


def retry_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get("EVKIT_S3_RETRY_S", _DEFAULT_RETRY_S)))
    except ValueError:
        return _DEFAULT_RETRY_S


def profile() -> str | None:
    """The named profile to take credentials from (``AWS_PROFILE`` without ``AWS_ACCESS_KEY_ID``)."""
    name = os.environ.get("AWS_PROFILE")
    return name if name and not os.environ.get("AWS_ACCESS_KEY_ID") else None


def _boto3_session(name: str) -> Any:
    """A boto3 session of profile ``name`` (boto3 reads ``~/.aws/credentials`` and ``~/.aws/config``:
    keys, SSO, assumed roles -- the one well-kept implementation of AWS profiles)."""
    try:
        import boto3
        import botocore.exceptions
    except ImportError as exc:
        raise ConfigError(
            f"AWS_PROFILE={name} needs boto3 (pip install 'evkit[cluster]'), or set AWS_ACCESS_KEY_ID "
            "and AWS_SECRET_ACCESS_KEY"
        ) from exc
    try:
        return boto3.Session(profile_name=name)
    except botocore.exceptions.ProfileNotFound as exc:
        raise ConfigError(f"AWS_PROFILE={name}: no such profile in the AWS config files") from exc


def open_store(location: S3Location) -> S3Store:
    """An obstore client for ``location`` (its prefix applied), configured from ``AWS_*`` (and the
    profile ``AWS_PROFILE`` names, through boto3, when no key is in the environment)."""
    from obstore.store import S3Store

    extra: dict[str, Any] = {}
    if (name := profile()) is not None:
        from obstore.auth.boto3 import Boto3CredentialProvider

        session = _boto3_session(name)
        extra["credential_provider"] = Boto3CredentialProvider(session)
        if not os.environ.get("AWS_REGION") and session.region_name:
            extra["region"] = session.region_name
    client: Any = {"timeout": timedelta(seconds=60), "connect_timeout": timedelta(seconds=5)}
    if _allow_http():
        client["allow_http"] = True
    retry: Any = {
        "max_retries": 8,
        "retry_timeout": timedelta(seconds=retry_seconds()),
        "backoff": {
            "init_backoff": timedelta(milliseconds=200),
            "max_backoff": timedelta(seconds=5),
            "base": 2.0,
        },
    }
    return S3Store(
        location.bucket, prefix=location.prefix or None, client_options=client, retry_config=retry, **extra
    )


def storage_options() -> dict[str, str]:
    """What Polars needs beyond the ``AWS_*`` variables it reads itself (never a credential)."""
    options = {"aws_allow_http": "true"} if _allow_http() else {}
    if (endpoint := _endpoint()) is not None:
        options["aws_endpoint_url"] = endpoint
    return options


def polars_options() -> dict[str, Any]:
    """Keyword arguments for ``pl.scan_parquet`` / ``sink_parquet`` on ``s3://`` (this process's
    ``AWS_*``; with ``AWS_PROFILE`` Polars' own boto3-based credential provider)."""
    import polars as pl

    provider: Any = "auto"
    if (name := profile()) is not None:
        _boto3_session(name)  # a clear ConfigError when boto3 or the profile is missing
        provider = pl.CredentialProviderAWS(profile_name=name)
    return {"storage_options": storage_options(), "credential_provider": provider}


_PERMANENT = ("NoSuchBucket", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403 Forbidden")


def is_transient(exc: BaseException) -> bool:
    """Whether a failed call may succeed when tried again (a dropped connection, a 5xx, throttling)."""
    from obstore.exceptions import (
        AlreadyExistsError,
        NotFoundError,
        PermissionDeniedError,
        PreconditionError,
        UnauthenticatedError,
    )

    permanent = (
        AlreadyExistsError,
        NotFoundError,
        PermissionDeniedError,
        PreconditionError,
        UnauthenticatedError,
        FileNotFoundError,
    )
    if isinstance(exc, permanent):
        return False
    text = str(exc)
    return not any(code in text for code in _PERMANENT)


def retrying(call: Callable[[], T]) -> T:
    """``call()``, tried again with exponential backoff (0.2 s doubling up to 5 s) while it fails with a
    transient error, for at most :func:`retry_seconds`. obstore retries by itself too, but not a
    request cut off on a pooled connection after its body was sent; a conditional PUT makes trying
    again safe (an object that did land is found, not overwritten)."""
    deadline = time.monotonic() + retry_seconds()
    delay = 0.2
    while True:
        try:
            return call()
        except Exception as exc:
            if not is_transient(exc) or time.monotonic() + delay > deadline:
                raise
            first = mask_secrets(str(exc).splitlines()[0][:120]) if str(exc) else type(exc).__name__
            log.warning("object store call failed (%s); trying again in %.1f s", first, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def explain(exc: BaseException, location: S3Location | str, doing: str) -> str:
    """One clear sentence for a failed object-store call (no credential, no multi-line debug dump)."""
    return mask_secrets(_explained(exc, location, doing))


def _explained(exc: BaseException, location: S3Location | str, doing: str) -> str:
    where = location.url if isinstance(location, S3Location) else location
    text = str(exc)
    first = first_line(exc)
    name = type(exc).__name__
    endpoint = _endpoint() or "the default AWS endpoint"
    if "NoSuchBucket" in text:
        bucket = where[len(SCHEME) :].split("/")[0]
        return f"cannot {doing} {where}: the bucket {bucket!r} does not exist at {endpoint} (create it first)"
    if name in ("PermissionDeniedError", "UnauthenticatedError") or any(
        code in text
        for code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403 Forbidden")
    ):
        return (
            f"cannot {doing} {where}: access denied (check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY "
            "and that this identity may read, list and write the bucket)"
        )
    if "error sending request" in text or "Connect" in text or "connection" in text.lower():
        return f"cannot {doing} {where}: the S3 endpoint {endpoint} does not answer ({first[:160]})"
    return f"cannot {doing} {where}: {first[:300]}"


def store_error(exc: BaseException, location: S3Location | str, doing: str) -> StoreError:
    return StoreError(explain(exc, location, doing))


def dataset_error(exc: BaseException, location: S3Location | str, doing: str) -> DatasetError:
    return DatasetError(explain(exc, location, doing))
