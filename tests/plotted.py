"""What a plotly figure holds, whatever form its arrays take: lists, numpy arrays (evkit's figures hand
a frame's columns over as arrays), or plotly's typed arrays (``{"dtype", "bdata", "shape"}``) in its
JSON."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import polars as pl


def values(array: Any) -> list[Any]:
    """A trace's array as Python values (times as ``datetime``, numbers as ``float``/``int``); [] for None."""
    if array is None:
        return []
    if isinstance(array, dict) and "bdata" in array:
        array = _typed(array)
    if isinstance(array, np.ndarray):
        if array.ndim > 1:
            return [values(row) for row in array]
        return pl.Series(array).to_list()
    return list(array)


def _typed(array: dict[str, Any]) -> np.ndarray:
    flat = np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"]))
    shape = array.get("shape")
    if shape is None:
        return flat
    return flat.reshape([int(n) for n in str(shape).split(",")])


def plain(value: Any) -> Any:
    """``value`` (a figure's ``to_plotly_json()``, or a part of it) with every array as a Python list."""
    if isinstance(value, dict):
        if "bdata" in value and "dtype" in value:
            return values(value)
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [plain(v) for v in values(value)]
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value
