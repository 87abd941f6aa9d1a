"""The dataset contract on a real S3 server (SeaweedFS on loopback): writing parts, reading them back,
the per-capture manifest, damaged objects, and the clear errors of a store that cannot be written."""

from __future__ import annotations

import json
import struct
import threading
from datetime import UTC, datetime
from pathlib import Path

import obstore
import polars as pl
import pytest
from obstore.store import S3Store

import evkit
from evkit.errors import DatasetError, StoreError
from evkit.store import ensure_writable, open_writer, read_manifest, upsert_capture
from evkit.store.objstore import S3Location, open_store
from evkit.store.s3write import S3PartWriter
from tests.s3fixtures import READONLY_ACCESS_KEY, READONLY_SECRET_KEY, SECRET_KEY
from tests.store.test_store import _rows


def _store(url: str) -> S3Store:
    return open_store(S3Location.parse(url))


def _keys(url: str) -> list[str]:
    return sorted(str(m["path"]) for chunk in obstore.list(_store(url)) for m in chunk)


def test_parts_land_by_utc_day_with_unique_names_and_scan_back_exactly(s3_dataset: str) -> None:
    frame = _rows(4)
    writer = open_writer(s3_dataset, capture_id="cap-a")
    assert isinstance(writer, S3PartWriter)
    urls = writer.write(frame)
    writer.write(_rows(2, day=5, key_prefix="EH5"))
    assert [u.rsplit("/", 2)[1] for u in urls] == ["date=2026-11-01", "date=2026-11-02"]
    assert all(u.startswith(s3_dataset + "/") for u in urls)
    parts = [k for k in _keys(s3_dataset) if not k.startswith(".evkit-leases/")]
    assert len(parts) == writer.parts_written == 3
    leases = [k.split("/")[1] for k in _keys(s3_dataset) if k.startswith(".evkit-leases/")]
    assert sorted(leases) == [f"date={d}" for d in writer.held_days] and "date=2026-11-05" in leases
    writer.close()
    assert [k for k in _keys(s3_dataset) if k.startswith(".evkit-leases/")] == []  # released
    back = evkit.scan(s3_dataset).collect().sort("received_at")
    assert back.height == 6
    assert back.drop("capture_id").head(4).equals(frame)  # types and values exactly
    assert set(back["capture_id"]) == {"cap-a"}
    # Polars alone reads the parts too (the store is plain Parquet)
    assert (
        pl.scan_parquet(f"{s3_dataset}/**/*.parquet", storage_options={"aws_allow_http": "true"})
        .collect()
        .height
        == 6
    )


def test_two_writers_with_the_same_sequence_never_overwrite_each_other(s3_dataset: str) -> None:
    writers = [open_writer(s3_dataset, capture_id=f"host{i}-1-abcd") for i in range(2)]
    threads = [
        threading.Thread(target=w.write, args=(_rows(3, key_prefix=f"EH{i}"),)) for i, w in enumerate(writers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert evkit.scan(s3_dataset).collect().height == 6


def test_a_part_is_never_overwritten(s3_dataset: str) -> None:
    first = S3PartWriter(s3_dataset, capture_id="same")
    first.write(_rows(1, day=3))
    again = S3PartWriter(s3_dataset, capture_id="same")  # a (wrongly) reused id: same name, other rows
    with pytest.raises(StoreError, match="not this capture's part"):
        again.write(_rows(1, day=3, key_prefix="EH9"))
    assert evkit.scan(s3_dataset).collect()["routing_key"].to_list() == ["EH1.O.120"]


def test_manifest_is_one_object_per_capture_merged_without_lost_updates(s3_dataset: str) -> None:
    def record(i: int) -> None:
        for status in ("running", "finished"):
            upsert_capture(
                s3_dataset, {"capture_id": f"c{i:02d}", "status": status, "password": "pw", "n": i}
            )

    threads = [threading.Thread(target=record, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    captures = read_manifest(s3_dataset)["captures"]
    assert sorted(c["capture_id"] for c in captures) == [f"c{i:02d}" for i in range(12)]
    assert {c["status"] for c in captures} == {"finished"}
    assert all("password" not in c for c in captures)


def test_scan_of_a_prefix_without_parts_says_so(s3_dataset: str) -> None:
    with pytest.raises(DatasetError, match="no Parquet objects below s3://"):
        evkit.scan(s3_dataset)


def test_damaged_objects_are_named_and_can_be_skipped(s3_dataset: str) -> None:
    S3PartWriter(s3_dataset, capture_id="ok").write(_rows(2, day=3))
    store = _store(s3_dataset)
    obstore.put(store, "date=2026-11-03/part-empty.parquet", b"")
    obstore.put(store, "date=2026-11-03/part-cut.parquet", b"PAR1" + b"x" * 40)
    with pytest.raises(DatasetError) as info:
        evkit.scan(s3_dataset)
    text = str(info.value)
    assert "part-empty.parquet (empty file (0 bytes))" in text
    assert "part-cut.parquet (truncated" in text
    assert evkit.scan(s3_dataset, skip_damaged=True).collect().height == 2


#: Damaged parts, as bytes: each is named in the same words locally and on S3.
DAMAGES = {
    "empty": b"",
    "cut": b"PAR1" + b"x" * 40,
    "no header": b"NOPE" + b"x" * 40,
    "bad length": b"PAR1" + b"x" * 20 + struct.pack("<i", 10**6) + b"PAR1",
    "garbage footer": b"PAR1" + b"x" * 20 + struct.pack("<i", 16) + b"PAR1",
    "only the magic": b"PAR1PAR1",
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_object_is_named_as_the_same_local_part(
    s3_dataset: str, tmp_path: Path, damage: str
) -> None:
    from evkit.store import parts, s3parts

    local = tmp_path / "part-x.parquet"
    local.write_bytes(DAMAGES[damage])
    location = S3Location.parse(s3_dataset)
    obstore.put(open_store(location), "part-x.parquet", DAMAGES[damage])
    local_schema, local_why = parts.part_schema(local)
    s3_schema, s3_why = s3parts.part_schema(location, "part-x.parquet")
    assert local_schema is None and s3_schema is None
    assert local_why and s3_why == local_why


def test_compaction_journal_hides_merged_inputs_on_s3(s3_dataset: str) -> None:
    writer = S3PartWriter(s3_dataset, capture_id="w")
    inputs = [
        u.rsplit("/", 1)[1]
        for u in writer.write(_rows(1, day=3)) + writer.write(_rows(1, day=3, key_prefix="EH2"))
    ]
    merged = evkit.scan(s3_dataset).collect().drop("capture_id")
    store = _store(s3_dataset)
    import io

    buffer = io.BytesIO()
    merged.write_parquet(buffer)
    journal = {"output": "part-compacted-x.parquet", "inputs": inputs}
    obstore.put(store, "date=2026-11-03/.compact-x.json", json.dumps(journal).encode())
    obstore.put(store, "date=2026-11-03/part-compacted-x.parquet", buffer.getvalue())
    assert evkit.scan(s3_dataset, dedupe=False).collect().height == 2  # not 4


def test_missing_bucket_is_a_clear_store_error(s3_env: dict[str, str]) -> None:
    with pytest.raises(
        StoreError, match=r"bucket 'evkit-no-such-bucket' does not exist at http://127\.0\.0\.1"
    ):
        ensure_writable("s3://evkit-no-such-bucket/fleet")


def test_denied_write_is_a_clear_store_error(s3_dataset: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", READONLY_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", READONLY_SECRET_KEY)
    with pytest.raises(StoreError, match="access denied") as info:
        ensure_writable(s3_dataset)
    assert READONLY_SECRET_KEY not in str(info.value)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-" + SECRET_KEY)
    with pytest.raises(StoreError, match="access denied") as info:
        ensure_writable(s3_dataset)
    assert SECRET_KEY not in str(info.value)


@pytest.mark.parametrize("command", ["sessions", "latency", "report", "compact"])
def test_credentials_in_an_s3_url_are_refused_and_never_shown(
    s3_env: dict[str, str], command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``s3://KEY:SECRET@bucket/prefix`` used to be taken for a bucket named ``KEY:SECRET@bucket``: the
    access-denied sentence then printed the secret. It is refused before anything is sent, masked."""
    from evkit.cli import main

    url = f"s3://AKIAEXAMPLE:{SECRET_KEY}@evkit-test/fleet"
    out = ["--out", str(tmp_path / "r.html"), "--no-progress"] if command == "report" else []
    assert main([command, url, *out]) == 2
    err = capsys.readouterr().err
    assert SECRET_KEY not in err
    assert "s3://AKIAEXAMPLE:***@evkit-test/fleet: an s3:// URL carries no credentials" in err
    assert "AWS_ACCESS_KEY_ID" in err


@pytest.mark.parametrize("command", ["sessions", "latency", "report", "compact"])
def test_a_token_in_an_s3_urls_query_is_refused_and_never_shown(
    s3_env: dict[str, str], command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``s3://bucket/fleet?token=...`` was taken for the prefix ``fleet?token=...``: a capture would
    have written the token into every object key. Refused before anything is sent, masked."""
    from evkit.cli import main
    from evkit.store.objstore import S3Location

    url = f"s3://evkit-test/fleet?token={SECRET_KEY}"
    out = ["--out", str(tmp_path / "r.html"), "--no-progress"] if command == "report" else []
    assert main([command, url, *out]) == 2
    err = capsys.readouterr().err
    assert SECRET_KEY not in err and "?token=***" in err
    assert "a prefix has no ?query or #fragment" in err
    with pytest.raises(DatasetError, match=r"no \?query or #fragment"):
        S3Location.parse("s3://evkit-test/fleet#part")


def test_object_store_sentences_never_carry_a_password() -> None:
    from evkit.store.objstore import explain

    where = f"s3://user:{SECRET_KEY}@bucket/prefix"  # a location as text, as some callers pass it
    for failure in (
        RuntimeError("NoSuchBucket"),
        RuntimeError("AccessDenied"),
        RuntimeError("error sending request"),
        RuntimeError(f"odd failure at https://u:{SECRET_KEY}@host/x"),
    ):
        said = explain(failure, where, "list")
        assert SECRET_KEY not in said and "***" in said


def test_endpoint_down_is_a_clear_store_error(
    s3_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once closed
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("EVKIT_S3_RETRY_S", "1")
    started = datetime.now(UTC)
    with pytest.raises(StoreError, match=f"the S3 endpoint http://127.0.0.1:{port} does not answer"):
        ensure_writable("s3://any-bucket/fleet")
    assert (datetime.now(UTC) - started).total_seconds() < 60


def test_which_failures_are_tried_again() -> None:
    from obstore.exceptions import AlreadyExistsError, PermissionDeniedError

    from evkit.store.objstore import is_transient

    assert is_transient(RuntimeError("Generic S3 error: HTTP error: error sending request"))
    assert is_transient(RuntimeError("Server returned non-2xx status code: 503 Service Unavailable"))
    assert not is_transient(RuntimeError("404 Not Found: <Code>NoSuchBucket</Code>"))
    assert not is_transient(RuntimeError("403 Forbidden: <Code>AccessDenied</Code>"))
    assert not is_transient(FileNotFoundError("gone"))
    assert not is_transient(PermissionDeniedError("denied"))
    assert not is_transient(AlreadyExistsError("exists"))
