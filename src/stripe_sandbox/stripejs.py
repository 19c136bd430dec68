"""Serves the Stripe.js stand-in (``static/stripe.js``) at ``/v3/`` and ``/js.stripe.com/v3/``."""

from __future__ import annotations

from functools import cache
from importlib import resources

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .runtime import Runtime


@cache
def script() -> bytes:
    return resources.files(__package__).joinpath("static/stripe.js").read_bytes()


def routes(rt: Runtime) -> list[Route]:
    async def serve(request: Request) -> Response:
        return Response(
            script(),
            media_type="application/javascript",
            headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "no-cache"},
        )

    paths = ("/v3", "/v3/", "/js.stripe.com/v3", "/js.stripe.com/v3/")
    return [Route(path, serve) for path in paths]
