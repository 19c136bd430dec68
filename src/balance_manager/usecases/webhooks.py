"""Operator webhooks: endpoints, and the delivery of the outbox to them (the outbox's consumer).

The story of one event, after the transaction that caused it wrote it to ``outbox_events``:

1. **Fan out** (:func:`fan_out`) — in a short transaction, one ``pending`` delivery per
   enabled endpoint whose filter wants the event (unique per event and endpoint), and the
   event is marked dispatched. ``SKIP LOCKED``: several workers never fan out one event twice.
2. **Claim** (:func:`claim`) — in a short transaction, read each endpoint's oldest due
   deliveries, pick fairly between endpoints (``domain.webhooks.pick_fairly``: turns, a share
   per endpoint, half the slots at most for endpoints on probation), lock the picked ones
   (``SKIP LOCKED``), count the attempt and lease them to this worker; commit.
3. **Send** (:func:`deliver`) — outside any transaction: decrypt the endpoint's secret
   (``SECRETS_KEY``), sign (Standard Webhooks) and POST with a timeout, connecting only to
   addresses ``WEBHOOK_ALLOWED_NETWORKS``' rule allows (``domain.addresses``), checked after
   resolving the name at every attempt. A slow or dead receiver holds no lock and no
   connection of the database; whatever fails is a failed attempt, recorded.
4. **Record** — in another short transaction: the attempt in the delivery log; the delivery
   delivered, or scheduled again (exponential backoff), or given up; the endpoint healthy,
   or failing — and disabled, with a ``webhook_endpoint.disabled`` event, once it has failed
   for ``WEBHOOK_DISABLE_AFTER_SECONDS``.

At least once: a worker that dies mid-POST leaves the delivery leased; when the lease ends
another worker sends it again with the same ``webhook-id``, which receivers deduplicate on.
Nothing here runs in a recharge's transaction, and recharges never wait for it.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from balance_manager.auth.secret_box import CLEAR, MAKE_A_KEY, SecretBox, SecretsKeyError
from balance_manager.domain import events, ids
from balance_manager.domain import webhooks as rules
from balance_manager.domain.errors import (
    Conflict,
    InvalidInput,
    NotConfigured,
    NotFound,
    Unprocessable,
)
from balance_manager.domain.states import DeliveryStatus
from balance_manager.senders import network
from balance_manager.senders.webhook import MAX_ERROR_LENGTH, Sender, Sent, UnusableURL, parse_url
from balance_manager.settings import ConfigError, Settings
from balance_manager.store import outbox
from balance_manager.store import webhooks as store
from balance_manager.store.models import (
    OutboxEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from balance_manager.store.paging import Page
from balance_manager.telemetry import metrics
from balance_manager.usecases.services import Services

log = structlog.get_logger(__name__)

FAN_OUT_BATCH = 500
OPERATOR_DISABLED = "disabled by the operator"
RESOLVE_SECONDS = 5.0  # how long registering an endpoint waits for its name's addresses


def delivery_shares(settings: Settings) -> rules.Shares:
    return rules.Shares(
        slots=settings.webhook_concurrency, per_endpoint=settings.webhook_endpoint_concurrency
    )


def secret_box(settings: Settings) -> SecretBox:
    key = settings.secrets_key
    return _box(None if key is None else key.get_secret_value())


@functools.lru_cache(maxsize=4)
def _box(keys: str | None) -> SecretBox:
    return SecretBox(keys)


def delivery_rules(settings: Settings) -> rules.DeliveryRules:
    return rules.DeliveryRules(
        timeout=settings.webhook_timeout_seconds,
        base_delay=settings.webhook_retry_base_seconds,
        max_delay=settings.webhook_retry_max_delay_seconds,
        retry_period=settings.webhook_retry_period_seconds,
        disable_after=settings.webhook_disable_after_seconds,
    )


# --------------------------------------------------------------------- endpoints


@dataclass(frozen=True, slots=True)
class NewEndpoint:
    url: str
    event_types: Sequence[str] | None = None  # None: every type
    description: str | None = None
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class CreatedEndpoint:
    endpoint: WebhookEndpoint
    secret: str  # the only time it is shown


@dataclass(frozen=True, slots=True)
class EndpointChanges:
    """A partial update; None means "leave as is"."""

    url: str | None = None
    event_types: Sequence[str] | None = None
    all_event_types: bool = False  # the filter was sent as null: every type
    description: str | None = None
    enabled: bool | None = None


def _invalid(exc: rules.InvalidEndpoint) -> InvalidInput:
    return InvalidInput(exc.message, code="invalid_webhook_endpoint", field=exc.field)


async def check_url(
    settings: Settings, url: str, *, resolve: network.Resolver = network.system_resolve
) -> str:
    """The URL as registered, or InvalidInput naming ``url``: well-formed (the sender's own
    parser reads it), and not pointing at an address the service must not reach — written as
    one, or a name that resolves to one now. (A name that does not resolve yet is accepted:
    every attempt checks the address it connects to anyway.)"""
    try:
        url = rules.check_url(url)
        host = parse_url(url).raw_host.decode("ascii")
    except rules.InvalidEndpoint as exc:
        raise _invalid(exc) from None
    except UnusableURL as exc:
        raise _invalid(rules.InvalidEndpoint(f"url cannot be used: {exc}", "url")) from None
    try:
        async with asyncio.timeout(RESOLVE_SECONDS):
            await network.checked_addresses(
                host, 0, check=settings.webhook_address_policy.refusal, resolve=resolve
            )
    except network.BlockedAddress as exc:
        raise InvalidInput(
            f"url must reach a public address: {exc}", code="webhook_address_refused", field="url"
        ) from None
    except (OSError, TimeoutError):
        pass  # not resolvable from here (now): checked at every attempt
    return url


def _seal(settings: Settings, secret: str) -> tuple[str, str]:
    try:
        return secret_box(settings).seal(secret)
    except SecretsKeyError as exc:
        raise NotConfigured(str(exc), code="secrets_key_missing") from None


async def create_endpoint(svc: Services, new: NewEndpoint) -> CreatedEndpoint:
    try:
        types = rules.check_event_types(new.event_types)
    except rules.InvalidEndpoint as exc:
        raise _invalid(exc) from None
    url = await check_url(svc.settings, new.url)
    secret = rules.new_secret()
    stored, form = _seal(svc.settings, secret)
    now = svc.clock()
    endpoint = WebhookEndpoint(
        id=ids.new_id(),
        url=url,
        description=new.description,
        secret=stored,
        secret_form=form,
        event_types=types,
        enabled=new.enabled,
        disabled_at=None if new.enabled else now,
        disabled_reason=None if new.enabled else OPERATOR_DISABLED,
        created_at=now,
        updated_at=now,
    )
    async with svc.sessions.begin() as session:
        session.add(endpoint)
    return CreatedEndpoint(endpoint, secret)


async def list_endpoints(
    svc: Services, *, page: int = 1, limit: int = 100
) -> Page[WebhookEndpoint]:
    async with svc.reads.begin() as session:
        return await store.endpoints_page(session, page=page, limit=limit)


async def get_endpoint(svc: Services, endpoint_id: str) -> WebhookEndpoint:
    async with svc.reads.begin() as session:
        return await _endpoint(session, endpoint_id)


async def _endpoint(session: AsyncSession, endpoint_id: str) -> WebhookEndpoint:
    found = await session.get(WebhookEndpoint, endpoint_id)
    if found is None:
        raise NotFound(
            f"webhook endpoint {endpoint_id} not found",
            code="webhook_endpoint_not_found",
            field="endpointId",
        )
    return found


async def update_endpoint(
    svc: Services, endpoint_id: str, changes: EndpointChanges
) -> WebhookEndpoint:
    """Change the URL, the filter, the description, or enable/disable. Disabling gives up the
    pending deliveries (``recover`` sends them later); enabling clears the failure record."""
    try:
        types = (
            None
            if changes.all_event_types or changes.event_types is None
            else rules.check_event_types(changes.event_types)
        )
    except rules.InvalidEndpoint as exc:
        raise _invalid(exc) from None
    url = None if changes.url is None else await check_url(svc.settings, changes.url)
    now = svc.clock()
    async with svc.sessions.begin() as session:
        endpoint = await _endpoint(session, endpoint_id)
        if url is not None and url != endpoint.url:
            # A new receiver: on probation until it takes a delivery, with a clean record.
            endpoint.url = url
            endpoint.first_delivered_at = None
            endpoint.failing_since = None
        if changes.all_event_types:
            endpoint.event_types = None
        elif types is not None:
            endpoint.event_types = types
        if changes.description is not None:
            endpoint.description = changes.description
        endpoint.updated_at = now
        if changes.enabled is True and not endpoint.enabled:
            endpoint.enabled = True
            endpoint.failing_since = None
            endpoint.disabled_at = None
            endpoint.disabled_reason = None
        await session.flush()
        if changes.enabled is False and endpoint.enabled:
            await store.disable(
                await session.connection(), endpoint_id, reason=OPERATOR_DISABLED, now=now
            )
            await session.refresh(endpoint)
        return endpoint


async def delete_endpoint(svc: Services, endpoint_id: str) -> None:
    """Delete an endpoint with its deliveries and their log."""
    async with svc.sessions.begin() as session:
        endpoint = await _endpoint(session, endpoint_id)
        await session.delete(endpoint)


# --------------------------------------------------------------------- secrets at rest


@dataclass(frozen=True, slots=True)
class SealedSecrets:
    encrypted: int  # stored in clear before, encrypted now
    reencrypted: int  # encrypted under an older key before, under the first now
    current: int  # already under the first key


async def seal_secrets(svc: Services) -> SealedSecrets:
    """Every stored endpoint secret encrypted under SECRETS_KEY's first key: clear ones (from
    before encryption) encrypted, ones under an older key re-encrypted (rotation). Start-up
    runs it, so does ``balance-manager webhooks seal-secrets``.

    Raises ConfigError (one line naming SECRETS_KEY) when endpoints exist and SECRETS_KEY is
    not set, or cannot decrypt one of them: the service must not start unable to sign."""
    box = secret_box(svc.settings)
    now = svc.clock()
    encrypted = reencrypted = current = 0
    async with svc.engine.begin() as conn:
        stored = await store.stored_secrets(conn)
        if stored and not box.configured:
            raise ConfigError(
                f"SECRETS_KEY is not set: {len(stored)} operator webhook endpoint(s) keep "
                f"signing secrets that must be encrypted at rest; make a key with {MAKE_A_KEY}"
            )
        for endpoint_id, value, form in stored:
            if box.is_current(value, form):
                current += 1
                continue
            try:
                new_value, new_form = box.reseal(value, form)
            except SecretsKeyError:
                raise ConfigError(
                    f"SECRETS_KEY cannot decrypt the secret of webhook endpoint {endpoint_id}: "
                    "keep the key it was encrypted with in SECRETS_KEY (comma-separated, the "
                    "newest first)"
                ) from None
            if await store.replace_secret(
                conn, endpoint_id, old=value, new=new_value, form=new_form, now=now
            ):
                if form == CLEAR:
                    encrypted += 1
                else:
                    reencrypted += 1
    if encrypted or reencrypted:
        log.info("webhook_secrets_sealed", encrypted=encrypted, reencrypted=reencrypted)
    return SealedSecrets(encrypted, reencrypted, current)


# --------------------------------------------------------------------- the dispatcher's steps


async def has_work(svc: Services) -> bool:
    """Anything to fan out or due to send? (A read: an idle dispatcher writes nothing.)"""
    async with svc.reads.begin() as session:
        return await store.has_work(await session.connection(), now=svc.clock())


async def fan_out(svc: Services, *, limit: int = FAN_OUT_BATCH) -> int:
    """Turn undispatched outbox events into deliveries; returns how many events it took."""
    now = svc.clock()
    async with svc.engine.begin() as conn:
        taken = await store.undispatched(conn, limit=limit)
        if not taken:
            return 0
        filters = await store.enabled_filters(conn)
        await store.add_deliveries(
            conn, rules.fan_out([(e, t) for _, e, t in taken], filters), now=now
        )
        await store.mark_dispatched(conn, [row for row, _, _ in taken], now=now)
    return len(taken)


async def claim(
    svc: Services,
    *,
    busy: Mapping[str, int] | None = None,
    probation: AbstractSet[str] = frozenset(),
    trusted: Mapping[str, float] | None = None,
    shares: rules.Shares | None = None,
) -> list[store.Due]:
    """Lease due deliveries to the caller into its free slots, fairly between endpoints
    (``domain.webhooks.pick_fairly``: ``busy``, ``probation`` and ``trusted`` say what the
    caller has in flight and which endpoints answered it lately), and commit."""
    shares = shares or delivery_shares(svc.settings)
    busy = busy or {}
    now = svc.clock()
    lease_until = now + delivery_rules(svc.settings).lease
    async with svc.engine.begin() as conn:
        found = await store.candidates(conn, now=now, per_endpoint=shares.per_endpoint)
        picked = rules.pick_fairly(
            [rules.Candidate(c.endpoint_id, c.probation, c.delivery_id) for c in found],
            busy=busy,
            probation=probation,
            trusted=trusted,
            shares=shares,
        )
        return await store.lease(conn, picked, now=now, until=lease_until)


async def deliver(svc: Services, sender: Sender, job: store.Due) -> Sent:
    """POST one claimed delivery (no transaction open), then record what came of it. Whatever
    goes wrong before the POST (a secret SECRETS_KEY cannot decrypt, a payload that cannot be
    signed) is a failed attempt too, with its error recorded — never a delivery retried
    silently for ever."""
    started_at = svc.clock()
    try:
        secret = secret_box(svc.settings).open(job.secret, job.secret_form)
        payload = rules.body(job.event_type, job.event_created_at, job.payload)
        request_headers = rules.headers(
            secret=secret,
            event_id=job.event_id,
            payload=payload,
            signed_at=datetime.now(UTC),  # the receiver checks it against its own clock
        )
    except SecretsKeyError as exc:
        sent = Sent(None, 0.0, f"secret_unreadable: {exc}")
    except Exception as exc:
        sent = Sent(None, 0.0, f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH])
    else:
        sent = await sender.post(job.url, payload, request_headers)
    await record(svc, job, sent, started_at=started_at)
    return sent


async def record(svc: Services, job: store.Due, sent: Sent, *, started_at: datetime) -> None:
    """The attempt's outcome, in one short transaction."""
    attempt = job.attempts + 1
    policy = delivery_rules(svc.settings)
    now = svc.clock()
    metrics.webhook_delivery(
        job.event_type, "delivered" if sent.ok else "failed", sent.latency_ms / 1000
    )
    async with svc.engine.begin() as conn:
        await store.log_attempt(
            conn,
            delivery_id=job.delivery_id,
            attempt=attempt,
            started_at=started_at,
            status_code=sent.status_code,
            latency_ms=sent.latency_ms,
            error=sent.error,
        )
        if sent.ok:
            assert sent.status_code is not None
            await store.delivered(conn, job.delivery_id, status_code=sent.status_code, now=now)
            await store.endpoint_delivered(conn, job.endpoint_id, now=now)
            log.info(
                "webhook_delivered",
                event_id=job.event_id,
                endpoint_id=job.endpoint_id,
                attempt=attempt,
                latency_ms=sent.latency_ms,
            )
            return
        next_at = policy.next_attempt(attempts=attempt, created_at=job.created_at, now=now)
        await store.attempt_failed(
            conn,
            job.delivery_id,
            status_code=sent.status_code,
            error=sent.error or "failed",
            next_attempt_at=next_at,
            now=now,
        )
        log.warning(
            "webhook_attempt_failed",
            event_id=job.event_id,
            endpoint_id=job.endpoint_id,
            attempt=attempt,
            error=sent.error,
            next_attempt_at=None if next_at is None else next_at.isoformat(),
        )
        failing = await store.endpoint_failing(conn, job.endpoint_id, now=now)
        if failing is None:
            return
        failing_since, enabled = failing
        if enabled and policy.should_disable(failing_since=failing_since, now=now):
            reason = (
                f"every delivery failed since {failing_since.isoformat()} "
                f"(last: {sent.error or 'failed'})"
            )
            disabled = await store.disable(conn, job.endpoint_id, reason=reason, now=now)
            if disabled is not None:
                await outbox.add(
                    conn,
                    [
                        events.webhook_endpoint_disabled(
                            disabled.id,
                            url=disabled.url,
                            reason=reason,
                            failing_since=failing_since,
                            disabled_at=now,
                        )
                    ],
                    now=now,
                )
                log.warning("webhook_endpoint_disabled", endpoint_id=job.endpoint_id)


# --------------------------------------------------------------------- resend and the log


async def resend(svc: Services, event_id: str, *, endpoint_id: str | None = None) -> list[str]:
    """Send an event again (same ``webhook-id``) to one endpoint, or to every enabled endpoint
    that had it; returns the endpoints it goes to."""
    now = svc.clock()
    async with svc.sessions.begin() as session:
        conn = await session.connection()
        if not await store.event_exists(conn, event_id):
            raise NotFound(f"event {event_id} not found", code="event_not_found", field="eventId")
        if endpoint_id is not None:
            endpoint = await _endpoint(session, endpoint_id)
            if not endpoint.enabled:
                raise Conflict(
                    f"webhook endpoint {endpoint_id} is disabled; enable it first",
                    code="webhook_endpoint_disabled",
                )
            targets = [endpoint_id]
        else:
            had = await store.endpoints_with_delivery(conn, event_id)
            rows = await session.scalars(
                select(WebhookEndpoint.id).where(
                    WebhookEndpoint.id.in_(had), WebhookEndpoint.enabled.is_(True)
                )
            )
            targets = sorted(rows.all())
            if not targets:
                raise Unprocessable(
                    f"event {event_id} has no delivery to an enabled endpoint; name an endpoint",
                    code="no_endpoint",
                )
        await store.resend(conn, event_id=event_id, endpoint_ids=targets, now=now)
    return targets


async def recover(svc: Services, endpoint_id: str, *, since: datetime) -> int:
    """Send again everything since ``since`` that the endpoint wants and did not get (after it
    was disabled, or deliveries gave up); returns how many deliveries were queued."""
    if since.tzinfo is None:
        raise InvalidInput("since must carry a time zone", code="naive_datetime", field="since")
    now = svc.clock()
    async with svc.sessions.begin() as session:
        endpoint = await _endpoint(session, endpoint_id)
        if not endpoint.enabled:
            raise Conflict(
                f"webhook endpoint {endpoint_id} is disabled; enable it first",
                code="webhook_endpoint_disabled",
            )
        return await store.recover(
            await session.connection(),
            endpoint_id=endpoint_id,
            event_types=endpoint.event_types,
            since=since,
            now=now,
        )


async def deliveries(
    svc: Services,
    endpoint_id: str,
    *,
    status: DeliveryStatus | None = None,
    page: int = 1,
    limit: int = 20,
) -> Page[tuple[WebhookDelivery, str]]:
    """The endpoint's deliveries (with event types), newest first."""
    async with svc.reads.begin() as session:
        await _endpoint(session, endpoint_id)
        return await store.deliveries(session, endpoint_id, status=status, page=page, limit=limit)


@dataclass(frozen=True, slots=True)
class DeliveryLog:
    delivery: WebhookDelivery
    event_type: str
    attempts: list[WebhookAttempt]


async def delivery(svc: Services, endpoint_id: str, delivery_id: int) -> DeliveryLog:
    """One delivery and every attempt at it."""
    async with svc.reads.begin() as session:
        row = (
            await session.execute(
                select(WebhookDelivery, OutboxEvent.type)
                .join(OutboxEvent, OutboxEvent.event_id == WebhookDelivery.event_id)
                .where(
                    WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint_id
                )
            )
        ).first()
        if row is None:
            raise NotFound(
                f"delivery {delivery_id} not found", code="delivery_not_found", field="deliveryId"
            )
        return DeliveryLog(row[0], row[1], await store.attempts_of(session, delivery_id))


async def backlog(svc: Services) -> store.Backlog:
    """Events not yet fanned out and deliveries pending (for health and metrics)."""
    async with svc.reads.begin() as session:
        return await store.backlog(session)
