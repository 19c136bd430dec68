"""``/health`` is liveness (no I/O); ``/health/ready`` is readiness: 503 with the reasons when
the worker stops heartbeating, when the database goes away, when the sweep or the queue
stalls, when Stripe cannot be reached — and 200 again when they come back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from balance_manager.runtime.compose import create_app
from balance_manager.runtime.worker import Worker
from balance_manager.settings import Settings, load_settings
from balance_manager.store import migrate
from balance_manager.store.db import create_engine
from tests._support import database_name, database_of, with_database
from tests.conftest import POSTGRES_ADMIN_URL, TOKEN_SECRET, UserMaker, free_port
from tests.recharge.conftest import Engine


async def _ready(client: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
    response = await client.get("/health/ready")
    return response.status_code, response.json()


async def _until(
    client: httpx.AsyncClient,
    accept: Callable[[int, dict[str, Any]], bool],
    what: str,
    seconds: float = 60,
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    code, body = await _ready(client)
    while not accept(code, body):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {code} {body}")
        await asyncio.sleep(0.05)
        code, body = await _ready(client)
    return body


def _reasons(*expected: str) -> Callable[[int, dict[str, Any]], bool]:
    def accept(code: int, body: dict[str, Any]) -> bool:
        if not expected:
            return code == 200 and body["status"] == "ready" and body["reasons"] == []
        return code == 503 and body["status"] == "not_ready" and body["reasons"] == list(expected)

    return accept


class Running:
    """A worker task on the app's services, beating every 50 ms."""

    def __init__(self, e: Engine) -> None:
        self.worker = Worker(e.svc, sweep_interval=300, poll_interval=0.05, heartbeat_interval=0.05)
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(self.worker.run(self.stop))

    async def stop_cleanly(self) -> None:
        self.stop.set()
        self.worker.wakeup.set()
        await asyncio.wait_for(self.task, 30)

    async def crash(self) -> None:
        """Die without a word (as a killed process would): no 'stopped' mark."""
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def test_liveness_answers_without_the_database() -> None:
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    settings = load_settings(
        database_url="postgresql://postgres@127.0.0.1:1/none",
        token_signing_secret=TOKEN_SECRET,
        _env_file=None,
    )
    app = create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        live = await c.get("/health")
        code, body = await _ready(c)
    assert live.status_code == 200 and live.json()["status"] == "ok" and live.json()["version"]
    assert code == 503 and body["reasons"] == ["database_unreachable"]
    assert body["database"]["ok"] is False and body["workers"] is None


async def test_ready_follows_the_worker_heartbeat_and_the_sweep(
    engine_app: Engine, backend: str
) -> None:
    e = engine_app
    body = await _until(e.client, _reasons("no_live_worker"), "no worker yet")
    assert body["workers"] == {
        "ok": False,
        "required": True,
        "alive": 0,
        "staleAfterSeconds": 60,
        "lastHeartbeatAgeSeconds": None,
    }
    assert body["database"]["ok"] is True and body["database"]["backend"] == backend
    assert body["stripe"]["ok"] is True and body["stripe"]["configured"] is True

    first = Running(e)
    body = await _until(e.client, _reasons(), "a live worker")
    assert body["workers"]["alive"] == 1 and body["sweep"]["ok"] is True
    assert body["sweep"]["lastSweepAgeSeconds"] is not None
    assert body["queue"] == {
        "ok": True,
        "pending": 0,
        "due": 0,
        "processing": 0,
        "oldestDueAgeSeconds": None,
        "maxAgeSeconds": 300,
    }
    await first.stop_cleanly()  # a clean stop counts at once
    await _until(e.client, _reasons("no_live_worker"), "the stopped worker to count as gone")

    second = Running(e)
    await _until(e.client, _reasons(), "a live worker again")
    await second.crash()
    code, _ = await _ready(e.client)
    assert code == 200  # its last beat is still fresh
    e.clock.advance(61)  # past HEALTH_WORKER_STALE_SECONDS with no beat
    await _until(e.client, _reasons("worker_heartbeat_stale"), "the silent worker to go stale")

    third = Running(e)
    await _until(e.client, _reasons(), "a new worker")
    # The worker keeps beating but has not swept for twice the interval (+ the allowance).
    e.clock.advance(2 * 300 + 60 + 1)
    await _until(e.client, _reasons("sweep_late"), "the sweep to be late")
    await third.stop_cleanly()


async def test_a_due_recharge_left_waiting_makes_the_service_not_ready(
    engine_app: Engine, worked_example_user: str, operator: dict[str, str]
) -> None:
    e = engine_app
    heartbeat_only = Worker(e.svc, sweep_interval=10**6)
    await heartbeat_only.beat(swept=True)  # alive, but charging nothing
    assert (await e.usage(worked_example_user, 50, "u1", operator)).status_code == 200
    e.clock.advance(301)
    await heartbeat_only.beat(swept=True)
    body = await _until(e.client, _reasons("queue_stalled"), "the queue to stall")
    assert body["queue"]["pending"] == 1 and body["queue"]["oldestDueAgeSeconds"] >= 301


async def test_stripe_unreachable_makes_the_service_not_ready(
    stripe_settings: Settings, engine: Any
) -> None:
    settings = stripe_settings.model_copy(
        update={"stripe_api_base": f"http://127.0.0.1:{free_port()}", "stripe_max_retries": 0}
    )
    app = create_app(settings, engine=engine, embedded_worker=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        code, body = await _ready(c)
    assert code == 503 and "stripe_unreachable" in body["reasons"]
    assert body["stripe"]["ok"] is False and body["stripe"]["error"] == "stripe_unreachable"


@pytest.fixture
async def own_database(postgres_url: str | None) -> AsyncIterator[str]:
    """A PostgreSQL database of this test's own, which the test takes away and gives back."""
    if postgres_url is None:
        pytest.skip("PostgreSQL not reachable")
    name = database_name("health")
    admin = create_engine(POSTGRES_ADMIN_URL)

    async def run(statement: str) -> None:
        async with admin.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(statement))

    await run(f'CREATE DATABASE "{name}"')
    url = with_database(POSTGRES_ADMIN_URL, name)
    await migrate.upgrade_database(url)
    try:
        yield url
    finally:
        await run(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        await run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.dispose()


async def _admin(statement: str) -> None:
    admin = create_engine(POSTGRES_ADMIN_URL)
    try:
        async with admin.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(statement))
    finally:
        await admin.dispose()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_ready_when_the_database_goes_away_and_comes_back(
    stripe_settings: Settings, own_database: str, make_user: UserMaker
) -> None:
    """The app with its embedded worker (and its LISTEN connection) on a database whose
    connections are then refused and killed, then allowed again."""
    name = database_of(own_database)
    settings = stripe_settings.model_copy(update={"database_url": own_database})
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        body = await _until(client, _reasons(), "the embedded worker's first beat")
        assert body["listen"] == {"ok": True, "connected": True}

        await _admin(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        # The name is ours (<prefix>bm_health_<hex>).
        kill = f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"  # noqa: S608
        await _admin(kill)
        body = await _until(
            client,
            lambda code, b: (
                code == 503
                and b["reasons"] == ["database_unreachable"]
                and b["warnings"] == ["listen_disconnected"]
            ),
            "the database to be gone",
        )
        assert body["database"]["ok"] is False
        assert (await client.get("/health")).status_code == 200  # alive all the same

        await _admin(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        body = await _until(
            client,
            lambda code, b: _reasons()(code, b) and b["warnings"] == [],
            "the database and LISTEN to be back",
        )
        assert body["listen"]["connected"] is True
