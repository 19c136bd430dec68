"""Real processes: a worker killed with SIGKILL between Stripe's charge and our commit, and
two API processes plus two workers sharing one PostgreSQL under load."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from balance_manager.store.models import User
from tests.conftest import TOKEN_SECRET, UserMaker
from tests.recharge.conftest import Engine


def _env(database_url: str, sandbox: Any, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "TOKEN_SIGNING_SECRET": TOKEN_SECRET,
        "STRIPE_SECRET_KEY": sandbox.secret_key,
        "STRIPE_API_BASE": sandbox.base_url,
        "LOG_LEVEL": "warning",
        **extra,
    }


@contextmanager
def _process(args: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "balance_manager", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


async def _until(check: Callable[[], Any], *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def _customer(e: Engine, user: str) -> str:
    async with e.sessions.begin() as session:
        found = await session.get(User, user)
        assert found is not None and found.stripe_customer_id is not None
        return found.stripe_customer_id


async def test_worker_killed_after_the_charge_is_redriven_without_charging_again(
    engine_app: Engine, worked_example_user: str, operator: dict[str, str], database_url: str
) -> None:
    e, user = engine_app, worked_example_user
    await e.usage(user, 50, "u1", operator)
    assert [r.status for r in await e.records(user)] == ["pending"]
    customer = await _customer(e, user)
    # Stripe performs the charge but the answer is lost; the retry (same key) then hangs.
    faults = e.sandbox.state.faults
    faults.add(
        {"kind": "lost_response", "method": "POST", "path": "/v1/payment_intents", "count": 1}
    )
    faults.add(
        {
            "kind": "timeout",
            "method": "POST",
            "path": "/v1/payment_intents",
            "count": 1,
            "seconds": 120,
        }
    )
    env = _env(
        database_url,
        e.sandbox,
        STRIPE_TIMEOUT_SECONDS="90",
        RECHARGE_PROCESSING_TIMEOUT_SECONDS="5",
    )

    with _process(["worker"], env) as first:

        async def charged_and_hanging() -> bool:
            return len(e.payment_intents(customer)) == 1 and not faults.rules

        await _until(charged_and_hanging, seconds=30, what="the charge and the hanging retry")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    assert first.returncode == -signal.SIGKILL
    (stuck,) = await e.records(user)
    assert stuck.status == "processing" and stuck.payment_intent_id is None
    assert await e.credits(user) == 0
    (intent,) = e.payment_intents(customer)
    assert intent.status == "succeeded"  # Stripe has the money; we have not credited it yet

    with _process(["worker"], env):

        async def settled() -> bool:
            return [r.status for r in await e.records(user)] == ["succeeded"]

        await _until(settled, seconds=40, what="the restarted worker to settle the record")
    assert [i.id for i in e.payment_intents(customer)] == [intent.id]  # one charge
    assert await e.credits(user) == 1  # one credit
    assert (await e.records(user))[0].payment_intent_id == intent.id
    assert await e.balance(user) == (60000, 60000)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_api_processes_and_two_workers_never_double_charge(
    engine_app: Engine, make_user: UserMaker, operator: dict[str, str], database_url: str
) -> None:
    e = engine_app
    users = []
    for _ in range(5):
        user = await make_user(
            minimum_balance=150, target_balance=600, initial_balance=200, max_daily_recharges=100
        )
        await e.give_card(user)
        users.append(user)
    env = _env(database_url, e.sandbox, EMBEDDED_WORKER="false", RECHARGE_CHECK_INTERVAL="1")
    ports = [_free_port(), _free_port()]
    with (
        _process(["serve", "--port", str(ports[0])], env),
        _process(["serve", "--port", str(ports[1])], env),
        _process(["worker"], env),
        _process(["worker"], env),
    ):
        apis = [
            # Idle connections expire on our side before uvicorn's 5 s keep-alive closes them:
            # otherwise a request can race the server's close and meet a reset connection.
            httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{p}",
                headers=operator,
                timeout=30,
                limits=httpx.Limits(keepalive_expiry=2),
            )
            for p in ports
        ]

        async def up() -> bool:
            try:
                return all([(await api.get("/health")).status_code == 200 for api in apis])
            except httpx.TransportError:
                return False

        await _until(up, seconds=30, what="both API processes")

        async def debit(i: int) -> int:
            response = await apis[i % 2].post(
                f"/api/balance/usage/{users[i % 5]}", json={"amount": 7, "idempotencyKey": f"d{i}"}
            )
            return response.status_code

        codes = []
        for wave in range(4):  # waves with pauses, so recharges land between them
            codes += await asyncio.gather(*(debit(wave * 100 + i) for i in range(100)))
            await asyncio.sleep(0.5)
        assert codes == [200] * 400

        async def quiet() -> bool:
            for user in users:
                if any(r.status not in {"succeeded", "failed"} for r in await e.records(user)):
                    return False
                if (await e.balance(user))[0] < 15000:
                    return False
            return True

        await _until(quiet, seconds=60, what="all recharges to settle")
        for api in apis:
            await api.aclose()

    total_recharges = 0
    for user in users:
        records = await e.records(user)
        succeeded = [r for r in records if r.status == "succeeded"]
        intents = e.payment_intents(await _customer(e, user))
        assert len(intents) == len(succeeded) == await e.credits(user)
        assert sorted(i.id for i in intents) == sorted(str(r.payment_intent_id) for r in succeeded)
        balance, total = await e.balance(user)
        assert balance == total
        total_recharges += len(succeeded)
    assert total_recharges >= 5  # 80 × 7.00 per user from 200: every user needed topping up
