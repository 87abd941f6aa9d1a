"""Parquet writing and reading: the dataset contract."""

from evkit.store.manifest import read_manifest, upsert_capture
from evkit.store.reader import damaged_parts_policy, parquet_files, scan
from evkit.store.schema import (
    EASEE_SCHEMA,
    MQTT_SCHEMA,
    REQUIRED_COLUMNS,
    missing_required,
)
from evkit.store.writer import PartWriter, ensure_writable, new_capture_id

__all__ = [
    "EASEE_SCHEMA",
    "MQTT_SCHEMA",
    "REQUIRED_COLUMNS",
    "PartWriter",
    "damaged_parts_policy",
    "ensure_writable",
    "missing_required",
    "new_capture_id",
    "parquet_files",
    "read_manifest",
    "scan",
    "upsert_capture",
]
