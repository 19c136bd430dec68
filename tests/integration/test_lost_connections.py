"""A PostgreSQL session that dies is retried, wherever it dies — even while the pool is still
setting up a new connection, where SQLAlchemy lets asyncpg's bare ``InterfaceError`` out —
and a database that stays out of reach is a 503 the client may retry, never a 500."""

from __future__ import annotations

import contextlib
from typing import Any

import httpx
import pytest
from asyncpg.exceptions import PostgresError
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import await_only

from balance_manager.store.db import RETRIES_ON_DISCONNECT, SessionFactory
from balance_manager.store.models import User
from tests.conftest import UserMaker

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


class SetupKiller:
    """Terminates the next ``left`` new connections on the server right after they open,
    before SQLAlchemy's set-up of them (asyncpg codecs) runs."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.left = 0
        self.killed = 0
        event.listen(engine.sync_engine, "do_connect", self._connect)

    def _connect(self, dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        connection = dialect.connect(*cargs, **cparams)
        if self.left > 0:
            self.left -= 1
            with contextlib.suppress(PostgresError):  # the server says so as it ends the session
                await_only(
                    connection._connection.execute("SELECT pg_terminate_backend(pg_backend_pid())")
                )
            assert connection._connection.is_closed()
            self.killed += 1
        return connection


async def _balance(sessions: SessionFactory, user_id: str) -> int:
    async with sessions.begin() as session:
        user = await session.get(User, user_id)
        assert user is not None
        return user.balance


async def test_sessions_killed_while_opening_are_retried_then_503(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    sessions: SessionFactory,
    make_user: UserMaker,
    operator: dict[str, str],
) -> None:
    user = await make_user(minimum_balance=0, target_balance=100, initial_balance=1000)
    killer = SetupKiller(engine)

    async def debit(key: str) -> httpx.Response:
        await engine.dispose()  # every connection of the next request is a new one
        return await client.post(
            f"/api/balance/usage/{user}",
            json={"amount": "1.00", "idempotencyKey": key},
            headers=operator,
        )

    # As many dead sessions as the use case retries: the request still succeeds, once.
    killer.left = RETRIES_ON_DISCONNECT
    answer = await debit("k1")
    assert answer.status_code == 200, answer.text
    assert killer.killed == RETRIES_ON_DISCONNECT and killer.left == 0
    assert await _balance(sessions, user) == 100_000 - 100  # minor units

    # One more than that: a 503 naming the cause, with Retry-After, and nothing applied.
    killer.left = RETRIES_ON_DISCONNECT + 1
    answer = await debit("k2")
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "database_unavailable"
    assert answer.headers["retry-after"] == "1"
    assert await _balance(sessions, user) == 99_900

    # The client's retry goes through, exactly once.
    assert (await debit("k2")).status_code == 200
    replay = await debit("k2")
    assert replay.status_code == 200 and replay.json()["replayed"] is True
    assert await _balance(sessions, user) == 99_800
