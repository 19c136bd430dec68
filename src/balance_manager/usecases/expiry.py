"""Recharges that waited too long for the customer's authentication are given up.

A ``requires_action`` recharge is in flight, so while it waits no other automatic recharge
can start for that user. After ``RECHARGE_ACTION_EXPIRY_SECONDS`` (counted from when the
recharge was opened; default 24 hours) the worker cancels its PaymentIntent at Stripe —
outside any transaction — and settles the record as ``canceled`` with
``failure_code = "action_expired"`` through the one :func:`charging.settle`, which writes a
``recharge.canceled`` event with that reason. The user is then a sweep candidate again.

Should the customer have completed the payment meanwhile, Stripe refuses the cancel, the
gateway reports the PaymentIntent as it is, and settling credits it instead. Two workers
may pick the same record: the cancel is idempotent at Stripe and the second settle finds
the record terminal, so nothing happens twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import structlog

from balance_manager.payments.gateway import (
    ChargeOutcome,
    ChargeResult,
    GatewayError,
    StripeNotFound,
)
from balance_manager.store import recharges as records
from balance_manager.usecases import charging
from balance_manager.usecases.services import Services

log = structlog.get_logger(__name__)

REASON = "action_expired"


@dataclass(frozen=True, slots=True)
class Expired:
    found: int  # records past their time
    outcomes: dict[str, charging.Settled]  # record id → what settling did


async def expire_waiting(svc: Services, *, limit: int = 100) -> Expired:
    """Cancel the recharges that have waited for authentication longer than allowed."""
    if svc.gateway is None:
        return Expired(0, {})
    gateway = svc.gateway
    seconds = svc.settings.recharge_action_expiry_seconds
    async with svc.reads.begin() as session:
        due = await records.waiting_since_before(
            await session.connection(),
            before=svc.clock() - timedelta(seconds=seconds),
            limit=limit,
        )
    message = f"the customer did not authenticate within {_duration(seconds)}; canceled"
    outcomes: dict[str, charging.Settled] = {}
    for waiting in due:
        try:
            if waiting.payment_intent_id is None:
                result = ChargeResult(ChargeOutcome.CANCELED, payment_intent_id=None)
            else:
                result = await gateway.cancel_payment_intent(waiting.payment_intent_id)
        except StripeNotFound:
            result = ChargeResult(ChargeOutcome.CANCELED, payment_intent_id=None)
        except GatewayError as exc:  # unreachable or refused: try again on a later pass
            log.warning(
                "recharge_expiry_retry_later", record_id=waiting.record_id, error=exc.message
            )
            continue
        settled = await charging.settle(
            svc, waiting.record_id, charging.canceled_because(result, REASON, message)
        )
        outcomes[waiting.record_id] = settled
        log.info("recharge_action_expired", record_id=waiting.record_id, outcome=str(settled))
    return Expired(len(due), outcomes)


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour" + ("s" if hours != 1 else "")
    if seconds % 60 == 0:
        return f"{seconds // 60} minutes"
    return f"{seconds} seconds"
