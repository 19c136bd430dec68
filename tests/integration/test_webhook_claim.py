"""The fair claim's SQL, on both databases: each enabled endpoint's oldest due deliveries and
whether it is on probation (PostgreSQL walks each endpoint's deliveries with LATERAL, SQLite
numbers them with a window: one rule, held to the same table of cases), and leasing takes only
deliveries still due, in the order asked."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from balance_manager.store import webhooks as store
from balance_manager.store.models import WebhookDelivery, WebhookEndpoint
from balance_manager.usecases import webhooks
from balance_manager.usecases.services import Services
from tests.integration.webhook_support import add_events, endpoint
from tests.recharge.conftest import Clock


async def test_candidates_are_each_endpoints_oldest_due_deliveries(svc: Services) -> None:
    clock = svc.clock = Clock()
    now = clock.now
    names = ("healthy", "failing", "new", "disabled")
    hooks = {name: (await endpoint(svc, f"https://{name}.example.test/"))[0] for name in names}
    for n in range(5):  # five events a second apart, fanned out to every endpoint
        await add_events(svc, at=now + timedelta(seconds=n))
    await webhooks.fan_out(svc)
    async with svc.engine.begin() as conn:
        delivered = now - timedelta(days=1)
        await conn.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id.in_([hooks["healthy"], hooks["failing"]]))
            .values(first_delivered_at=delivered)
        )
        await conn.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == hooks["failing"])
            .values(failing_since=now)
        )
        await conn.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == hooks["disabled"])
            .values(enabled=False)
        )
        # The healthy endpoint's oldest delivery succeeded; its next is not due yet; the
        # failing one's deliveries are due in reverse order of creation.
        rows = {
            (d.endpoint_id, d.event_id): d.id
            for d in (await conn.execute(WebhookDelivery.__table__.select())).all()
        }
        by_endpoint: dict[str, list[int]] = {}
        for (endpoint_id, _), delivery_id in sorted(rows.items(), key=lambda item: item[1]):
            by_endpoint.setdefault(endpoint_id, []).append(delivery_id)
        healthy = by_endpoint[hooks["healthy"]]
        await conn.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == healthy[0])
            .values(status="succeeded", next_attempt_at=None)
        )
        await conn.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == healthy[1])
            .values(next_attempt_at=now + timedelta(minutes=5))
        )
        failing = by_endpoint[hooks["failing"]]
        for offset, delivery_id in enumerate(reversed(failing)):
            await conn.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery_id)
                .values(next_attempt_at=now - timedelta(seconds=10 - offset))
            )

        found = await store.candidates(conn, now=now, per_endpoint=2)

    got = sorted((c.endpoint_id, c.delivery_id, c.probation) for c in found)
    expected = sorted(
        [(hooks["healthy"], d, False) for d in healthy[2:4]]
        + [(hooks["failing"], d, True) for d in list(reversed(failing))[:2]]
        + [(hooks["new"], d, True) for d in by_endpoint[hooks["new"]][:2]]
    )
    assert got == expected
    # Oldest due first overall: the failing endpoint's (due 10 s ago) lead.
    assert [c.endpoint_id for c in found[:2]] == [hooks["failing"]] * 2


async def test_leasing_takes_only_what_is_still_due_in_the_order_asked(svc: Services) -> None:
    clock = svc.clock = Clock()
    hook, _ = await endpoint(svc, "https://hooks.example.test/")
    await add_events(svc, 3)
    await webhooks.fan_out(svc)
    async with svc.engine.begin() as conn:
        found = await store.candidates(conn, now=clock.now, per_endpoint=3)
        ids = [c.delivery_id for c in found]
        until = clock.now + timedelta(seconds=70)
        leased = await store.lease(conn, [ids[2], ids[0]], now=clock.now, until=until)
        assert [d.delivery_id for d in leased] == [ids[2], ids[0]]
        assert all(d.probation and d.secret_form == "fernet" for d in leased)
        again = await store.lease(conn, ids, now=clock.now, until=until)
        assert [d.delivery_id for d in again] == [ids[1]]  # the others are leased
        assert await store.candidates(conn, now=clock.now, per_endpoint=3) == []
    assert hook == leased[0].endpoint_id
