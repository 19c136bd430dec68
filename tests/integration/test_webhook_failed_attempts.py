"""Whatever goes wrong in a delivery attempt is a failed attempt with its error recorded, on
both databases (issue 18, item 4). Before, a URL httpx cannot use raised ``InvalidURL`` past
the sender: the delivery stayed pending with attempts rising and ``lastError`` empty, the
endpoint never got ``failingSince`` and was never disabled, and a traceback was logged every
~70 s. Endpoints registered before URLs were checked can still hold such a URL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from balance_manager.runtime.dispatcher import Dispatcher
from balance_manager.senders.webhook import Sender
from balance_manager.store.models import WebhookEndpoint
from balance_manager.usecases.services import Services
from balance_manager.usecases.webhooks import delivery_rules
from tests.integration.webhook_support import (
    FakeDNS,
    add_events,
    attempts,
    deliveries,
    endpoint,
    endpoint_row,
)
from tests.recharge.conftest import Clock


async def _set(svc: Services, endpoint_id: str, **values: object) -> None:
    """Write a row as an older version of the service could have (no checks)."""
    async with svc.engine.begin() as conn:
        await conn.execute(
            update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).values(**values)
        )


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("http://example.com:99999/hooks", "invalid_url: Port out of range"),
        ("http://example.com/a\tb", "invalid_url: Invalid non-printable ASCII character"),
        ("http://example.com:abc/", "invalid_url: Invalid port: 'abc'"),
        ("http://xn--zz.example.com/", "invalid_url: Invalid A-label"),
        ("http://[::1/x", "invalid_url: Invalid port"),
    ],
)
async def test_an_unusable_url_fails_each_attempt_and_the_endpoint_is_disabled_in_time(
    svc: Services, url: str, error: str
) -> None:
    clock = svc.clock = Clock()
    hook, _ = await endpoint(svc, "https://hooks.example.test/in")
    await _set(svc, hook, url=url)
    await add_events(svc)
    dispatcher = Dispatcher(svc, concurrency=4, poll_interval=0.1, timeout=5)
    try:
        assert await dispatcher.run_once() == 1  # returns: one attempt, not a loop
        (delivery,) = await deliveries(svc, hook)
        assert delivery.status == "pending" and delivery.attempts == 1
        assert str(delivery.last_error).startswith(error)
        (attempt,) = await attempts(svc, delivery.id)
        assert attempt.error == delivery.last_error and attempt.status_code is None
        assert (await endpoint_row(svc, hook)).failing_since == clock.now
        # Retried on the schedule, each attempt recorded, until the endpoint is disabled.
        for _ in range(50):
            (delivery,) = await deliveries(svc, hook)
            if delivery.next_attempt_at is None:
                break
            clock.now = delivery.next_attempt_at
            assert await dispatcher.run_once() >= 1
    finally:
        await dispatcher.drain()
    row = await endpoint_row(svc, hook)
    assert not row.enabled and error.split(": ", 1)[1] in str(row.disabled_reason)
    assert row.disabled_at is not None
    assert row.disabled_at - row.created_at >= timedelta(
        seconds=delivery_rules(svc.settings).disable_after
    )
    (delivery,) = await deliveries(svc, hook)
    assert delivery.status == "failed"
    assert len(await attempts(svc, delivery.id)) == delivery.attempts > 1


async def test_an_unexpected_error_in_the_sender_is_a_recorded_failure(svc: Services) -> None:
    class Exploding(FakeDNS):
        async def __call__(self, host: str, port: int) -> list[str]:
            raise RuntimeError("the resolver broke")

    hook, _ = await endpoint(svc, "https://hooks.example.test/in")
    await add_events(svc)
    sender = Sender(timeout=5, check=lambda address: None, resolve=Exploding({}))
    dispatcher = Dispatcher(svc, concurrency=4, poll_interval=0.1, timeout=5, sender=sender)
    try:
        assert await dispatcher.run_once() == 1
    finally:
        await dispatcher.drain()
    (delivery,) = await deliveries(svc, hook)
    assert delivery.last_error == "RuntimeError: the resolver broke"
    assert (await endpoint_row(svc, hook)).failing_since is not None


async def test_a_secret_that_cannot_be_decrypted_is_a_recorded_failure(svc: Services) -> None:
    """E.g. SECRETS_KEY rotated without keeping the old key (start-up refuses that; a row
    written meanwhile could still meet it). The secret never appears in the error."""
    hook, secret = await endpoint(svc, "https://hooks.example.test/in")
    await _set(svc, hook, secret="gAAAAABnot-a-token", secret_form="fernet")
    await add_events(svc)
    dispatcher = Dispatcher(svc, concurrency=4, poll_interval=0.1, timeout=5)
    try:
        assert await dispatcher.run_once() == 1
    finally:
        await dispatcher.drain()
    (delivery,) = await deliveries(svc, hook)
    assert str(delivery.last_error).startswith("secret_unreadable: SECRETS_KEY cannot decrypt")
    assert secret not in str(delivery.last_error)
