"""``balance-manager serve --workers N``: N API processes and, when the embedded worker is
on, exactly one recharge worker process beside them (never one inside each)."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from typing import Any

import httpx
import psutil
import pytest

from tests.cli.test_cli import last_line, run
from tests.conftest import TOKEN_SECRET, free_port


def test_more_than_one_process_is_refused_on_sqlite(tmp_path: Any) -> None:
    result = run(f"sqlite:///{tmp_path}/one.db", "serve", "--workers", "2", check=False)
    assert result.returncode == 1
    assert "needs PostgreSQL" in result.stderr


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_api_processes_and_one_recharge_worker(database_url: str, stripe_sandbox: Any) -> None:
    env = {
        "STRIPE_SECRET_KEY": stripe_sandbox.secret_key,
        "STRIPE_API_BASE": stripe_sandbox.base_url,
        "RECHARGE_CHECK_INTERVAL": "3600",
    }
    key = last_line(run(database_url, "keys", "create", "--name", "w", **env))
    user = last_line(
        run(
            database_url,
            "users",
            "create",
            "--email",
            f"{secrets.token_hex(4)}@example.com",
            "--minimum",
            "150",
            "--target",
            "600",
            "--balance",
            "200",
            **env,
        )
    )
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "balance_manager", "serve", "--port", str(port), "--workers", "2"],
        env={
            **os.environ,
            "DATABASE_URL": database_url,
            "TOKEN_SIGNING_SECRET": TOKEN_SECRET,
            "LOG_LEVEL": "warning",
            **env,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        api = httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}
        )
        deadline = time.monotonic() + 90
        while True:
            try:
                if api.get("/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve --workers 2 did not start"
            time.sleep(0.2)
        children = psutil.Process(server.pid).children(recursive=True)
        commands = [" ".join(c.cmdline()) for c in children]
        assert sum("balance_manager worker" in c for c in commands) == 1, commands
        assert len(children) >= 3, commands  # two API processes and the worker

        # The worker beside them charges what the API processes open.
        setup = api.post(f"/api/payment/setup-intent/{user}").json()
        sdk_key = {"Authorization": f"Bearer {stripe_sandbox.secret_key}"}
        httpx.post(
            f"{stripe_sandbox.base_url}/v1/setup_intents/{setup['setupIntentId']}/confirm",
            data={"payment_method": "pm_card_visa"},
            headers=sdk_key,
        ).raise_for_status()
        done = api.post(
            f"/api/payment/setup-intent/{user}/complete",
            json={"setupIntentId": setup["setupIntentId"]},
        )
        assert done.status_code == 200, done.text
        debit = api.post(
            f"/api/balance/usage/{user}", json={"amount": 250, "idempotencyKey": "w-1"}
        )
        assert debit.json()["rechargeId"] is not None
        while api.get(f"/api/balance/status/{user}").json()["currentBalance"] != 600:
            assert time.monotonic() < deadline + 60, "the recharge was not charged"
            time.sleep(0.2)
        api.close()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    # Every child (the API processes and the worker) is gone once serve has exited.
    _gone, alive = psutil.wait_procs(children, timeout=15)
    assert not alive, [p.pid for p in alive]
