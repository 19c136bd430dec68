"""``balance-manager demo``: a fresh SQLite database, the original's test user, an operator
key, a customer token and curl lines to paste — no Stripe keys needed."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from pathlib import Path

import typer

from balance_manager.settings import Settings, load_settings

DEMO_USER_ID = "cmd19la3k0000d3bvxl8nch31"  # the original README's test user
DEMO_EMAIL = "demo@example.com"


@dataclass(frozen=True, slots=True)
class DemoCredentials:
    user_id: str
    api_key: str
    customer_token: str


async def prepare(settings: Settings) -> DemoCredentials:
    """Migrate and seed: the test user at -50 with minimum 150 and target 600."""
    from balance_manager.accounts import service as accounts
    from balance_manager.auth import api_keys
    from balance_manager.auth.tokens import TokenSigner
    from balance_manager.store import migrate
    from balance_manager.store.db import create_engine, session_factory

    engine = create_engine(settings.database_url)
    try:
        await migrate.upgrade(engine)
        async with session_factory(engine).begin() as session:
            await accounts.create_user(
                session,
                settings=settings,
                email=DEMO_EMAIL,
                user_id=DEMO_USER_ID,
                minimum_balance=150,
                target_balance=600,
                initial_balance=-50,
            )
            key = await api_keys.create_key(session, name="demo")
    finally:
        await engine.dispose()
    from datetime import timedelta

    token = TokenSigner(settings.signing_secret(), ttl=timedelta(hours=12)).mint(DEMO_USER_ID)
    return DemoCredentials(DEMO_USER_ID, key.secret, token.token)


def banner(base: str, creds: DemoCredentials) -> str:
    u = creds.user_id
    return f"""
Stripe Balance Manager demo — {base}  (API docs: {base}/docs)

  operator API key : {creds.api_key}
  customer token   : {creds.customer_token}
  demo user        : {u}  (balance -50, minimum 150, target 600)

Try:
  export KEY={creds.api_key}
  export TOKEN={creds.customer_token}
  curl {base}/health
  curl -H "Authorization: Bearer $TOKEN" -H "x-user-id: {u}" {base}/api/balance/status/{u}
  curl -H "Authorization: Bearer $TOKEN" {base}/api/balance/config/{u}
  curl -X PUT -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \\
       -d '{{"minimumBalance": 200, "targetBalance": 800, "maxDailyRecharges": 3}}' \\
       {base}/api/balance/config/{u}
  curl -X POST -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \\
       -d '{{"amount": 12.5, "idempotencyKey": "req-1"}}' {base}/api/balance/usage/{u}
  curl -H "Authorization: Bearer $TOKEN" "{base}/api/balance/ledger/{u}?page=1&limit=20"

Press Ctrl+C to stop.
"""


def run_demo(*, port: int, data_dir: Path) -> None:
    import uvicorn

    from balance_manager.api.app import create_app

    data_dir.mkdir(parents=True, exist_ok=True)
    database = data_dir / "demo.db"
    for stale in data_dir.glob("demo.db*"):
        stale.unlink()
    settings = load_settings(
        database_url=f"sqlite+aiosqlite:///{database.resolve()}",
        token_signing_secret=secrets.token_urlsafe(32),
        port=port,
    )
    creds = asyncio.run(prepare(settings))
    typer.echo(banner(f"http://127.0.0.1:{port}", creds))
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
