"""Payment anomalies in SQL: written once per (kind, Stripe object), counted, listed.

Never commits: the use case owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from balance_manager.domain.states import AnomalyKind
from balance_manager.store.models import PaymentAnomaly
from balance_manager.store.sql import is_postgres

_TABLE = cast(Table, PaymentAnomaly.__table__)


@dataclass(frozen=True, slots=True)
class Anomaly:
    kind: AnomalyKind
    reference: str  # the Stripe object's id
    detail: str
    user_id: str | None = None
    recharge_id: str | None = None
    customer_id: str | None = None
    amount: int | None = None  # minor units of ``currency``
    currency: str | None = None


async def add(conn: AsyncConnection, anomaly: Anomaly, *, now: datetime) -> bool:
    """Record the anomaly unless this (kind, object) is recorded already; True when new."""
    insert = postgresql.insert if is_postgres(conn) else sqlite.insert
    statement = (
        insert(_TABLE)
        .values(
            kind=anomaly.kind,
            reference=anomaly.reference[:255],
            user_id=anomaly.user_id,
            recharge_id=anomaly.recharge_id,
            customer_id=anomaly.customer_id,
            amount=anomaly.amount,
            currency=(anomaly.currency or None) and anomaly.currency[:3].lower(),
            detail=anomaly.detail,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["kind", "reference"])
        .returning(_TABLE.c.id)
    )
    return (await conn.execute(statement)).first() is not None


async def count(conn: AsyncConnection, *, since: datetime | None = None) -> dict[str, int]:
    """Anomalies recorded (since a time, or ever), by kind: the metric's figures."""
    query = select(_TABLE.c.kind, func.count()).group_by(_TABLE.c.kind)
    if since is not None:
        query = query.where(_TABLE.c.created_at >= since)
    return {str(kind): int(n) for kind, n in await conn.execute(query)}
