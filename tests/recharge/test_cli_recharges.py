"""``balance-manager recharges list|show|cancel`` against the Stripe sandbox."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from tests.conftest import TOKEN_SECRET, UserMaker
from tests.recharge.conftest import Engine


async def _cli(e: Engine, *args: str) -> subprocess.CompletedProcess[str]:
    settings = e.svc.settings
    assert settings.stripe_secret_key is not None and settings.stripe_api_base is not None
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "TOKEN_SIGNING_SECRET": TOKEN_SECRET,
        "STRIPE_SECRET_KEY": settings.stripe_secret_key.get_secret_value(),
        "STRIPE_API_BASE": settings.stripe_api_base,
    }
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "balance_manager", "recharges", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


async def test_list_show_and_cancel_a_recharge_waiting_for_the_customer(
    engine_app: Engine, make_user: UserMaker, operator: dict[str, str]
) -> None:
    e = engine_app
    paid = await make_user(minimum_balance=150, target_balance=600, initial_balance=0)
    waiting = await make_user(minimum_balance=150, target_balance=600, initial_balance=0)
    await e.give_card(paid)
    await e.give_card(waiting, "pm_card_authenticationRequired")
    for user in (paid, waiting):
        e.clock.advance(1)
        await e.usage(user, 50, f"{user}-u", operator)
        await e.worker.run_once()
    (done,) = await e.records(paid)
    (record,) = await e.records(waiting)

    listed = await _cli(e, "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [record.id, done.id]  # newest first
    assert "requires_action" in lines[0] and "668.85 USD" in lines[0]
    assert "page 1 of 1, 2 records" in listed.stderr
    only = await _cli(e, "list", "--status", "succeeded")
    assert [line.split()[0] for line in only.stdout.splitlines()] == [done.id]
    bad = await _cli(e, "list", "--status", "lost")
    assert bad.returncode == 1 and "status must be one of" in bad.stderr

    shown = await _cli(e, "show", record.id)
    assert shown.returncode == 0, shown.stderr
    assert f"user          {waiting}" in shown.stdout
    assert "650.00 + fee 18.85 = 668.85 USD" in shown.stdout
    assert "authentication_required" in shown.stdout

    canceled = await _cli(e, "cancel", record.id)
    assert canceled.returncode == 0, canceled.stderr
    assert "status        canceled" in canceled.stdout
    assert "canceled_on_request" in canceled.stdout
    intent = e.stripe.v1.payment_intents.retrieve(str(record.payment_intent_id))
    assert intent.status == "canceled"
    again = await _cli(e, "cancel", record.id)
    assert again.returncode == 1 and "only a recharge in requires_action" in again.stderr
    missing = await _cli(e, "show", "nope")
    assert missing.returncode == 1 and "not found" in missing.stderr
    assert await e.worker.sweep() == 1  # automatic recharges may start again
