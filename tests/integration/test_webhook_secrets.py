"""Operator webhook secrets encrypted at rest under SECRETS_KEY, on both databases (issue 18,
item 13): rows from before are encrypted at start-up, rotation re-encrypts under the newest
key, deliveries are signed with the secret the operator was shown, and the service refuses
to start without a key that reads the stored secrets."""

from __future__ import annotations

import pytest
from pydantic import SecretStr
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from balance_manager.auth.secret_box import SecretBox, SecretsKeyError, new_key
from balance_manager.domain.webhooks import new_secret
from balance_manager.runtime.dispatcher import Dispatcher
from balance_manager.settings import ConfigError
from balance_manager.store import migrate
from balance_manager.store.models import WebhookEndpoint, utcnow
from balance_manager.usecases import webhooks
from balance_manager.usecases.services import Services
from tests.conftest import SECRETS_KEY
from tests.integration.webhook_support import (
    add_events,
    endpoint,
    with_settings,
)
from tests.webhooks_out.receiver import Receiver


async def _stored(svc: Services) -> list[tuple[str, str, str]]:
    async with svc.sessions.begin() as session:
        rows = await session.execute(
            select(WebhookEndpoint.id, WebhookEndpoint.secret, WebhookEndpoint.secret_form)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def _clear_endpoint(svc: Services, url: str) -> tuple[str, str]:
    """An endpoint as written before secrets were encrypted."""
    secret, now = new_secret(), utcnow()
    async with svc.engine.begin() as conn:
        await conn.execute(
            insert(WebhookEndpoint).values(
                id="legacy-endpoint",
                url=url,
                secret=secret,
                secret_form="clear",
                enabled=True,
                created_at=now,
                updated_at=now,
            )
        )
    return "legacy-endpoint", secret


async def test_clear_secrets_are_encrypted_and_deliveries_still_verify(svc: Services) -> None:
    with Receiver() as receiver:
        hook, secret = await _clear_endpoint(svc, receiver.url)
        assert await webhooks.seal_secrets(svc) == webhooks.SealedSecrets(1, 0, 0)
        ((_, stored, form),) = await _stored(svc)
        assert form == "fernet" and secret not in stored
        assert SecretBox(SECRETS_KEY).open(stored, form) == secret
        assert await webhooks.seal_secrets(svc) == webhooks.SealedSecrets(0, 0, 1)  # once

        await add_events(svc)
        dispatcher = Dispatcher(svc, concurrency=4, poll_interval=0.1, timeout=5)
        try:
            assert await dispatcher.run_once() == 1
        finally:
            await dispatcher.drain()
        assert len(receiver.verified(secret)) == 1  # signed with the secret shown at creation
    assert hook == "legacy-endpoint"


async def test_rotation_re_encrypts_under_the_newest_key(svc: Services) -> None:
    first_id, first_secret = await endpoint(svc, "https://a.example.test/in")
    second_id, second_secret = await endpoint(svc, "https://b.example.test/in")
    newer = new_key()
    with_settings(svc, secrets_key=SecretStr(f"{newer},{SECRETS_KEY}"))
    # Both keys read: an endpoint's secret opens before and after the re-encryption.
    assert await webhooks.seal_secrets(svc) == webhooks.SealedSecrets(0, 2, 0)
    stored = dict((i, (v, f)) for i, v, f in await _stored(svc))
    assert SecretBox(newer).open(*stored[first_id]) == first_secret
    assert SecretBox(newer).open(*stored[second_id]) == second_secret
    with pytest.raises(SecretsKeyError):
        SecretBox(SECRETS_KEY).open(*stored[first_id])  # the old key can be dropped now
    with_settings(svc, secrets_key=SecretStr(newer))
    assert await webhooks.seal_secrets(svc) == webhooks.SealedSecrets(0, 0, 2)


async def test_start_up_refuses_without_a_key_that_reads_the_secrets(svc: Services) -> None:
    with_settings(svc, secrets_key=None)
    assert await webhooks.seal_secrets(svc) == webhooks.SealedSecrets(0, 0, 0)  # none stored
    with_settings(svc, secrets_key=SecretStr(SECRETS_KEY))
    hook, _ = await endpoint(svc, "https://a.example.test/in")
    before = await _stored(svc)

    with_settings(svc, secrets_key=None)
    with pytest.raises(ConfigError) as missing:
        await webhooks.seal_secrets(svc)
    assert str(missing.value).startswith("SECRETS_KEY is not set")
    assert "\n" not in str(missing.value)

    with_settings(svc, secrets_key=SecretStr(new_key()))  # the old key dropped too early
    with pytest.raises(ConfigError) as wrong:
        await webhooks.seal_secrets(svc)
    assert str(wrong.value).startswith(
        f"SECRETS_KEY cannot decrypt the secret of webhook endpoint {hook}"
    )
    assert await _stored(svc) == before  # nothing was rewritten


async def test_the_migration_marks_existing_secrets_clear_and_start_up_encrypts_them(
    svc: Services, engine: AsyncEngine
) -> None:
    """0009 on a database with an endpoint: the row keeps its secret, marked ``clear``, and
    counts as delivered to if it ever was; then start-up encrypts it."""
    await migrate.downgrade(engine, "0008_event_versions")
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO webhook_endpoints (id, url, secret, enabled, created_at, updated_at)"
                " VALUES ('old', 'https://old.example.test/', 'whsec_b2xkLXNlY3JldC1vZi10aGlydHktdHdvLWJ5dGVzIQ==',"
                " true, :now, :now)"
            ),
            {"now": utcnow()},
        )
    await migrate.upgrade(engine)
    ((_, stored, form),) = await _stored(svc)
    assert form == "clear"
    assert stored == "whsec_b2xkLXNlY3JldC1vZi10aGlydHktdHdvLWJ5dGVzIQ=="
    assert await webhooks.seal_secrets(svc) == webhooks.SealedSecrets(1, 0, 0)
    ((_, stored, form),) = await _stored(svc)
    assert form == "fernet"
    assert SecretBox(SECRETS_KEY).open(stored, form).endswith("dGVzIQ==")
    # Encrypted secrets cannot go back below 0009 (no key there): the downgrade refuses.
    with pytest.raises(RuntimeError, match="encrypted"):
        await migrate.downgrade(engine, "0008_event_versions")
