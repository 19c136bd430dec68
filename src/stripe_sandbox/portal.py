"""The Customer Portal page a billing portal session's ``url`` opens: ``/p/session/{secret}``.

It does what the real portal's payment-method section does: list the customer's cards, add one
(a SetupIntent, with the 3-D Secure page when the card asks for it), remove one, make one the
default (``invoice_settings.default_payment_method``), and link back to ``return_url``.
"""

from __future__ import annotations

import html
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from .control_input import read_body
from .resources import payment_methods, setup_intents
from .runtime import Runtime
from .state import RequestContext
from .wire import JSON, StripeError

STYLE = """body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;color:#1a1f36}
li{display:flex;gap:1rem;align-items:center;padding:.5rem 0;border-bottom:1px solid #e3e8ee}
.default{background:#d7f7c2;border-radius:4px;padding:0 .4rem;font-size:.8rem}
.error{color:#df1b41}.notice{color:#006908}input{margin:.2rem;padding:.3rem}
form.inline{display:inline}"""


def routes(rt: Runtime) -> list[Route]:
    state = rt.state

    def session_for(secret: str) -> JSON | None:
        session_id = state.private.get("_portal_secrets", {}).get(secret)
        return state.get(session_id, "billing_portal.session") if session_id else None

    def back(secret: str, **query: str) -> RedirectResponse:
        suffix = "?" + urlencode(query) if query else ""
        return RedirectResponse(f"/p/session/{secret}{suffix}", status_code=303)

    def ctx_of(request: Request) -> RequestContext:
        return RequestContext(base_url=str(request.base_url).rstrip("/"))

    async def show(request: Request) -> Response:
        secret = request.path_params["secret"]
        session = session_for(secret)
        if session is None:
            return HTMLResponse("<h1>This portal session is invalid or has expired.</h1>", 404)
        with state.lock:
            _after_challenge(request, session)
            customer = state.objects[session["customer"]]
            default = customer["invoice_settings"]["default_payment_method"]
            pms = [
                state.objects[i]
                for i in state.ids_of("payment_method")
                if state.objects[i].get("customer") == customer["id"]
            ]
        items = "".join(_card_item(secret, pm, pm["id"] == default) for pm in pms) or (
            '<li data-testid="no-cards">No payment methods yet.</li>'
        )
        q = request.query_params
        notice = (
            f'<p class="error" role="alert" data-testid="error">{html.escape(q["error"])}</p>'
            if "error" in q
            else ""
        )
        if "notice" in q:
            notice += f'<p class="notice" data-testid="notice">{html.escape(q["notice"])}</p>'
        who = html.escape(customer.get("email") or customer.get("name") or customer["id"])
        ret = session.get("return_url")
        back_link = (
            f'<p><a href="{html.escape(ret)}" data-testid="return">&larr; Return to '
            f"{html.escape(ret)}</a></p>"
            if ret
            else ""
        )
        page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>Billing portal (Stripe sandbox)</title><style>{STYLE}</style></head><body>
{back_link}<h1>Payment methods</h1><p>Signed in as <b data-testid="customer">{who}</b></p>
{notice}<ul data-testid="cards" style="list-style:none;padding:0">{items}</ul>
<h2>Add a card</h2>
<form method="post" action="/p/session/{secret}/cards" data-testid="add-card">
<input name="number" placeholder="Card number" autocomplete="off" required aria-label="Card number">
<input name="exp" placeholder="MM / YY" required aria-label="Expiry" size="7">
<input name="cvc" placeholder="CVC" aria-label="CVC" size="4">
<button type="submit">Add card</button></form>
<p><small>Stripe sandbox — test cards only (e.g. 4242 4242 4242 4242).</small></p>
</body></html>"""
        return HTMLResponse(page)

    def _after_challenge(request: Request, session: JSON) -> None:
        """Back from the 3-D Secure page: a card that just got set up becomes the default."""
        si_id = request.query_params.get("setup_intent")
        si = state.get(si_id, "setup_intent") if si_id else None
        if si is None or si["customer"] != session["customer"] or si["status"] != "succeeded":
            return
        customer = state.objects[session["customer"]]
        if customer["invoice_settings"]["default_payment_method"] is None:
            _set_default(customer, si["payment_method"], ctx_of(request))

    def _set_default(customer: JSON, pm_id: str, ctx: RequestContext) -> None:
        previous = customer["invoice_settings"]["default_payment_method"]
        if previous == pm_id:
            return
        customer["invoice_settings"]["default_payment_method"] = pm_id
        state.touch()
        state.emit(
            "customer.updated",
            customer,
            ctx,
            {"invoice_settings": {"default_payment_method": previous}},
        )

    async def add_card(request: Request) -> Response:
        secret = request.path_params["secret"]
        session = session_for(secret)
        if session is None:
            return HTMLResponse("Invalid session", 404)
        try:
            form = await read_body(request, query_fallback=False)
        except StripeError as err:
            return back(secret, error=err.error["message"])
        number = str(form.get("number", "")).replace(" ", "")
        month, _, year = str(form.get("exp", "")).replace(" ", "").partition("/")
        cvc = str(form.get("cvc", "")) or None
        if not (month.isdigit() and year.isdigit()):
            return back(secret, error="Your card's expiration date is incomplete.")
        ctx = ctx_of(request)
        with state.lock:
            customer = state.objects[session["customer"]]
            try:
                pm = payment_methods.from_card_data(
                    state,
                    {"number": number, "exp_month": int(month), "exp_year": int(year), "cvc": cvc},
                )
            except StripeError as err:
                return back(secret, error=err.error["message"])
            si = setup_intents.new(state, {"customer": customer["id"]}, pm, ["card"], ctx)
            return_url = f"{ctx.base_url}/p/session/{secret}"
            try:
                si = setup_intents.run_confirmation(state, si, pm, ctx, {"return_url": return_url})
            except StripeError as err:
                return back(secret, error=err.error["message"])
            if si["status"] == "requires_action":
                return RedirectResponse(si["next_action"]["redirect_to_url"]["url"], 303)
            if customer["invoice_settings"]["default_payment_method"] is None:
                _set_default(customer, pm["id"], ctx)
        return back(secret, notice=f"Card ending in {pm['card']['last4']} added.")

    def owned_card(request: Request) -> tuple[str, JSON, JSON] | None:
        """(secret, portal session, card) when the card in the path is the session's
        customer's; None otherwise, so one customer's portal never touches another's card."""
        secret = request.path_params["secret"]
        session = session_for(secret)
        pm = state.get(request.path_params["pm"], "payment_method")
        if session is None or pm is None or pm.get("customer") != session["customer"]:
            return None
        return secret, session, pm

    async def detach(request: Request) -> Response:
        owned = owned_card(request)
        if owned is None:
            return HTMLResponse("Not found", 404)
        secret, _session, pm = owned
        with state.lock:
            payment_methods.detach(state, pm, ctx_of(request))
        return back(secret, notice=f"Card ending in {pm['card']['last4']} removed.")

    async def make_default(request: Request) -> Response:
        owned = owned_card(request)
        if owned is None:
            return HTMLResponse("Not found", 404)
        secret, session, pm = owned
        with state.lock:
            _set_default(state.objects[session["customer"]], pm["id"], ctx_of(request))
        return back(secret, notice=f"Card ending in {pm['card']['last4']} is now the default.")

    return [
        Route("/p/session/{secret}", show, methods=["GET"]),
        Route("/p/session/{secret}/cards", add_card, methods=["POST"]),
        Route("/p/session/{secret}/cards/{pm}/detach", detach, methods=["POST"]),
        Route("/p/session/{secret}/cards/{pm}/default", make_default, methods=["POST"]),
    ]


def _card_item(secret: str, pm: JSON, is_default: bool) -> str:
    card = pm["card"]
    label = (
        f"{html.escape(card['brand'].title())} •••• {html.escape(card['last4'])} "
        f"<small>expires {card['exp_month']:02d}/{card['exp_year']}</small>"
    )
    badge = '<span class="default" data-testid="default-badge">Default</span>' if is_default else ""
    base = f"/p/session/{secret}/cards/{pm['id']}"
    make_default = (
        ""
        if is_default
        else (
            f'<form class="inline" method="post" action="{base}/default">'
            f'<button data-testid="make-default">Make default</button></form>'
        )
    )
    return (
        f'<li data-testid="card" data-pm="{pm["id"]}" data-last4="{card["last4"]}">'
        f"<span>{label}</span>{badge}{make_default}"
        f'<form class="inline" method="post" action="{base}/detach">'
        f'<button data-testid="remove">Remove</button></form></li>'
    )
