"""Operator keys are cached per process for a short time: revoking one (from another
process, the CLI) must stop it on every serving process within 5 seconds."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time

import httpx

from tests.conftest import TOKEN_SECRET, free_port


def _cli(database_url: str, *args: str) -> str:
    env = {**os.environ, "DATABASE_URL": database_url, "TOKEN_SIGNING_SECRET": TOKEN_SECRET}
    done = subprocess.run(
        [sys.executable, "-m", "balance_manager", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def test_a_key_revoked_by_the_cli_stops_working_on_two_servers_within_5_seconds(
    database_url: str,
) -> None:
    user = _cli(database_url, "users", "create", "--email", f"{secrets.token_hex(4)}@example.com")
    key = _cli(database_url, "keys", "create", "--name", "short-lived")
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TOKEN_SIGNING_SECRET": TOKEN_SECRET,
        "LOG_LEVEL": "warning",
    }
    ports = [free_port(), free_port()]
    servers = [
        subprocess.Popen(
            [sys.executable, "-m", "balance_manager", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    try:
        clients = [httpx.Client(base_url=f"http://127.0.0.1:{p}", timeout=10) for p in ports]
        headers = {"Authorization": f"Bearer {key}"}
        deadline = time.monotonic() + 60
        for c in clients:  # up, and the key is now cached as valid in each process
            while True:
                try:
                    if c.get(f"/api/users/{user}", headers=headers).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "servers did not start"
                time.sleep(0.1)

        _cli(database_url, "keys", "revoke", key.split("_")[1])
        revoked_at = time.monotonic()
        refused: dict[int, float] = {}
        while len(refused) < len(clients):
            for i, c in enumerate(clients):
                if (
                    i not in refused
                    and c.get(f"/api/users/{user}", headers=headers).status_code == 401
                ):
                    refused[i] = time.monotonic() - revoked_at
            assert time.monotonic() - revoked_at < 5, f"still accepted after 5 s: {refused}"
            time.sleep(0.05)
        for c in clients:
            assert c.get(f"/api/users/{user}", headers=headers).status_code == 401
            c.close()
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)
