"""The operator's user list (paged, searchable) and email changes."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import UserMaker


async def test_users_are_listed_newest_first_and_paged(
    client: httpx.AsyncClient, make_user: UserMaker, operator: dict[str, str]
) -> None:
    made = [await make_user(user_id=f"acct-{i}", email=f"p{i}@example.com") for i in range(5)]
    first = (await client.get("/api/users", params={"limit": 2}, headers=operator)).json()
    assert first["pagination"] == {"total": 5, "page": 1, "limit": 2, "totalPages": 3}
    pages = [first["users"]]
    for page in (2, 3):
        got = await client.get("/api/users", params={"limit": 2, "page": page}, headers=operator)
        pages.append(got.json()["users"])
    listed = [u["id"] for page in pages for u in page]
    assert listed == made[::-1]
    row = first["users"][0]
    assert set(row) >= {"id", "email", "currency", "balance", "createdAt", "belowMinimum"}
    assert row["autoRechargeEnabled"] is True and row["hasPaymentMethod"] is False
    assert row["paused"] is False


async def test_users_are_searchable_by_id_and_email(
    client: httpx.AsyncClient, make_user: UserMaker, operator: dict[str, str]
) -> None:
    await make_user(user_id="team-alpha", email="ada@lovelace.org")
    await make_user(user_id="team-beta", email="grace@hopper.net")
    await make_user(user_id="solo", email="Alan.Turing@Example.com")

    async def search(q: str) -> list[str]:
        got = await client.get("/api/users", params={"q": q}, headers=operator)
        assert got.status_code == 200, got.text
        return sorted(u["id"] for u in got.json()["users"])

    assert await search("team-") == ["team-alpha", "team-beta"]  # id prefix
    assert await search("solo") == ["solo"]  # exact id
    assert await search("HOPPER") == ["team-beta"]  # email part, any case
    assert await search("turing@example") == ["solo"]
    assert await search("%") == []  # LIKE wildcards are literal
    assert await search("_") == []
    assert await search("nobody") == []
    assert len(await search("")) == 3


async def test_patch_user_changes_the_email(
    client: httpx.AsyncClient,
    make_user: UserMaker,
    operator: dict[str, str],
    customer_headers: Any,
) -> None:
    user = await make_user(email="old@example.com")
    other = await make_user(email="taken@example.com")
    changed = await client.patch(
        f"/api/users/{user}", json={"email": "  New@Example.COM "}, headers=operator
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["email"] == "new@example.com"
    assert (await client.get(f"/api/users/{user}", headers=operator)).json()["email"] == (
        "new@example.com"
    )
    same = await client.patch(
        f"/api/users/{user}", json={"email": "new@example.com"}, headers=operator
    )
    assert same.status_code == 200

    taken = await client.patch(
        f"/api/users/{user}", json={"email": "TAKEN@example.com"}, headers=operator
    )
    assert taken.status_code == 409
    assert (taken.json()["error"]["code"], taken.json()["error"]["field"]) == (
        "email_taken",
        "email",
    )
    for bad in ({"email": "not-an-address"}, {"email": "a@b"}, {}, {"email": "x@y.io", "id": "z"}):
        rejected = await client.patch(f"/api/users/{user}", json=bad, headers=operator)
        assert rejected.status_code == 400, (bad, rejected.text)
    missing = await client.patch(
        "/api/users/nobody", json={"email": "n@example.com"}, headers=operator
    )
    assert missing.status_code == 404
    denied = await client.patch(
        f"/api/users/{user}", json={"email": "mine@example.com"}, headers=customer_headers(user)
    )
    assert denied.status_code == 403
    assert (await client.get(f"/api/users/{other}", headers=operator)).json()["email"] == (
        "taken@example.com"
    )
    assert (await client.get(f"/api/users/{user}", headers=operator)).json()["email"] == (
        "new@example.com"
    )
