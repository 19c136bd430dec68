"""The one module that POSTs operator webhooks (httpx), as ``stripe-balance-manager/<version>``.
Imports nothing above it.

Every outcome is a value (:class:`Sent`), never an exception: a refused connection, a timeout
and a 500 are all just a failed attempt for the caller to log and schedule. The whole request
— connecting, sending, waiting for the status line — is bounded by ``timeout``; the response
body is never read (a receiver cannot make us download anything). Redirects are not followed:
a 3xx is a failure, as the receiver's URL is the one the operator registered.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

from balance_manager import __version__

MAX_ERROR_LENGTH = 500
USER_AGENT = f"stripe-balance-manager/{__version__}"


@dataclass(frozen=True, slots=True)
class Sent:
    status_code: int | None  # None: no response (connection error, timeout)
    latency_ms: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class Sender:
    """POSTs with one connection pool per process; close with :meth:`aclose`."""

    def __init__(self, *, timeout: float) -> None:
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout),
                follow_redirects=False,
                headers={"user-agent": USER_AGENT},
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            )
        return self._client

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Sent:
        started = time.perf_counter()

        def elapsed() -> float:
            return round((time.perf_counter() - started) * 1000, 3)

        try:
            async with asyncio.timeout(self.timeout):
                async with self._http().stream("POST", url, content=body, headers=headers) as r:
                    status = r.status_code
        except TimeoutError:
            return Sent(None, elapsed(), f"timeout: no answer within {self.timeout:g} s")
        except httpx.TimeoutException as exc:
            return Sent(None, elapsed(), f"timeout: {type(exc).__name__}")
        except httpx.HTTPError as exc:
            return Sent(None, elapsed(), f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH])
        latency = elapsed()
        if 200 <= status < 300:
            return Sent(status, latency)
        return Sent(status, latency, f"HTTP {status}")

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
