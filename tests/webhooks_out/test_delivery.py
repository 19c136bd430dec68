"""Delivering the outbox to a real receiver on both databases: signatures, filters, retries
after a 500 and after a timeout, the delivery log, disabling after a day, resend, recover."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from balance_manager import __version__
from balance_manager.runtime.dispatcher import Dispatcher
from balance_manager.usecases.webhooks import backlog, delivery_rules
from tests.conftest import UserMaker, free_port
from tests.webhooks_out.conftest import Hooks
from tests.webhooks_out.receiver import HANG, Receiver


async def _balance_low(hooks: Hooks, make_user: UserMaker, key: str = "u1") -> str:
    """A debit that crosses a user's minimum: one balance.low event; returns its id."""
    user = await make_user(minimum_balance=150, target_balance=600, initial_balance=200)
    await hooks.usage(user, 60, key)
    (event,) = [e for e in await hooks.events("balance.low") if e.user_id == user]
    return event.event_id


async def test_an_event_goes_signed_to_each_endpoint_that_wants_it(
    hooks: Hooks, make_user: UserMaker, receiver: Receiver
) -> None:
    with Receiver() as other:
        everything, secret = await hooks.endpoint(receiver.url)
        only_failures, other_secret = await hooks.endpoint(other.url, ["recharge.failed"])
        event_id = await _balance_low(hooks, make_user)
        assert await hooks.dispatcher.run_once() == 1

        (request,) = receiver.got()
        assert other.got() == []  # its filter does not want balance.low
        assert request.id == event_id
        (payload,) = receiver.verified(secret)  # the standardwebhooks library verifies
        with pytest.raises(WebhookVerificationError):
            Webhook(other_secret).verify(request.body, request.headers)
        assert payload["type"] == "balance.low"
        assert payload["timestamp"].endswith("Z")
        assert payload["data"]["balanceMinor"] == 14000
        assert payload["data"]["thresholdMinor"] == 15000
        assert payload["data"]["currency"] == "usd"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["user-agent"] == f"stripe-balance-manager/{__version__}"

        (delivery,) = await hooks.deliveries(everything)
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
            "succeeded",
            1,
            200,
        )
        (attempt,) = await hooks.attempts(delivery.id)
        assert attempt.status_code == 200 and attempt.error is None and attempt.latency_ms > 0
        assert await hooks.deliveries(only_failures) == []
        (event,) = await hooks.events("balance.low")
        assert event.dispatched_at is not None
        assert await hooks.dispatcher.run_once() == 0  # nothing is sent twice


async def test_a_500_is_retried_with_the_same_id_after_the_backoff(
    hooks: Hooks, make_user: UserMaker, receiver: Receiver
) -> None:
    rules = delivery_rules(hooks.svc.settings)
    receiver.script = [500, 503]
    endpoint, secret = await hooks.endpoint(receiver.url)
    event_id = await _balance_low(hooks, make_user)
    waiting = await backlog(hooks.svc)
    assert (waiting.undispatched_events, waiting.pending_deliveries) == (1, 0)

    assert await hooks.dispatcher.run_once() == 1
    (delivery,) = await hooks.deliveries(endpoint)
    assert delivery.status == "pending" and delivery.last_status_code == 500
    waiting = await backlog(hooks.svc)
    assert (waiting.undispatched_events, waiting.pending_deliveries) == (0, 1)
    assert waiting.oldest_pending_at == delivery.created_at
    assert delivery.next_attempt_at == hooks.clock.now + timedelta(seconds=rules.delay_after(1))
    assert await hooks.dispatcher.run_once() == 0  # not before its time

    hooks.clock.advance(rules.delay_after(1))
    assert await hooks.dispatcher.run_once() == 1
    (delivery,) = await hooks.deliveries(endpoint)
    assert delivery.next_attempt_at == hooks.clock.now + timedelta(seconds=rules.delay_after(2))
    assert rules.delay_after(2) == 2 * rules.delay_after(1)  # exponential

    hooks.clock.advance(rules.delay_after(2))
    assert await hooks.dispatcher.run_once() == 1
    requests = receiver.got()
    assert [r.answer for r in requests] == [500, 503, 200]
    assert {r.id for r in requests} == {event_id}  # the same webhook-id on every attempt
    assert len({r.body for r in requests}) == 1  # and the same body
    assert len(receiver.verified(secret)) == 3
    (delivery,) = await hooks.deliveries(endpoint)
    assert (delivery.status, delivery.attempts) == ("succeeded", 3)
    log = await hooks.attempts(delivery.id)
    assert [(a.attempt, a.status_code, a.error) for a in log] == [
        (1, 500, "HTTP 500"),
        (2, 503, "HTTP 503"),
        (3, 200, None),
    ]
    assert (await hooks.endpoint_row(endpoint)).failing_since is None  # healthy again
    assert (await backlog(hooks.svc)).pending_deliveries == 0


async def test_a_timeout_is_retried(hooks: Hooks, make_user: UserMaker, receiver: Receiver) -> None:
    rules = delivery_rules(hooks.svc.settings)
    receiver.script = [HANG]
    endpoint, secret = await hooks.endpoint(receiver.url)
    event_id = await _balance_low(hooks, make_user)
    # A short timeout for this test only; the receiver holds the first request far longer.
    impatient = Dispatcher(hooks.svc, concurrency=4, poll_interval=0.1, timeout=2.0)
    try:
        assert await impatient.run_once() == 1
        (delivery,) = await hooks.deliveries(endpoint)
        (attempt,) = await hooks.attempts(delivery.id)
        assert attempt.status_code is None and str(attempt.error).startswith("timeout")
        assert delivery.status == "pending"
        receiver.release()

        hooks.clock.advance(rules.delay_after(1))
        assert await impatient.run_once() == 1
    finally:
        await impatient.drain()
    assert [r.answer for r in receiver.got()] == [HANG, 200]
    assert receiver.ok_ids() == [event_id]
    assert len(receiver.verified(secret)) == 2
    (delivery,) = await hooks.deliveries(endpoint)
    assert (delivery.status, delivery.attempts) == ("succeeded", 2)


async def test_an_endpoint_failing_for_a_day_is_disabled_and_an_event_says_so(
    hooks: Hooks, make_user: UserMaker, receiver: Receiver
) -> None:
    rules = delivery_rules(hooks.svc.settings)
    dead, _ = await hooks.endpoint(f"http://127.0.0.1:{free_port()}/nobody-listens")
    watcher, watcher_secret = await hooks.endpoint(receiver.url, ["webhook_endpoint.disabled"])
    first = await _balance_low(hooks, make_user)
    started = hooks.clock.now

    attempt_times = []
    for _ in range(100):
        # One attempt at the dead endpoint; in the pass that disables it, also the
        # announcement to the watcher.
        assert await hooks.dispatcher.run_once() >= 1
        attempt_times.append(hooks.clock.now)
        if not (await hooks.endpoint_row(dead)).enabled:
            break
        assert receiver.got() == []
        (delivery,) = await hooks.deliveries(dead)
        assert delivery.status == "pending"  # still retrying
        assert delivery.next_attempt_at is not None
        hooks.clock.now = delivery.next_attempt_at
    endpoint = await hooks.endpoint_row(dead)
    assert not endpoint.enabled and endpoint.disabled_reason is not None
    assert endpoint.failing_since == started
    # Exponential backoff between attempts, capped; disabled at the first failure a day on.
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(attempt_times)]
    assert gaps == [rules.delay_after(n) for n in range(1, len(attempt_times))]
    assert attempt_times[-1] - started >= timedelta(days=1) > attempt_times[-2] - started
    (delivery,) = await hooks.deliveries(dead)
    assert (delivery.status, delivery.last_error) == ("failed", "endpoint disabled")
    assert delivery.attempts == len(attempt_times)
    assert len(await hooks.attempts(delivery.id)) == len(attempt_times)

    (announcement,) = await hooks.events("webhook_endpoint.disabled")
    assert announcement.payload["endpointId"] == dead
    (payload,) = receiver.verified(watcher_secret)
    assert payload["type"] == "webhook_endpoint.disabled"
    assert payload["data"]["endpointId"] == dead
    assert payload["data"]["failingSince"].endswith("Z")
    assert len(await hooks.deliveries(watcher)) == 1

    # Disabled: new events pass it by. Enabled again at a working URL, ``recover`` sends what
    # failed and what it missed (the announcement of its own disabling included: it wants
    # every type).
    missed = await _balance_low(hooks, make_user, key="u2")
    await hooks.dispatcher.run_once()
    assert [d.event_id for d in await hooks.deliveries(dead)] == [first]
    with Receiver() as fixed:
        response = await hooks.client.patch(
            f"/api/webhook-endpoints/{dead}",
            json={"url": fixed.url, "enabled": True},
            headers=hooks.operator,
        )
        assert response.status_code == 200, response.text
        assert response.json()["enabled"] is True and response.json()["failingSince"] is None
        recovered = await hooks.client.post(
            f"/api/webhook-endpoints/{dead}/recover",
            json={"since": (started - timedelta(minutes=1)).isoformat()},
            headers=hooks.operator,
        )
        assert recovered.status_code == 202 and recovered.json() == {"queued": 3}
        assert await hooks.dispatcher.run_once() == 3
        assert sorted(fixed.ok_ids()) == sorted([first, missed, announcement.event_id])


async def test_resend_delivers_the_same_event_again(
    hooks: Hooks, make_user: UserMaker, receiver: Receiver
) -> None:
    endpoint, secret = await hooks.endpoint(receiver.url)
    event_id = await _balance_low(hooks, make_user)
    await hooks.dispatcher.run_once()
    url = f"/api/webhook-endpoints/{endpoint}/resend"

    response = await hooks.client.post(url, json={"eventId": event_id}, headers=hooks.operator)
    assert response.status_code == 202, response.text
    assert response.json() == {"eventId": event_id, "endpointIds": [endpoint]}
    assert await hooks.dispatcher.run_once() == 1
    assert receiver.ok_ids() == [event_id, event_id]
    assert len(receiver.verified(secret)) == 2
    (delivery,) = await hooks.deliveries(endpoint)
    assert (delivery.status, delivery.attempts) == ("succeeded", 2)

    log = await hooks.client.get(
        f"/api/webhook-endpoints/{endpoint}/deliveries/{delivery.id}", headers=hooks.operator
    )
    assert log.status_code == 200
    assert [(a["attempt"], a["statusCode"]) for a in log.json()["log"]] == [(1, 200), (2, 200)]

    unknown = await hooks.client.post(url, json={"eventId": "nope"}, headers=hooks.operator)
    assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "eventId"
    await hooks.client.patch(
        f"/api/webhook-endpoints/{endpoint}", json={"enabled": False}, headers=hooks.operator
    )
    disabled = await hooks.client.post(url, json={"eventId": event_id}, headers=hooks.operator)
    assert disabled.status_code == 409
    assert disabled.json()["error"]["code"] == "webhook_endpoint_disabled"
