"""The 3-D Secure challenge: ``/_sandbox/authenticate/{intent id}``.

``GET`` shows the issuer's page (Complete / Fail) for redirect flows; ``POST`` with the intent's
``client_secret`` and ``outcome=complete|fail`` finishes it. The Stripe.js stand-in posts here
from its authentication dialog; the page's own form redirects to ``return_url`` with Stripe's
query parameters (``payment_intent``/``setup_intent``, ``…_client_secret``, ``redirect_status``).
"""

from __future__ import annotations

import html
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .control_input import read_body
from .resources import payment_intents, setup_intents
from .runtime import Runtime
from .state import RequestContext
from .wire import JSON, StripeError

CORS = {"Access-Control-Allow-Origin": "*"}


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": "invalid_request_error"}},
        status_code=status,
        headers=CORS,
    )


def redirect_query(intent: JSON) -> str:
    kind = intent["object"]
    status = intent["status"]
    redirect_status = {"succeeded": "succeeded", "processing": "processing"}.get(status, "failed")
    return urlencode(
        {
            kind: intent["id"],
            f"{kind}_client_secret": intent["client_secret"],
            "redirect_status": redirect_status,
        }
    )


def with_query(url: str, query: str) -> str:
    return url + ("&" if "?" in url else "?") + query


def routes(rt: Runtime) -> list[Route]:
    state = rt.state

    def lookup(intent_id: str, secret: str | None) -> JSON | None:
        intent = state.objects.get(intent_id)
        if intent is None or intent["object"] not in ("payment_intent", "setup_intent"):
            return None
        return intent if intent["client_secret"] == secret else None

    async def page(request: Request) -> Response:
        intent_id = request.path_params["id"]
        secret = request.query_params.get("client_secret")
        intent = lookup(intent_id, secret)
        if intent is None:
            return HTMLResponse("<h1>Unknown authentication request</h1>", status_code=404)
        return_url = request.query_params.get("return_url", "")
        amount = (
            f"{intent['amount']} {intent['currency'].upper()} (minor units)"
            if intent["object"] == "payment_intent"
            else "saving your card"
        )
        hidden = (
            f'<input type="hidden" name="client_secret" value="{html.escape(secret or "")}">'
            f'<input type="hidden" name="return_url" value="{html.escape(return_url)}">'
        )
        body = f"""<!doctype html><html><head><meta charset="utf-8">
<title>3D Secure authentication (Stripe sandbox)</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;}}
button{{font-size:1rem;padding:.6rem 1rem;margin:.3rem}}</style></head><body>
<h1>3D Secure test page</h1>
<p>The sandbox's stand-in for the issuer's authentication page: {html.escape(amount)}.</p>
<form method="post">{hidden}
<button name="outcome" value="complete" data-testid="3ds-complete">Complete authentication</button>
<button name="outcome" value="fail" data-testid="3ds-fail">Fail authentication</button>
</form></body></html>"""
        return HTMLResponse(body)

    async def authenticate(request: Request) -> Response:
        intent_id = request.path_params["id"]
        try:
            data = await read_body(request, query_fallback=False)
        except StripeError as err:
            return JSONResponse(err.body(), status_code=err.status, headers=CORS)
        outcome = data.get("outcome")
        if outcome not in ("complete", "fail"):
            return _error("outcome must be complete or fail")
        secret, return_url = data.get("client_secret"), data.get("return_url")
        if not isinstance(secret, str) or not isinstance(return_url, str | None):
            return _error("client_secret and return_url must be strings")
        ctx = RequestContext(base_url=str(request.base_url).rstrip("/"))
        with state.lock:
            intent = lookup(intent_id, secret)
            if intent is None:
                return _error(f"No such intent: '{intent_id}'", 404)
            if intent["status"] != "requires_action":
                return _error(f"This intent does not require action (status: {intent['status']}).")
            finish = (
                payment_intents.authentication_finished
                if intent["object"] == "payment_intent"
                else setup_intents.authentication_finished
            )
            intent = finish(state, intent, outcome == "complete", ctx)
        if return_url:
            return RedirectResponse(with_query(return_url, redirect_query(intent)), 303)
        return JSONResponse(intent, headers=CORS)

    async def preflight(request: Request) -> Response:
        return Response(
            status_code=204,
            headers={
                **CORS,
                "Access-Control-Allow-Methods": "POST, GET, OPTIONS",
                "Access-Control-Allow-Headers": "Content-Type",
            },
        )

    return [
        Route("/_sandbox/authenticate/{id}", page, methods=["GET"]),
        Route("/_sandbox/authenticate/{id}", authenticate, methods=["POST"]),
        Route("/_sandbox/authenticate/{id}", preflight, methods=["OPTIONS"]),
    ]
