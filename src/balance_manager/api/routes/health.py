"""Liveness and readiness: 200 when the database answers, 503 when it does not."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from balance_manager import __version__
from balance_manager.api import schemas
from balance_manager.api.auth import Context
from balance_manager.store.db import ping

router = APIRouter(tags=["health"])
_DB_TIMEOUT_SECONDS = 2.0


@router.get(
    "/health", response_model=schemas.HealthOut, responses={503: {"model": schemas.HealthOut}}
)
async def health(ctx: Context) -> JSONResponse:
    try:
        latency = await asyncio.wait_for(ping(ctx.engine), _DB_TIMEOUT_SECONDS)
        database = {"ok": True, "latencyMs": round(latency, 2), "backend": ctx.engine.dialect.name}
        status, code = "ok", 200
    except Exception as exc:  # any failure to reach the database means "not ready"
        database = {"ok": False, "error": type(exc).__name__, "backend": ctx.engine.dialect.name}
        status, code = "degraded", 503
    body = schemas.HealthOut(status=status, version=__version__, database=database)
    return JSONResponse(body.model_dump(mode="json", by_alias=True), status_code=code)
