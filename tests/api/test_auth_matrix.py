"""Who may call what: the matrix from DESIGN.md "Security", on both databases."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta

import httpx
import jwt
import pytest

from balance_manager.auth import api_keys
from balance_manager.auth.tokens import TokenSigner
from balance_manager.store.db import SessionFactory
from tests.conftest import TOKEN_SECRET, UserMaker

Headers = Callable[[str], dict[str, str]]


@pytest.fixture
async def two_users(make_user: UserMaker) -> tuple[str, str]:
    return await make_user(minimum_balance=150, target_balance=600), await make_user()


CUSTOMER_READABLE = [
    "/api/balance/status/{u}",
    "/api/balance/config/{u}",
    "/api/balance/history/{u}",
    "/api/balance/ledger/{u}",
    "/api/users/{u}",
]


@pytest.mark.parametrize("path", CUSTOMER_READABLE)
async def test_no_credential_is_401(
    client: httpx.AsyncClient, two_users: tuple[str, str], path: str
) -> None:
    a, _ = two_users
    response = await client.get(path.format(u=a))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_x_user_id_alone_is_not_a_credential(
    client: httpx.AsyncClient, two_users: tuple[str, str]
) -> None:
    a, _ = two_users
    response = await client.get(f"/api/balance/status/{a}", headers={"x-user-id": a})
    assert response.status_code == 401


@pytest.mark.parametrize("path", CUSTOMER_READABLE)
async def test_customer_token_on_own_paths_is_allowed(
    client: httpx.AsyncClient, two_users: tuple[str, str], customer_headers: Headers, path: str
) -> None:
    a, _ = two_users
    response = await client.get(path.format(u=a), headers={**customer_headers(a), "x-user-id": a})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", CUSTOMER_READABLE)
async def test_customer_token_on_another_users_paths_is_403(
    client: httpx.AsyncClient, two_users: tuple[str, str], customer_headers: Headers, path: str
) -> None:
    a, b = two_users
    response = await client.get(path.format(u=b), headers=customer_headers(a))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


async def test_customer_cannot_change_another_users_config(
    client: httpx.AsyncClient, two_users: tuple[str, str], customer_headers: Headers
) -> None:
    a, b = two_users
    response = await client.put(
        f"/api/balance/config/{b}", json={"minimumBalance": 1}, headers=customer_headers(a)
    )
    assert response.status_code == 403
    config = await client.get(f"/api/balance/config/{b}", headers=customer_headers(b))
    assert config.json()["minimumBalance"] == 10  # the default, untouched


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/balance/usage/{u}", {"amount": 1, "idempotencyKey": "k"}),
        ("POST", "/api/balance/adjust/{u}", {"amount": 1, "reason": "r", "idempotencyKey": "k"}),
        ("POST", "/api/users/{u}/tokens", None),
        (
            "POST",
            "/api/balance/usage",
            {"events": [{"userId": "{u}", "amount": 1, "idempotencyKey": "k"}]},
        ),
        ("POST", "/api/users", {"email": "new@example.com"}),
    ],
)
async def test_money_moving_and_admin_routes_are_operator_only(
    client: httpx.AsyncClient,
    two_users: tuple[str, str],
    customer_headers: Headers,
    method: str,
    path: str,
    body: dict[str, object] | None,
) -> None:
    a, _ = two_users
    response = await client.request(
        method, path.format(u=a), json=body, headers=customer_headers(a)
    )
    assert response.status_code == 403
    ledger = await client.get(f"/api/balance/ledger/{a}", headers=customer_headers(a))
    assert ledger.json()["pagination"]["total"] == 0


@pytest.mark.parametrize("who", ["customer", "operator"])
async def test_mismatched_x_user_id_is_403(
    client: httpx.AsyncClient,
    two_users: tuple[str, str],
    customer_headers: Headers,
    operator: dict[str, str],
    who: str,
) -> None:
    a, b = two_users
    headers = customer_headers(a) if who == "customer" else operator
    response = await client.get(f"/api/balance/status/{a}", headers={**headers, "x-user-id": b})
    assert response.status_code == 403


async def test_operator_key_is_allowed_everywhere(
    client: httpx.AsyncClient, two_users: tuple[str, str], operator: dict[str, str]
) -> None:
    a, b = two_users
    for user in (a, b):
        for path in CUSTOMER_READABLE:
            response = await client.get(path.format(u=user), headers=operator)
            assert response.status_code == 200, (path, response.text)


async def test_revoked_key_is_401(
    client: httpx.AsyncClient, two_users: tuple[str, str], sessions: SessionFactory
) -> None:
    a, _ = two_users
    async with sessions.begin() as session:
        key = await api_keys.create_key(session, name="short-lived")
    headers = {"Authorization": f"Bearer {key.secret}"}
    assert (await client.get(f"/api/balance/status/{a}", headers=headers)).status_code == 200
    async with sessions.begin() as session:
        await api_keys.revoke_key(session, key_id_or_prefix=key.id)
    # Verdicts are cached per process for API_KEY_CACHE_SECONDS (2): revocation (by the CLI,
    # another process) takes effect within that, and stays in effect.
    revoked_at = time.monotonic()
    while (
        response := await client.get(f"/api/balance/status/{a}", headers=headers)
    ).status_code == 200:
        assert time.monotonic() - revoked_at < 5, "the revoked key still works after 5 s"
        await asyncio.sleep(0.1)
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]["message"]
    assert (await client.get(f"/api/balance/status/{a}", headers=headers)).status_code == 401


@pytest.mark.parametrize(
    "credential",
    [
        "bmk_000000000000_notakey",
        "bmk_garbage",
        "not-a-jwt",
        "",
    ],
)
async def test_unknown_credentials_are_401(
    client: httpx.AsyncClient, two_users: tuple[str, str], credential: str
) -> None:
    a, _ = two_users
    response = await client.get(
        f"/api/balance/status/{a}", headers={"Authorization": f"Bearer {credential}"}
    )
    assert response.status_code == 401


async def test_tampered_key_secret_is_401(
    client: httpx.AsyncClient, two_users: tuple[str, str], operator_key: str
) -> None:
    a, _ = two_users
    tampered = operator_key[:-2] + ("AA" if not operator_key.endswith("AA") else "BB")
    response = await client.get(
        f"/api/balance/status/{a}", headers={"Authorization": f"Bearer {tampered}"}
    )
    assert response.status_code == 401


async def test_expired_token_is_401(client: httpx.AsyncClient, two_users: tuple[str, str]) -> None:
    a, _ = two_users
    expired = TokenSigner(TOKEN_SECRET, ttl=timedelta(seconds=-10)).mint(a).token
    response = await client.get(
        f"/api/balance/status/{a}", headers={"Authorization": f"Bearer {expired}"}
    )
    assert response.status_code == 401


async def test_tampered_token_is_401(client: httpx.AsyncClient, two_users: tuple[str, str]) -> None:
    a, b = two_users
    genuine = TokenSigner(TOKEN_SECRET, ttl=timedelta(minutes=5)).mint(a).token
    claims = jwt.decode(genuine, options={"verify_signature": False})
    claims["sub"] = b  # claim to be someone else, keep the old signature
    header, _, signature = genuine.split(".")
    forged_body = jwt.encode(claims, "wrong-secret-" + "y" * 32, algorithm="HS256").split(".")[1]
    forged = f"{header}.{forged_body}.{signature}"
    response = await client.get(
        f"/api/balance/status/{b}", headers={"Authorization": f"Bearer {forged}"}
    )
    assert response.status_code == 401
    other_key = TokenSigner("another-secret-" + "z" * 32, ttl=timedelta(minutes=5)).mint(b).token
    response = await client.get(
        f"/api/balance/status/{b}", headers={"Authorization": f"Bearer {other_key}"}
    )
    assert response.status_code == 401


async def test_operator_mints_a_token_that_works_for_that_user_only(
    client: httpx.AsyncClient, two_users: tuple[str, str], operator: dict[str, str]
) -> None:
    a, b = two_users
    minted = await client.post(f"/api/users/{a}/tokens", json={"ttlSeconds": 600}, headers=operator)
    assert minted.status_code == 201
    token = minted.json()["token"]
    assert minted.json()["expiresAt"]
    ok = await client.get(f"/api/balance/status/{a}", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    denied = await client.get(
        f"/api/balance/status/{b}", headers={"Authorization": f"Bearer {token}"}
    )
    assert denied.status_code == 403


async def test_token_for_unknown_user_is_404(
    client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    response = await client.post("/api/users/nobody/tokens", headers=operator)
    assert response.status_code == 404
