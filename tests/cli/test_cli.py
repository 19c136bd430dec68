"""The ``balance-manager`` command line, run as a real subprocess on both databases."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ALLOWED_NETWORKS, SECRETS_KEY, TOKEN_SECRET

CLI = [sys.executable, "-m", "balance_manager"]


def run(
    database_url: str, *args: str, check: bool = True, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TOKEN_SIGNING_SECRET": TOKEN_SECRET,
        "SECRETS_KEY": SECRETS_KEY,
        "WEBHOOK_ALLOWED_NETWORKS": ALLOWED_NETWORKS,
        **env,
    }
    result = subprocess.run(
        [*CLI, *args], capture_output=True, text=True, env=environment, timeout=60, check=False
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.usefixtures("engine")
async def test_keys_create_list_revoke(database_url: str, client: httpx.AsyncClient) -> None:
    key = last_line(run(database_url, "keys", "create", "--name", "ops"))
    assert key.startswith("bmk_")
    user = last_line(
        run(
            database_url,
            "users",
            "create",
            "--email",
            "cli@example.com",
            "--minimum",
            "150",
            "--target",
            "600",
            "--balance",
            "-50",
        )
    )
    headers = {"Authorization": f"Bearer {key}"}
    status = await client.get(f"/api/balance/status/{user}", headers=headers)
    assert status.status_code == 200 and status.json()["calculation"]["totalCharge"] == 668.85

    listed = run(database_url, "keys", "list").stdout
    assert "ops" in listed and "active" in listed and key not in listed  # secrets never shown
    key_id = listed.split()[0]
    run(database_url, "keys", "revoke", key_id)
    assert "revoked" in run(database_url, "keys", "list").stdout
    assert (await client.get(f"/api/balance/status/{user}", headers=headers)).status_code == 401


@pytest.mark.usefixtures("engine")
async def test_token_and_users_show(database_url: str, client: httpx.AsyncClient) -> None:
    user = last_line(
        run(database_url, "users", "create", "--email", "t@example.com", "--id", "acct-7")
    )
    assert user == "acct-7"
    token = last_line(run(database_url, "token", user))
    ok = await client.get(
        f"/api/balance/config/{user}", headers={"Authorization": f"Bearer {token}"}
    )
    assert ok.status_code == 200
    shown = run(database_url, "users", "show", user).stdout
    assert "t@example.com" in shown and "balance   0.00 USD" in shown
    missing = run(database_url, "token", "nobody", check=False)
    assert missing.returncode == 1 and "not found" in missing.stderr


def test_malformed_setting_stops_with_one_line(tmp_path: Path) -> None:
    result = run(f"sqlite:///{tmp_path}/x.db", "migrate", check=False, PORT="eighty")
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "error: invalid setting PORT: Input should be a valid integer, unable to parse string as an integer"
    )
    bad_url = run("mysql://nope", "migrate", check=False)
    assert bad_url.returncode == 2 and "DATABASE_URL" in bad_url.stderr


def test_serve_refuses_to_start_without_a_signing_secret(tmp_path: Path) -> None:
    result = run(
        f"sqlite:///{tmp_path}/x.db", "serve", "--port", "0", check=False, TOKEN_SIGNING_SECRET=""
    )
    assert result.returncode != 0
    assert "TOKEN_SIGNING_SECRET" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_migrate_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/m.db"
    assert "up to date" in run(url, "migrate").stdout
    assert "up to date" in run(url, "migrate").stdout


@pytest.mark.usefixtures("engine")
async def test_status_summarises_users_queue_and_workers(
    database_url: str, make_user: Any, sessions: Any
) -> None:
    from balance_manager.store import heartbeats
    from balance_manager.store.models import utcnow

    await make_user(minimum_balance=150, target_balance=600, initial_balance=-50)
    await make_user(minimum_balance=150, target_balance=600, initial_balance=1000)
    now = utcnow()
    beat = heartbeats.Beat("host-a:42:abc123", "host-a", 42, now, passes=7, charged=3)
    async with sessions.begin() as session:
        await heartbeats.write(await session.connection(), beat, now=now, swept=True)
    result = run(database_url, "status")
    rows = {
        cells[0]: cells[1]
        for line in result.stdout.splitlines()
        if len(cells := [c.strip() for c in line.strip("│┃ ").split("│")]) >= 2
    }
    assert rows["users"] == "2" and rows["below minimum"] == "1"
    assert rows["waiting for authentication"] == "0" and rows["queue (pending)"] == "0"
    assert rows["workers alive"] == "1" and rows["last sweep"].endswith("s ago")
    assert "host-a:42:abc123" in result.stdout and "alive" in result.stdout


def test_status_names_an_unreachable_database() -> None:
    result = run("postgresql://postgres@127.0.0.1:1/none", "status", check=False)
    assert result.returncode == 1
    assert result.stderr.startswith(
        "error: cannot reach the database at postgresql+asyncpg://postgres@127.0.0.1:1/none"
    )
    assert len(result.stderr.splitlines()) == 1
