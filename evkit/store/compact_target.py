"""What ``evkit compact`` refuses to work on, before anything is locked or written: a day directory
(compact its store), a directory or ``s3://`` prefix without a part in a day directory and without a
capture's lease or manifest (a store a capture just started is no error), an ``s3://`` URL with a
``?query`` or ``#fragment`` (no prefix has one; tokens go in ``AWS_*`` variables)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from evkit.errors import DatasetError
from evkit.secrets import mask_secrets
from evkit.store.lease import LOCK_DIR
from evkit.store.manifest import MANIFEST_NAME


def day_of(directory: Path) -> date | None:
    """The day of a day directory (``date=YYYY-MM-DD``), None for any other."""
    name = directory.name
    if not name.startswith("date="):
        return None
    try:
        return date.fromisoformat(name.removeprefix("date="))
    except ValueError:
        return None


def day_dirs(root: Path) -> list[Path]:
    """The day directories below ``root``, sorted."""
    return [d for d in sorted(root.glob("date=*")) if d.is_dir() and day_of(d) is not None]


def _one_day(where: str) -> str | None:
    """The store ``where`` (a path or URL) is a day of, when its last component is ``date=YYYY-MM-DD``."""
    head, _, last = where.rstrip("/").rpartition("/")
    if not last.startswith("date="):
        return None
    try:
        date.fromisoformat(last.removeprefix("date="))
    except ValueError:
        return None
    return head or "/"


def refuse_local(root: Path) -> bool:
    """``DatasetError`` unless ``root`` is a store (see the module docstring); whether it holds a part."""
    if not root.is_dir():
        raise DatasetError(f"{root} is not a dataset directory")
    store = _one_day(str(root.resolve()))
    if store is not None:
        raise DatasetError(
            f"{root} is one day of a store, not a store: compact the store's directory {store}"
        )
    if any(not p.name.startswith(".") for d in day_dirs(root) for p in d.glob("*.parquet")):
        return True
    if (root / LOCK_DIR).is_dir() or (root / MANIFEST_NAME).is_file():
        return False  # a store a capture started (it holds today's lease from its start): no part yet
    raise DatasetError(f"{root} holds no Parquet parts in day directories (date=YYYY-MM-DD): no dataset")


def refuse_s3(url: str) -> None:
    """``DatasetError`` for an ``s3://`` URL that cannot name a store's prefix (before any request)."""
    from evkit.store.objstore import S3Location

    S3Location.parse(url)  # no bucket, credentials, a ?query or #fragment: refused, masked
    store = _one_day(url)
    if store is not None and len(store) > len("s3://"):  # s3://BUCKET at least
        raise DatasetError(
            f"{mask_secrets(url)} is one day of a store, not a store: compact the store's prefix {store}"
        )


def s3_holds_parts(url: str) -> bool:
    """Whether the store at ``url`` holds a live part in a day prefix (one listing); ``False`` for a
    store a capture started that holds none yet (a lease or manifest); ``DatasetError`` for a prefix
    without either (mistyped)."""
    from evkit.store.objstore import S3Location
    from evkit.store.s3lease import LEASE_DIR
    from evkit.store.s3parts import list_objects, live_objects

    location = S3Location.parse(url)
    objects = list_objects(location)
    if any(p.startswith("date=") and "/" in p for p in live_objects(location, objects)):
        return True
    names = [str(m["path"]) for m in objects]
    if any(n.startswith(f"{LEASE_DIR}/") or n == MANIFEST_NAME for n in names):
        return False
    raise DatasetError(
        f"{mask_secrets(url)} holds no Parquet parts in day prefixes (date=YYYY-MM-DD/): no dataset"
    )
