"""Operator webhooks connect only to addresses that are checked at every attempt, after DNS,
on both databases (issue 18, item 2): a name that resolves to 127.0.0.1 when the delivery is
made — whatever it resolved to when it was registered — is refused without a connection, and
the attempt records ``blocked_address``. The receiver listens on 127.0.0.1 throughout: had a
connection been made, it would have recorded the request."""

from __future__ import annotations

import httpx
import pytest

from balance_manager.runtime.dispatcher import Dispatcher
from balance_manager.senders.webhook import Sender
from balance_manager.usecases.services import Services
from tests.integration.webhook_support import (
    FakeDNS,
    add_events,
    attempts,
    deliveries,
    endpoint,
    endpoint_row,
    with_settings,
)
from tests.webhooks_out.receiver import Receiver


def _dispatcher(svc: Services, dns: FakeDNS) -> Dispatcher:
    """A dispatcher whose sender checks addresses with the settings' policy and resolves
    names with ``dns``."""
    sender = Sender(timeout=5, check=svc.settings.webhook_address_policy.refusal, resolve=dns)
    return Dispatcher(svc, concurrency=4, poll_interval=0.1, timeout=5, sender=sender)


def _port(receiver: Receiver) -> int:
    port = httpx.URL(receiver.url).port
    assert port is not None
    return port


async def test_a_name_that_resolves_to_loopback_at_delivery_is_refused(svc: Services) -> None:
    with_settings(svc, webhook_allowed_networks="")
    with Receiver() as receiver:
        # Registered while the name resolves nowhere (or anywhere public): accepted.
        hook, _ = await endpoint(svc, f"http://rebind.test:{_port(receiver)}/hooks")
        dns = FakeDNS({"rebind.test": ["127.0.0.1"]})  # …and now it points at us
        dispatcher = _dispatcher(svc, dns)
        try:
            await add_events(svc)
            assert await dispatcher.run_once() == 1
            # A round-robin answer with one internal address among public ones: refused too.
            dns.answers["rebind.test"] = ["93.184.215.14", "::ffff:127.0.0.1"]
            await add_events(svc)
            assert await dispatcher.run_once() == 1
        finally:
            await dispatcher.drain()
        assert receiver.got() == []  # no connection was made
    assert dns.asked == ["rebind.test", "rebind.test"]  # resolved at each attempt
    first, second = await deliveries(svc, hook)
    for delivery, shown in ((first, "127.0.0.1"), (second, "::ffff:7f00:1 (127.0.0.1)")):
        assert delivery.status == "pending" and delivery.last_status_code is None
        (attempt,) = await attempts(svc, delivery.id)
        assert attempt.status_code is None
        assert str(attempt.error).startswith(f"blocked_address: rebind.test: {shown}")
        assert "loopback" in str(attempt.error)
        assert delivery.last_error == attempt.error
    assert (await endpoint_row(svc, hook)).failing_since is not None


async def test_a_literal_address_is_checked_at_delivery_too(svc: Services) -> None:
    """Allowed when registered, refused once the operator narrows WEBHOOK_ALLOWED_NETWORKS:
    the rule that applies is the one in force at the attempt."""
    with Receiver() as receiver:
        hook, _ = await endpoint(svc, receiver.url)  # 127.0.0.0/8 allowed here
        with_settings(svc, webhook_allowed_networks="10.0.0.0/8")
        dispatcher = _dispatcher(svc, FakeDNS({}))
        try:
            await add_events(svc)
            assert await dispatcher.run_once() == 1
        finally:
            await dispatcher.drain()
        assert receiver.got() == []
    (delivery,) = await deliveries(svc, hook)
    assert str(delivery.last_error).startswith("blocked_address: 127.0.0.1 is loopback")


async def test_an_allowed_name_is_connected_to_at_its_checked_address_with_its_host_header(
    svc: Services,
) -> None:
    with Receiver() as receiver:
        port = _port(receiver)
        hook, secret = await endpoint(svc, f"http://hooks.internal.test:{port}/hooks")
        dns = FakeDNS({"hooks.internal.test": ["127.0.0.1"]})  # allowed: 127.0.0.0/8
        dispatcher = _dispatcher(svc, dns)
        try:
            await add_events(svc)
            assert await dispatcher.run_once() == 1
        finally:
            await dispatcher.drain()
        (request,) = receiver.got()
        assert request.headers["host"] == f"hooks.internal.test:{port}"
        assert len(receiver.verified(secret)) == 1
    (delivery,) = await deliveries(svc, hook)
    assert (delivery.status, delivery.last_status_code) == ("succeeded", 200)


async def test_proxies_from_the_environment_are_not_used(
    svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy would connect on our behalf, past the check: webhooks go direct."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    with Receiver() as receiver:
        hook, _ = await endpoint(svc, receiver.url)
        dispatcher = Dispatcher.from_services(svc)
        try:
            await add_events(svc)
            assert await dispatcher.run_once() == 1
        finally:
            await dispatcher.drain()
        assert len(receiver.got()) == 1
    (delivery,) = await deliveries(svc, hook)
    assert delivery.status == "succeeded"
