"""Bad input gets a clear 4xx JSON error and changes nothing; never a 500."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import UserMaker


@pytest.fixture
async def user(make_user: UserMaker) -> str:
    return await make_user(minimum_balance=150, target_balance=600, initial_balance=100)


async def _ledger_total(client: httpx.AsyncClient, user: str, operator: dict[str, str]) -> int:
    return int(
        (await client.get(f"/api/balance/ledger/{user}", headers=operator)).json()["pagination"][
            "total"
        ]
    )


@pytest.mark.parametrize(
    ("content", "code", "field"),
    [
        (b"{not json", "malformed_json", None),
        (b'{"amount": NaN, "idempotencyKey": "k"}', "malformed_json", None),
        (b'{"amount": Infinity, "idempotencyKey": "k"}', "malformed_json", None),
        (b"[1, 2, 3]", "invalid_input", None),
        (b'"just a string"', "invalid_input", None),
        (b"", "missing_field", None),
        (b'{"amount": -5, "idempotencyKey": "k"}', "negative_amount", "amount"),
        (b'{"amount": 0, "idempotencyKey": "k"}', "zero_amount", "amount"),
        (b'{"amount": 1.001, "idempotencyKey": "k"}', "too_many_decimals", "amount"),
        (b'{"amount": 1e300, "idempotencyKey": "k"}', "amount_too_large", "amount"),
        (b'{"amount": "12,50", "idempotencyKey": "k"}', "invalid_amount", "amount"),
        (b'{"amount": true, "idempotencyKey": "k"}', "invalid_input", "amount"),
        (b'{"amount": null, "idempotencyKey": "k"}', "invalid_input", "amount"),
        (b'{"amount": {"value": 1}, "idempotencyKey": "k"}', "invalid_input", "amount"),
        (b'{"amount": 1}', "missing_field", "idempotencyKey"),
        (b'{"amount": 1, "idempotencyKey": ""}', "invalid_input", "idempotencyKey"),
        (b'{"amount": 1, "idempotencyKey": "has space"}', "invalid_input", "idempotencyKey"),
        (b'{"amount": 1, "idempotencyKey": 42}', "invalid_input", "idempotencyKey"),
        (b'{"amount": 1, "idempotencyKey": "k", "extra": 1}', "unknown_field", "extra"),
        (b'{"amount": 1, "idempotencyKey": "k", "metadata": [1]}', "invalid_input", "metadata"),
    ],
)
async def test_bad_usage_bodies(
    client: httpx.AsyncClient,
    user: str,
    operator: dict[str, str],
    content: bytes,
    code: str,
    field: str | None,
) -> None:
    before = await _ledger_total(client, user, operator)
    response = await client.post(
        f"/api/balance/usage/{user}",
        content=content,
        headers={**operator, "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == code
    if field is not None:
        assert error["field"] == field
    assert error["message"]
    assert await _ledger_total(client, user, operator) == before


async def test_oversized_body_is_413(
    client: httpx.AsyncClient, user: str, operator: dict[str, str]
) -> None:
    huge = b'{"amount": 1, "idempotencyKey": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    response = await client.post(
        f"/api/balance/usage/{user}",
        content=huge,
        headers={**operator, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


async def test_oversized_chunked_body_is_413(
    client: httpx.AsyncClient, user: str, operator: dict[str, str]
) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        yield b'{"amount": 1, "idempotencyKey": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    response = await client.post(
        f"/api/balance/usage/{user}",
        content=chunks(),
        headers={**operator, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        ("/api/balance/status/" + "a" * 500, 400, "userId"),
        ("/api/balance/status/bad%20id", 400, "userId"),
        ("/api/balance/status/..%2F..%2Fetc", 404, None),
        ("/api/balance/status/does-not-exist", 404, "userId"),
    ],
)
async def test_bad_path_ids(
    client: httpx.AsyncClient, operator: dict[str, str], path: str, status: int, field: str | None
) -> None:
    response = await client.get(path, headers=operator)
    assert response.status_code == status, response.text
    assert response.json()["error"].get("field") == field


async def test_unknown_route_and_method_are_json(
    client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    missing = await client.get("/api/nothing-here", headers=operator)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong = await client.delete("/api/balance/status/x", headers=operator)
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"


async def test_wrong_content_type_is_400(
    client: httpx.AsyncClient, user: str, operator: dict[str, str]
) -> None:
    response = await client.post(
        f"/api/balance/usage/{user}",
        content=b"amount=1",
        headers={**operator, "Content-Type": "text/plain"},
    )
    assert response.status_code == 400
    assert "error" in response.json()


async def test_openapi_is_served(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "/api/balance/status/{userId}" in spec["paths"]
    assert (await client.get("/docs")).status_code == 200
