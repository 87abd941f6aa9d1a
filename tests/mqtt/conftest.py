from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.mqtt.helpers import PrivateBroker


@pytest.fixture
def private_broker(private_mosquitto: Callable[..., PrivateBroker]) -> PrivateBroker:
    """A Mosquitto of this test's own (persistence on), which the test may restart."""
    return private_mosquitto("broker")
