"""Parquet writing and reading: the dataset contract."""

from evkit.store.manifest import read_manifest, upsert_capture
from evkit.store.objstore import is_s3
from evkit.store.pages import unreadable_parts
from evkit.store.reader import damaged_parts_policy, parquet_files, scan
from evkit.store.schema import (
    EASEE_SCHEMA,
    MQTT_SCHEMA,
    REQUIRED_COLUMNS,
    missing_required,
)
from evkit.store.writer import PartWriter, ensure_writable, new_capture_id, open_writer, store_root

__all__ = [
    "EASEE_SCHEMA",
    "MQTT_SCHEMA",
    "REQUIRED_COLUMNS",
    "PartWriter",
    "damaged_parts_policy",
    "ensure_writable",
    "is_s3",
    "missing_required",
    "new_capture_id",
    "open_writer",
    "parquet_files",
    "read_manifest",
    "scan",
    "store_root",
    "unreadable_parts",
    "upsert_capture",
]
