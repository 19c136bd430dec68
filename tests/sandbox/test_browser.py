"""The portal page and the Stripe.js stand-in, in real Chromium (kept few and fast)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import stripe

from stripe_sandbox import RunningSandbox
from tests._support import unavailable

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        unavailable(f"Chromium not installed at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover
        unavailable("playwright is not installed")
    with sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        except Exception as exc:  # the binary exists but cannot start here
            unavailable(f"Chromium cannot start: {exc}")
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    pg = context.new_page()
    pg.set_default_timeout(5000)
    yield pg
    context.close()


@pytest.fixture
def shop(sandbox: RunningSandbox) -> Iterator[str]:
    """A merchant page on another origin that loads Stripe.js from the sandbox."""
    html = f"""<!doctype html><html><body><h1>Shop</h1><div id="element"></div>
<script src="{sandbox.base_url}/v3/"></script>
<script>window.stripe = Stripe("{sandbox.publishable_key}"); window.result = null;
window.events = [];</script></body></html>""".encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _fill(page: Any, number: str) -> None:
    page.fill("[data-testid=card-number]", number)
    page.fill("[data-testid=card-expiry]", "12 / 34")
    page.fill("[data-testid=card-cvc]", "123")


def _mount(page: Any, client_secret: str) -> None:
    page.evaluate(
        """secret => {
      const elements = stripe.elements({clientSecret: secret,
                                        appearance: {variables: {colorPrimary: '#635bff'}}});
      const el = elements.create('payment');
      el.on('ready', () => events.push('ready'));
      el.on('change', e => events.push(e.complete ? 'complete' : 'change'));
      el.mount('#element');
      window.elements = elements;
    }""",
        client_secret,
    )
    page.wait_for_function("events.includes('ready')")


def _start(page: Any, js: str, arg: Any = None) -> None:
    page.evaluate(
        "([js, arg]) => { window.result = null; "
        "(new Function('arg', 'return ' + js))(arg).then(r => { window.result = r; }); }",
        [js, arg],
    )


def _result(page: Any) -> Any:
    page.wait_for_function("window.result !== null")
    return page.evaluate("window.result")


def test_payment_element_confirm_setup_with_3ds_and_decline(
    page: Any,
    shop: str,
    stripe_client: stripe.StripeClient,
) -> None:
    customer = stripe_client.v1.customers.create()
    si = stripe_client.v1.setup_intents.create(
        params={"customer": customer.id, "usage": "off_session"}
    )
    page.goto(shop)
    _mount(page, str(si.client_secret))
    _fill(page, "4000 0000 0000 0002")
    assert "complete" in page.evaluate("events")
    _start(
        page,
        "stripe.confirmSetup({elements, redirect: 'if_required', "
        "confirmParams: {return_url: location.href}})",
    )
    declined = _result(page)
    assert declined["error"]["decline_code"] == "generic_decline"
    assert declined["error"]["setup_intent"]["status"] == "requires_payment_method"

    _fill(page, "4000 0027 6000 3184")
    _start(
        page,
        "stripe.confirmSetup({elements, redirect: 'if_required', "
        "confirmParams: {return_url: location.href}})",
    )
    page.click("[data-testid='3ds-complete']")
    ok = _result(page)
    assert ok["setupIntent"]["status"] == "succeeded"
    cards = stripe_client.v1.customers.payment_methods.list(customer.id).data
    assert [c.card.last4 for c in cards if c.card] == ["3184"]


def test_confirm_setup_redirects_like_stripe(
    page: Any, shop: str, stripe_client: stripe.StripeClient
) -> None:
    si = stripe_client.v1.setup_intents.create()
    page.goto(shop)
    _mount(page, str(si.client_secret))
    _fill(page, "4242424242424242")
    _start(
        page,
        "stripe.confirmSetup({elements, confirmParams: "
        "{return_url: location.origin + '/done?x=1'}})",
    )
    page.wait_for_url("**/done?**")
    url = page.url
    assert f"setup_intent={si.id}" in url and "redirect_status=succeeded" in url
    assert "setup_intent_client_secret=" in url and "x=1" in url
    _start(page, "stripe.retrieveSetupIntent(arg)", si.client_secret)
    assert _result(page)["setupIntent"]["status"] == "succeeded"


def test_customer_completes_an_off_session_payment_that_needed_authentication(
    page: Any,
    shop: str,
    stripe_client: stripe.StripeClient,
    sandbox: RunningSandbox,
) -> None:
    from .helpers import NO_REDIRECTS, saved_card

    customer, pm = saved_card(stripe_client, sandbox, "pm_card_authenticationRequired")
    with pytest.raises(stripe.CardError) as info:
        stripe_client.v1.payment_intents.create(
            params={
                "amount": 66885,
                "currency": "usd",
                "customer": customer,
                "payment_method": pm,
                "confirm": True,
                "off_session": True,
                "automatic_payment_methods": NO_REDIRECTS,
            }
        )
    assert info.value.error.payment_intent is not None
    secret = info.value.error.payment_intent.client_secret
    page.goto(shop)
    _start(page, f"stripe.confirmCardPayment(arg, {{payment_method: '{pm}'}})", secret)
    page.click("[data-testid='3ds-fail']")
    assert _result(page)["error"]["code"] == "payment_intent_authentication_failure"
    _start(
        page,
        f"stripe.confirmCardPayment(arg, {{payment_method: '{pm}'}}, {{handleActions: false}})",
        secret,
    )
    pending = _result(page)
    assert pending["paymentIntent"]["status"] == "requires_action"
    _start(page, "stripe.handleNextAction({clientSecret: arg})", secret)
    page.click("[data-testid='3ds-complete']")
    assert _result(page)["paymentIntent"]["status"] == "succeeded"
    assert (
        stripe_client.v1.payment_intents.retrieve(info.value.error.payment_intent.id).status
        == "succeeded"
    )


def test_billing_portal_manages_cards(
    page: Any, shop: str, stripe_client: stripe.StripeClient
) -> None:
    customer = stripe_client.v1.customers.create(params={"email": "portal@x.io"})
    session = stripe_client.v1.billing_portal.sessions.create(
        params={"customer": customer.id, "return_url": shop + "/account"}
    )
    assert isinstance(session, stripe.billing_portal.Session)
    assert session.id.startswith("bps_") and session.return_url == shop + "/account"
    page.goto(session.url)
    assert page.text_content("[data-testid=customer]") == "portal@x.io"

    def add(number: str) -> None:
        page.fill("input[name=number]", number)
        page.fill("input[name=exp]", "12/34")
        page.fill("input[name=cvc]", "123")
        page.click("[data-testid=add-card] button")

    add("4242 4242 4242 4242")
    assert page.locator("[data-testid=card]").count() == 1
    assert page.locator("[data-testid=default-badge]").count() == 1
    add("5555555555554444")
    add("4000000000000002")
    assert "declined" in (page.text_content("[data-testid=error]") or "")
    add("4000002500003155")
    page.click("[data-testid='3ds-complete']")
    assert page.locator("[data-testid=card]").count() == 3

    page.click("[data-testid=card][data-last4='4444'] [data-testid=make-default]")
    c = stripe_client.v1.customers.retrieve(
        customer.id, params={"expand": ["invoice_settings.default_payment_method"]}
    )
    default = c.invoice_settings.default_payment_method
    assert isinstance(default, stripe.PaymentMethod) and default.card is not None
    assert default.card.last4 == "4444"
    page.click("[data-testid=card][data-last4='4242'] [data-testid=remove]")
    last4s = sorted(
        page.locator("[data-testid=card]").evaluate_all("els => els.map(e => e.dataset.last4)")
    )
    assert last4s == ["3155", "4444"]
    page.click("[data-testid=return]")
    page.wait_for_url(shop + "/account")
