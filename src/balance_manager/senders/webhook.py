"""The one module that POSTs operator webhooks (httpx over httpcore), as
``stripe-balance-manager/<version>``. Imports nothing above it.

Every outcome is a value (:class:`Sent`), never an exception: a refused connection, a timeout,
a 500, a URL it cannot use, an address the check refuses and any other failure are all just a
failed attempt for the caller to log and schedule. The whole attempt — resolving, connecting,
sending, waiting for the status line — is bounded by ``timeout``; the response body is never
read (a receiver cannot make us download anything). Redirects are not followed: a 3xx is a
failure, as the receiver's URL is the one the operator registered (and a redirect could lead
anywhere). Connections go only to addresses the ``check`` allows (``network.py``); proxies
from the environment are not used, as they would connect on our behalf unchecked.

:func:`parse_url` is the parser of both the sender and the endpoint's registration, so a URL
is refused when it is registered rather than failing at every attempt.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from balance_manager import __version__
from balance_manager.senders.network import (
    AddressCheck,
    BlockedAddress,
    GuardedBackend,
    Resolver,
    ThreadedResolver,
)

MAX_ERROR_LENGTH = 500
USER_AGENT = f"stripe-balance-manager/{__version__}"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-_:")


class UnusableURL(ValueError):
    """httpx cannot send to this URL, or would send somewhere else than it reads."""


def parse_url(url: str) -> httpx.URL:
    """The URL as httpx will use it. Raises :class:`UnusableURL` saying why not: control
    characters, a port out of range, an invalid international name, or a URL that httpx and
    the standard library read differently (a parser differential is how requests get smuggled
    to another host)."""
    try:
        parsed = httpx.URL(url)
        host, port = parsed.host, parsed.port  # decoding the name may fail (an invalid A-label)
        standard = urlsplit(url)
        standard_host, standard_port = standard.hostname, standard.port  # raises on a bad port
    except (httpx.InvalidURL, ValueError) as exc:  # IDNAError is a ValueError
        raise UnusableURL(str(exc) or type(exc).__name__) from None
    if parsed.scheme not in _DEFAULT_PORTS:
        raise UnusableURL("the scheme must be http or https")
    if not host or not set(parsed.raw_host.decode("ascii")) <= _HOST_CHARACTERS:
        raise UnusableURL(f"the host {host!r} is not a DNS name or an IP address")
    if parsed.userinfo:
        raise UnusableURL("the URL must not carry credentials")
    default = _DEFAULT_PORTS[parsed.scheme]
    effective = default if port is None else port
    if standard_host != host or (default if standard_port is None else standard_port) != effective:
        raise UnusableURL("the host or port is ambiguous")
    if not 0 < effective < 65536:
        raise UnusableURL("the port must be between 1 and 65535")
    return parsed


@dataclass(frozen=True, slots=True)
class Sent:
    status_code: int | None  # None: no response (connection error, timeout, refused address)
    latency_ms: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class Sender:
    """POSTs with one connection pool per process; close with :meth:`aclose`.

    ``check`` judges every address connected to; ``resolve`` turns names into addresses (by
    default the system's resolver in ``resolver_threads`` threads of the sender's own — the
    seam tests fill); ``ssl_context`` defaults to httpx's (certifi's roots,
    ``SSL_CERT_FILE``). The connection pool has no limit of its own: the dispatcher decides
    how many deliveries are in flight (a limit here would make a healthy endpoint's request
    queue behind hanging ones)."""

    def __init__(
        self,
        *,
        timeout: float,
        check: AddressCheck,
        resolve: Resolver | None = None,
        resolver_threads: int = 16,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.timeout = timeout
        self.check = check
        self._own_resolver: ThreadedResolver | None = None
        if resolve is None:
            resolve = self._own_resolver = ThreadedResolver(resolver_threads)
        self.resolve = resolve
        self.ssl_context = ssl_context
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            transport = _GuardedTransport(
                GuardedBackend(self.check, resolve=self.resolve),
                ssl_context=self.ssl_context or httpx.create_ssl_context(),
            )
            self._client = httpx.AsyncClient(
                transport=transport,
                timeout=httpx.Timeout(self.timeout),
                follow_redirects=False,
                headers={"user-agent": USER_AGENT},
            )
        return self._client

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Sent:
        started = time.perf_counter()

        def elapsed() -> float:
            return round((time.perf_counter() - started) * 1000, 3)

        def failed(error: str) -> Sent:
            return Sent(None, elapsed(), error[:MAX_ERROR_LENGTH])

        try:
            target = parse_url(url)
        except UnusableURL as exc:
            return failed(f"invalid_url: {exc}")
        try:
            async with asyncio.timeout(self.timeout):
                async with self._http().stream("POST", target, content=body, headers=headers) as r:
                    status = r.status_code
        except TimeoutError:
            return failed(f"timeout: no answer within {self.timeout:g} s")
        except BlockedAddress as exc:
            return failed(f"blocked_address: {exc}")
        except httpx.TimeoutException as exc:
            return failed(f"timeout: {type(exc).__name__}")
        except Exception as exc:  # whatever it is, the attempt failed and says why
            return failed(f"{type(exc).__name__}: {exc}")
        latency = elapsed()
        if 200 <= status < 300:
            return Sent(status, latency)
        return Sent(status, latency, f"HTTP {status}")

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
        if self._own_resolver is not None:
            self._own_resolver.close()


# httpcore's errors and the httpx errors of the same names (httpx's own transport maps them
# the same way); anything else passes through.
_HTTPCORE_ERRORS = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    httpcore.ProxyError,
)


class _GuardedTransport(httpx.AsyncBaseTransport):
    """httpx's default transport, over an httpcore pool that connects through the guarded
    backend (httpx takes no network backend as a parameter; a transport is its public way to
    plug in)."""

    def __init__(self, backend: GuardedBackend, *, ssl_context: ssl.SSLContext) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=None,
            max_keepalive_connections=20,
            network_backend=backend,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        try:
            response = await self._pool.handle_async_request(
                httpcore.Request(
                    method=request.method,
                    url=httpcore.URL(
                        scheme=request.url.raw_scheme,
                        host=request.url.raw_host,
                        port=request.url.port,
                        target=request.url.raw_path,
                    ),
                    headers=request.headers.raw,
                    content=request.stream,
                    extensions=request.extensions,
                )
            )
        except _HTTPCORE_ERRORS as exc:
            error: type[httpx.TransportError] = getattr(
                httpx, type(exc).__name__, httpx.TransportError
            )
            raise error(str(exc), request=request) from exc
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._stream:
            yield part

    async def aclose(self) -> None:
        if hasattr(self._stream, "aclose"):
            await self._stream.aclose()
