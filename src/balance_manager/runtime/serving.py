"""Serving the app with uvicorn, with bounded time to read a request.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) but has no limit on how
long a client may take to send a request's headers or body: a few hundred connections that
trickle a byte now and then (slowloris) hold their sockets, and the app's tasks waiting on
their bodies, for ever. :func:`protocol_with_timeouts` makes uvicorn's ``httptools``
protocol (what ``uvicorn[standard]`` installs, and what ``http="auto"`` picks) close a
connection whose request is incomplete after:

- ``header_seconds`` from the connection's opening, or from the first byte of a later
  request on a kept-alive connection, until its headers are complete (nginx's
  ``client_header_timeout``);
- ``body_seconds`` from the end of the headers until the whole body has arrived (stricter
  than nginx's ``client_body_timeout``, which bounds each pause rather than the total).

Either answers ``408`` (unless the app has begun its response) and closes the connection;
the app, if it was waiting for the body, sees the client disconnect.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import structlog
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from balance_manager.runtime.logs import hide_database_values_in
from balance_manager.settings import Settings

log = structlog.get_logger(__name__)


def _timeout_response(message: str) -> bytes:
    body = json.dumps({"error": {"code": "request_timeout", "message": message}}).encode()
    return (
        b"HTTP/1.1 408 Request Timeout\r\n"
        b"content-type: application/json\r\n"
        b"connection: close\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


class TimedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header and body read deadlines (class attributes,
    set by :func:`protocol_with_timeouts`)."""

    header_seconds: float = 10.0
    body_seconds: float = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None

    # -- the deadlines

    def _arm_headers(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_seconds, self._headers_late)

    def _cancel(self) -> None:
        for timer in (self._header_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._header_timer = self._body_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        self._give_up("headers", f"request headers not received within {self.header_seconds} s")

    def _body_late(self) -> None:
        self._body_timer = None
        self._give_up("body", f"request body not received within {self.body_seconds} s")

    def _give_up(self, part: str, message: str) -> None:
        if self.transport.is_closing():
            return
        log.warning("request_read_timeout", part=part, client=self.client and self.client[0])
        cycle = self.cycle
        if cycle is None or not cycle.response_started:
            self.transport.write(_timeout_response(message))
        if cycle is not None:
            # The app must not write after our 408; connection_lost (soon) tells it too.
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()

    # -- uvicorn's protocol and parser callbacks

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_headers()  # a connection that never sends a byte is a slow header too

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_headers()

    def on_headers_complete(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.more_body and self._body_timer is None:
            self._body_timer = self.loop.call_later(self.body_seconds, self._body_late)

    def on_message_complete(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        super().on_message_complete()


def protocol_with_timeouts(header_seconds: float, body_seconds: float) -> type[HttpToolsProtocol]:
    """The protocol class to give uvicorn (``http=``) for these deadlines. The module's own
    class, with its deadlines set, so that ``serve --workers N`` can hand it to the processes
    it spawns (a class made on the fly would not pickle); each process sets the deadlines
    again from its settings (``api.app.create_app_from_env``)."""
    TimedHttpToolsProtocol.header_seconds = header_seconds
    TimedHttpToolsProtocol.body_seconds = body_seconds
    return TimedHttpToolsProtocol


def uvicorn_options(settings: Settings, **options: Any) -> dict[str, Any]:
    """How ``serve`` (and the tests that start a real server) run uvicorn: read deadlines
    (above); our logging — uvicorn's loggers propagate to it, its access log is replaced by
    ours, which never prints a query string — and the app's own proxy-headers handling
    (``FORWARDED_ALLOW_IPS``), which must come after the request-id middleware has seen the
    connecting peer."""
    # uvicorn configures its loggers itself otherwise; its error log must not quote
    # database values either way.
    hide_database_values_in("uvicorn.error")
    return {
        "http": protocol_with_timeouts(
            settings.request_header_timeout_seconds, settings.request_body_timeout_seconds
        ),
        "log_config": None,
        "access_log": False,
        "proxy_headers": False,
        **options,
    }


def uvicorn_config(
    app: Any, settings: Settings, *, host: str, port: int, **options: Any
) -> uvicorn.Config:
    """A server config for ``app`` (the tests that start a real server)."""
    return uvicorn.Config(app, host=host, port=port, **uvicorn_options(settings, **options))
