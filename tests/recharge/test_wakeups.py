"""A worker in another process is woken by PostgreSQL LISTEN/NOTIFY, not by its poll."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from sqlalchemy import text

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


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_killed_listen_connection_is_re_established_and_still_wakes_the_worker(
    engine_app: Engine, make_user: UserMaker, operator: dict[str, str]
) -> None:
    e = engine_app
    user = await make_user(minimum_balance=150, target_balance=600, initial_balance=200)
    await e.give_card(user)
    # Only NOTIFY can wake this worker: its poll and its sweep are an hour away, longer than
    # any wait below, so a charge that happens at all was woken by a notification.
    worker = e.second_worker(wakeup=Wakeup(), sweep_interval=3600, poll_interval=3600)
    worker.listener.check_seconds = 0.2
    listener = worker.listener
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await _until(lambda: listener.connected and worker.heartbeat.last_pass is not None)
        assert listener.listens == 1
        pid = listener.backend_pid
        passes = worker.heartbeat.last_pass
        async with e.svc.engine.connect() as conn:
            found = (
                await conn.execute(
                    text(
                        "SELECT pid, query FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid = :pid"
                    ),
                    {"pid": pid},
                )
            ).one()
            assert found.query.startswith(("LISTEN", "SELECT 1"))  # its last statement
            killed = await conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        assert killed is True

        # The listener notices, listens on a new connection, and wakes the worker (a
        # notification may have been missed meanwhile); that pass finds nothing to do, and
        # the worker waits again with no wake-up pending.
        await _until(lambda: listener.connected and listener.listens == 2)
        assert listener.backend_pid not in {None, pid}
        await _until(lambda: worker.heartbeat.last_pass != passes and not worker.wakeup.is_set())
        assert await e.records(user) == []

        # Now a debit that opens a recharge NOTIFYs on commit: the worker charges it.
        opened = (await e.usage(user, 250, "u1", operator)).json()["rechargeId"]
        for _ in range(600):
            if [r.status for r in await e.records(user)] == ["succeeded"]:
                break
            await asyncio.sleep(0.1)
        assert [(r.id, r.status) for r in await e.records(user)] == [(opened, "succeeded")]
        assert worker.heartbeat.executed == 1
        assert listener.listens == 2
    finally:
        stop.set()
        worker.wakeup.set()
        await task
    assert listener.connected is False  # stopped: no longer listening


async def _until(check: Callable[[], bool], seconds: float = 60) -> None:
    for _ in range(int(seconds / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")
