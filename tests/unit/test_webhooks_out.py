"""The pure rules of operator webhooks: schedule, disabling, filters, fairness, signing; and
the low-balance rule of the postings."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook, WebhookVerificationError

from balance_manager.domain import posting
from balance_manager.domain import webhooks as rules
from balance_manager.domain.states import EventType, LedgerKind

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
DEFAULT = rules.DeliveryRules()


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    assert [DEFAULT.delay_after(n) for n in range(1, 5)] == [10, 20, 40, 80]
    assert DEFAULT.delay_after(12) == 20480
    assert DEFAULT.delay_after(13) == DEFAULT.delay_after(500) == 6 * 3600


def test_the_default_schedule_retries_for_more_than_a_day() -> None:
    schedule = DEFAULT.schedule()
    assert schedule[:4] == [10, 30, 70, 150]
    assert schedule[-1] > 2 * 86400  # retries go on past two days
    assert schedule[-1] <= DEFAULT.retry_period
    assert len(schedule) == 22


@given(attempts=st.integers(1, 200), age=st.floats(0, 4 * 86400))
def test_no_attempt_is_scheduled_past_the_retry_period(attempts: int, age: float) -> None:
    created = T0
    now = created + timedelta(seconds=age)
    at = DEFAULT.next_attempt(attempts=attempts, created_at=created, now=now)
    if at is None:
        assert now + timedelta(seconds=DEFAULT.delay_after(attempts)) > created + timedelta(
            seconds=DEFAULT.retry_period
        )
    else:
        assert now < at <= created + timedelta(seconds=DEFAULT.retry_period)


def test_disabled_only_after_failing_for_the_whole_period() -> None:
    day = timedelta(days=1)
    assert not DEFAULT.should_disable(failing_since=None, now=T0)
    assert not DEFAULT.should_disable(failing_since=T0, now=T0 + day - timedelta(seconds=1))
    assert DEFAULT.should_disable(failing_since=T0, now=T0 + day)


def test_a_lease_outlasts_the_timeout() -> None:
    assert DEFAULT.lease > timedelta(seconds=DEFAULT.timeout)


def test_secrets_follow_the_specification() -> None:
    secret = rules.new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert rules.new_secret() != secret


def test_headers_sign_the_body_verifiably() -> None:
    secret = rules.new_secret()
    body = rules.body("balance.low", T0, {"userId": "u1", "balanceMinor": -5000})
    now = datetime.now(UTC)
    headers = rules.headers(secret=secret, event_id="evt1", payload=body, signed_at=now)
    assert headers["webhook-id"] == "evt1"
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert Webhook(secret).verify(body, headers) == {
        "type": "balance.low",
        "timestamp": "2026-11-30T12:00:00Z",
        "data": {"userId": "u1", "balanceMinor": -5000},
    }
    tampered = body.replace(b"-5000", b"-50")
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(rules.new_secret()).verify(body, headers)
    stale = rules.headers(
        secret=secret, event_id="evt1", payload=body, signed_at=now - timedelta(hours=1)
    )
    with pytest.raises(WebhookVerificationError):  # replay protection, on the receiver's side
        Webhook(secret).verify(body, stale)


def test_the_body_is_the_same_bytes_every_time() -> None:
    data = {"b": 1, "a": "é"}
    first = rules.body("recharge.failed", T0, data)
    assert first == rules.body("recharge.failed", T0 + timedelta(0), dict(reversed(data.items())))
    assert json.loads(first)["data"] == data


def test_urls_and_filters_are_checked() -> None:
    assert rules.check_url(" https://example.com/hook ") == "https://example.com/hook"
    for bad in ("ftp://example.com", "example.com/hook", "https://", "https://u:p@x.com/"):
        with pytest.raises(rules.InvalidEndpoint) as exc:
            rules.check_url(bad)
        assert exc.value.field == "url"
    with pytest.raises(rules.InvalidEndpoint):
        rules.check_url("https://x.com/" + "a" * 2048)
    assert rules.check_event_types(None) is None
    assert rules.check_event_types(["recharge.failed", "balance.low", "balance.low"]) == [
        "balance.low",
        "recharge.failed",
    ]
    for bad_types in ([], ["balance.*"], ["recharge.refund"], ["charge.refunded"]):
        with pytest.raises(rules.InvalidEndpoint) as exc:
            rules.check_event_types(bad_types)
        assert exc.value.field == "eventTypes"
    assert {str(t) for t in EventType} >= {"balance.low", "webhook_endpoint.disabled"}


def test_fan_out_follows_each_filter() -> None:
    events = [("e1", "balance.low"), ("e2", "recharge.failed")]
    endpoints = {"all": None, "low": ["balance.low"], "none": ["auto_recharge.paused"]}
    assert rules.fan_out(events, endpoints) == [("e1", "all"), ("e1", "low"), ("e2", "all")]


def test_pick_fairly_caps_each_endpoint() -> None:
    """More in test_webhook_fairness.py."""
    due = [rules.Candidate("dead", False, f"d{i}") for i in range(10)] + [
        rules.Candidate("ok", False, "o1"),
        rules.Candidate("ok", False, "o2"),
    ]
    shares = rules.Shares(slots=10, per_endpoint=2)
    assert rules.pick_fairly(due, busy={}, shares=shares) == ["d0", "o1", "d1", "o2"]
    assert rules.pick_fairly(due, busy={"dead": 2}, shares=shares) == ["o1", "o2"]
    assert rules.pick_fairly(due, busy={}, shares=rules.Shares(3, 4)) == ["d0", "o1", "d1"]


# --------------------------------------------------------------------- balance.low


def _account(balance: int, *, minimum: int = 15000, low: int | None = None) -> posting.Account:
    return posting.Account("u1", balance, minimum, None, "usd", low_balance=low)


def _debit(amount: int, key: str) -> posting.Posting:
    return posting.Posting("u1", LedgerKind.USAGE, -amount, key)


def test_balance_low_fires_once_when_crossing_the_minimum_by_default() -> None:
    accounts = {"u1": _account(20000)}
    plan = posting.apply(accounts, {}, [_debit(4000, "a"), _debit(2000, "b"), _debit(2000, "c")])
    assert [r.crossed_low_balance for r in plan.results] == [False, True, False]


def test_a_users_own_threshold_replaces_the_minimum() -> None:
    accounts = {"u1": _account(20000, minimum=1000, low=15000)}
    plan = posting.apply(accounts, {}, [_debit(5000, "a"), _debit(1, "b"), _debit(15000, "c")])
    assert [r.crossed_low_balance for r in plan.results] == [False, True, False]


def test_credits_and_refused_debits_never_cross() -> None:
    account = posting.Account("u1", 15000, 15000, 14000, "usd")
    plan = posting.apply(
        {"u1": account},
        {},
        [
            posting.Posting("u1", LedgerKind.ADJUSTMENT, 5000, "up"),
            posting.Posting("u1", LedgerKind.USAGE, -7000, "floor", enforce_floor=True),
        ],
    )
    assert [(r.outcome, r.crossed_low_balance) for r in plan.results] == [
        (posting.Outcome.APPLIED, False),
        (posting.Outcome.FLOOR_REACHED, False),
    ]


@given(
    start=st.integers(-(10**6), 10**6),
    threshold=st.integers(-(10**6), 10**6),
    debits=st.lists(st.integers(1, 10**5), max_size=20),
)
def test_crossing_is_from_at_or_above_to_below(
    start: int, threshold: int, debits: list[int]
) -> None:
    accounts = {"u1": _account(start, minimum=0, low=threshold)}
    plan = posting.apply(accounts, {}, [_debit(d, f"k{i}") for i, d in enumerate(debits)])
    balance = start
    for debit, result in zip(debits, plan.results, strict=True):
        assert result.crossed_low_balance == (balance >= threshold > balance - debit)
        balance -= debit
    assert sum(r.crossed_low_balance for r in plan.results) <= 1  # only debits: at most once
