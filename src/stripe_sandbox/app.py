"""The sandbox as one ASGI app: ``/v1`` (the API), ``/_sandbox`` (control), the portal pages,
the 3-D Secure challenge page and the Stripe.js stand-in at ``/v3/``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from . import challenge, control, portal, stripejs
from .api import ApiApp
from .persistence import StateFile
from .resources import all_routes
from .routing import Router
from .runtime import Runtime
from .state import SandboxState
from .webhooks import WebhookConfig, WebhookDispatcher
from .wire import StripeError


class SandboxApp:
    """``/v1/…`` goes straight to the API pipeline; everything else through Starlette."""

    def __init__(self, runtime: Runtime, web: Starlette) -> None:
        self.runtime = runtime
        self.web = web

    @property
    def state(self) -> SandboxState:
        return self.runtime.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            await self.runtime.api(scope, receive, send)
        else:
            await self.web(scope, receive, send)


def create_app(
    state: SandboxState | None = None,
    *,
    secret_key: str = "sk_test_sandbox",  # noqa: S107 - a test-mode key, not a secret
    publishable_key: str = "pk_test_sandbox",
    state_file: Path | None = None,
    webhook_config: WebhookConfig | None = None,
) -> SandboxApp:
    state = state if state is not None else SandboxState()
    store = StateFile(Path(state_file), state) if state_file is not None else None
    if store is not None:
        store.load()
    api = ApiApp(state, Router(all_routes()))
    dispatcher = WebhookDispatcher(state, config=webhook_config or WebhookConfig())
    runtime = Runtime(state, api, dispatcher, secret_key, publishable_key, store)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await dispatcher.start()
        if store is not None:
            await store.start()
        try:
            yield
        finally:
            await dispatcher.stop()
            if store is not None:
                await store.stop()

    web = Starlette(
        routes=[
            *control.routes(runtime),
            *challenge.routes(runtime),
            *portal.routes(runtime),
            *stripejs.routes(runtime),
        ],
        lifespan=lifespan,
        # Bad input to a control route is the caller's: Stripe's 400, never a 500.
        exception_handlers={StripeError: control.stripe_error_response},
    )
    return SandboxApp(runtime, web)
