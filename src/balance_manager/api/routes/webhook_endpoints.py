"""Operator webhook endpoints: register receivers, read the delivery log, resend. Operator only.

Each route parses, calls one use case, presents.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from balance_manager.api import presenters, schemas
from balance_manager.api.auth import Svc, require_operator
from balance_manager.api.jsonbody import DecimalJSONRoute
from balance_manager.domain.states import DeliveryStatus
from balance_manager.usecases import webhooks

router = APIRouter(
    prefix="/api/webhook-endpoints",
    tags=["webhook endpoints"],
    route_class=DecimalJSONRoute,
    dependencies=[Depends(require_operator)],
)

EndpointId = Annotated[str, Path(alias="endpointId", max_length=64)]
# A BIGINT: larger ids are a 400, never a database error.
DeliveryId = Annotated[int, Path(alias="deliveryId", ge=1, le=2**63 - 1)]
PageNumber = Annotated[int, Query(ge=1, le=1_000_000)]
Limit = Annotated[int, Query(ge=1, le=100)]


@router.post(
    "",
    status_code=201,
    response_model=schemas.CreatedWebhookEndpointOut,
    operation_id="createWebhookEndpoint",
)
async def create_endpoint(
    body: schemas.WebhookEndpointIn, svc: Svc
) -> schemas.CreatedWebhookEndpointOut:
    """Register a receiver. The response carries its signing secret (``whsec_…``), shown only
    this once: verify each delivery's ``webhook-signature`` with it (Standard Webhooks).

    The URL must reach a public address (400 ``webhook_address_refused`` for loopback,
    private, link-local, … ones, unless ``WEBHOOK_ALLOWED_NETWORKS`` allows them; every
    delivery checks again after DNS). 503 ``secrets_key_missing`` without ``SECRETS_KEY``,
    which encrypts the secret at rest."""
    created = await webhooks.create_endpoint(
        svc,
        webhooks.NewEndpoint(
            url=body.url,
            event_types=body.event_types,
            description=body.description,
            enabled=body.enabled,
        ),
    )
    return presenters.created_webhook_endpoint(created)


@router.get("", response_model=schemas.WebhookEndpointsOut, operation_id="listWebhookEndpoints")
async def list_endpoints(
    svc: Svc, page: PageNumber = 1, limit: Limit = 100
) -> schemas.WebhookEndpointsOut:
    found = await webhooks.list_endpoints(svc, page=page, limit=limit)
    return schemas.WebhookEndpointsOut(
        endpoints=[presenters.webhook_endpoint(e) for e in found.items],
        pagination=presenters.pagination(found),
    )


@router.get(
    "/{endpointId}", response_model=schemas.WebhookEndpointOut, operation_id="getWebhookEndpoint"
)
async def get_endpoint(endpoint_id: EndpointId, svc: Svc) -> schemas.WebhookEndpointOut:
    return presenters.webhook_endpoint(await webhooks.get_endpoint(svc, endpoint_id))


@router.patch(
    "/{endpointId}", response_model=schemas.WebhookEndpointOut, operation_id="updateWebhookEndpoint"
)
async def update_endpoint(
    endpoint_id: EndpointId, body: schemas.WebhookEndpointPatchIn, svc: Svc
) -> schemas.WebhookEndpointOut:
    """Change the URL, the event filter (``null``: every type), the description, or enable /
    disable. Enabling an endpoint that was disabled after failing forgets the failures; use
    ``recover`` to send what it missed. A new URL is checked as on creation, and starts on
    probation (one delivery at a time until one succeeds) with no failures."""
    changes = webhooks.EndpointChanges(
        url=body.url,
        event_types=body.event_types,
        all_event_types="event_types" in body.model_fields_set and body.event_types is None,
        description=body.description,
        enabled=body.enabled,
    )
    return presenters.webhook_endpoint(await webhooks.update_endpoint(svc, endpoint_id, changes))


@router.delete("/{endpointId}", status_code=204, operation_id="deleteWebhookEndpoint")
async def delete_endpoint(endpoint_id: EndpointId, svc: Svc) -> Response:
    """Delete the endpoint, its deliveries and their log."""
    await webhooks.delete_endpoint(svc, endpoint_id)
    return Response(status_code=204)


@router.get(
    "/{endpointId}/deliveries",
    response_model=schemas.WebhookDeliveriesOut,
    operation_id="listWebhookDeliveries",
)
async def list_deliveries(
    endpoint_id: EndpointId,
    svc: Svc,
    status: Annotated[DeliveryStatus | None, Query()] = None,
    page: PageNumber = 1,
    limit: Limit = 20,
) -> schemas.WebhookDeliveriesOut:
    """The endpoint's deliveries, newest first (``status``: pending, succeeded, failed)."""
    found = await webhooks.deliveries(svc, endpoint_id, status=status, page=page, limit=limit)
    return schemas.WebhookDeliveriesOut(
        deliveries=[presenters.webhook_delivery(d, t) for d, t in found.items],
        pagination=presenters.pagination(found),
    )


@router.get(
    "/{endpointId}/deliveries/{deliveryId}",
    response_model=schemas.WebhookDeliveryLogOut,
    operation_id="getWebhookDelivery",
)
async def get_delivery(
    endpoint_id: EndpointId, delivery_id: DeliveryId, svc: Svc
) -> schemas.WebhookDeliveryLogOut:
    """A delivery with every attempt: when, status code, latency, error."""
    return presenters.webhook_delivery_log(await webhooks.delivery(svc, endpoint_id, delivery_id))


@router.post(
    "/{endpointId}/resend",
    status_code=202,
    response_model=schemas.ResendOut,
    operation_id="resendWebhookEvent",
)
async def resend(endpoint_id: EndpointId, body: schemas.ResendIn, svc: Svc) -> schemas.ResendOut:
    """Send one event to this endpoint again (the same ``webhook-id``), soon, by the worker."""
    targets = await webhooks.resend(svc, body.event_id, endpoint_id=endpoint_id)
    return schemas.ResendOut(event_id=body.event_id, endpoint_ids=targets)


@router.post(
    "/{endpointId}/recover",
    status_code=202,
    response_model=schemas.RecoverOut,
    operation_id="recoverWebhookDeliveries",
)
async def recover(endpoint_id: EndpointId, body: schemas.RecoverIn, svc: Svc) -> schemas.RecoverOut:
    """Send again everything since ``since`` that this endpoint wants and did not get: failed
    deliveries and the events that came while it was disabled."""
    return schemas.RecoverOut(queued=await webhooks.recover(svc, endpoint_id, since=body.since))
