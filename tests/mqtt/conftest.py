from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mqtt.helpers import PrivateBroker


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    """A Mosquitto of this test's own (persistence on), which the test may restart."""
    directory = tmp_path / "broker"
    directory.mkdir()
    broker = PrivateBroker(directory).start()
    try:
        yield broker
    finally:
        broker.stop()
