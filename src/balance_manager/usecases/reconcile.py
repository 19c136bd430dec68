"""Reconciliation: compare what Stripe did with what the ledger says, repair what the normal
settle path can repair, report every other difference with its amount.

``balance-manager reconcile --since …`` runs it; so does the worker, every
``RECONCILE_INTERVAL_SECONDS`` (over the last ``RECONCILE_WINDOW_SECONDS``). Each run is
stored (``reconciliation_runs``, with its JSON report) and logged; each unrepaired difference
is also a payment anomaly (``usecases.anomalies``: a table row, an outbox event, a metric).

What is read from Stripe: every PaymentIntent, refund and dispute created since ``since``.
What is compared, and what happens:

- a succeeded PaymentIntent that is a recharge's own but not credited → settle it (the
  credit a lost response and lost webhooks missed): **repaired** ``missed_credit``;
- a PaymentIntent that failed, was canceled or waits for the customer while its recharge is
  still in flight → settle it: **repaired** ``missed_outcome``;
- a succeeded PaymentIntent that names a recharge it does not belong to, or charged one of
  our customers and names none → **difference** ``payment_mismatch`` / ``unmatched_payment``;
- a recharge credited (status ``succeeded``) whose PaymentIntent Stripe does not show as
  succeeded → **difference** ``credit_without_payment``; one marked succeeded without its
  credit → **difference** ``uncredited_payment``;
- a recharge still in flight past Stripe's 24-hour idempotency window → what became of it is
  looked up (its PaymentIntent, or one naming it) and settled; nothing found → ``canceled``
  (``expired``): **repaired** ``stuck_recharge``;
- refunds and disputes → applied as the webhooks would have (``refunds.apply_in``):
  **repaired** ``missed_refund`` / ``missed_dispute`` / ``missed_…_reversal``; those of
  payments that settle no recharge → **difference** ``unmatched_reversal``.

``repair=False`` reports what would be repaired without changing anything (each repair runs
in a transaction that is rolled back). A record a worker touched within
``RECHARGE_PROCESSING_TIMEOUT_SECONDS`` is being charged, not missed, and is left alone.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from balance_manager.domain import money
from balance_manager.domain.states import IN_FLIGHT, AnomalyKind, LedgerKind, RechargeStatus
from balance_manager.payments.gateway import (
    ChargeOutcome,
    ChargeResult,
    StripeGateway,
    StripeNotFound,
)
from balance_manager.payments.stripe_objects import DisputeInfo, RefundInfo
from balance_manager.store.anomalies import Anomaly
from balance_manager.store.models import LedgerEntry, RechargeRecord, ReconciliationRun, User
from balance_manager.usecases import anomalies, charging, refunds
from balance_manager.usecases.services import Services, require_gateway

log = structlog.get_logger(__name__)

CHUNK = 500
# What a recharge's status should be for a PaymentIntent that did not succeed.
_EXPECTED = {
    ChargeOutcome.DECLINED: {RechargeStatus.FAILED, RechargeStatus.CANCELED},
    ChargeOutcome.CANCELED: {RechargeStatus.CANCELED, RechargeStatus.FAILED},
    ChargeOutcome.REQUIRES_ACTION: {
        RechargeStatus.REQUIRES_ACTION,
        RechargeStatus.FAILED,
        RechargeStatus.CANCELED,
    },
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One difference between Stripe and the ledger (``kind`` names it), with its amount in
    minor units of ``currency``."""

    kind: str
    reference: str  # the Stripe object's id (or the record's, when Stripe has nothing)
    detail: str
    amount: int | None = None
    currency: str | None = None
    user_id: str | None = None
    recharge_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        major = None
        if self.amount is not None and self.currency:
            try:
                major = str(money.to_major(self.amount, money.currency(self.currency)))
            except money.MoneyError:
                major = None
        return {
            "kind": self.kind,
            "reference": self.reference,
            "userId": self.user_id,
            "rechargeId": self.recharge_id,
            "amountMinor": self.amount,
            "amount": major,
            "currency": self.currency,
            "detail": self.detail,
        }


@dataclass(slots=True)
class Report:
    since: datetime
    started_at: datetime
    repair: bool
    checked: dict[str, int] = field(default_factory=dict)
    repaired: list[Finding] = field(default_factory=list)
    differences: list[Finding] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def empty(self) -> bool:
        return not self.repaired and not self.differences

    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "startedAt": self.started_at.isoformat(),
            "repair": self.repair,
            "checked": dict(self.checked),
            "repaired": [f.to_json() for f in self.repaired],
            "differences": [f.to_json() for f in self.differences],
            "seconds": round(self.seconds, 3),
        }


@dataclass(slots=True)
class _Ledger:
    """Our side, read once: the records the listed PaymentIntents name or carry, which of
    those PaymentIntents were credited, and which customers are ours."""

    by_intent: dict[str, RechargeRecord] = field(default_factory=dict)
    by_id: dict[str, RechargeRecord] = field(default_factory=dict)
    credited: set[str] = field(default_factory=set)
    customers: dict[str, str] = field(default_factory=dict)  # customer id → user id

    def record_for(self, intent: ChargeResult) -> RechargeRecord | None:
        found = self.by_intent.get(intent.payment_intent_id or "")
        if found is None and intent.recharge_id:
            found = self.by_id.get(intent.recharge_id)
        return found


def _chunks(values: Iterable[str]) -> Iterable[list[str]]:
    items = sorted({v for v in values if v})
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


async def _read_ledger(session: AsyncSession, intents: Sequence[ChargeResult]) -> _Ledger:
    ours = _Ledger()
    ids = [i.payment_intent_id for i in intents if i.payment_intent_id]
    for chunk in _chunks(ids):
        for record in await session.scalars(
            select(RechargeRecord).where(RechargeRecord.payment_intent_id.in_(chunk))
        ):
            ours.by_intent[str(record.payment_intent_id)] = record
            ours.by_id[record.id] = record
        ours.credited.update(
            await session.scalars(
                select(LedgerEntry.reference).where(
                    LedgerEntry.kind == LedgerKind.RECHARGE, LedgerEntry.reference.in_(chunk)
                )
            )
        )
    for chunk in _chunks(i.recharge_id or "" for i in intents):
        for record in await session.scalars(
            select(RechargeRecord).where(RechargeRecord.id.in_(chunk))
        ):
            ours.by_id[record.id] = record
    for chunk in _chunks(i.customer_id or "" for i in intents):
        rows = await session.execute(
            select(User.stripe_customer_id, User.id).where(User.stripe_customer_id.in_(chunk))
        )
        ours.customers.update({str(c): u for c, u in rows})
    return ours


class _Run:
    """The run's state: Services, the report, and the unit of work each repair runs in."""

    def __init__(self, svc: Services, gateway: StripeGateway, report: Report) -> None:
        self.svc = svc
        self.gateway = gateway
        self.report = report

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[AsyncSession]:
        """One transaction: committed when repairing, rolled back in a dry run."""
        async with self.svc.sessions() as session:
            await session.begin()
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            if self.report.repair:
                await session.commit()
            else:
                await session.rollback()

    def busy(self, record: RechargeRecord) -> bool:
        """An in-flight record a worker touched just now: its charge is in progress, not
        missed (settling it too would be harmless, but it is no difference)."""
        quiet = timedelta(seconds=self.svc.rules.processing_timeout_seconds)
        return record.status.in_flight and record.updated_at > self.svc.clock() - quiet

    def repaired(self, finding: Finding) -> None:
        self.report.repaired.append(finding)
        log.info("reconcile_repaired", **finding.to_json())

    def difference(self, finding: Finding) -> None:
        self.report.differences.append(finding)
        log.warning("reconcile_difference", **finding.to_json())

    async def settle(self, record_id: str, result: ChargeResult) -> charging.Settled:
        async with self.unit() as session:
            return await charging.settle_in(
                session, record_id, result, rules=self.svc.rules, now=self.svc.clock()
            )


async def reconcile(svc: Services, *, since: datetime, repair: bool = True) -> Report:
    """Compare Stripe's PaymentIntents, refunds and disputes created since ``since`` with
    the records and the ledger; repair what settling can, report the rest (see the module
    docstring). The report is stored and logged."""
    gateway = require_gateway(svc)
    started = time.perf_counter()
    report = Report(since=since, started_at=svc.clock(), repair=repair)
    run = _Run(svc, gateway, report)

    intents = [i async for i in gateway.list_payment_intents(since=since)]
    found_refunds = [r async for r in gateway.list_refunds(since=since)]
    found_disputes = [d async for d in gateway.list_disputes(since=since)]
    async with svc.reads.begin() as session:
        ours = await _read_ledger(session, intents)
    report.checked = {
        "paymentIntents": len(intents),
        "refunds": len(found_refunds),
        "disputes": len(found_disputes),
    }

    await _payments(run, intents, ours)
    await _credits_without_payment(run, since, intents)
    await _stuck(run)
    await _reversals(run, ours, found_refunds, found_disputes)

    report.seconds = time.perf_counter() - started
    await _store(svc, report)
    log.info(
        "reconcile_done",
        since=since.isoformat(),
        repaired=len(report.repaired),
        differences=len(report.differences),
        seconds=round(report.seconds, 3),
    )
    return report


def _finding(
    kind: str, intent: ChargeResult, detail: str, record: RechargeRecord | None = None
) -> Finding:
    return Finding(
        kind=kind,
        reference=str(intent.payment_intent_id),
        detail=detail,
        amount=intent.amount,
        currency=intent.currency,
        user_id=record.user_id if record is not None else None,
        recharge_id=record.id if record is not None else intent.recharge_id,
    )


async def _payments(run: _Run, intents: Sequence[ChargeResult], ours: _Ledger) -> None:
    for intent in intents:
        record = ours.record_for(intent)
        pi = str(intent.payment_intent_id)
        if record is None:
            if intent.outcome is ChargeOutcome.SUCCEEDED and (
                intent.recharge_id or intent.customer_id in ours.customers
            ):
                await _unmatched_payment(run, intent, ours)
            continue
        if run.busy(record):
            continue
        if intent.outcome is ChargeOutcome.SUCCEEDED:
            if (
                record.payment_intent_id == pi
                and record.status is RechargeStatus.SUCCEEDED
                and pi in ours.credited
            ):
                continue
            settled = await run.settle(record.id, intent)
            if settled is charging.Settled.CREDITED:
                run.repaired(
                    _finding("missed_credit", intent, "succeeded, was not credited", record)
                )
            elif settled is charging.Settled.ANOMALY:
                run.difference(
                    _finding(
                        AnomalyKind.PAYMENT_MISMATCH,
                        intent,
                        f"succeeded, names recharge {record.id} but is not its PaymentIntent",
                        record,
                    )
                )
            elif settled is charging.Settled.ALREADY_SUCCEEDED and pi not in ours.credited:
                finding = _finding(
                    AnomalyKind.UNCREDITED_PAYMENT,
                    intent,
                    f"succeeded, recharge {record.id} marked succeeded without a credit",
                    record,
                )
                async with run.unit() as session:
                    await anomalies.record(
                        await session.connection(), _anomaly(finding), now=run.svc.clock()
                    )
                run.difference(finding)
            continue
        expected = _EXPECTED.get(intent.outcome)
        if expected is None or record.payment_intent_id not in (None, pi):
            continue  # processing (wait), or an earlier attempt of a record that has another
        if record.status in expected or record.status is RechargeStatus.SUCCEEDED:
            continue
        settled = await run.settle(record.id, intent)
        run.repaired(
            _finding(
                "missed_outcome",
                intent,
                f"{intent.outcome}, recharge was {record.status}: now {settled}",
                record,
            )
        )


async def _unmatched_payment(run: _Run, intent: ChargeResult, ours: _Ledger) -> None:
    detail = (
        f"succeeded, names recharge {intent.recharge_id}, which does not exist"
        if intent.recharge_id
        else "succeeded, one of our customers, settles no recharge"
    )
    async with run.unit() as session:
        await anomalies.record_payment(
            await session.connection(),
            intent,
            kind=AnomalyKind.UNMATCHED_PAYMENT,
            detail=detail,
            recharge_id=intent.recharge_id,
            now=run.svc.clock(),
        )
    finding = _finding(AnomalyKind.UNMATCHED_PAYMENT, intent, detail)
    run.difference(replace(finding, user_id=ours.customers.get(intent.customer_id or "")))


async def _credits_without_payment(
    run: _Run, since: datetime, intents: Sequence[ChargeResult]
) -> None:
    """Records credited in the window whose PaymentIntent Stripe does not show succeeded."""
    succeeded = {i.payment_intent_id for i in intents if i.outcome is ChargeOutcome.SUCCEEDED}
    async with run.svc.reads.begin() as session:
        credited = list(
            await session.scalars(
                select(RechargeRecord).where(
                    RechargeRecord.created_at >= since,
                    RechargeRecord.status == RechargeStatus.SUCCEEDED,
                )
            )
        )
    for record in credited:
        if record.payment_intent_id in succeeded:
            continue
        state = "no PaymentIntent"
        if record.payment_intent_id is not None:
            try:  # not in the list: look it up before calling it a difference
                intent = await run.gateway.retrieve_payment_intent(record.payment_intent_id)
            except StripeNotFound:
                state = f"PaymentIntent {record.payment_intent_id} not found"
            else:
                if intent.outcome is ChargeOutcome.SUCCEEDED:
                    continue
                state = f"PaymentIntent {record.payment_intent_id} is {intent.outcome}"
        finding = Finding(
            kind=AnomalyKind.CREDIT_WITHOUT_PAYMENT,
            reference=record.payment_intent_id or record.id,
            detail=f"recharge {record.id} is credited; Stripe: {state}",
            amount=record.total_charge,
            currency=record.currency,
            user_id=record.user_id,
            recharge_id=record.id,
        )
        async with run.unit() as session:
            await anomalies.record(
                await session.connection(), _anomaly(finding), now=run.svc.clock()
            )
        run.difference(finding)


async def _stuck(run: _Run) -> None:
    """Records still in flight past Stripe's 24-hour idempotency window: ask Stripe what
    became of them (the charge path's own look-up) and settle that."""
    cutoff = run.svc.clock() - charging.IDEMPOTENCY_SAFE_AGE
    async with run.svc.reads.begin() as session:
        rows = (
            await session.execute(
                select(RechargeRecord, User.stripe_customer_id)
                .join(User, User.id == RechargeRecord.user_id)
                .where(
                    RechargeRecord.status.in_([str(s) for s in IN_FLIGHT]),
                    RechargeRecord.created_at < cutoff,
                )
            )
        ).all()
    for record, customer_id in rows:
        if record.status is RechargeStatus.REQUIRES_ACTION or run.busy(record):
            continue  # waiting for the customer, or being charged right now: not stuck
        job = charging.Charge.of(record, customer_id)
        result = await charging.charge(run.gateway, job, now=run.svc.clock())
        settled = await run.settle(record.id, result)
        run.repaired(
            Finding(
                kind="stuck_recharge",
                reference=result.payment_intent_id or record.id,
                detail=f"{record.status} since {record.created_at.isoformat()}: now {settled}",
                amount=record.total_charge,
                currency=record.currency,
                user_id=record.user_id,
                recharge_id=record.id,
            )
        )


async def _reversals(
    run: _Run,
    ours: _Ledger,
    found_refunds: Sequence[RefundInfo],
    found_disputes: Sequence[DisputeInfo],
) -> None:
    """Refunds and disputes, applied as the webhooks would have: every PaymentIntent that has
    one in the window is re-read whole and applied; what that changes was missed."""
    items: list[RefundInfo | DisputeInfo] = [*found_refunds, *found_disputes]
    intents = sorted({i.payment_intent_id for i in items if i.payment_intent_id})
    for payment_intent_id in intents:
        try:
            found = await run.gateway.retrieve_reversals(payment_intent_id)
        except StripeNotFound:
            continue
        async with run.unit() as session:
            applied = await refunds.apply_in(session, found, svc=run.svc, now=run.svc.clock())
        for change in applied.changes:
            run.repaired(
                Finding(
                    kind=f"missed_{change.kind}",
                    reference=change.reversal_id,
                    detail=f"{change.kind} of recharge {change.recharge_id}: balance "
                    f"{'+' if change.credit >= 0 else ''}{change.credit} minor units",
                    amount=change.amount,
                    currency=change.currency,
                    user_id=change.user_id,
                    recharge_id=change.recharge_id,
                )
            )
        if applied.outcome == "unmatched":
            unmatched: list[RefundInfo | DisputeInfo] = [*found.refunds, *found.disputes]
            for item in filter(refunds.takes_money, unmatched):
                run.difference(
                    Finding(
                        kind=AnomalyKind.UNMATCHED_REVERSAL,
                        reference=item.id,
                        detail=f"{item.status}, of PaymentIntent {payment_intent_id}, which "
                        "settles no recharge",
                        amount=item.amount,
                        currency=item.currency,
                        recharge_id=found.intent.recharge_id,
                        user_id=ours.customers.get(found.intent.customer_id or ""),
                    )
                )


def _anomaly(finding: Finding) -> Anomaly:
    return Anomaly(
        kind=AnomalyKind(finding.kind),
        reference=finding.reference,
        detail=finding.detail,
        user_id=finding.user_id,
        recharge_id=finding.recharge_id,
        amount=finding.amount,
        currency=finding.currency,
    )


async def _store(svc: Services, report: Report) -> None:
    if not report.repair:
        return
    async with svc.sessions.begin() as session:
        session.add(
            ReconciliationRun(
                started_at=report.started_at,
                finished_at=svc.clock(),
                since=report.since,
                repaired=len(report.repaired),
                differences=len(report.differences),
                report=report.to_json(),
            )
        )


async def last_run_started(svc: Services) -> datetime | None:
    """When the latest stored run started (the worker's daily schedule reads it)."""
    async with svc.reads.begin() as session:
        found: datetime | None = await session.scalar(
            select(ReconciliationRun.started_at)
            .order_by(ReconciliationRun.started_at.desc())
            .limit(1)
        )
        return found


def table(report: Report) -> str:
    """The report as a plain-text table for a terminal."""
    rows = [("", "kind", "reference", "amount", "recharge", "detail")]
    for label, findings in (("repaired", report.repaired), ("DIFF", report.differences)):
        for f in findings:
            amount = f.to_json()["amount"]
            rows.append(
                (
                    label,
                    f.kind,
                    f.reference,
                    f"{amount} {(f.currency or '').upper()}".strip() if amount else "",
                    f.recharge_id or "",
                    f.detail,
                )
            )
    checked = ", ".join(f"{n} {what}" for what, n in report.checked.items())
    head = (
        f"reconciled since {report.since.isoformat()}: checked {checked}; "
        f"{len(report.repaired)} repaired, {len(report.differences)} differences"
    )
    if len(rows) == 1:
        return head
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths, strict=False)) + "  " + r[-1]
        for r in rows
    ]
    return head + "\n" + "\n".join(line.rstrip() for line in lines)


def parse_since(value: str, *, now: datetime) -> datetime:
    """``--since``: an ISO 8601 time (UTC when it has no offset) or a duration back from now
    (``90m``, ``36h``, ``7d``)."""
    text = value.strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text[-1:].lower() in units and text[:-1].isdigit():
        return now - timedelta(seconds=int(text[:-1]) * units[text[-1].lower()])
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=now.tzinfo)
    return parsed
