"""What is known of a frame, kept as long as the frame lives.

Polars frames are not hashable, so a ``weakref.WeakKeyDictionary`` cannot hold them: a
:class:`FrameMemo` keys by ``id`` and checks the frame is still the one remembered (an ``id`` is
reused once its frame is gone), and drops each entry when its frame is collected."""

from __future__ import annotations

import weakref
from typing import Any, Generic, TypeVar

V = TypeVar("V")


class FrameMemo(Generic[V]):
    """A value per live frame: ``put(frame, value)``, ``get(frame)`` (None for a frame not known)."""

    def __init__(self) -> None:
        self._by_id: dict[int, tuple[weakref.ref[Any], V]] = {}

    def __len__(self) -> int:
        """Frames remembered (each is alive)."""
        return len(self._by_id)

    def get(self, frame: object) -> V | None:
        entry = self._by_id.get(id(frame))
        return entry[1] if entry is not None and entry[0]() is frame else None

    def put(self, frame: object, value: V) -> V:
        """Remember ``value`` for ``frame`` (replacing what was), until ``frame`` is collected."""
        key = id(frame)
        entry = self._by_id.get(key)
        if entry is None or entry[0]() is not frame:  # one finalizer per frame, however often told
            weakref.finalize(frame, self._by_id.pop, key, None)
        self._by_id[key] = (weakref.ref(frame), value)
        return value


__all__ = ["FrameMemo"]
