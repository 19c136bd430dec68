"""Sandbox-only control routes under ``/_sandbox/``: reset, faults, webhooks, clock, logs.

They take JSON or form bodies and need no key: the sandbox is a local test double.

- ``POST /_sandbox/reset`` — forget everything.
- ``GET|POST|DELETE /_sandbox/faults``, ``DELETE /_sandbox/faults/{id}`` — injected faults
  (see ``faults.py``): ``{"kind": "lost_response", "method": "POST",
  "path": "/v1/payment_intents", "count": 1}``.
- ``GET|POST /_sandbox/webhooks/config`` — retry backoff, delay, duplicate, reorder.
- ``GET /_sandbox/webhooks/deliveries?event=&endpoint=`` — the delivery log.
- ``POST /_sandbox/events/{id}/resend`` ``{"endpoint": "we_…"}`` — deliver again now.
- ``POST /_sandbox/webhooks/flush`` — wait until no delivery is in flight.
- ``GET|POST /_sandbox/clock`` ``{"advance": seconds}`` — move the sandbox clock.
- ``GET /_sandbox/requests``, ``GET /_sandbox/requests/{id}`` — the last API requests
  (method, path, status, idempotency key); an error's ``request_log_url`` points here.
- ``GET|POST /_sandbox/account`` ``{"api_version": "2026-10-28.endive"}`` — the account's
  default API version (requests without ``Stripe-Version``, and events, use it).
- ``POST /_sandbox/disputes`` ``{"charge" | "payment_intent", "amount"?, "reason"?}`` — the
  cardholder disputes a succeeded charge; ``POST /_sandbox/disputes/{id}/win|lose`` — the
  issuer decides it (see ``resources/disputes.py``).
- ``POST /_sandbox/refunds/{id}/fail`` ``{"failure_reason"?}`` — the bank returns a refund.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import versions
from .control_input import integer, number, read_body, text
from .resources import disputes, refunds
from .resources._common import require
from .runtime import Runtime
from .wire import JSON, StripeError, invalid_request


def _stripe_error(err: StripeError) -> JSONResponse:
    return JSONResponse(err.body(), status_code=err.status)


def stripe_error_response(request: Request, exc: Exception) -> Response:
    """The app's handler for a ``StripeError`` a control route raises (bad input: 400)."""
    assert isinstance(exc, StripeError)
    return _stripe_error(exc)


def routes(rt: Runtime) -> list[Route]:
    state = rt.state

    def under_lock(action: Callable[[], JSON]) -> Response:
        """Run a state change as the API would: under the lock, errors in Stripe's shape."""
        try:
            with state.lock:
                return JSONResponse(action())
        except StripeError as err:
            return _stripe_error(err)

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True, "objects": len(state.objects)})

    async def reset(request: Request) -> Response:
        state.reset()
        return JSONResponse({"reset": True})

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            fault = state.faults.add(await read_body(request))
            return JSONResponse(fault.as_json())
        if request.method == "DELETE":
            state.faults.clear()
        return JSONResponse({"data": [f.as_json() for f in state.faults.rules]})

    async def fault_delete(request: Request) -> Response:
        ok = state.faults.remove(request.path_params["id"])
        return JSONResponse({"deleted": ok}, status_code=200 if ok else 404)

    async def webhook_config(request: Request) -> Response:
        if request.method == "POST":
            rt.dispatcher.config.update(await read_body(request))
        return JSONResponse(vars(rt.dispatcher.config))

    async def deliveries(request: Request) -> Response:
        q = request.query_params
        return JSONResponse({"data": rt.dispatcher.log(q.get("event"), q.get("endpoint"))})

    async def resend(request: Request) -> Response:
        body = await read_body(request)
        endpoint = body.get("endpoint") or body.get("webhook_endpoint")
        event_id = request.path_params["id"]
        require(state, event_id, "event")
        if endpoint is not None:
            require(state, text(endpoint, "endpoint"), "webhook_endpoint", param="endpoint")
        attempts = await rt.dispatcher.resend(event_id, [endpoint] if endpoint else None)
        return JSONResponse({"data": [a.as_json() for a in attempts]})

    async def flush(request: Request) -> Response:
        body = await read_body(request)
        timeout = number(body.get("timeout", 10), "timeout", minimum=0, maximum=600)
        idle = await rt.dispatcher.idle(timeout)
        return JSONResponse({"idle": idle})

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            body = await read_body(request)
            advance = integer(body.get("advance", 0), "advance")
            with state.lock:
                state.clock_offset += advance
                state.touch()
        return JSONResponse({"now": state.now(), "offset": state.clock_offset})

    async def requests_log(request: Request) -> Response:
        return JSONResponse({"data": list(rt.api.recent)})

    async def request_entry(request: Request) -> Response:
        for entry in rt.api.recent:
            if entry["id"] == request.path_params["id"]:
                return JSONResponse(entry)
        return _stripe_error(
            invalid_request("No such request in the recent log.", param="id", status=404)
        )

    async def account(request: Request) -> Response:
        body = await read_body(request) if request.method == "POST" else {}

        def change() -> JSON:
            if body.get("api_version"):
                version = text(body["api_version"], "api_version")
                state.api_version = versions.check(version, param="api_version")
                state.touch()
            return {"api_version": state.api_version}

        return under_lock(change)

    async def dispute_open(request: Request) -> Response:
        body = await read_body(request)

        def open_() -> JSON:
            if body.get("payment_intent"):
                pi = require(
                    state, text(body["payment_intent"], "payment_intent"), "payment_intent"
                )
                charge_id = pi["latest_charge"] or ""
            else:
                charge_id = text(body.get("charge") or "", "charge")
            if not charge_id:
                raise invalid_request(
                    "One of `charge` or `payment_intent` (with a charge) is required.",
                    param="charge",
                )
            charge = require(state, charge_id, "charge", param="charge")
            return disputes.open_dispute(
                state,
                charge,
                amount=None
                if body.get("amount") in (None, "")
                else integer(body["amount"], "amount"),
                reason=text(body.get("reason") or "fraudulent", "reason"),
            )

        return under_lock(open_)

    async def dispute_decide(request: Request) -> Response:
        dispute_id, outcome = request.path_params["id"], request.path_params["outcome"]
        if outcome not in ("win", "lose"):
            return _stripe_error(
                invalid_request(f"Unknown outcome {outcome!r}: win or lose.", status=404)
            )
        return under_lock(
            lambda: disputes.decide(
                state, require(state, dispute_id, "dispute"), won=outcome == "win", ctx=None
            )
        )

    async def refund_fail(request: Request) -> Response:
        body = await read_body(request)
        reason = text(body.get("failure_reason") or "expired_or_canceled_card", "failure_reason")
        return under_lock(
            lambda: refunds.fail(
                state, require(state, request.path_params["id"], "refund"), reason, None
            )
        )

    return [
        Route("/_sandbox/health", health),
        Route("/_sandbox/reset", reset, methods=["POST"]),
        Route("/_sandbox/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/_sandbox/faults/{id}", fault_delete, methods=["DELETE"]),
        Route("/_sandbox/webhooks/config", webhook_config, methods=["GET", "POST"]),
        Route("/_sandbox/webhooks/deliveries", deliveries),
        Route("/_sandbox/webhooks/flush", flush, methods=["POST"]),
        Route("/_sandbox/events/{id}/resend", resend, methods=["POST"]),
        Route("/_sandbox/clock", clock, methods=["GET", "POST"]),
        Route("/_sandbox/requests", requests_log),
        Route("/_sandbox/requests/{id}", request_entry),
        Route("/_sandbox/account", account, methods=["GET", "POST"]),
        Route("/_sandbox/disputes", dispute_open, methods=["POST"]),
        Route("/_sandbox/disputes/{id}/{outcome}", dispute_decide, methods=["POST"]),
        Route("/_sandbox/refunds/{id}/fail", refund_fail, methods=["POST"]),
    ]
