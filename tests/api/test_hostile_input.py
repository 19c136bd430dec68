"""Hostile input on both databases: strings no database can store (NUL, lone surrogates) are
a 400 naming the field, metadata keeps Stripe's limits, and balances stay within what JSON
clients read exactly — an overflowing total is a 409. Nothing changes on any refusal."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from balance_manager.domain import money
from balance_manager.store.db import SessionFactory
from balance_manager.store.models import LedgerEntry, User
from tests.conftest import UserMaker


@pytest.fixture
async def user(make_user: UserMaker) -> str:
    return await make_user(minimum_balance=150, target_balance=600, initial_balance=100)


async def _counts(sessions: SessionFactory) -> tuple[int, int]:
    async with sessions.begin() as session:
        users = await session.scalar(select(func.count()).select_from(User))
        entries = await session.scalar(select(func.count()).select_from(LedgerEntry))
        return int(users or 0), int(entries or 0)


NUL = "\\u0000"
SURROGATE = "\\ud800"


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "lone_surrogate"])
@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/api/users", '{"email": "a%s@example.com"}', "email"),
        ("POST", "/api/users", '{"email": "ok@example.com", "id": "u%s"}', "id"),
        ("POST", "/api/users", '{"email": "ok@example.com", "currency": "us%s"}', "currency"),
        (
            "POST",
            "/api/balance/usage/{user}",
            '{"amount": 1, "idempotencyKey": "k1", "description": "d%s"}',
            "description",
        ),
        ("POST", "/api/balance/usage/{user}", '{"amount": 1, "idempotencyKey": "k%s"}', None),
        (
            "POST",
            "/api/balance/usage/{user}",
            '{"amount": 1, "idempotencyKey": "k2", "metadata": {"plan": "p%s"}}',
            "metadata.plan",
        ),
        (
            "POST",
            "/api/balance/usage/{user}",
            '{"amount": 1, "idempotencyKey": "k3", "metadata": {"k%s": "v"}}',
            "metadata",
        ),
        (
            "POST",
            "/api/balance/usage",
            '{"events": [{"userId": "{user}", "amount": 1, "idempotencyKey": "b1"},'
            ' {"userId": "x%s", "amount": 1, "idempotencyKey": "b2"}]}',
            "events[1].userId",
        ),
        (
            "POST",
            "/api/balance/adjust/{user}",
            '{"amount": 5, "reason": "r%s", "idempotencyKey": "a1"}',
            "reason",
        ),
        ("POST", "/api/payment/portal/{user}", '{"returnUrl": "http://127.0.0.1:3000/%s"}', None),
        (
            "POST",
            "/api/payment/setup-intent/{user}/complete",
            '{"setupIntentId": "seti_%s"}',
            "setupIntentId",
        ),
    ],
)
async def test_unstorable_strings_in_bodies_are_a_400_naming_the_field(
    client: httpx.AsyncClient,
    sessions: SessionFactory,
    user: str,
    operator: dict[str, str],
    bad: str,
    method: str,
    path: str,
    body: str,
    field: str | None,
) -> None:
    before = await _counts(sessions)
    text = body.replace("{user}", user) % bad
    response = await client.request(
        method,
        path.format(user=user),
        content=text.encode(),  # as text, so escapes such as \\u0000 reach the server
        headers={**operator, "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_characters"
    expected = (
        field
        or {
            "/api/balance/usage/{user}": "idempotencyKey",
            "/api/payment/portal/{user}": "returnUrl",
        }[path]
    )
    assert error["field"] == expected
    assert ("NUL" if bad == NUL else "surrogate") in error["message"]
    assert await _counts(sessions) == before


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("GET", "/api/balance/status/u%00x", "userId"),
        ("GET", "/api/users/u%00x", "userId"),
        ("POST", "/api/balance/usage/u%00x", "userId"),
        ("GET", "/api/balance/recharge/{user}/r%00x", "rechargeId"),
        ("POST", "/api/balance/recharge/{user}/r%00x/refresh", "rechargeId"),
        ("DELETE", "/api/payment/methods/{user}/pm_%00x", "paymentMethodId"),
        ("POST", "/api/payment/methods/{user}/pm_%00x/default", "paymentMethodId"),
    ],
)
async def test_nul_in_path_ids_is_a_400_naming_the_parameter(
    client: httpx.AsyncClient,
    user: str,
    operator: dict[str, str],
    method: str,
    path: str,
    field: str,
) -> None:
    response = await client.request(method, path.replace("{user}", user), headers=operator)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == {
        "code": "invalid_characters",
        "message": f"{field} contains a NUL character",
        "field": field,
    }


async def test_nul_in_an_email_is_refused_by_the_use_case_too(
    sessions: SessionFactory, make_user: UserMaker
) -> None:
    """The CLI and other callers reach the use case without the HTTP layer."""
    from balance_manager.domain.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        await make_user(email="a\x00b@example.com")
    assert refused.value.field == "email"


@pytest.mark.parametrize(
    ("metadata", "field"),
    [
        ({f"k{i}": "v" for i in range(51)}, "metadata"),
        ({"k" * 41: "v"}, "metadata.kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk.[key]"),
        ({"": "v"}, "metadata..[key]"),
        ({"note": "v" * 501}, "metadata.note.str"),
        ({"n": 2**53}, "metadata.n.int"),
        ({"n": [1]}, "metadata.n.str"),
    ],
    ids=["51_keys", "41_char_key", "empty_key", "501_char_value", "int_2_53", "list_value"],
)
async def test_metadata_keeps_stripes_limits(
    client: httpx.AsyncClient,
    sessions: SessionFactory,
    user: str,
    operator: dict[str, str],
    metadata: dict[str, Any],
    field: str,
) -> None:
    before = await _counts(sessions)
    response = await client.post(
        f"/api/balance/usage/{user}",
        json={"amount": 1, "idempotencyKey": "k", "metadata": metadata},
        headers=operator,
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"].startswith("metadata")
    assert await _counts(sessions) == before


async def test_a_page_of_entries_with_the_largest_metadata_stays_small(
    client: httpx.AsyncClient, user: str, operator: dict[str, str]
) -> None:
    biggest = {f"{i:02d}".ljust(40, "k"): "v" * 500 for i in range(50)}
    for i in range(20):
        response = await client.post(
            f"/api/balance/adjust/{user}",
            json={"amount": 1, "reason": "r" * 500, "idempotencyKey": f"m{i}", "metadata": biggest},
            headers=operator,
        )
        assert response.status_code == 200, response.text
    page = await client.get(f"/api/balance/ledger/{user}?limit=20", headers=operator)
    assert page.status_code == 200
    assert len(page.json()["entries"]) == 20
    assert len(page.content) < 700_000  # 20 × (50 × 540 + 500) bytes and change, not 20 MB


@pytest.mark.parametrize("currency", ["usd", "kwd", "jpy"])
async def test_an_overflowing_balance_is_a_409_and_changes_nothing(
    client: httpx.AsyncClient,
    sessions: SessionFactory,
    make_user: UserMaker,
    operator: dict[str, str],
    currency: str,
) -> None:
    cur = money.currency(currency)
    largest = money.to_major(money.max_minor(cur) - 1, cur)  # 999,999,999,999.99…
    sent = str(largest)  # as a decimal string: the API takes those too
    # A target whose smallest recharge Stripe can charge in every currency (JPY: 50 at least).
    user = await make_user(currency=currency, minimum_balance=0, target_balance=100)

    async def adjust(amount: Any, key: str) -> httpx.Response:
        return await client.post(
            f"/api/balance/adjust/{user}",
            json={"amount": amount, "reason": "grant", "idempotencyKey": key},
            headers=operator,
        )

    async def usage(amount: Any, key: str) -> httpx.Response:
        return await client.post(
            f"/api/balance/usage/{user}",
            json={"amount": amount, "idempotencyKey": key},
            headers=operator,
        )

    assert (await adjust(sent, "a1")).status_code == 200
    before = await _counts(sessions)
    for response in [await adjust(1, "a2"), await adjust(sent, "a3")]:
        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "balance_out_of_range"
    assert await _counts(sessions) == before
    # Back towards zero is always allowed; so is the bottom of the range, not past it.
    assert (await usage(sent, "u1")).status_code == 200
    assert (await usage(sent, "u2")).status_code == 200  # -largest
    for key in ("u3", "u4"):  # the fast path on PostgreSQL, then the general one
        refused = await usage(1, key)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"] == {
            "code": "balance_out_of_range",
            "message": "this would take the balance to 1,000,000,000,000 or beyond in magnitude",
            "field": "amount",
        }
    batch = await client.post(
        "/api/balance/usage",
        json={"events": [{"userId": user, "amount": 1, "idempotencyKey": "b1"}]},
        headers=operator,
    )
    assert batch.status_code == 200
    assert batch.json()["results"][0]["error"]["code"] == "balance_out_of_range"
    status = await client.get(f"/api/balance/status/{user}", headers=operator)
    # The balance a JSON client reads is exactly the one stored, digit for digit.
    assert f'"currentBalance":{-largest}' in status.text
    async with sessions.begin() as session:
        stored = await session.get(User, user)
        assert stored is not None
        assert stored.balance == -(money.max_minor(cur) - 1)
