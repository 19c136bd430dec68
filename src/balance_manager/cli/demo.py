"""``balance-manager demo``: the whole product offline — a fresh SQLite database, the built-in
Stripe sandbox, the service with its embedded worker, and the original's test user with a
saved test card, so the original's example recharge happens within seconds. No keys needed.

With ``balance-manager sandbox``, the only place the product imports ``stripe_sandbox``; it and
the SDK are imported when the demo runs, so that ``--help`` stays fast."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from balance_manager.settings import Settings, load_settings
from balance_manager.web.links import dashboard_url

if TYPE_CHECKING:
    import stripe

DEMO_USER_ID = "cmd19la3k0000d3bvxl8nch31"  # the original README's test user
# Extra users whose cards show the unhappy paths: (id, email, Stripe test card).
DECLINE_USER = ("demo-decline", "decline@example.com", "pm_card_chargeCustomerFail")
SCA_USER = ("demo-3ds", "sca@example.com", "pm_card_authenticationRequired")


@dataclass(frozen=True, slots=True)
class DemoCredentials:
    user_id: str
    api_key: str
    customer_token: str
    # Each demo user's dashboard link (the token rides in the URL fragment).
    dashboard_links: dict[str, str]


async def prepare(settings: Settings, sdk: stripe.StripeClient) -> DemoCredentials:
    """Migrate and seed: the test user at -50 (minimum 150, target 600) with a Visa test card,
    and two users whose cards decline or need authentication."""
    from balance_manager.auth import api_keys
    from balance_manager.auth.tokens import TokenSigner
    from balance_manager.runtime.compose import build_services
    from balance_manager.store import migrate
    from balance_manager.usecases import accounts, cards

    services = build_services(settings)
    gateway = services.gateway
    assert gateway is not None
    seeds = [
        (DEMO_USER_ID, "demo@example.com", "pm_card_visa", -50),
        (*DECLINE_USER, 200),
        (*SCA_USER, 200),
    ]
    try:
        await migrate.upgrade(services.engine)
        async with services.sessions.begin() as session:
            key = await api_keys.create_key(session, name="demo")
            for user_id, email, card, opening in seeds:
                user, _ = await accounts.create_user_in(
                    session,
                    settings,
                    accounts.NewUser(
                        email=email,
                        user_id=user_id,
                        minimum_balance=150,
                        target_balance=600,
                        initial_balance=opening,
                    ),
                )
                customer = await gateway.ensure_customer(user_id=user_id, email=email)
                method = sdk.v1.payment_methods.attach(card, params={"customer": customer})
                await gateway.set_customer_default(
                    customer_id=customer, payment_method_id=method.id
                )
                user.stripe_customer_id = customer
                await session.flush()
                await cards.set_default_in(services, session, user_id, method.id)
    finally:
        await services.aclose()
    signer = TokenSigner(settings.signing_secret(), ttl=timedelta(hours=12))
    tokens = {user_id: signer.mint(user_id).token for user_id, *_ in seeds}
    links = {u: dashboard_url(settings.public_base_url, t) for u, t in tokens.items()}
    return DemoCredentials(DEMO_USER_ID, key.secret, tokens[DEMO_USER_ID], links)


def banner(base: str, sandbox_url: str, creds: DemoCredentials) -> str:
    u = creds.user_id
    decline, sca = DECLINE_USER[0], SCA_USER[0]
    links = "\n".join(f"  {user}: {link}" for user, link in creds.dashboard_links.items())
    return f"""
Stripe Balance Manager demo — {base}  (API docs: {base}/docs)
Stripe sandbox (offline Stripe) — {sandbox_url}

  operator API key : {creds.api_key}
  customer token   : {creds.customer_token}
  demo user        : {u}
                     balance -50, minimum 150, target 600, Visa test card saved:
                     within seconds the worker recharges 650 + fee 18.85 = 668.85 → balance 600

Customer pages (each link signs that customer in for 12 hours; open it in a browser):
{links}

Try:
  export KEY={creds.api_key}
  export TOKEN={creds.customer_token}
  curl {base}/health
  curl -H "Authorization: Bearer $TOKEN" -H "x-user-id: {u}" {base}/api/balance/status/{u}
  curl -H "Authorization: Bearer $TOKEN" "{base}/api/balance/history/{u}?page=1&limit=20"
  curl -X PUT -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \\
       -d '{{"minimumBalance": 200, "targetBalance": 800, "maxDailyRecharges": 3}}' \\
       {base}/api/balance/config/{u}
  # usage that crosses the minimum triggers the next recharge at once:
  curl -X POST -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \\
       -d '{{"amount": 500, "idempotencyKey": "req-1"}}' {base}/api/balance/usage/{u}
  curl -X POST -H "Authorization: Bearer $TOKEN" {base}/api/balance/recharge/{u}

  # a card that declines ({decline}) — failed, backoff, paused after 3:
  curl -X POST -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \\
       -d '{{"amount": 100, "idempotencyKey": "d-1"}}' {base}/api/balance/usage/{decline}
  curl -H "Authorization: Bearer $KEY" {base}/api/balance/history/{decline}

  # a card that needs the customer to authenticate ({sca}) — requires_action:
  curl -X POST -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \\
       -d '{{"amount": 100, "idempotencyKey": "s-1"}}' {base}/api/balance/usage/{sca}
  curl -H "Authorization: Bearer $KEY" {base}/api/balance/history/{sca}
  # then open {sca}'s link above: the dashboard asks the customer to confirm with the bank

Press Ctrl+C to stop.
"""


def demo(
    port: Annotated[int, typer.Option(metavar="PORT", help="Port for the service.")] = 3000,
    data_dir: Annotated[
        Path, typer.Option(metavar="DIR", help="Where the demo's SQLite file lives.")
    ] = Path(".demo"),
) -> None:
    """Run the offline demo.

    The service on a fresh SQLite file, the Stripe sandbox, and the original's test user."""
    run_demo(port=port, data_dir=data_dir)


def run_demo(*, port: int, data_dir: Path) -> None:
    import stripe
    import uvicorn

    from balance_manager.auth.secret_box import new_key
    from balance_manager.runtime.compose import create_app
    from stripe_sandbox import start_background

    data_dir.mkdir(parents=True, exist_ok=True)
    database = data_dir / "demo.db"
    for stale in data_dir.glob("demo.db*"):
        stale.unlink()
    base = f"http://127.0.0.1:{port}"
    with start_background() as sandbox:
        sdk = stripe.StripeClient(sandbox.secret_key, base_addresses={"api": sandbox.base_url})
        endpoint = sdk.v1.webhook_endpoints.create(
            params={"url": f"{base}/api/webhooks/stripe", "enabled_events": ["*"]}
        )
        settings = load_settings(
            database_url=f"sqlite+aiosqlite:///{database.resolve()}",
            token_signing_secret=secrets.token_urlsafe(32),
            port=port,
            public_base_url=base,
            stripe_secret_key=sandbox.secret_key,
            stripe_publishable_key=sandbox.publishable_key,
            stripe_webhook_secret=endpoint.secret,
            stripe_api_base=sandbox.base_url,
            stripe_js_url=f"{sandbox.base_url}/v3/",  # the sandbox's Stripe.js stand-in
            recharge_check_interval=10,
            # Operator webhooks: receivers on this machine are allowed (the demo's only
            # kind), and their secrets are encrypted under a key of this run's own.
            webhook_allowed_networks="127.0.0.0/8",
            secrets_key=new_key(),
        )
        creds = asyncio.run(prepare(settings, sdk))
        typer.echo(banner(base, sandbox.base_url, creds))
        uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
