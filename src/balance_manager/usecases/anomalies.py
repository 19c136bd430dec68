"""Money that matches no record, made visible to the operator.

Whoever finds one — settlement (a PaymentIntent that names a recharge it does not belong
to), the Stripe event handler (a payment of one of our customers that names no recharge),
reconciliation — records it here, inside its own transaction: one ``payment_anomalies`` row
per (kind, Stripe object), and, the first time only, a ``payment.anomaly`` outbox event and
a warning in the log. ``counts`` is the metric's figure.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from balance_manager.domain import events
from balance_manager.domain.charges import ChargeResult
from balance_manager.domain.states import AnomalyKind
from balance_manager.store import anomalies, outbox
from balance_manager.store.anomalies import Anomaly
from balance_manager.store.models import User
from balance_manager.usecases.services import Services

log = structlog.get_logger(__name__)


async def record(conn: AsyncConnection, anomaly: Anomaly, *, now: datetime) -> bool:
    """Record ``anomaly`` (once); True when it is new."""
    if not await anomalies.add(conn, anomaly, now=now):
        return False
    event = events.payment_anomaly(
        kind=str(anomaly.kind),
        stripe_object_id=anomaly.reference,
        user_id=anomaly.user_id,
        recharge_id=anomaly.recharge_id,
        customer_id=anomaly.customer_id,
        amount=anomaly.amount,
        currency=anomaly.currency,
        detail=anomaly.detail,
    )
    await outbox.add(conn, [event], now=now)
    log.warning("payment_anomaly", **{k: v for k, v in asdict(anomaly).items() if v is not None})
    return True


async def record_payment(
    conn: AsyncConnection,
    result: ChargeResult,
    *,
    kind: AnomalyKind,
    detail: str,
    now: datetime,
    recharge_id: str | None = None,
) -> bool:
    """A PaymentIntent that took money and settles no record: attributed to the user whose
    Stripe customer was charged, if that is one of ours."""
    assert result.payment_intent_id is not None
    user_id = None
    if result.customer_id is not None:
        user_id = await conn.scalar(
            select(User.id).where(User.stripe_customer_id == result.customer_id)
        )
    return await record(
        conn,
        Anomaly(
            kind=kind,
            reference=result.payment_intent_id,
            detail=detail,
            user_id=user_id,
            recharge_id=recharge_id,
            customer_id=result.customer_id,
            amount=result.amount,
            currency=result.currency,
        ),
        now=now,
    )


async def counts(svc: Services, *, since: datetime | None = None) -> dict[str, int]:
    """How many anomalies were recorded, by kind (for /metrics: never reset, only grows)."""
    async with svc.reads.begin() as session:
        return await anomalies.count(await session.connection(), since=since)
