"""The panels show what a device publishes as text: escaped and cut, never as markup."""

from __future__ import annotations

from evkit.control.base import MemoryBroker
from evkit.display import DISPLAY_LIMIT
from evkit.sim.evcc import EvccSimulator
from evkit.widgets import EvccPanel

LINK = '<a href="https://evil.example/verify">verify your account</a>'


def test_evcc_live_value_is_escaped_and_cut() -> None:
    broker = MemoryBroker()
    with EvccSimulator(broker.transport(), interval_s=3600):
        panel = EvccPanel(transport=broker.transport(), audit=None, timeout=2)
        try:
            broker.publish("evcc/loadpoints/1/mode", LINK + "x" * 200, retain=True)
            live = panel.bindings["loadpoints/1/mode"].live.value
        finally:
            panel.close()
    assert "<a " not in live
    assert "&lt;a href=&quot;https://evil.example/verify&quot;&gt;verify your account&lt;/a&gt;" in live
    kept = DISPLAY_LIMIT - 1 - len(LINK)  # the ellipsis is the last of the 64 characters
    assert "x" * kept + "…" in live
    assert "x" * (kept + 1) not in live  # the 200 x are cut
