"""``GET /health``: liveness (the process answers; no I/O). ``GET /health/ready``:
readiness — database, workers and sweep, queue, outbox, LISTEN, Stripe — 503 with the
reasons when the service cannot do its job (see ``usecases.health``)."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic.alias_generators import to_camel

from balance_manager import __version__
from balance_manager.api import schemas
from balance_manager.api.auth import Context
from balance_manager.usecases import health as checks

router = APIRouter(tags=["health"])


@router.get("/health", response_model=schemas.HealthOut, operation_id="getHealth")
async def health() -> schemas.HealthOut:
    return schemas.HealthOut(status="ok", version=__version__)


def _camel(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {to_camel(f.name): _camel(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


@router.get(
    "/health/ready",
    operation_id="getReadiness",
    response_model=schemas.ReadyOut,
    responses={503: {"model": schemas.ReadyOut}},
)
async def ready(ctx: Context) -> JSONResponse:
    listening = ctx.background.listening if ctx.background is not None else None
    result = await checks.readiness(ctx.services, listening=listening)
    body = {
        "status": "ready" if result.ready else "not_ready",
        "version": __version__,
        **{k: v for k, v in _camel(result).items() if k != "ready"},
    }
    return JSONResponse(body, status_code=200 if result.ready else 503)
