"""``GET /metrics``: Prometheus, with an operator key (only when ``METRICS_PORT`` is unset;
otherwise the metrics have a listener of their own)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from balance_manager.api.auth import Operator, Svc
from balance_manager.telemetry import exposition
from balance_manager.usecases import metrics

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    operation_id="getMetrics",
    response_class=Response,
    responses={200: {"content": {exposition.CONTENT_TYPE: {}}}},
)
async def scrape(svc: Svc, _operator: Operator) -> Response:
    return Response(
        exposition.render(await metrics.collect(svc)), media_type=exposition.CONTENT_TYPE
    )
