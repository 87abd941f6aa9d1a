"""Tell when the MQTT broker dropped messages while a capture ran.

A broker whose per-client queue overflows (Mosquitto: ``max_queued_messages``, 1000 by default) drops
QoS 1 messages silently: no client is told, so a capture cannot see the loss in its own stream. Mosquitto
counts such drops in ``$SYS/broker/publish/messages/dropped`` (retained, published every
``sys_interval`` once non-zero; mosquitto 2.0 ``src/sys_tree.c``). evkit watches that counter with a
second, QoS 0 client (so ``$SYS`` never enters the dataset) and reports every increase while the capture
runs: in the log, the manifest (``broker_dropped``) and the exit summary.

The counter is broker-wide: a drop may have hit another client. The warning says so. A broker that does
not publish it (other brokers, or ``$SYS`` denied by its ACL) gives no warning: absence proves nothing.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

DROPPED_TOPIC = "$SYS/broker/publish/messages/dropped"
#: ``"<n> seconds"``: a smaller uptime than before means the broker restarted (its counters start at 0).
UPTIME_TOPIC = "$SYS/broker/uptime"
#: What the warning tells users to change.
DROPPED_HINT = (
    "the broker's per-client queue overflowed (Mosquitto: raise max_queued_messages, see README "
    "'Broker settings under which nothing is lost'); the counter is broker-wide, so the drop may have "
    "hit another client"
)


@dataclass
class DropCounter:
    """Drops counted by the broker since the capture started, from successive counter readings.

    The first reading is the baseline (drops from before the capture are not ours to report). A reading
    below the previous one means the broker restarted and counts from 0 again: all of it is new.
    """

    last: int | None = None
    dropped: int = 0

    def update(self, value: int) -> int:
        """Feed one reading; returns how many drops it adds (0 for the baseline)."""
        if value < 0:
            return 0
        if self.last is None:
            self.last = value
            return 0
        added = value - self.last if value >= self.last else value
        self.last = value
        self.dropped += added
        return added

    def restarted(self) -> None:
        """The broker restarted: its counter starts from 0 again, so the next reading is all new."""
        if self.last is not None:
            self.last = 0

    def baseline_zero(self) -> None:
        """No reading came at start: the broker had dropped nothing yet (it publishes only once > 0)."""
        if self.last is None:
            self.last = 0


class DropWatcher:
    """A background QoS 0 client on ``$SYS/broker/publish/messages/dropped`` (see the module doc).

    ``client`` is a paho client already configured (credentials, TLS) by the caller; the watcher connects
    it, reconnects with paho's own loop, and stops with :meth:`stop`.
    """

    def __init__(self, client: Any, host: str, port: int, keepalive: int = 30) -> None:
        self.counter = DropCounter()
        self._client = client
        self._host, self._port, self._keepalive = host, port, keepalive
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._uptime: int | None = None
        client.on_connect = self._on_connect
        client.on_message = self._on_message

    @property
    def dropped(self) -> int:
        with self._lock:
            return self.counter.dropped

    def start(self) -> None:
        try:
            self._client.connect_async(self._host, self._port, self._keepalive)
            self._client.loop_start()
        except Exception as exc:  # the watcher is advisory; the capture goes on
            log.debug("cannot watch %s: %s", DROPPED_TOPIC, exc)
            return
        # Mosquitto sends the retained value at once when it has one; none within 3 s means 0 so far.
        self._timer = threading.Timer(3.0, self._assume_zero)
        self._timer.daemon = True
        self._timer.start()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        try:
            self._client.disconnect()
            self._client.loop_stop()
        except Exception as exc:  # already gone
            log.debug("stopping the drop watcher: %s", exc)

    def _assume_zero(self) -> None:
        with self._lock:
            self.counter.baseline_zero()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if not reason.is_failure:
            # Uptime first: a broker sends retained values in subscription order, so a restart is
            # known before the (restarted) drop counter is read.
            client.subscribe([(UPTIME_TOPIC, 0), (DROPPED_TOPIC, 0)])

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        try:
            value = int(message.payload.decode("ascii").split()[0])
        except (UnicodeDecodeError, ValueError, IndexError):
            return
        if message.topic == UPTIME_TOPIC:
            with self._lock:
                if self._uptime is not None and value < self._uptime:
                    self.counter.restarted()
                self._uptime = value
            return
        with self._lock:
            added = self.counter.update(value)
            total = self.counter.dropped
        if added:
            log.warning(
                "the MQTT broker %s:%s dropped %d message(s) during this capture (%d so far): %s",
                self._host,
                self._port,
                added,
                total,
                DROPPED_HINT,
            )


__all__ = ["DROPPED_HINT", "DROPPED_TOPIC", "UPTIME_TOPIC", "DropCounter", "DropWatcher"]
