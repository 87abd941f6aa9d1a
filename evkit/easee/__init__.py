"""Easee device knowledge (pure, no I/O): the observation catalog, decoding and wire encoding."""

from __future__ import annotations

from evkit.easee.catalog import (
    ENUM_LABELS,
    OBSERVATIONS,
    DataType,
    Obs,
    ObservationInfo,
    OpMode,
    label,
    observation,
)
from evkit.easee.decode import Delivery, decode_deliveries
from evkit.easee.encode import arrival_time_header, encode_observation

__all__ = [
    "ENUM_LABELS",
    "OBSERVATIONS",
    "DataType",
    "Delivery",
    "Obs",
    "ObservationInfo",
    "OpMode",
    "arrival_time_header",
    "decode_deliveries",
    "encode_observation",
    "label",
    "observation",
]
