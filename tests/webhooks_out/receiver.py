"""A real HTTP server that plays the operator's webhook receiver.

It answers each request as its script says — a status code, or ``HANG`` (hold the request
without answering until :meth:`Receiver.release`) — then 200 once the script runs out, and
records every request it got with what it answered.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from standardwebhooks import Webhook

HANG = "hang"


@dataclass
class Request:
    body: bytes
    headers: dict[str, str]
    answer: int | str  # the status sent, or HANG
    path: str = "/"
    received_at: float = field(default_factory=time.time)  # when its body had arrived

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def ok(self) -> bool:
        return self.answer == 200


@dataclass
class Receiver:
    script: list[int | str] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _released: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hooks"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver._lock:
                    answer = receiver.script.pop(0) if receiver.script else 200
                    receiver.requests.append(Request(body, headers, answer, self.path))
                if answer == HANG:
                    receiver._released.wait(120)
                    status = 200
                else:
                    status = int(answer)
                try:
                    self.send_response(status)
                    self.send_header("content-length", "0")
                    self.end_headers()
                except OSError:  # the sender gave up on a hung request
                    pass

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def release(self) -> None:
        """Let every hung request (and any later one scripted to hang) answer 200."""
        self._released.set()

    def got(self) -> list[Request]:
        with self._lock:
            return list(self.requests)

    def ok_ids(self) -> list[str]:
        return [r.id for r in self.got() if r.ok]

    def verified(self, secret: str) -> list[dict[str, Any]]:
        """Every request's payload, each signature verified with the standardwebhooks library
        (raises WebhookVerificationError on a bad one)."""
        hook = Webhook(secret)
        return [hook.verify(r.body, r.headers) for r in self.got()]

    def stop(self) -> None:
        self._released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


async def until(condition: Callable[[], Any], *, within: float = 60.0, what: str = "") -> None:
    """Wait (without blocking the loop) until ``condition()`` is true; fail after ``within``
    seconds, which is generous: tests never assert how fast something happens, only that it
    does."""
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        await asyncio.sleep(0.02)


def counts(ids: Iterable[str]) -> dict[str, int]:
    seen: dict[str, int] = {}
    for i in ids:
        seen[i] = seen.get(i, 0) + 1
    return seen
