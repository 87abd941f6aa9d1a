"""HTTP for device APIs (go-e API v2): a small :class:`~evkit.control.base.HttpTransport` on httpx.

``timeout`` is the budget for the whole request: httpx's own timeouts apply per connect and per read,
so a device that trickles a byte now and then would hold a command forever; each request therefore
runs on a short-lived daemon thread and is given up when the budget is spent.

Query values are percent-encoded by us (``%20`` for spaces, ``%22`` for quotes) so a JSON value reaches
the charger exactly; commas stay literal for ``filter=amp,car``. Every status code is returned with its
body (go-e answers 400/500 with a JSON body that says which key failed); only "could not talk to the
device" raises :class:`evkit.errors.SourceError`. Inject an ``httpx.Client`` (or an httpx transport
such as ``httpx.MockTransport``) to test without a network.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from urllib.parse import quote

import httpx

from evkit.control.base import HttpResponse, mask_secrets
from evkit.errors import SourceError

#: Characters left as they are in query values (commas separate ``filter`` keys).
_SAFE = ","


def build_url(url: str, params: Mapping[str, str] | None = None) -> str:
    """``url`` with ``params`` appended as a percent-encoded query string (order kept)."""
    if not params:
        return url
    query = "&".join(f"{quote(key, safe='')}={quote(value, safe=_SAFE)}" for key, value in params.items())
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}{query}"


class HttpxTransport:
    """GET requests over httpx, returning status and body whatever the status code.

    >>> transport = HttpxTransport()                                    # doctest: +SKIP
    >>> transport.get("http://192.168.0.77/api/status", {"filter": "amp"})  # doctest: +SKIP
    HttpResponse(status=200, text='{"amp":16}', url='http://192.168.0.77/api/status?filter=amp')
    """

    def __init__(
        self,
        client: httpx.Client | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._owns_client = client is None
        self._client = client or httpx.Client(transport=transport, follow_redirects=False)

    def get(self, url: str, params: Mapping[str, str] | None = None, timeout: float = 5.0) -> HttpResponse:
        """GET ``url`` + ``params``; raises ``SourceError`` only when the device cannot be reached."""
        full_url = build_url(url, params)
        shown = mask_secrets(full_url)
        outcome: list[HttpResponse | SourceError] = []

        def request() -> None:
            try:
                response = self._client.get(full_url, timeout=timeout)
                outcome.append(HttpResponse(status=response.status_code, text=response.text, url=shown))
            except httpx.TimeoutException:
                outcome.append(SourceError(f"no HTTP answer from {shown} within {timeout:g} s"))
            except httpx.InvalidURL as exc:
                outcome.append(SourceError(f"invalid URL {shown}: {exc}"))
            except (httpx.HTTPError, RuntimeError) as exc:  # RuntimeError: the client was closed meanwhile
                outcome.append(SourceError(f"HTTP request to {shown} failed: {mask_secrets(str(exc))}"))

        worker = threading.Thread(target=request, name="evkit-http", daemon=True)
        worker.start()
        worker.join(timeout)
        if not outcome:
            raise SourceError(f"no complete HTTP answer from {shown} within {timeout:g} s")
        result = outcome[0]
        if isinstance(result, SourceError):
            raise result
        return result

    def close(self) -> None:
        """Close the client if this transport created it."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> HttpxTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["HttpxTransport", "build_url"]
