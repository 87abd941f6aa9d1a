"""Per-day leases on object storage (``s3://bucket/prefix``), where there are no file locks.

A capture's lease on day ``D`` is one small object per capture,
``.evkit-leases/date=D/<capture id>.<ttl>s.lease`` (hidden: readers never list it). It is live while
its ``Last-Modified`` -- the server's clock, so machines with skewed clocks agree -- is less than
``ttl`` seconds old (plus one second: S3 times are whole seconds). The capture renews its leases from
a background thread every ``ttl / 4`` seconds, and deletes them when it stops; a capture that dies
leaves leases that simply expire (stale leases are ignored, and removed by a later compaction once
they are an hour past their expiry).

* The lease is created with a conditional ``PUT`` (``If-None-Match: *``): the key holds the capture
  id, so an object already there can only be this capture's own earlier attempt (a retried request),
  which is then renewed. Renewals are ``If-Match`` the last ETag this capture saw, so a lease that
  vanished meanwhile (removed as stale after the capture stalled for over an hour) is created again
  rather than silently assumed held.
* The capture's part writer (``evkit.store.s3write.S3PartWriter``) holds the days exactly as the local
  writer does (``evkit.store.writer``): today by its clock from the start, each day of a batch until a
  row of a later day has been written.
* ``evkit compact s3://...`` lists a day's leases right before it merges the day and leaves a day with
  a live lease for a later run (reported as busy), as it does locally.

A lease says "a capture may still write here"; it is not what keeps rows safe. Compaction removes
only the parts it merged, so a capture whose lease expired while it stalled, or a row for a day
already merged (the wall clock stepped back), lands in a new part beside the merged one. Unlike a
local ``flock``, a capture does not wait for a merge running on its day: there is nothing to wait for.
"""

from __future__ import annotations

import atexit
import json
import logging
import re
import threading
import time
import weakref
from datetime import datetime, timedelta
from typing import Any

from evkit.store.objstore import S3Location, open_store, retrying, store_error

log = logging.getLogger("evkit.store")

LEASE_DIR = ".evkit-leases"
#: How long a lease lives without a renewal (``EVKIT_S3_LEASE_S`` overrides it, in seconds).
DEFAULT_TTL_S = 120
#: Stale leases this long past their expiry are removed by compaction (they only litter the bucket).
LITTER_AFTER = timedelta(hours=1)
_NAME = re.compile(r"^(?P<capture>.+)\.(?P<ttl>\d+)s\.lease$")


#: Leases not yet closed: released when the interpreter exits (a writer nobody closed, such as an
#: audit log's, leaves no lease behind to expire).
_OPEN: weakref.WeakSet[S3Leases] = weakref.WeakSet()


@atexit.register
def _release_open_leases() -> None:
    for leases in list(_OPEN):
        leases.close()


def lease_ttl() -> int:
    import os

    try:
        return max(1, int(os.environ.get("EVKIT_S3_LEASE_S", DEFAULT_TTL_S)))
    except ValueError:
        return DEFAULT_TTL_S


def lease_key(day: str, capture_id: str, ttl_s: int) -> str:
    return f"{LEASE_DIR}/date={day}/{capture_id}.{ttl_s}s.lease"


def expires_at(meta: Any) -> datetime | None:
    """When the lease object ``meta`` (a listing entry) expires by the server's clock (None: not a lease)."""
    match = _NAME.match(str(meta["path"]).rsplit("/", 1)[-1])
    if match is None:
        return None
    modified: datetime = meta["last_modified"]
    return modified + timedelta(seconds=int(match["ttl"]) + 1)


def day_leases(store: Any, day: str) -> list[Any]:
    """The lease objects (listing entries) of ``date=<day>``, live or not."""
    import obstore

    return [m for chunk in obstore.list(store, prefix=f"{LEASE_DIR}/date={day}/") for m in chunk]


def live_holders(store: Any, day: str, server_now: datetime) -> list[str]:
    """Names of the live leases of ``date=<day>`` at ``server_now`` (the S3 server's clock)."""
    live = []
    for meta in day_leases(store, day):
        end = expires_at(meta)
        if end is not None and end > server_now:
            live.append(str(meta["path"]).rsplit("/", 1)[-1])
    return live


def remove_litter(store: Any, day: str, server_now: datetime) -> None:
    """Delete the leases of ``date=<day>`` that expired more than ``LITTER_AFTER`` ago."""
    import obstore

    for meta in day_leases(store, day):
        end = expires_at(meta)
        if end is not None and end + LITTER_AFTER < server_now:
            try:
                obstore.delete(store, str(meta["path"]))
            except Exception as exc:  # litter only: the next run tries again
                log.debug("could not remove the stale lease %s: %s", meta["path"], exc)


def server_now(store: Any, key: str) -> datetime:
    """The S3 server's clock: the ``Last-Modified`` of ``key``, an object just written."""
    import obstore

    modified: datetime = obstore.head(store, key)["last_modified"]
    return modified


class S3Leases:
    """The day leases one capture holds below an ``s3://`` dataset (see the module docs).

    ``renew``: renew from a background thread (tests switch it off to let a lease go stale).
    """

    def __init__(
        self, location: S3Location, capture_id: str, ttl_s: int | None = None, *, renew: bool = True
    ) -> None:
        self.location = location
        self.capture_id = capture_id
        self.ttl_s = ttl_s if ttl_s is not None else lease_ttl()
        self._store = open_store(location)
        self._etags: dict[str, str | None] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._renew = renew
        # dropped without close(): the renewal thread ends now, not at its next wake (its leases expire)
        weakref.finalize(self, self._stop.set)

    @property
    def days(self) -> list[str]:
        return sorted(self._etags)

    def hold(self, day: str) -> None:
        """Create the lease of ``date=<day>`` (nothing if held); StoreError when the store refuses."""
        with self._lock:
            if day in self._etags:
                return
            self._etags[day] = self._put(day, None)
            _OPEN.add(self)
        if self._renew and self._thread is None:
            self._thread = threading.Thread(
                target=_renew_loop, args=(weakref.ref(self), self._stop, self.ttl_s / 4), daemon=True
            )
            self._thread.name = "evkit-s3-leases"
            self._thread.start()

    def release(self, day: str) -> None:
        """Drop the lease of ``date=<day>`` (delete its object)."""
        import obstore

        with self._lock:
            if day not in self._etags:
                return
            del self._etags[day]
        try:
            retrying(lambda: obstore.delete(self._store, lease_key(day, self.capture_id, self.ttl_s)))
        except Exception as exc:  # it expires by itself
            log.warning("could not remove the lease of date=%s below %s: %s", day, self.location.url, exc)

    def close(self) -> None:
        """Stop renewing and release every lease."""
        self._stop.set()
        for day in self.days:
            self.release(day)

    def renew_all(self) -> None:
        """Renew every held lease now (the background thread calls this)."""
        for day in self.days:
            with self._lock:
                if day not in self._etags:
                    continue
                try:
                    self._etags[day] = self._put(day, self._etags[day])
                except Exception as exc:
                    log.warning(
                        "could not renew the lease of date=%s below %s: %s", day, self.location.url, exc
                    )

    def _put(self, day: str, etag: str | None) -> str | None:
        """Write the lease (create if ``etag`` is None, else If-Match it); its new ETag."""
        import obstore
        from obstore.exceptions import AlreadyExistsError, NotFoundError, PreconditionError

        key = lease_key(day, self.capture_id, self.ttl_s)
        body = (json.dumps({"capture_id": self.capture_id, "day": day, "ttl_s": self.ttl_s}) + "\n").encode()
        try:
            try:
                mode: Any = "create" if etag is None else {"e_tag": etag}
                result = retrying(lambda: obstore.put(self._store, key, body, mode=mode, use_multipart=False))
            except (AlreadyExistsError, PreconditionError, NotFoundError, FileNotFoundError):
                # Created: an earlier attempt of ours landed. Renewed: the object vanished or changed.
                # The key is this capture's own: write it as it must be now.
                result = retrying(lambda: obstore.put(self._store, key, body, use_multipart=False))
        except Exception as exc:
            raise store_error(exc, self.location.child(key), "write the lease") from exc
        tag = result.get("e_tag")
        return str(tag) if tag is not None else None


def _renew_loop(ref: weakref.ReferenceType[S3Leases], stop: threading.Event, every: float) -> None:
    """Renew until stopped: by close(), or as the leases object is collected (a writer dropped
    without close())."""
    while not stop.wait(every):
        leases = ref()
        if leases is None:
            return
        started = time.monotonic()
        leases.renew_all()
        del leases
        if time.monotonic() - started > every:
            log.warning("renewing S3 leases took longer than their renewal interval")


__all__ = [
    "DEFAULT_TTL_S",
    "LEASE_DIR",
    "S3Leases",
    "expires_at",
    "lease_key",
    "lease_ttl",
    "live_holders",
    "remove_litter",
    "server_now",
]
