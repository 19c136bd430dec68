"""Connect only to addresses that were checked: resolve the name, check every address it has,
connect to a checked one. Imports nothing above it; the check is handed in.

Checking a URL's host when it is registered is not enough: a name can resolve to a public
address then and to ``127.0.0.1`` a second later (DNS rebinding). So the check runs where the
connection is made, on every new connection, against the address actually connected to:
:class:`GuardedBackend` is an ``httpcore`` network backend (the documented extension point
between httpcore and the network) that resolves the host itself, refuses the connection when
any of its addresses is refused, and otherwise hands the inner backend a literal address —
no second lookup. TLS is unchanged above it: httpcore still sends the name as SNI and checks
the certificate against it, and the ``Host`` header is the URL's.

A name with one refused address among public ones is refused as a whole: it is at best a
misconfiguration, at worst a rebinding trick that round-robins.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from ipaddress import IPv4Address, IPv6Address

import httpcore

IPAddress = IPv4Address | IPv6Address
# An address → None when it may be connected to, else why not ("127.0.0.1 is loopback").
AddressCheck = Callable[[IPAddress], str | None]
# (host, port) → the host's addresses as strings: the seam a test (or a custom resolver) fills.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]


class BlockedAddress(Exception):
    """The host has an address the check refuses; no connection was made."""

    def __init__(self, host: str, reason: str) -> None:
        where = reason if reason.startswith(host) else f"{host}: {reason}"
        super().__init__(f"{where}; WEBHOOK_ALLOWED_NETWORKS can allow it")
        self.host = host
        self.reason = reason


async def system_resolve(host: str, port: int) -> list[str]:
    """The operating system's resolver (``getaddrinfo`` in the event loop's default threads),
    each address once, in its order."""
    found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in found))


class ThreadedResolver:
    """The operating system's resolver in threads of its own: a receiver whose DNS hangs ties
    up these (the attempt stops waiting at its timeout; the thread is free again when the
    system's resolver gives up), never the default threads the rest of the process resolves
    with — Stripe's calls included."""

    def __init__(self, threads: int) -> None:
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="webhook-dns")

    async def __call__(self, host: str, port: int) -> list[str]:
        lookup = functools.partial(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
        found = await asyncio.get_running_loop().run_in_executor(self._threads, lookup)
        return list(dict.fromkeys(str(info[4][0]) for info in found))

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)


def literal(host: str) -> IPAddress | None:
    """The address when ``host`` is written as one (``127.0.0.1``, ``127.0.0.1.``, ``::1``),
    else None."""
    try:
        return ipaddress.ip_address(host.removesuffix("."))
    except ValueError:
        return None


def is_localhost(host: str) -> bool:
    """``localhost``, ``localhost.``, ``anything.localhost``: loopback names (RFC 6761)."""
    name = host.lower().rstrip(".")
    return name == "localhost" or name.endswith(".localhost")


async def checked_addresses(
    host: str, port: int, *, check: AddressCheck, resolve: Resolver = system_resolve
) -> list[IPAddress]:
    """Every address of ``host``, each allowed by ``check``; raises :class:`BlockedAddress`
    when one is not, ``OSError`` when the name does not resolve."""
    written = literal(host)
    if written is not None:
        addresses: list[IPAddress] = [written]
    elif is_localhost(host):  # RFC 6761: loopback, whatever a resolver says
        addresses = [IPv4Address("127.0.0.1"), IPv6Address("::1")]
    else:
        addresses = [ipaddress.ip_address(a) for a in await resolve(host, port)]
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, f"{host} has no address")
    for address in addresses:
        refused = check(address)
        if refused is not None:
            raise BlockedAddress(host, refused)
    return addresses


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with the check in front of every TCP connection."""

    def __init__(
        self,
        check: AddressCheck,
        *,
        resolve: Resolver = system_resolve,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.check = check
        self.resolve = resolve
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109  (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await checked_addresses(host, port, check=self.check, resolve=self.resolve)
        except OSError as exc:  # the name does not resolve: a connection error like any other
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:  # each was checked; the first that answers
            try:
                return await self.inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # addresses is never empty
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109  (httpcore's interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddress(path, f"{path} is a unix socket")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)
