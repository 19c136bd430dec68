"""The Stripe webhook endpoint the service needs (``balance-manager stripe webhook-setup``):
events in the API version the service is written against (``PINNED_API_VERSION``), exactly the
event types it handles (``stripe_events.HANDLED_EVENT_TYPES``), enabled, one per URL.

:func:`set_up` finds the account's endpoints for the URL and

- creates one when there is none (its signing secret is shown only then);
- otherwise compares the one it keeps with what is needed (:func:`differences`) and, only when
  asked to (``update``), brings it in line: new event types and enabling in place (same
  secret); another API version by a new endpoint (Stripe cannot change an endpoint's version,
  so a new secret) and deleting the old one; and deletes other endpoints for the same URL,
  which would deliver every event twice (once with a secret the service does not have).

No database: only Stripe, through the gateway.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from enum import StrEnum

from balance_manager.payments.gateway import PINNED_API_VERSION, StripeGateway, StripeNotFound
from balance_manager.payments.stripe_objects import WebhookEndpointInfo
from balance_manager.usecases.stripe_events import HANDLED_EVENT_TYPES

DESCRIPTION = "Stripe Balance Manager (balance-manager stripe webhook-setup)"


class Outcome(StrEnum):
    CREATED = "created"  # a new endpoint; ``secret`` is set
    UP_TO_DATE = "up_to_date"
    DIFFERS = "differs"  # reported, nothing changed (no ``update``)
    UPDATED = "updated"  # same endpoint and secret, events and state fixed
    REPLACED = "replaced"  # a new endpoint (new version); ``secret`` is set


@dataclass(frozen=True, slots=True)
class Setup:
    outcome: Outcome
    endpoint: WebhookEndpointInfo
    # What differed (before an update), one short sentence each.
    differences: list[str] = field(default_factory=list)
    secret: str | None = None
    deleted: list[str] = field(default_factory=list)


def differences(endpoint: WebhookEndpointInfo, *, duplicates: int = 0) -> list[str]:
    """How ``endpoint`` differs from what the service needs (empty: it is right)."""
    found: list[str] = []
    if endpoint.api_version != PINNED_API_VERSION:
        version = endpoint.api_version or "none (events come in the account's default version)"
        found.append(f"API version {version}, the service needs {PINNED_API_VERSION}")
    missing = sorted(HANDLED_EVENT_TYPES - endpoint.enabled_events)
    if missing:
        found.append(f"missing event types: {', '.join(missing)}")
    extra = sorted(endpoint.enabled_events - HANDLED_EVENT_TYPES)
    if extra:
        found.append(f"event types the service does not handle: {', '.join(extra)}")
    if not endpoint.enabled:
        found.append("disabled")
    if duplicates:
        found.append(f"{duplicates} more endpoint(s) for the same URL")
    return found


def _keep(endpoints: list[WebhookEndpointInfo]) -> WebhookEndpointInfo:
    """The endpoint to keep among several for one URL: the one needing the least change."""
    return min(endpoints, key=lambda e: (len(differences(e)), e.id))


async def set_up(gateway: StripeGateway, *, url: str, update: bool = False) -> Setup:
    at_url = [e for e in await gateway.list_webhook_endpoints() if e.url == url]
    if not at_url:
        created, secret = await gateway.create_webhook_endpoint(
            url=url, events=HANDLED_EVENT_TYPES, description=DESCRIPTION
        )
        return Setup(Outcome.CREATED, created, secret=secret)

    kept = _keep(at_url)
    others = [e.id for e in at_url if e.id != kept.id]
    found = differences(kept, duplicates=len(others))
    if not found:
        return Setup(Outcome.UP_TO_DATE, kept)
    if not update:
        return Setup(Outcome.DIFFERS, kept, found)

    if kept.api_version != PINNED_API_VERSION:
        replacement, secret = await gateway.create_webhook_endpoint(
            url=url, events=HANDLED_EVENT_TYPES, description=DESCRIPTION
        )
        deleted = await _delete(gateway, [kept.id, *others])
        return Setup(Outcome.REPLACED, replacement, found, secret=secret, deleted=deleted)
    fixed = kept
    if kept.enabled_events != HANDLED_EVENT_TYPES or not kept.enabled:
        fixed = await gateway.update_webhook_endpoint(kept.id, events=HANDLED_EVENT_TYPES)
    deleted = await _delete(gateway, others)
    return Setup(Outcome.UPDATED, fixed, found, deleted=deleted)


async def _delete(gateway: StripeGateway, endpoint_ids: list[str]) -> list[str]:
    for endpoint_id in endpoint_ids:
        # Gone already: deleted meanwhile, or by an earlier attempt of ours.
        with contextlib.suppress(StripeNotFound):
            await gateway.delete_webhook_endpoint(endpoint_id)
    return endpoint_ids
