"""The sandbox's control routes (``/_sandbox/…``), from async tests."""

from __future__ import annotations

from typing import Any

import httpx


async def sandbox_post(sandbox: Any, path: str, body: dict[str, Any] | None = None) -> Any:
    async with httpx.AsyncClient(base_url=sandbox.base_url) as control:
        response = await control.post(f"/_sandbox/{path}", json=body)
    response.raise_for_status()
    return response.json()
