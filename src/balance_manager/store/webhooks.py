"""Operator webhooks in SQL: endpoints, fanning the outbox out into deliveries, claiming due
deliveries (each endpoint's oldest few, so the claim can serve endpoints in turn), the delivery
log, the secrets as stored. Never commits: the use case owns each (short) transaction.

Claims and fan-out take ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several workers share the
work and none waits for another; on SQLite the transaction holds the database's write lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, and_, exists, func, or_, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from balance_manager.domain.states import DeliveryStatus
from balance_manager.store.models import (
    OutboxEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from balance_manager.store.paging import Page, paginate
from balance_manager.store.sql import is_postgres, one_of

_EVENTS = cast(Table, OutboxEvent.__table__)
_ENDPOINTS = cast(Table, WebhookEndpoint.__table__)
_DELIVERIES = cast(Table, WebhookDelivery.__table__)
_ATTEMPTS = cast(Table, WebhookAttempt.__table__)
_PENDING = str(DeliveryStatus.PENDING)
_FAILED = str(DeliveryStatus.FAILED)


def _insert(conn: AsyncConnection, table: Table) -> Any:
    """``INSERT`` with ``ON CONFLICT`` support, in the connection's dialect."""
    return (postgresql.insert if is_postgres(conn) else sqlite.insert)(table)


# --------------------------------------------------------------------- fan-out


async def undispatched(conn: AsyncConnection, *, limit: int) -> list[tuple[int, str, str]]:
    """Events not yet fanned out, oldest first: ``(row id, event id, type)``."""
    rows = await conn.execute(
        select(_EVENTS.c.id, _EVENTS.c.event_id, _EVENTS.c.type)
        .where(_EVENTS.c.dispatched_at.is_(None))
        .order_by(_EVENTS.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [(r.id, r.event_id, r.type) for r in rows]


async def enabled_filters(conn: AsyncConnection) -> dict[str, list[str] | None]:
    """Enabled endpoints and the event types each wants (None: every type)."""
    rows = await conn.execute(
        select(_ENDPOINTS.c.id, _ENDPOINTS.c.event_types).where(_ENDPOINTS.c.enabled.is_(True))
    )
    return {r.id: r.event_types for r in rows}


async def add_deliveries(
    conn: AsyncConnection, pairs: Sequence[tuple[str, str]], *, now: datetime
) -> None:
    """One pending delivery per ``(event_id, endpoint_id)``; an existing pair is left as is."""
    if not pairs:
        return
    await conn.execute(
        _insert(conn, _DELIVERIES).on_conflict_do_nothing(
            index_elements=["event_id", "endpoint_id"]
        ),
        [
            {
                "event_id": event_id,
                "endpoint_id": endpoint_id,
                "status": _PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for event_id, endpoint_id in pairs
        ],
    )


async def mark_dispatched(conn: AsyncConnection, row_ids: Sequence[int], *, now: datetime) -> None:
    if row_ids:
        await conn.execute(
            update(_EVENTS).where(_EVENTS.c.id.in_(list(row_ids))).values(dispatched_at=now)
        )


# --------------------------------------------------------------------- claim and record


@dataclass(frozen=True, slots=True)
class Due:
    """A claimed delivery with what sending it needs."""

    delivery_id: int
    endpoint_id: str
    attempts: int  # before this one
    created_at: datetime
    url: str
    secret: str  # as stored: see ``secret_form``
    secret_form: str
    probation: bool  # the endpoint was on probation when claimed
    event_id: str
    event_type: str
    event_created_at: datetime
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A due delivery the claim may take."""

    delivery_id: int
    endpoint_id: str
    probation: bool  # its endpoint was never delivered to, or is failing


def _on_probation() -> Any:
    """The endpoint never delivered to, or failing (``domain.webhooks.pick_fairly``)."""
    return or_(
        _ENDPOINTS.c.first_delivered_at.is_(None), _ENDPOINTS.c.failing_since.is_not(None)
    ).label("probation")


async def candidates(conn: AsyncConnection, *, now: datetime, per_endpoint: int) -> list[Candidate]:
    """Each enabled endpoint's ``per_endpoint`` oldest due deliveries, oldest first overall.

    Per endpoint, so that a large backlog of one endpoint (a dead receiver's) never hides the
    others' deliveries from the claim. PostgreSQL walks each endpoint's due deliveries in
    ``ix_webhook_deliveries_endpoint_due`` (LATERAL, ``per_endpoint`` rows each); SQLite, the
    single-node mode, numbers the due rows per endpoint. No lock: :func:`lease` takes them."""
    due = and_(_DELIVERIES.c.status == _PENDING, _DELIVERIES.c.next_attempt_at <= now)
    if is_postgres(conn):
        firsts = (
            select(_DELIVERIES.c.id, _DELIVERIES.c.next_attempt_at)
            .where(_DELIVERIES.c.endpoint_id == _ENDPOINTS.c.id, due)
            .order_by(_DELIVERIES.c.next_attempt_at, _DELIVERIES.c.id)
            .limit(per_endpoint)
            .lateral("firsts")
        )
        query = select(
            firsts.c.id, _ENDPOINTS.c.id.label("endpoint_id"), _on_probation()
        ).select_from(_ENDPOINTS.join(firsts, true()))
        order = (firsts.c.next_attempt_at, firsts.c.id)
    else:
        ranked = (
            select(
                _DELIVERIES.c.id,
                _DELIVERIES.c.endpoint_id,
                _DELIVERIES.c.next_attempt_at,
                func.row_number()
                .over(
                    partition_by=_DELIVERIES.c.endpoint_id,
                    order_by=(_DELIVERIES.c.next_attempt_at, _DELIVERIES.c.id),
                )
                .label("rank"),
            )
            .where(due)
            .subquery("ranked")
        )
        query = (
            select(ranked.c.id, ranked.c.endpoint_id, _on_probation())
            .select_from(ranked.join(_ENDPOINTS, _ENDPOINTS.c.id == ranked.c.endpoint_id))
            .where(ranked.c.rank <= per_endpoint)
        )
        order = (ranked.c.next_attempt_at, ranked.c.id)
    rows = await conn.execute(query.where(_ENDPOINTS.c.enabled.is_(True)).order_by(*order))
    return [Candidate(r.id, r.endpoint_id, bool(r.probation)) for r in rows]


async def lease(
    conn: AsyncConnection, delivery_ids: Sequence[int], *, now: datetime, until: datetime
) -> list[Due]:
    """Take those of ``delivery_ids`` that are still due (``SKIP LOCKED``: another worker's
    claim in progress keeps its own), count the attempt and hold them until ``until`` (the
    sender's lease); returns them in the order asked."""
    if not delivery_ids:
        return []
    rows = await conn.execute(
        select(
            _DELIVERIES.c.id,
            _DELIVERIES.c.endpoint_id,
            _DELIVERIES.c.attempts,
            _DELIVERIES.c.created_at,
            _ENDPOINTS.c.url,
            _ENDPOINTS.c.secret,
            _ENDPOINTS.c.secret_form,
            _on_probation(),
            _EVENTS.c.event_id,
            _EVENTS.c.type,
            _EVENTS.c.created_at.label("event_created_at"),
            _EVENTS.c.payload,
        )
        .select_from(
            _DELIVERIES.join(_ENDPOINTS, _ENDPOINTS.c.id == _DELIVERIES.c.endpoint_id).join(
                _EVENTS, _EVENTS.c.event_id == _DELIVERIES.c.event_id
            )
        )
        .where(
            _DELIVERIES.c.id.in_(list(delivery_ids)),
            _DELIVERIES.c.status == _PENDING,
            _DELIVERIES.c.next_attempt_at <= now,
            _ENDPOINTS.c.enabled.is_(True),
        )
        .with_for_update(skip_locked=True, of=_DELIVERIES)
    )
    found = {
        r.id: Due(
            delivery_id=r.id,
            endpoint_id=r.endpoint_id,
            attempts=r.attempts,
            created_at=_utc(r.created_at),
            url=r.url,
            secret=r.secret,
            secret_form=r.secret_form,
            probation=bool(r.probation),
            event_id=r.event_id,
            event_type=r.type,
            event_created_at=_utc(r.event_created_at),
            payload=r.payload,
        )
        for r in rows
    }
    if found:
        await conn.execute(
            update(_DELIVERIES)
            .where(_DELIVERIES.c.id.in_(list(found)))
            .values(
                attempts=_DELIVERIES.c.attempts + 1,
                next_attempt_at=until,
                last_attempt_at=now,
                updated_at=now,
            )
        )
    return [found[i] for i in delivery_ids if i in found]


def _utc(value: datetime) -> datetime:
    """SQLite keeps no offset where a value bypasses the column type (RETURNING, MIN)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def log_attempt(
    conn: AsyncConnection,
    *,
    delivery_id: int,
    attempt: int,
    started_at: datetime,
    status_code: int | None,
    latency_ms: float,
    error: str | None,
) -> None:
    await conn.execute(
        _ATTEMPTS.insert().values(
            delivery_id=delivery_id,
            attempt=attempt,
            started_at=started_at,
            status_code=status_code,
            latency_ms=latency_ms,
            error=error,
        )
    )


async def delivered(
    conn: AsyncConnection, delivery_id: int, *, status_code: int, now: datetime
) -> None:
    """The receiver took it (even if the delivery was meanwhile given up on: it did arrive)."""
    await conn.execute(
        update(_DELIVERIES)
        .where(_DELIVERIES.c.id == delivery_id)
        .values(
            status=str(DeliveryStatus.SUCCEEDED),
            next_attempt_at=None,
            delivered_at=now,
            last_status_code=status_code,
            last_error=None,
            updated_at=now,
        )
    )


async def attempt_failed(
    conn: AsyncConnection,
    delivery_id: int,
    *,
    status_code: int | None,
    error: str,
    next_attempt_at: datetime | None,
    now: datetime,
) -> None:
    """Schedule the next attempt, or give up (``failed``) when there is none. A delivery that
    is no longer pending (resent meanwhile, or its endpoint disabled) keeps its state."""
    await conn.execute(
        update(_DELIVERIES)
        .where(_DELIVERIES.c.id == delivery_id, _DELIVERIES.c.status == _PENDING)
        .values(
            status=_PENDING if next_attempt_at is not None else _FAILED,
            next_attempt_at=next_attempt_at,
            last_status_code=status_code,
            last_error=error,
            updated_at=now,
        )
    )


async def endpoint_delivered(conn: AsyncConnection, endpoint_id: str, *, now: datetime) -> None:
    """A success: the endpoint is healthy and off probation (written only when it was failing
    or had never been delivered to, so a busy endpoint's row is not rewritten each time)."""
    await conn.execute(
        update(_ENDPOINTS)
        .where(
            _ENDPOINTS.c.id == endpoint_id,
            or_(
                _ENDPOINTS.c.failing_since.is_not(None),
                _ENDPOINTS.c.first_delivered_at.is_(None),
            ),
        )
        .values(
            failing_since=None,
            first_delivered_at=func.coalesce(_ENDPOINTS.c.first_delivered_at, now),
            updated_at=now,
        )
    )


async def endpoint_failing(
    conn: AsyncConnection, endpoint_id: str, *, now: datetime
) -> tuple[datetime, bool] | None:
    """A failure: the endpoint fails since its first failure after the last success. Returns
    ``(failing_since, enabled)``, or None when the endpoint is gone."""
    row = (
        await conn.execute(
            update(_ENDPOINTS)
            .where(_ENDPOINTS.c.id == endpoint_id)
            .values(failing_since=func.coalesce(_ENDPOINTS.c.failing_since, now))
            .returning(_ENDPOINTS.c.failing_since, _ENDPOINTS.c.enabled)
        )
    ).first()
    return None if row is None else (_utc(row.failing_since), bool(row.enabled))


@dataclass(frozen=True, slots=True)
class DisabledEndpoint:
    id: str
    url: str
    failing_since: datetime | None  # None: the operator disabled a healthy endpoint


async def disable(
    conn: AsyncConnection, endpoint_id: str, *, reason: str, now: datetime
) -> DisabledEndpoint | None:
    """Disable an enabled endpoint and give up its pending deliveries; None when it was not
    enabled (another worker got there first), so the caller announces it once."""
    row = (
        await conn.execute(
            update(_ENDPOINTS)
            .where(_ENDPOINTS.c.id == endpoint_id, _ENDPOINTS.c.enabled.is_(True))
            .values(enabled=False, disabled_at=now, disabled_reason=reason[:255], updated_at=now)
            .returning(_ENDPOINTS.c.id, _ENDPOINTS.c.url, _ENDPOINTS.c.failing_since)
        )
    ).first()
    if row is None:
        return None
    await conn.execute(
        update(_DELIVERIES)
        .where(_DELIVERIES.c.endpoint_id == endpoint_id, _DELIVERIES.c.status == _PENDING)
        .values(
            status=_FAILED, next_attempt_at=None, last_error="endpoint disabled", updated_at=now
        )
    )
    failing_since = None if row.failing_since is None else _utc(row.failing_since)
    return DisabledEndpoint(row.id, row.url, failing_since)


# --------------------------------------------------------------------- resend and recover


async def event_exists(conn: AsyncConnection, event_id: str) -> bool:
    return bool(await conn.scalar(select(exists().where(_EVENTS.c.event_id == event_id))))


async def resend(
    conn: AsyncConnection, *, event_id: str, endpoint_ids: Sequence[str], now: datetime
) -> None:
    """Send an event (again, with the same id) to these endpoints as soon as possible,
    creating the delivery where there was none."""
    if not endpoint_ids:
        return
    statement = _insert(conn, _DELIVERIES)
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=["event_id", "endpoint_id"],
            set_={"status": _PENDING, "next_attempt_at": now, "updated_at": now},
        ),
        [
            {
                "event_id": event_id,
                "endpoint_id": endpoint_id,
                "status": _PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for endpoint_id in endpoint_ids
        ],
    )


async def endpoints_with_delivery(conn: AsyncConnection, event_id: str) -> list[str]:
    rows = await conn.execute(
        select(_DELIVERIES.c.endpoint_id).where(_DELIVERIES.c.event_id == event_id)
    )
    return [r.endpoint_id for r in rows]


async def recover(
    conn: AsyncConnection,
    *,
    endpoint_id: str,
    event_types: Sequence[str] | None,
    since: datetime,
    now: datetime,
) -> int:
    """Send again every event since ``since`` that this endpoint wants and did not get:
    failed deliveries, and events fanned out while it was disabled (no delivery at all)."""
    retried = await conn.execute(
        update(_DELIVERIES)
        .where(
            _DELIVERIES.c.endpoint_id == endpoint_id,
            _DELIVERIES.c.status == _FAILED,
            _DELIVERIES.c.event_id.in_(
                select(_EVENTS.c.event_id).where(_EVENTS.c.created_at >= since)
            ),
        )
        .values(status=_PENDING, next_attempt_at=now, updated_at=now)
    )
    missing = select(_EVENTS.c.event_id).where(
        _EVENTS.c.created_at >= since,
        _EVENTS.c.dispatched_at.is_not(None),
        ~exists().where(
            _DELIVERIES.c.event_id == _EVENTS.c.event_id,
            _DELIVERIES.c.endpoint_id == endpoint_id,
        ),
    )
    if event_types is not None:
        missing = missing.where(one_of(conn, _EVENTS.c.type, list(event_types)))
    event_ids = [r.event_id for r in await conn.execute(missing)]
    await add_deliveries(conn, [(e, endpoint_id) for e in event_ids], now=now)
    return int(retried.rowcount or 0) + len(event_ids)


# --------------------------------------------------------------------- reads


async def deliveries(
    session: AsyncSession,
    endpoint_id: str,
    *,
    status: DeliveryStatus | None,
    page: int,
    limit: int,
) -> Page[tuple[WebhookDelivery, str]]:
    """An endpoint's deliveries with their event types, newest first."""
    query = (
        select(WebhookDelivery, OutboxEvent.type)
        .join(OutboxEvent, OutboxEvent.event_id == WebhookDelivery.event_id)
        .where(WebhookDelivery.endpoint_id == endpoint_id)
        .order_by(WebhookDelivery.id.desc())
    )
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = (await session.execute(query.offset((page - 1) * limit).limit(limit))).all()
    return Page([(d, t) for d, t in rows], int(total or 0), page, limit)


async def attempts_of(session: AsyncSession, delivery_id: int) -> list[WebhookAttempt]:
    rows = await session.scalars(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id == delivery_id)
        .order_by(WebhookAttempt.id)
    )
    return list(rows.all())


async def endpoints_page(session: AsyncSession, *, page: int, limit: int) -> Page[WebhookEndpoint]:
    query = select(WebhookEndpoint).order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    return await paginate(session, query, page=page, limit=limit)


@dataclass(frozen=True, slots=True)
class Backlog:
    """What waits: events not yet fanned out, deliveries pending (due or not), and the
    creation time of the oldest pending delivery (for health and metrics)."""

    undispatched_events: int
    pending_deliveries: int
    oldest_pending_at: datetime | None


async def backlog(conn: AsyncConnection | AsyncSession) -> Backlog:
    undispatched_count = await conn.scalar(
        select(func.count()).select_from(_EVENTS).where(_EVENTS.c.dispatched_at.is_(None))
    )
    row = (
        await conn.execute(
            select(func.count(), func.min(_DELIVERIES.c.created_at)).where(
                _DELIVERIES.c.status == _PENDING
            )
        )
    ).one()
    oldest = row[1]
    if isinstance(oldest, str):  # SQLite's MIN() loses the column type
        oldest = datetime.fromisoformat(oldest)
    return Backlog(
        int(undispatched_count or 0), int(row[0] or 0), None if oldest is None else _utc(oldest)
    )


async def has_work(conn: AsyncConnection, *, now: datetime) -> bool:
    """Anything to fan out or send now? One cheap read (both through partial indexes), so an
    idle dispatcher never takes SQLite's write lock."""
    return bool(
        await conn.scalar(
            select(
                exists().where(_EVENTS.c.dispatched_at.is_(None))
                | exists().where(
                    and_(_DELIVERIES.c.status == _PENDING, _DELIVERIES.c.next_attempt_at <= now)
                )
            )
        )
    )


# --------------------------------------------------------------------- secrets at rest


async def stored_secrets(conn: AsyncConnection) -> list[tuple[str, str, str]]:
    """Every endpoint's ``(id, stored secret, form)``."""
    rows = await conn.execute(
        select(_ENDPOINTS.c.id, _ENDPOINTS.c.secret, _ENDPOINTS.c.secret_form).order_by(
            _ENDPOINTS.c.id
        )
    )
    return [(r.id, r.secret, r.secret_form) for r in rows]


async def replace_secret(
    conn: AsyncConnection, endpoint_id: str, *, old: str, new: str, form: str, now: datetime
) -> bool:
    """Store the secret in another form, if it is still ``old`` (another process starting at
    the same time may have done it); True when this call did."""
    result = await conn.execute(
        update(_ENDPOINTS)
        .where(_ENDPOINTS.c.id == endpoint_id, _ENDPOINTS.c.secret == old)
        .values(secret=new, secret_form=form, updated_at=now)
    )
    return bool(result.rowcount)
