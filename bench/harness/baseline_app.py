"""The floor for the usage benchmark (not the product): FastAPI + asyncpg, no auth, no logic.

- ``POST /debit/{user_id}`` ``{"amount": 0.01, "idempotencyKey": "…"}`` runs ``DEBIT_SQL``
  (one statement) on a pooled connection and returns the new balance;
- ``POST /const/{user_id}`` returns a constant: the cost of the HTTP stack alone.

Run by ``run_all.py`` as ``uvicorn harness.baseline_app:app --app-dir bench`` with the same
server settings as ``balance-manager serve``; ``BENCH_DATABASE_URL`` (``postgresql://…``) and
``BENCH_POOL_MAX`` (the service's pool size + overflow) configure it. It tunes the garbage
collector as the service does (``balance_manager.runtime.gc_tuning``).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import asyncpg
from fastapi import FastAPI, Request
from pydantic import BaseModel

from balance_manager.runtime.gc_tuning import settle_after_startup
from harness.sql import DEBIT_SQL


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(
        os.environ["BENCH_DATABASE_URL"],
        min_size=1,
        max_size=int(os.environ.get("BENCH_POOL_MAX", "30")),
        # Give idle connections back at once: pgbench runs next in the same database, and
        # PostgreSQL's max_connections is shared with whatever else runs on the machine.
        max_inactive_connection_lifetime=1,
    )
    # The service's own garbage-collector settings, so that the ratio compares the work
    # done per request, not the collector's.
    settle_after_startup()
    try:
        yield
    finally:
        await app.state.pool.close()


app = FastAPI(lifespan=lifespan)


class Usage(BaseModel):
    amount: Decimal
    idempotencyKey: str  # the service's JSON field name


@app.post("/debit/{user_id}")
async def debit(user_id: str, body: Usage, request: Request) -> dict[str, object]:
    async with request.app.state.pool.acquire() as conn:
        balance = await conn.fetchval(
            DEBIT_SQL, user_id, int(body.amount * 100), body.idempotencyKey
        )
    return {"userId": user_id, "balance": balance, "replayed": balance is None}


@app.post("/const/{user_id}")
async def const(user_id: str) -> dict[str, object]:
    return {"userId": user_id, "balance": 0, "replayed": False}


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
