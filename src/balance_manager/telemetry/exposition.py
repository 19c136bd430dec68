"""One scrape in the Prometheus text format, and the optional listener of its own.

A scrape is this process's instruments (``metrics``) — or, with ``PROMETHEUS_MULTIPROC_DIR``
set, those of every process on the host that shares the directory, added up by
prometheus-client's ``MultiProcessCollector`` — plus the families the caller computed from
the database for this scrape.

The listener (``METRICS_PORT``) is prometheus-client's own WSGI server in a thread; its
database families are computed on the process's event loop, which the thread waits on.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine, Iterable, Iterator
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    start_http_server,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

CONTENT_TYPE = CONTENT_TYPE_LATEST
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
# A listener scrape waits this long for the database families before giving up on them.
LISTENER_TIMEOUT_SECONDS = 10.0

Families = Callable[[], Coroutine[Any, Any, list[Metric]]]


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROCESS_ENV))


class _Fixed(Collector):
    """Families computed before the scrape (from the database)."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        yield from self._families


class _Process(Collector):
    """This process's default registry (instruments, process and platform collectors)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


def render(families: Iterable[Metric] = ()) -> bytes:
    """The text exposition of the in-process instruments plus ``families``."""
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess():
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Process())
    registry.register(_Fixed(families))
    return generate_latest(registry)


class _Listener(Collector):
    """What the listener thread serves: families computed on ``loop`` at each scrape."""

    def __init__(self, families: Families, loop: asyncio.AbstractEventLoop) -> None:
        self._families = families
        self._loop = loop

    def collect(self) -> Iterator[Metric]:
        future = asyncio.run_coroutine_threadsafe(self._families(), self._loop)
        yield from future.result(timeout=LISTENER_TIMEOUT_SECONDS)


class Listener:
    """A plain HTTP listener serving ``/metrics`` (no authentication: bind it where only
    Prometheus reaches it)."""

    def __init__(self, server: WSGIServer) -> None:
        self._server = server

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def start_listener(port: int, host: str, families: Families) -> Listener:
    """Serve scrapes on ``host:port`` from a thread; call from the running event loop."""
    loop = asyncio.get_running_loop()
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess():
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Process())
    registry.register(_Listener(families, loop))
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return Listener(server)
