"""A worker in another process is woken by PostgreSQL LISTEN/NOTIFY, not by its poll."""

from __future__ import annotations

import asyncio
import time

import pytest

from balance_manager.store.wakeups import Wakeup
from tests.conftest import UserMaker
from tests.recharge.conftest import Engine


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_notify_wakes_a_listening_worker_at_once(
    engine_app: Engine, make_user: UserMaker, operator: dict[str, str]
) -> None:
    e = engine_app
    user = await make_user(minimum_balance=150, target_balance=600, initial_balance=200)
    await e.give_card(user)
    # Its own Wakeup: only NOTIFY can reach it; its poll would take 60 s.
    listener = e.second_worker(wakeup=Wakeup(), sweep_interval=3600, poll_interval=60)
    stop = asyncio.Event()
    task = asyncio.create_task(listener.run(stop))
    await asyncio.sleep(0.5)  # it has swept, found nothing, and is waiting
    started = time.monotonic()
    await e.usage(user, 250, "u1", operator)  # opens the recharge and NOTIFYs on commit
    while time.monotonic() - started < 10:
        if [r.status for r in await e.records(user)] == ["succeeded"]:
            break
        await asyncio.sleep(0.05)
    elapsed = time.monotonic() - started
    stop.set()
    listener.wakeup.set()
    await task
    assert [r.status for r in await e.records(user)] == ["succeeded"]
    assert elapsed < 5, f"took {elapsed:.1f} s: the worker was not woken by NOTIFY"
