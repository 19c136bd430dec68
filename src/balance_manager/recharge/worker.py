"""The worker: claims due recharges, charges them through the gateway, settles the outcome;
runs the sweep on its interval. ``serve`` embeds one; ``balance-manager worker`` runs more.

Wake-ups: an in-process event for the embedded worker, and on PostgreSQL ``LISTEN/NOTIFY``
across processes; a short poll is the fallback either way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from balance_manager.payments.gateway import (
    ChargeOutcome,
    ChargeResult,
    GatewayError,
    StripeGateway,
    StripeUnavailable,
)
from balance_manager.recharge import service, sweeper
from balance_manager.settings import Settings
from balance_manager.store.db import SessionFactory
from balance_manager.store.models import RechargeRecord, User, utcnow

log = structlog.get_logger(__name__)

CHANNEL = "balance_manager_recharge"
# Stripe keeps idempotency keys for 24 hours; past this age a re-drive reconciles by looking
# the PaymentIntent up instead of creating one with a key Stripe may have forgotten.
IDEMPOTENCY_SAFE_AGE = timedelta(hours=23)
_RETRY_DELAY_SECONDS = 5.0


class Wakeup:
    """An in-process "there is work" signal shared by the API and the embedded worker."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    async def wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._event.wait()
        self._event.clear()


async def notify(session: AsyncSession) -> None:
    """Tell workers in other processes (PostgreSQL only; delivered when the caller commits)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text(f"NOTIFY {CHANNEL}"))


class Worker:
    def __init__(
        self,
        *,
        engine: AsyncEngine,
        sessions: SessionFactory,
        gateway: StripeGateway,
        rules: service.EngineRules,
        sweep_interval: float,
        wakeup: Wakeup | None = None,
        poll_interval: float = 2.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.sessions = sessions
        self.gateway = gateway
        self.rules = rules
        self.sweep_interval = sweep_interval
        self.wakeup = wakeup or Wakeup()
        self.poll_interval = poll_interval
        self.clock = clock

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        engine: AsyncEngine,
        sessions: SessionFactory,
        gateway: StripeGateway,
        wakeup: Wakeup | None = None,
    ) -> Worker:
        return cls(
            engine=engine,
            sessions=sessions,
            gateway=gateway,
            rules=service.rules_from_settings(settings),
            sweep_interval=settings.recharge_check_interval,
            wakeup=wakeup,
        )

    # --- one pass ---------------------------------------------------------------------

    async def run_once(self) -> int:
        """Claim and execute everything due now; returns how many records were executed."""
        done = 0
        while True:
            async with self.sessions.begin() as session:
                records = await service.claim_due(session, now=self.clock(), rules=self.rules)
                claimed = [r.id for r in records]
            if not claimed:
                return done
            for record_id in claimed:
                await self.execute(record_id)
                done += 1

    async def claim_and_execute(self, record_id: str) -> bool:
        """Claim one specific record (the manual path); False if someone else has it."""
        async with self.sessions.begin() as session:
            records = await service.claim_due(
                session, now=self.clock(), rules=self.rules, record_id=record_id
            )
        if not records:
            return False
        await self.execute(record_id)
        return True

    async def execute(self, record_id: str) -> str:
        """Charge a claimed (``processing``) record and settle the outcome."""
        async with self.sessions.begin() as session:
            record = await session.get(RechargeRecord, record_id)
            assert record is not None
            user = await session.get(User, record.user_id)
            assert user is not None
            snapshot = _Snapshot.of(record, user)
        try:
            result = await self._charge(snapshot)
        except StripeUnavailable as exc:
            async with self.sessions.begin() as session:
                await service.release_for_retry(
                    session,
                    record_id,
                    now=self.clock(),
                    delay_seconds=_RETRY_DELAY_SECONDS * snapshot.attempt_count,
                    error=exc.message,
                )
            log.warning("recharge_retry_later", record_id=record_id, error=exc.message)
            return "retry_later"
        except GatewayError as exc:
            result = ChargeResult(
                outcome=ChargeOutcome.DECLINED,
                payment_intent_id=None,
                failure_code=exc.stripe_code or "stripe_error",
                failure_message=exc.message,
            )
        async with self.sessions.begin() as session:
            outcome = await service.settle(
                session, record_id, result, rules=self.rules, now=self.clock()
            )
        log.info("recharge_settled", record_id=record_id, outcome=outcome)
        return outcome

    async def _charge(self, snap: _Snapshot) -> ChargeResult:
        if snap.payment_intent_id is not None:
            # A re-drive of a charge Stripe already knows: read it, never create again.
            return await self.gateway.retrieve_payment_intent(snap.payment_intent_id)
        if self.clock() - snap.created_at > IDEMPOTENCY_SAFE_AGE:
            found = await self.gateway.find_payment_intent(
                customer_id=snap.customer_id or "",
                metadata_key="recharge_id",
                metadata_value=snap.record_id,
            )
            if found is not None:
                return found
            return ChargeResult(
                outcome=ChargeOutcome.CANCELED,
                payment_intent_id=None,
                failure_code="expired",
                failure_message="not charged within 23 hours; a new recharge will be opened",
            )
        if snap.customer_id is None or snap.payment_method_id is None:
            raise GatewayError(
                "the user has no Stripe customer or card", stripe_code="no_payment_method"
            )
        return await self.gateway.charge_off_session(
            idempotency_key=snap.record_id,
            customer_id=snap.customer_id,
            payment_method_id=snap.payment_method_id,
            amount=snap.total_charge,
            currency=snap.currency,
            metadata={"recharge_id": snap.record_id, "user_id": snap.user_id},
            description=f"Balance recharge {snap.record_id}",
        )

    async def sweep(self) -> int:
        opened = await sweeper.sweep(self.sessions, rules=self.rules, now=self.clock())
        if opened:
            log.info("sweep_opened_recharges", count=opened)
        return opened

    # --- the loop ---------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        listener = await self._listen()
        last_sweep = float("-inf")
        loop = asyncio.get_running_loop()
        try:
            while not stop.is_set():
                try:
                    if loop.time() - last_sweep >= self.sweep_interval:
                        last_sweep = loop.time()
                        await self.sweep()
                    await self.run_once()
                except Exception:  # keep the worker alive; the record stays claimable
                    log.exception("worker_pass_failed")
                await self.wakeup.wait(self.poll_interval)
        finally:
            if listener is not None:
                await listener.close()

    async def _listen(self) -> Any:
        if self.engine.dialect.name != "postgresql":
            return None
        conn = await self.engine.connect()
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        await driver.add_listener(CHANNEL, lambda *_args: self.wakeup.set())
        return conn


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """What the charge needs, read before leaving the transaction."""

    record_id: str
    user_id: str
    customer_id: str | None
    payment_method_id: str | None
    payment_intent_id: str | None
    total_charge: int
    currency: str
    created_at: datetime
    attempt_count: int

    @classmethod
    def of(cls, record: RechargeRecord, user: User) -> _Snapshot:
        return cls(
            record_id=record.id,
            user_id=record.user_id,
            customer_id=user.stripe_customer_id,
            payment_method_id=record.payment_method_id,
            payment_intent_id=record.payment_intent_id,
            total_charge=record.total_charge,
            currency=record.currency,
            created_at=record.created_at,
            attempt_count=record.attempt_count,
        )
