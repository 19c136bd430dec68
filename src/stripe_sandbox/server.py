"""Running the sandbox: ``run`` (blocking, for the CLI) and ``start_background`` (tests, demo).

with start_background() as sandbox:
    client = stripe.StripeClient(sandbox.secret_key,
                                 base_addresses={"api": sandbox.base_url})
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path
from types import TracebackType

import uvicorn

from .app import SandboxApp, create_app
from .state import SandboxState
from .webhooks import WebhookDispatcher


def run(host: str = "127.0.0.1", port: int = 12111, state_file: Path | None = None) -> None:
    """Serve the sandbox until interrupted (``balance-manager sandbox``)."""
    app = create_app(state_file=state_file)
    uvicorn.run(
        app, host=host, port=port, log_level="info", access_log=False, timeout_graceful_shutdown=3
    )


class RunningSandbox:
    """A sandbox served by uvicorn in a background thread, on a real TCP port."""

    def __init__(
        self,
        app: SandboxApp,
        server: uvicorn.Server,
        thread: threading.Thread,
        host: str,
        port: int,
    ) -> None:
        self.app = app
        self._server = server
        self._thread = thread
        self.host = host
        self.port = port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def secret_key(self) -> str:
        return self.app.runtime.secret_key

    @property
    def publishable_key(self) -> str:
        return self.app.runtime.publishable_key

    @property
    def state(self) -> SandboxState:
        return self.app.runtime.state

    @property
    def webhooks(self) -> WebhookDispatcher:
        return self.app.runtime.dispatcher

    def reset(self) -> None:
        self.state.reset()

    def wait_for_webhooks(self, timeout: float = 10.0) -> bool:
        """Block until no webhook delivery is in flight."""
        loop = self.webhooks.loop
        if loop is None:
            return True
        future = asyncio.run_coroutine_threadsafe(self.webhooks.idle(timeout), loop)
        return future.result(timeout + 1)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> RunningSandbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_background(
    host: str = "127.0.0.1",
    port: int = 0,
    state_file: Path | None = None,
    *,
    app: SandboxApp | None = None,
    startup_timeout: float = 10.0,
) -> RunningSandbox:
    """Start the sandbox in a thread; return once it accepts connections."""
    app = app or create_app(state_file=state_file)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    actual_port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run,
        kwargs={"sockets": [sock]},
        name=f"stripe-sandbox:{actual_port}",
        daemon=True,
    )
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the Stripe sandbox did not start")
        time.sleep(0.01)
    return RunningSandbox(app, server, thread, host, actual_port)
