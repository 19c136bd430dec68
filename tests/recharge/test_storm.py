"""Concurrency: debits, a manual recharge, sweeps and several workers at the same moment.
Never two charges for one need; the daily limit and the cap hold under the storm."""

from __future__ import annotations

import asyncio

from balance_manager.runtime.worker import Worker
from balance_manager.store.models import User
from tests.conftest import UserMaker
from tests.recharge.conftest import Engine


async def _customer(e: Engine, user: str) -> str:
    async with e.sessions.begin() as session:
        found = await session.get(User, user)
        assert found is not None and found.stripe_customer_id is not None
        return found.stripe_customer_id


async def test_100_debits_a_manual_recharge_and_a_sweep_at_once_charge_once(
    engine_app: Engine, make_user: UserMaker, operator: dict[str, str]
) -> None:
    e = engine_app
    user = await make_user(
        minimum_balance=150, target_balance=600, initial_balance=160, max_daily_recharges=1
    )
    await e.give_card(user)
    other = e.second_worker()

    jobs = [e.usage(user, 1, f"d{i}", operator) for i in range(100)]
    jobs.append(e.client.post(f"/api/balance/recharge/{user}", headers=operator))
    jobs += [e.worker.sweep(), other.sweep(), e.worker.run_once(), other.run_once()]
    results = await asyncio.gather(*jobs)
    assert all(r.status_code == 200 for r in results[:100])
    assert results[100].status_code in {200, 409}  # the manual one, or refused: one is in flight
    while await e.worker.run_once() or await other.run_once():
        pass

    intents = e.payment_intents(await _customer(e, user))
    records = await e.records(user)
    assert len(intents) == 1 and intents[0].status == "succeeded"
    assert [r.status for r in records] == ["succeeded"]
    assert records[0].payment_intent_id == intents[0].id
    assert await e.credits(user) == 1
    balance, total = await e.balance(user)
    assert balance == total
    assert await e.worker.sweep() == 0  # the daily limit holds even though usage went on
    status = (await e.client.get(f"/api/balance/status/{user}", headers=operator)).json()
    assert status["rechargeBlockedReason"] == "daily_limit_reached"


async def test_storm_never_exceeds_the_daily_limit_or_the_cap(
    engine_app: Engine, make_user: UserMaker, operator: dict[str, str]
) -> None:
    e = engine_app
    user = await make_user(
        minimum_balance=150,
        target_balance=600,
        initial_balance=200,
        max_daily_recharges=3,
        max_recharge_amount=300,
    )
    await e.give_card(user)
    workers = [e.worker, e.second_worker()]
    stop = asyncio.Event()

    async def keep_working(worker: Worker) -> None:
        while not stop.is_set():
            await worker.run_once()
            await worker.sweep()
            await asyncio.sleep(0.01)

    loops = [asyncio.create_task(keep_working(w)) for w in workers]
    debits = await asyncio.gather(*(e.usage(user, 2, f"d{i}", operator) for i in range(300)))
    stop.set()
    await asyncio.gather(*loops)
    while await e.worker.run_once():
        pass
    assert all(r.status_code == 200 for r in debits)

    records = await e.records(user)
    charged = [
        r for r in records if r.status in {"succeeded", "pending", "processing", "requires_action"}
    ]
    assert 0 < len(charged) <= 3
    assert all(r.amount <= 30000 for r in records)
    intents = e.payment_intents(await _customer(e, user))
    assert (
        len(intents)
        == len([r for r in records if r.status == "succeeded"])
        == await e.credits(user)
    )
    assert sorted(i.id for i in intents) == sorted(
        str(r.payment_intent_id) for r in records if r.status == "succeeded"
    )
    balance, total = await e.balance(user)
    assert balance == total
