"""The recharge state machine: what Stripe's answer means for a recharge. Pure.

``usecases.charging`` locks the record and its user, calls :func:`settle` with what it read
and what Stripe answered, and writes the :class:`Transition` it gets back: the record and the
user's failure state as they are after, the ledger credit, the anomaly and the operator
events. The worker (the charge's response), Stripe's webhooks, refresh, cancel, expiry and
reconciliation all settle through it, so whichever gets there first decides and the others
find nothing left to do.

The rules, in the order :func:`settle` applies them:

1. Only the record's own PaymentIntent settles it (``matching.mismatch``). Another one
   changes nothing; when it took money it becomes a payment anomaly for the operator.
2. A succeeded PaymentIntent is credited whatever the record's status says (a customer may
   complete authentication on a PaymentIntent we had given up on): money taken is never
   lost. The credit is keyed by the PaymentIntent id, so it lands once; a record already
   ``succeeded`` is left as it is.
3. Anything else never moves a record out of a terminal status, so late or duplicate events
   are harmless.
4. ``processing`` waits; ``requires_action`` waits for the customer; ``canceled`` says why
   (the reason the canceler gave, else Stripe's).
5. A decline fails the record, counts towards the pause and backs off, doubling
   (``RechargeRules.backoff_after``); the n-th decline in a row
   (``max_consecutive_failures``) pauses auto-recharge, once. Stripe refusing the *amount*
   (``charge_limits.is_amount_refusal``) is not a decline of the card: it waits the base
   backoff once, and neither counts nor pauses.

A different default card is a new chance (:func:`new_default_card`): the declines were the
old card's, so they are forgotten, the pause is lifted and the backoff ends at once; below the
minimum the recharge opens now (trigger ``card``), as it does for the first card.

What an answer can do to each status::

    pending, processing, requires_action ──> succeeded | processing | requires_action
                                             | canceled | failed
    failed, canceled ──> succeeded (a late success; anything else is ignored)
    succeeded ──> succeeded (nothing changes, nothing is credited again)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from balance_manager.domain import charge_limits, events, matching, posting
from balance_manager.domain.charges import ChargeOutcome, ChargeResult
from balance_manager.domain.policy import RechargeRules
from balance_manager.domain.states import (
    AnomalyKind,
    EventType,
    LedgerKind,
    RechargeStatus,
    TriggerSource,
)


class Settled(StrEnum):
    """What settling did (kept in logs and in ``stripe_events.outcome``)."""

    CREDITED = "credited"
    ALREADY_SUCCEEDED = "already_succeeded"
    PROCESSING = "processing"
    REQUIRES_ACTION = "requires_action"
    CANCELED = "canceled"
    FAILED = "failed"
    FAILED_PAUSED = "failed_paused"
    IGNORED_TERMINAL = "ignored_terminal"
    # Not the record's PaymentIntent: nothing changes (and, had it taken money, an anomaly).
    PAYMENT_INTENT_MISMATCH = "payment_intent_mismatch"
    ANOMALY = "anomaly_recorded"
    UNKNOWN_RECORD = "unknown_record"
    RETRY_LATER = "retry_later"


@dataclass(frozen=True, slots=True)
class Recharge:
    """A recharge record as settling reads it and leaves it (the store's column names)."""

    id: str
    user_id: str
    status: RechargeStatus
    amount: int
    fee: int
    total_charge: int
    currency: str
    payment_intent_id: str | None
    updated_at: datetime
    failure_code: str | None = None
    failure_message: str | None = None
    next_attempt_at: datetime | None = None
    completed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Failures:
    """The user's declines in a row and the pause they caused (``balance_configs``)."""

    consecutive_failures: int = 0
    paused_reason: str | None = None
    paused_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Anomaly:
    """A succeeded PaymentIntent that is not the record's own: the operator must see it."""

    kind: AnomalyKind
    detail: str


@dataclass(frozen=True, slots=True)
class Transition:
    """What an answer does to a recharge: ``recharge`` and ``failures`` as they are after it
    (unchanged when it is not the record's to settle), the credit to post, the anomaly to
    record and the operator events to write (:meth:`events`)."""

    settled: Settled
    recharge: Recharge
    failures: Failures
    credit: posting.Posting | None = None
    anomaly: Anomaly | None = None
    mismatch: matching.Mismatch | None = None
    emits: tuple[EventType, ...] = ()

    def events(self, *, balance_after_credit: int | None = None) -> list[events.Event]:
        """The operator events, from the recharge as it is after; ``balance_after_credit``
        (known once the ledger has posted the credit) goes into ``recharge.succeeded``."""
        r, f = self.recharge, self.failures
        built = []
        for kind in self.emits:
            if kind is EventType.RECHARGE_SUCCEEDED:
                built.append(events.recharge_succeeded(r, balance=balance_after_credit))
            elif kind is EventType.RECHARGE_REQUIRES_ACTION:
                built.append(events.recharge_requires_action(r))
            elif kind is EventType.RECHARGE_CANCELED:
                built.append(events.recharge_canceled(r, reason=str(r.failure_code)))
            elif kind is EventType.RECHARGE_FAILED:
                built.append(events.recharge_failed(r, failure_code=str(r.failure_code)))
            elif kind is EventType.AUTO_RECHARGE_PAUSED:
                built.append(events.auto_recharge_paused(r, reason=str(f.paused_reason)))
            else:  # pragma: no cover - settle emits no other type
                raise AssertionError(kind)
        return built


def settle(
    recharge: Recharge,
    failures: Failures,
    answer: ChargeResult,
    *,
    customer_id: str | None,
    rules: RechargeRules,
    now: datetime,
) -> Transition:
    """What ``answer`` (Stripe's word on a PaymentIntent) does to ``recharge``, whose user is
    Stripe's ``customer_id`` and has ``failures`` (see the module docstring for the rules)."""
    if answer.payment_intent_id:
        problem = matching.mismatch(
            matching.Claimant(
                recharge.payment_intent_id, customer_id, recharge.total_charge, recharge.currency
            ),
            matching.Intent(
                answer.payment_intent_id, answer.customer_id, answer.amount, answer.currency
            ),
        )
        if problem is not None:
            if answer.outcome is not ChargeOutcome.SUCCEEDED:
                return Transition(
                    Settled.PAYMENT_INTENT_MISMATCH, recharge, failures, mismatch=problem
                )
            detail = (
                f"succeeded PaymentIntent names recharge {recharge.id} but its {problem} "
                "does not match the recharge's"
            )
            return Transition(
                Settled.ANOMALY,
                recharge,
                failures,
                anomaly=Anomaly(AnomalyKind.PAYMENT_MISMATCH, detail),
                mismatch=problem,
            )
        recharge = replace(recharge, payment_intent_id=answer.payment_intent_id)
    recharge = replace(recharge, updated_at=now)

    if answer.outcome is ChargeOutcome.SUCCEEDED:
        if recharge.status is RechargeStatus.SUCCEEDED:
            return Transition(Settled.ALREADY_SUCCEEDED, recharge, failures)
        credit = posting.Posting(
            user_id=recharge.user_id,
            kind=LedgerKind.RECHARGE,
            amount=recharge.amount,
            reference=str(recharge.payment_intent_id),
            description=f"recharge {recharge.id}",
        )
        credited = replace(
            recharge,
            status=RechargeStatus.SUCCEEDED,
            completed_at=now,
            failure_code=None,
            failure_message=None,
        )
        return Transition(
            Settled.CREDITED,
            credited,
            replace(failures, consecutive_failures=0),
            credit=credit,
            emits=(EventType.RECHARGE_SUCCEEDED,),
        )

    if recharge.status.terminal:
        return Transition(Settled.IGNORED_TERMINAL, recharge, failures)

    if answer.outcome is ChargeOutcome.PROCESSING:
        waiting = replace(recharge, status=RechargeStatus.PROCESSING)
        return Transition(Settled.PROCESSING, waiting, failures)
    if answer.outcome is ChargeOutcome.REQUIRES_ACTION:
        waiting = replace(
            recharge,
            status=RechargeStatus.REQUIRES_ACTION,
            failure_code=answer.failure_code or "authentication_required",
            failure_message=answer.failure_message or "the customer must authenticate this payment",
        )
        return Transition(
            Settled.REQUIRES_ACTION,
            waiting,
            failures,
            emits=(EventType.RECHARGE_REQUIRES_ACTION,),
        )
    if answer.outcome is ChargeOutcome.CANCELED:
        # The canceler's reason (``charging.canceled_because``), else a bare cancel at Stripe.
        canceled = replace(
            recharge,
            status=RechargeStatus.CANCELED,
            completed_at=now,
            failure_code=answer.failure_code or "canceled",
            failure_message=answer.failure_message or "the PaymentIntent was canceled",
        )
        return Transition(
            Settled.CANCELED, canceled, failures, emits=(EventType.RECHARGE_CANCELED,)
        )

    failed = replace(
        recharge,
        status=RechargeStatus.FAILED,
        completed_at=now,
        failure_code=answer.failure_code or "card_declined",
        failure_message=answer.failure_message or "the card was declined",
    )
    if charge_limits.is_amount_refusal(failed.failure_code):
        # Stripe refused the amount, not the card: no decline counted, no pause. The record
        # still waits the base backoff once, so that a currency whose limits we do not know
        # is not asked again at every usage event.
        failed = replace(failed, next_attempt_at=now + timedelta(seconds=rules.backoff_seconds))
        return Transition(Settled.FAILED, failed, failures, emits=(EventType.RECHARGE_FAILED,))

    declines = failures.consecutive_failures + 1
    failed = replace(failed, next_attempt_at=now + timedelta(seconds=rules.backoff_after(declines)))
    if declines >= rules.max_consecutive_failures and failures.paused_reason is None:
        paused = Failures(
            consecutive_failures=declines,
            paused_reason=f"{declines} consecutive failed recharges (last: {failed.failure_code})",
            paused_at=now,
        )
        return Transition(
            Settled.FAILED_PAUSED,
            failed,
            paused,
            emits=(EventType.RECHARGE_FAILED, EventType.AUTO_RECHARGE_PAUSED),
        )
    return Transition(
        Settled.FAILED,
        failed,
        replace(failures, consecutive_failures=declines),
        emits=(EventType.RECHARGE_FAILED,),
    )


@dataclass(frozen=True, slots=True)
class NewCard:
    """What a different default card does: ``failures`` as they are after it (none), the
    moment every backoff of the user's failed recharges ends, and the automatic recharge to
    ask :func:`policy.decide <balance_manager.domain.policy.decide>` for at once."""

    failures: Failures
    backoff_ends_at: datetime
    trigger: TriggerSource = TriggerSource.CARD


def new_default_card(*, before: str | None, after: str | None, now: datetime) -> NewCard | None:
    """The one rule for every path that sets the default card (the Payment Element, the
    Customer Portal's ``customer.updated``, the API's "make default", a removal that promotes
    another card): a card other than ``before`` is a new chance — the declines in a row are
    forgotten, the pause is lifted ("until the card changes or the customer re-enables") and
    the backoff ends ``now``. None when nothing changes: the same card, or no card left (the
    pause and the backoff stay; there is nothing to charge)."""
    if after is None or after == before:
        return None
    return NewCard(Failures(), backoff_ends_at=now)
