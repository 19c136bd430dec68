"""The recharge state machine (``domain.settlement.settle``): every transition, from a table.

Each row is a record (status, PaymentIntent, failure state), what Stripe answered, and what
must come out: the outcome, the record and the pause state after, the credit, the anomaly
and the operator events. The expectations are written out, not computed."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from balance_manager.domain import posting
from balance_manager.domain.charges import ChargeOutcome, ChargeResult
from balance_manager.domain.matching import Mismatch
from balance_manager.domain.policy import FeeRule, RechargeRules
from balance_manager.domain.settlement import (
    Failures,
    NewCard,
    Recharge,
    Settled,
    new_default_card,
    settle,
)
from balance_manager.domain.states import (
    AnomalyKind,
    EventType,
    LedgerKind,
    RechargeStatus,
    TriggerSource,
)

RULES = RechargeRules(FeeRule(Decimal("0.029")), max_consecutive_failures=3, backoff_seconds=300)
OPENED = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
NOW = OPENED + timedelta(minutes=2)
CUSTOMER = "cus_1"

# The worked example: 650.00 + 18.85 fee = 668.85, in minor units.
RECORD = Recharge(
    id="rec_1",
    user_id="usr_1",
    status=RechargeStatus.PROCESSING,
    amount=65000,
    fee=1885,
    total_charge=66885,
    currency="usd",
    payment_intent_id=None,
    updated_at=OPENED,
)


def answer(outcome: ChargeOutcome, **fields: Any) -> ChargeResult:
    """Stripe's answer for the record's own PaymentIntent, unless ``fields`` say otherwise."""
    base: dict[str, Any] = {
        "payment_intent_id": "pi_1",
        "customer_id": CUSTOMER,
        "amount": 66885,
        "currency": "usd",
    }
    return ChargeResult(outcome, **{**base, **fields})


def record(**fields: Any) -> Recharge:
    return dataclasses.replace(RECORD, **fields)


def after(**fields: Any) -> Recharge:
    """The record after a transition that settled it: its PaymentIntent bound, stamped now."""
    return dataclasses.replace(RECORD, payment_intent_id="pi_1", updated_at=NOW, **fields)


def credit(reference: str = "pi_1") -> posting.Posting:
    return posting.Posting(
        user_id="usr_1",
        kind=LedgerKind.RECHARGE,
        amount=65000,
        reference=reference,
        description="recharge rec_1",
    )


def later(seconds: int) -> datetime:
    return NOW + timedelta(seconds=seconds)


PAUSED = Failures(3, "3 consecutive failed recharges (last: card_declined)", OPENED)
DECLINED_AT_LAST = dict(completed_at=NOW, failure_code="card_declined")


@dataclass(frozen=True)
class Case:
    id: str
    before: Recharge
    answer: ChargeResult
    settled: Settled
    after: Recharge
    failures_before: Failures = field(default_factory=Failures)
    failures_after: Failures | None = None  # None: as before
    credit: posting.Posting | None = None
    anomaly: AnomalyKind | None = None
    mismatch: Mismatch | None = None
    events: tuple[EventType, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)  # what the last event adds


CASES = [
    # ------------------------------------------------------------------ succeeded
    Case(
        "succeeded",
        RECORD,
        answer(ChargeOutcome.SUCCEEDED),
        Settled.CREDITED,
        after(status=RechargeStatus.SUCCEEDED, completed_at=NOW),
        credit=credit(),
        events=(EventType.RECHARGE_SUCCEEDED,),
        extra={"balanceMinor": 60000},
    ),
    Case(
        "succeeded-resets-the-declines",
        RECORD,
        answer(ChargeOutcome.SUCCEEDED),
        Settled.CREDITED,
        after(status=RechargeStatus.SUCCEEDED, completed_at=NOW),
        failures_before=Failures(2),
        failures_after=Failures(0),
        credit=credit(),
        events=(EventType.RECHARGE_SUCCEEDED,),
        extra={"balanceMinor": 60000},
    ),
    Case(
        "succeeded-keeps-a-pause",  # only the card or the customer lifts a pause
        RECORD,
        answer(ChargeOutcome.SUCCEEDED),
        Settled.CREDITED,
        after(status=RechargeStatus.SUCCEEDED, completed_at=NOW),
        failures_before=PAUSED,
        failures_after=dataclasses.replace(PAUSED, consecutive_failures=0),
        credit=credit(),
        events=(EventType.RECHARGE_SUCCEEDED,),
        extra={"balanceMinor": 60000},
    ),
    Case(
        "succeeded-after-authentication",
        record(
            status=RechargeStatus.REQUIRES_ACTION,
            payment_intent_id="pi_1",
            failure_code="authentication_required",
            failure_message="the customer must authenticate this payment",
        ),
        answer(ChargeOutcome.SUCCEEDED),
        Settled.CREDITED,
        after(status=RechargeStatus.SUCCEEDED, completed_at=NOW),
        credit=credit(),
        events=(EventType.RECHARGE_SUCCEEDED,),
        extra={"balanceMinor": 60000},
    ),
    Case(
        "late-success-after-a-failure",
        record(
            status=RechargeStatus.FAILED,
            payment_intent_id="pi_1",
            failure_code="card_declined",
            failure_message="the card was declined",
            completed_at=OPENED,
            next_attempt_at=OPENED + timedelta(seconds=300),
        ),
        answer(ChargeOutcome.SUCCEEDED),
        Settled.CREDITED,
        after(
            status=RechargeStatus.SUCCEEDED,
            completed_at=NOW,
            next_attempt_at=OPENED + timedelta(seconds=300),
        ),
        failures_before=Failures(1),
        failures_after=Failures(0),
        credit=credit(),
        events=(EventType.RECHARGE_SUCCEEDED,),
        extra={"balanceMinor": 60000},
    ),
    Case(
        "late-success-after-a-cancel",
        record(
            status=RechargeStatus.CANCELED,
            payment_intent_id="pi_1",
            failure_code="action_expired",
            failure_message="the customer did not authenticate within 24 hours; canceled",
            completed_at=OPENED,
        ),
        answer(ChargeOutcome.SUCCEEDED),
        Settled.CREDITED,
        after(status=RechargeStatus.SUCCEEDED, completed_at=NOW),
        credit=credit(),
        events=(EventType.RECHARGE_SUCCEEDED,),
        extra={"balanceMinor": 60000},
    ),
    Case(
        "own-payment-intent-of-a-deleted-customer",  # once bound, the customer is not asked
        record(payment_intent_id="pi_1"),
        answer(ChargeOutcome.SUCCEEDED, customer_id=None),
        Settled.CREDITED,
        after(status=RechargeStatus.SUCCEEDED, completed_at=NOW),
        credit=credit(),
        events=(EventType.RECHARGE_SUCCEEDED,),
        extra={"balanceMinor": 60000},
    ),
    Case(
        "already-succeeded",
        record(status=RechargeStatus.SUCCEEDED, payment_intent_id="pi_1", completed_at=OPENED),
        answer(ChargeOutcome.SUCCEEDED),
        Settled.ALREADY_SUCCEEDED,
        after(status=RechargeStatus.SUCCEEDED, completed_at=OPENED),
    ),
    # ------------------------------------------------------------------ declines
    Case(
        "declined-first",
        RECORD,
        answer(ChargeOutcome.DECLINED, failure_code="insufficient_funds", failure_message="no"),
        Settled.FAILED,
        after(
            status=RechargeStatus.FAILED,
            completed_at=NOW,
            failure_code="insufficient_funds",
            failure_message="no",
            next_attempt_at=later(300),
        ),
        failures_after=Failures(1),
        events=(EventType.RECHARGE_FAILED,),
        extra={"failureCode": "insufficient_funds"},
    ),
    Case(
        "declined-second-backs-off-twice-as-long",
        RECORD,
        answer(ChargeOutcome.DECLINED, failure_code="card_declined"),
        Settled.FAILED,
        after(
            status=RechargeStatus.FAILED,
            failure_message="the card was declined",
            next_attempt_at=later(600),
            **DECLINED_AT_LAST,
        ),
        failures_before=Failures(1),
        failures_after=Failures(2),
        events=(EventType.RECHARGE_FAILED,),
        extra={"failureCode": "card_declined"},
    ),
    Case(
        "declined-third-pauses",
        RECORD,
        answer(ChargeOutcome.DECLINED, failure_code="card_declined"),
        Settled.FAILED_PAUSED,
        after(
            status=RechargeStatus.FAILED,
            failure_message="the card was declined",
            next_attempt_at=later(1200),
            **DECLINED_AT_LAST,
        ),
        failures_before=Failures(2),
        failures_after=Failures(3, "3 consecutive failed recharges (last: card_declined)", NOW),
        events=(EventType.RECHARGE_FAILED, EventType.AUTO_RECHARGE_PAUSED),
        extra={"reason": "3 consecutive failed recharges (last: card_declined)"},
    ),
    Case(
        "declined-after-the-pause-counts-but-pauses-once",  # an operator's override charge
        RECORD,
        answer(ChargeOutcome.DECLINED, failure_code="card_declined"),
        Settled.FAILED,
        after(
            status=RechargeStatus.FAILED,
            failure_message="the card was declined",
            next_attempt_at=later(2400),
            **DECLINED_AT_LAST,
        ),
        failures_before=PAUSED,
        failures_after=dataclasses.replace(PAUSED, consecutive_failures=4),
        events=(EventType.RECHARGE_FAILED,),
        extra={"failureCode": "card_declined"},
    ),
    Case(
        "declined-by-a-gateway-error-without-a-payment-intent",
        RECORD,
        ChargeResult(ChargeOutcome.DECLINED, payment_intent_id=None),
        Settled.FAILED,
        dataclasses.replace(
            RECORD,
            updated_at=NOW,
            status=RechargeStatus.FAILED,
            failure_message="the card was declined",
            next_attempt_at=later(300),
            **DECLINED_AT_LAST,
        ),
        failures_after=Failures(1),
        events=(EventType.RECHARGE_FAILED,),
        extra={"failureCode": "card_declined"},
    ),
    Case(
        "amount-too-small-is-not-a-decline",
        RECORD,
        answer(ChargeOutcome.DECLINED, failure_code="amount_too_small", failure_message="min"),
        Settled.FAILED,
        after(
            status=RechargeStatus.FAILED,
            completed_at=NOW,
            failure_code="amount_too_small",
            failure_message="min",
            next_attempt_at=later(300),  # the base backoff, whatever the count
        ),
        failures_before=Failures(2),  # one more decline would pause; this one does not
        events=(EventType.RECHARGE_FAILED,),
        extra={"failureCode": "amount_too_small"},
    ),
    Case(
        "amount-too-large-is-not-a-decline",
        RECORD,
        answer(ChargeOutcome.DECLINED, failure_code="amount_too_large"),
        Settled.FAILED,
        after(
            status=RechargeStatus.FAILED,
            completed_at=NOW,
            failure_code="amount_too_large",
            failure_message="the card was declined",
            next_attempt_at=later(300),
        ),
        failures_before=Failures(1),
        events=(EventType.RECHARGE_FAILED,),
        extra={"failureCode": "amount_too_large"},
    ),
    # ------------------------------------------------------------------ waiting
    Case(
        "needs-authentication",
        RECORD,
        answer(ChargeOutcome.REQUIRES_ACTION),
        Settled.REQUIRES_ACTION,
        after(
            status=RechargeStatus.REQUIRES_ACTION,
            failure_code="authentication_required",
            failure_message="the customer must authenticate this payment",
        ),
        events=(EventType.RECHARGE_REQUIRES_ACTION,),
    ),
    Case(
        "needs-authentication-in-stripes-words",
        RECORD,
        answer(ChargeOutcome.REQUIRES_ACTION, failure_code="card_velocity", failure_message="3ds"),
        Settled.REQUIRES_ACTION,
        after(
            status=RechargeStatus.REQUIRES_ACTION,
            failure_code="card_velocity",
            failure_message="3ds",
        ),
        failures_before=Failures(1),
        events=(EventType.RECHARGE_REQUIRES_ACTION,),
    ),
    Case(
        "processing",
        record(status=RechargeStatus.PENDING),
        answer(ChargeOutcome.PROCESSING),
        Settled.PROCESSING,
        after(status=RechargeStatus.PROCESSING),
    ),
    # ------------------------------------------------------------------ canceled
    Case(
        "canceled-at-stripe",
        RECORD,
        answer(ChargeOutcome.CANCELED),
        Settled.CANCELED,
        after(
            status=RechargeStatus.CANCELED,
            completed_at=NOW,
            failure_code="canceled",
            failure_message="the PaymentIntent was canceled",
        ),
        events=(EventType.RECHARGE_CANCELED,),
        extra={"reason": "canceled"},
    ),
    Case(
        "canceled-with-a-reason",
        record(status=RechargeStatus.REQUIRES_ACTION, payment_intent_id="pi_1"),
        answer(
            ChargeOutcome.CANCELED,
            failure_code="canceled_on_request",
            failure_message="canceled by the customer",
        ),
        Settled.CANCELED,
        after(
            status=RechargeStatus.CANCELED,
            completed_at=NOW,
            failure_code="canceled_on_request",
            failure_message="canceled by the customer",
        ),
        failures_before=Failures(1),
        events=(EventType.RECHARGE_CANCELED,),
        extra={"reason": "canceled_on_request"},
    ),
    Case(
        "expired-before-stripe-was-asked",  # charging.charge, past the idempotency window
        RECORD,
        ChargeResult(
            ChargeOutcome.CANCELED,
            payment_intent_id=None,
            failure_code="expired",
            failure_message="not charged within 23 hours; a new recharge will be opened",
        ),
        Settled.CANCELED,
        dataclasses.replace(
            RECORD,
            updated_at=NOW,
            status=RechargeStatus.CANCELED,
            completed_at=NOW,
            failure_code="expired",
            failure_message="not charged within 23 hours; a new recharge will be opened",
        ),
        events=(EventType.RECHARGE_CANCELED,),
        extra={"reason": "expired"},
    ),
    Case(
        "authentication-expired",  # usecases.expiry
        record(status=RechargeStatus.REQUIRES_ACTION, payment_intent_id="pi_1"),
        answer(ChargeOutcome.CANCELED, failure_code="action_expired", failure_message="late"),
        Settled.CANCELED,
        after(
            status=RechargeStatus.CANCELED,
            completed_at=NOW,
            failure_code="action_expired",
            failure_message="late",
        ),
        events=(EventType.RECHARGE_CANCELED,),
        extra={"reason": "action_expired"},
    ),
    # ------------------------------------------------------------------ not the record's
    Case(
        "customer-mismatch-that-took-money",
        RECORD,
        answer(ChargeOutcome.SUCCEEDED, payment_intent_id="pi_a", customer_id="cus_a"),
        Settled.ANOMALY,
        RECORD,
        failures_before=Failures(1),
        anomaly=AnomalyKind.PAYMENT_MISMATCH,
        mismatch=Mismatch.CUSTOMER,
    ),
    Case(
        "customer-mismatch-that-took-nothing",
        RECORD,
        answer(ChargeOutcome.DECLINED, payment_intent_id="pi_a", customer_id="cus_a"),
        Settled.PAYMENT_INTENT_MISMATCH,
        RECORD,
        failures_before=Failures(2),  # a foreign decline must not pause this user
        mismatch=Mismatch.CUSTOMER,
    ),
    Case(
        "amount-mismatch-that-took-money",
        RECORD,
        answer(ChargeOutcome.SUCCEEDED, amount=100),
        Settled.ANOMALY,
        RECORD,
        anomaly=AnomalyKind.PAYMENT_MISMATCH,
        mismatch=Mismatch.AMOUNT,
    ),
    Case(
        "amount-mismatch-still-processing",
        RECORD,
        answer(ChargeOutcome.PROCESSING, amount=100),
        Settled.PAYMENT_INTENT_MISMATCH,
        RECORD,
        mismatch=Mismatch.AMOUNT,
    ),
    Case(
        "currency-mismatch-that-took-money",
        RECORD,
        answer(ChargeOutcome.SUCCEEDED, currency="eur"),
        Settled.ANOMALY,
        RECORD,
        anomaly=AnomalyKind.PAYMENT_MISMATCH,
        mismatch=Mismatch.CURRENCY,
    ),
    Case(
        "another-payment-intent-than-the-records-own",
        record(status=RechargeStatus.REQUIRES_ACTION, payment_intent_id="pi_1"),
        answer(ChargeOutcome.SUCCEEDED, payment_intent_id="pi_2"),
        Settled.ANOMALY,
        record(status=RechargeStatus.REQUIRES_ACTION, payment_intent_id="pi_1"),
        anomaly=AnomalyKind.PAYMENT_MISMATCH,
        mismatch=Mismatch.PAYMENT_INTENT,
    ),
    Case(
        "a-mismatch-never-credits-even-a-succeeded-record",
        record(status=RechargeStatus.SUCCEEDED, payment_intent_id="pi_1"),
        answer(ChargeOutcome.SUCCEEDED, payment_intent_id="pi_2"),
        Settled.ANOMALY,
        record(status=RechargeStatus.SUCCEEDED, payment_intent_id="pi_1"),
        anomaly=AnomalyKind.PAYMENT_MISMATCH,
        mismatch=Mismatch.PAYMENT_INTENT,
    ),
]

# A terminal record ignores anything but a success (late or duplicate events are harmless);
# it is stamped and, if it had none, learns its PaymentIntent.
TERMINAL_BEFORE = {
    RechargeStatus.FAILED: record(
        status=RechargeStatus.FAILED,
        failure_code="card_declined",
        failure_message="the card was declined",
        completed_at=OPENED,
        next_attempt_at=OPENED + timedelta(seconds=300),
    ),
    RechargeStatus.CANCELED: record(
        status=RechargeStatus.CANCELED,
        payment_intent_id="pi_1",
        failure_code="canceled_on_request",
        failure_message="canceled",
        completed_at=OPENED,
    ),
    RechargeStatus.SUCCEEDED: record(
        status=RechargeStatus.SUCCEEDED, payment_intent_id="pi_1", completed_at=OPENED
    ),
}
CASES += [
    Case(
        f"{status}-ignores-{outcome}",
        before,
        answer(outcome, failure_code="card_declined"),
        Settled.IGNORED_TERMINAL,
        dataclasses.replace(before, payment_intent_id="pi_1", updated_at=NOW),
        failures_before=Failures(1),
    )
    for status, before in TERMINAL_BEFORE.items()
    for outcome in (
        ChargeOutcome.DECLINED,
        ChargeOutcome.PROCESSING,
        ChargeOutcome.REQUIRES_ACTION,
        ChargeOutcome.CANCELED,
    )
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_every_transition(case: Case) -> None:
    step = settle(
        case.before, case.failures_before, case.answer, customer_id=CUSTOMER, rules=RULES, now=NOW
    )
    assert step.settled is case.settled
    assert step.recharge == case.after
    assert step.failures == (
        case.failures_after if case.failures_after is not None else case.failures_before
    )
    assert step.credit == case.credit
    assert step.mismatch is case.mismatch
    if case.anomaly is None:
        assert step.anomaly is None
    else:
        assert step.anomaly is not None and step.anomaly.kind is case.anomaly
        assert case.before.id in step.anomaly.detail and str(case.mismatch) in step.anomaly.detail

    built = step.events(balance_after_credit=60000 if step.credit else None)
    assert tuple(e.type for e in built) == case.events
    for event in built:
        r = step.recharge
        assert event.user_id == "usr_1"
        assert {k: event.payload[k] for k in RECHARGE_FIELDS} == {
            "rechargeId": "rec_1",
            "userId": "usr_1",
            "amountMinor": 65000,
            "feeMinor": 1885,
            "totalChargeMinor": 66885,
            "currency": "usd",
            "status": str(r.status),
            "paymentIntentId": r.payment_intent_id,
        }
    if built:
        last = built[-1].payload
        assert {k: v for k, v in last.items() if k not in RECHARGE_FIELDS} == case.extra


RECHARGE_FIELDS = (
    "rechargeId",
    "userId",
    "amountMinor",
    "feeMinor",
    "totalChargeMinor",
    "currency",
    "status",
    "paymentIntentId",
)


def test_the_pausing_decline_reports_the_failure_then_the_pause() -> None:
    step = settle(
        RECORD,
        Failures(2),
        answer(ChargeOutcome.DECLINED, failure_code="do_not_honor"),
        customer_id=CUSTOMER,
        rules=RULES,
        now=NOW,
    )
    failed, paused = step.events()
    assert failed.payload["failureCode"] == "do_not_honor"
    assert "reason" not in failed.payload
    assert paused.payload["reason"] == "3 consecutive failed recharges (last: do_not_honor)"
    assert failed.payload["status"] == paused.payload["status"] == "failed"


def test_a_credit_reports_the_balance_the_ledger_gives() -> None:
    step = settle(
        RECORD, Failures(), answer(ChargeOutcome.SUCCEEDED), customer_id=CUSTOMER, rules=RULES,
        now=NOW,
    )  # fmt: skip
    (event,) = step.events(balance_after_credit=12345)
    assert event.payload["balanceMinor"] == 12345
    (event,) = step.events()  # the ledger had the credit already and no entry came back
    assert event.payload["balanceMinor"] is None


def test_backoff_doubles_with_each_decline_in_a_row() -> None:
    rules = dataclasses.replace(RULES, max_consecutive_failures=10)
    waits = []
    failures = Failures()
    for _ in range(5):
        step = settle(
            RECORD,
            failures,
            answer(ChargeOutcome.DECLINED),
            customer_id=CUSTOMER,
            rules=rules,
            now=NOW,
        )
        assert step.recharge.next_attempt_at is not None
        waits.append(int((step.recharge.next_attempt_at - NOW).total_seconds()))
        failures = step.failures
    assert waits == [300, 600, 1200, 2400, 4800]
    assert failures == Failures(5)


# ---------------------------------------------------------------------- properties

STATUSES = st.sampled_from(list(RechargeStatus))
OUTCOMES = st.sampled_from(list(ChargeOutcome))
CODES = st.sampled_from([None, "card_declined", "amount_too_small", "expired", "x"])


@st.composite
def situations(draw: st.DrawFn) -> tuple[Recharge, Failures, ChargeResult]:
    bound = draw(st.sampled_from([None, "pi_1", "pi_2"]))
    before = record(status=draw(STATUSES), payment_intent_id=bound)
    consecutive = draw(st.integers(0, 6))
    failures = Failures(consecutive, "paused" if draw(st.booleans()) else None)
    reply = answer(
        draw(OUTCOMES),
        payment_intent_id=draw(st.sampled_from([None, "pi_1", "pi_2"])),
        customer_id=draw(st.sampled_from([CUSTOMER, "cus_other", None])),
        amount=draw(st.sampled_from([66885, 1])),
        failure_code=draw(CODES),
    )
    return before, failures, reply


@given(situations())
def test_settling_the_same_answer_again_changes_nothing_more(
    situation: tuple[Recharge, Failures, ChargeResult],
) -> None:
    """Stripe repeats itself (webhooks, refresh, reconciliation): the second time credits
    nothing, counts no decline and leaves the record as the first time left it."""
    before, failures, reply = situation
    first = settle(before, failures, reply, customer_id=CUSTOMER, rules=RULES, now=NOW)
    again = settle(
        first.recharge, first.failures, reply, customer_id=CUSTOMER, rules=RULES, now=later(1)
    )
    assert again.credit is None
    assert again.failures == first.failures
    assert dataclasses.replace(again.recharge, updated_at=NOW) == dataclasses.replace(
        first.recharge, updated_at=NOW
    )


@given(situations())
def test_what_every_transition_keeps(situation: tuple[Recharge, Failures, ChargeResult]) -> None:
    before, failures, reply = situation
    # Stripe's answers always name their PaymentIntent when it succeeded (the gateway reads
    # it from the object; ``webhook_payload`` refuses an event without one).
    assume(reply.outcome is not ChargeOutcome.SUCCEEDED or reply.payment_intent_id is not None)
    step = settle(before, failures, reply, customer_id=CUSTOMER, rules=RULES, now=NOW)
    # A credit exactly when the record becomes succeeded, for its amount, keyed by its
    # PaymentIntent; money taken is never dropped (credited, already credited, or an anomaly).
    assert (step.credit is not None) == (step.settled is Settled.CREDITED)
    if step.credit is not None:
        assert step.credit.amount == before.amount
        assert step.credit.reference == step.recharge.payment_intent_id == reply.payment_intent_id
    if reply.outcome is ChargeOutcome.SUCCEEDED and reply.payment_intent_id is not None:
        assert step.settled in {Settled.CREDITED, Settled.ALREADY_SUCCEEDED, Settled.ANOMALY}
    # Not the record's: nothing of the record or the user changes.
    if step.mismatch is not None:
        assert (step.recharge, step.failures, step.emits) == (before, failures, ())
    # The fixed amounts never move; a terminal status is left only for succeeded.
    assert (step.recharge.amount, step.recharge.total_charge) == (before.amount, 66885)
    if before.status.terminal and step.recharge.status is not before.status:
        assert step.recharge.status is RechargeStatus.SUCCEEDED
    # Declines only grow until a success resets them; a pause is never lifted here.
    if step.settled is Settled.CREDITED:
        assert step.failures.consecutive_failures == 0
    else:
        assert step.failures.consecutive_failures >= failures.consecutive_failures
    if failures.paused_reason is not None:
        assert step.failures.paused_reason == failures.paused_reason


def test_a_different_default_card_is_a_new_chance() -> None:
    """``new_default_card``: any other card (the first one too) forgets the declines, lifts
    the pause, ends the backoff now and asks for the recharge (trigger ``card``); the same
    card, or no card, changes nothing."""
    fresh = NewCard(Failures(0, None, None), backoff_ends_at=NOW, trigger=TriggerSource.CARD)
    assert new_default_card(before="pm_declines", after="pm_new", now=NOW) == fresh
    assert new_default_card(before=None, after="pm_first", now=NOW) == fresh
    assert new_default_card(before="pm_declines", after="pm_declines", now=NOW) is None
    assert new_default_card(before="pm_declines", after=None, now=NOW) is None
