"""Registering operator webhook endpoints over HTTP, on both databases: URLs that reach the
service's own network are refused (SSRF), malformed ones are a 400 naming ``url`` (never a
500), ``WEBHOOK_ALLOWED_NETWORKS`` lets internal receivers in, and the signing secret is
stored encrypted under ``SECRETS_KEY`` (none: the endpoint cannot be created)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from balance_manager.auth.secret_box import SecretBox
from balance_manager.runtime.compose import create_app
from balance_manager.settings import Settings
from balance_manager.store.db import SessionFactory
from balance_manager.store.models import WebhookEndpoint
from tests.conftest import SECRETS_KEY

BASE = "/api/webhook-endpoints"

# Each was accepted with 201 before (issue 18, item 2), or is a form of one that was.
INTERNAL = [
    "http://127.0.0.1:3000/metrics",  # the service's own metrics
    "http://127.0.0.1:5432/",  # the database
    "http://127.0.0.1:12111/_sandbox/webhooks/config",  # the sandbox's control routes
    "http://0.0.0.0:3000/",
    "http://[::1]:3000/",
    "http://[::]:3000/",
    "http://localhost/",
    "http://localhost./hooks",
    "http://api.localhost:8080/",
    "http://2130706433:3000/",  # 127.0.0.1 in decimal
    "http://0x7f000001/",  # in hexadecimal
    "http://017700000001/",  # in octal
    "http://127.1/",  # shortened
    "http://0x7f.0x0.0x0.0x1/",
    "http://127.0.0.1./",  # with the root's dot
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://[::ffff:127.0.0.1]:3000/",  # IPv4-mapped IPv6
    "http://[::ffff:7f00:1]/",
    "http://[0:0:0:0:0:ffff:127.0.0.1]/",
    "http://[::ffff:0:7f00:1]/",  # IPv4-translated
    "http://[::ffff:169.254.169.254]/",
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of the metadata address
    "http://[fe80::1]/",
    "http://10.0.0.5/",
    "http://172.16.0.1/",
    "http://192.168.1.1/admin",
    "http://100.64.0.1/",
    "http://[fd00::1]/",
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
]
# Malformed (items 3 and 4): a 500 before, or accepted and then failing for ever.
MALFORMED = [
    "http://[::1/x",
    "http://[zz]/x",
    "http://example.com/a\r\nX-Injected: 1",
    "http://example.com/a\tb",
    "http://example.com/\x07",
    "http://example.com:99999/",
    "http://example.com:abc/",
    "http://xn--zz.example.com/",
]


@asynccontextmanager
async def _api(settings: Settings, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, engine=engine, embedded_worker=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def public_only(settings: Settings) -> Settings:
    """Production's default: no internal network allowed."""
    return settings.model_copy(update={"webhook_allowed_networks": ""})


def _refused(response: httpx.Response, code: str) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["field"], error["code"]) == ("url", code), error


async def _urls(sessions: SessionFactory) -> list[str]:
    async with sessions.begin() as session:
        return list((await session.scalars(select(WebhookEndpoint.url))).all())


async def test_urls_that_reach_internal_addresses_are_refused(
    public_only: Settings, engine: AsyncEngine, sessions: SessionFactory, operator: Any
) -> None:
    async with _api(public_only, engine) as api:
        # A name that does not resolve from here is accepted: every attempt checks it.
        kept = await api.post(BASE, json={"url": "https://hooks.example.test/in"}, headers=operator)
        assert kept.status_code == 201, kept.text
        endpoint = kept.json()["id"]
        for url in INTERNAL:
            created = await api.post(BASE, json={"url": url}, headers=operator)
            _refused(created, "webhook_address_refused")
            assert "WEBHOOK_ALLOWED_NETWORKS" in created.json()["error"]["message"]
            patched = await api.patch(f"{BASE}/{endpoint}", json={"url": url}, headers=operator)
            _refused(patched, "webhook_address_refused")
    assert await _urls(sessions) == ["https://hooks.example.test/in"]  # nothing changed


async def test_malformed_urls_are_a_400_naming_url(
    settings: Settings, engine: AsyncEngine, sessions: SessionFactory, operator: Any
) -> None:
    async with _api(settings, engine) as api:
        kept = await api.post(BASE, json={"url": "http://127.0.0.1:9/in"}, headers=operator)
        endpoint = kept.json()["id"]
        for url in MALFORMED:
            _refused(
                await api.post(BASE, json={"url": url}, headers=operator),
                "invalid_webhook_endpoint",
            )
            patched = await api.patch(f"{BASE}/{endpoint}", json={"url": url}, headers=operator)
            _refused(patched, "invalid_webhook_endpoint")
    assert await _urls(sessions) == ["http://127.0.0.1:9/in"]


async def test_allowed_networks_let_internal_receivers_in_and_only_them(
    settings: Settings, engine: AsyncEngine, operator: Any
) -> None:
    allowing = settings.model_copy(update={"webhook_allowed_networks": "127.0.0.0/8,10.1.0.0/16"})
    async with _api(allowing, engine) as api:
        for url in ("http://127.0.0.1:8080/hooks", "http://2130706433:8080/", "http://10.1.2.3/"):
            created = await api.post(BASE, json={"url": url}, headers=operator)
            assert created.status_code == 201, (url, created.text)
        for url in ("http://10.2.0.1/", "http://169.254.169.254/", "http://[::1]:8080/"):
            _refused(
                await api.post(BASE, json={"url": url}, headers=operator), "webhook_address_refused"
            )


async def test_the_secret_is_stored_encrypted_and_shown_once(
    settings: Settings, engine: AsyncEngine, sessions: SessionFactory, operator: Any
) -> None:
    async with _api(settings, engine) as api:
        created = await api.post(BASE, json={"url": "http://127.0.0.1:9/in"}, headers=operator)
    secret = created.json()["secret"]
    async with sessions.begin() as session:
        (row,) = (await session.scalars(select(WebhookEndpoint))).all()
    assert row.secret_form == "fernet"
    assert secret not in row.secret and secret.removeprefix("whsec_") not in row.secret
    assert SecretBox(SECRETS_KEY).open(row.secret, row.secret_form) == secret


async def test_without_secrets_key_no_endpoint_can_be_created(
    settings: Settings, engine: AsyncEngine, sessions: SessionFactory, operator: Any
) -> None:
    keyless = settings.model_copy(update={"secrets_key": None})
    async with _api(keyless, engine) as api:
        response = await api.post(BASE, json={"url": "http://127.0.0.1:9/in"}, headers=operator)
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "secrets_key_missing" and "SECRETS_KEY" in error["message"]
    assert await _urls(sessions) == []
