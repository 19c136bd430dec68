"""The system under test, started on demand through the public CLI and torn down at the end.

One Stripe sandbox (``balance-manager sandbox``), one PostgreSQL database migrated by
``balance-manager migrate`` and seeded by SQL, ``balance-manager serve`` processes (PostgreSQL,
SQLite), ``balance-manager worker`` processes, and the baseline app. Everything lives in a work
directory under ``bench/results/`` (logs, SQLite file, scripts), kept when a run fails.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from harness import db, procs
from harness.config import Config

BENCH = Path(__file__).resolve().parent.parent
REPO = BENCH.parent
SIGNING_SECRET = "bench-signing-secret-" + "x" * 32
STRIPE_KEY = "sk_test_bench"
USAGE_PREFIX = "bu"  # usage load users bu1 … bu<users>: a huge balance, they never cross

# The service's own settings, removed from the inherited environment so that only what the
# harness sets applies (a stray DB_POOL_SIZE would change the figures).
_PRODUCT_VARS = {
    "DATABASE_URL", "TOKEN_SIGNING_SECRET", "HOST", "PORT", "DEFAULT_CURRENCY",
    "DEFAULT_RECHARGE_FEE_PERCENTAGE", "RECHARGE_FEE_MODE", "RECHARGE_FEE_FIXED",
    "DEFAULT_MINIMUM_BALANCE", "DEFAULT_TARGET_BALANCE", "CUSTOMER_TOKEN_TTL_SECONDS",
    "STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE",
    "STRIPE_TIMEOUT_SECONDS", "STRIPE_MAX_RETRIES", "PUBLIC_BASE_URL", "ALLOWED_RETURN_ORIGINS",
    "RECHARGE_CHECK_INTERVAL", "RECHARGE_MAX_CONSECUTIVE_FAILURES",
    "RECHARGE_RETRY_BACKOFF_SECONDS", "RECHARGE_PROCESSING_TIMEOUT_SECONDS", "EMBEDDED_WORKER",
    "LOG_LEVEL", "LOG_FORMAT", "MAX_REQUEST_BYTES", "DB_POOL_SIZE", "DB_MAX_OVERFLOW",
}  # fmt: skip
POOL_MAX = 32 + 8  # the service's default DB_POOL_SIZE + DB_MAX_OVERFLOW


def _cli_argv() -> list[str]:
    script = Path(sys.executable).parent / "balance-manager"
    return [str(script)] if script.exists() else [sys.executable, "-m", "balance_manager"]


class Stack:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.work = BENCH / "results" / "work.tmp"
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        self.rss = procs.RssSampler()
        self.rss.start()
        self._sandbox: procs.Proc | None = None
        self.sandbox_url = ""
        self.pg_url = ""
        self.api_key = ""
        self._serve: dict[str, tuple[procs.Proc, str]] = {}
        self._baseline: tuple[procs.Proc, str] | None = None
        self.workers: list[procs.Proc] = []

    # --- plumbing -------------------------------------------------------------------------

    def env(self, database_url: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _PRODUCT_VARS}
        env.update(
            DATABASE_URL=database_url,
            TOKEN_SIGNING_SECRET=SIGNING_SECRET,
            LOG_LEVEL=self.config.log_level,
            STRIPE_SECRET_KEY=STRIPE_KEY,
            STRIPE_API_BASE=self.sandbox(),
            # Separate workers, as the README's PostgreSQL deployment; none in serve.
            EMBEDDED_WORKER="false",
            # The periodic sweep stays out of the way; `balance-manager sweep` runs passes.
            RECHARGE_CHECK_INTERVAL="3600",
            PYTHONUNBUFFERED="1",
        )
        return env

    def cli(self, database_url: str, *args: str) -> str:
        out = subprocess.run(
            [*_cli_argv(), *args],
            env=self.env(database_url),
            cwd=self.work,  # no stray .env
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(f"balance-manager {' '.join(args)} failed:\n{out.stderr[-3000:]}")
        return out.stdout

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> procs.Proc:
        return procs.start(name, argv, env=env, cwd=self.work, log_dir=self.work)

    # --- components -----------------------------------------------------------------------

    def sandbox(self) -> str:
        if self._sandbox is None:
            port = procs.free_port()
            env = {k: v for k, v in os.environ.items() if k not in _PRODUCT_VARS}
            self._sandbox = self.start(
                "sandbox", [*_cli_argv(), "sandbox", "--port", str(port)], env
            )
            self.sandbox_url = f"http://127.0.0.1:{port}"
            procs.wait_http(self._sandbox, f"{self.sandbox_url}/_sandbox/health")
        return self.sandbox_url

    def postgres(self) -> str:
        """The main database: migrated, the usage users seeded, an operator key made."""
        if not self.pg_url:
            url = db.create_database(self.config.admin_url, "main")
            self.cli(url, "migrate")
            db.with_conn(
                url,
                lambda c: db.seed_users(
                    c,
                    prefix=USAGE_PREFIX,
                    count=self.config.users,
                    balance=10**11,
                    minimum=1000,
                    target=10_000,
                ),
            )
            self.pg_url = url
            self.api_key = (
                self.cli(url, "keys", "create", "--name", "bench").strip().splitlines()[-1]
            )
        return self.pg_url

    def serve(self, label: str, database_url: str, *, processes: int | None = None) -> str:
        """``balance-manager serve`` on ``database_url``; returns its base URL."""
        if label not in self._serve:
            port = procs.free_port()
            argv = [*_cli_argv(), "serve", "--host", "127.0.0.1", "--port", str(port)]
            count = self.config.processes if processes is None else processes
            if count > 1:  # `serve --workers N` (issue 7)
                argv += ["--workers", str(count)]
            proc = self.start(f"serve-{label}", argv, self.env(database_url))
            base = f"http://127.0.0.1:{port}"
            procs.wait_http(proc, f"{base}/health", timeout=120)
            self.rss.watch(f"serve-{label}", proc.pid)
            self._serve[label] = (proc, base)
        return self._serve[label][1]

    def serve_proc(self, label: str) -> procs.Proc:
        return self._serve[label][0]

    def stop_serve(self, label: str) -> None:
        if label in self._serve:
            proc, _ = self._serve.pop(label)
            self.rss.unwatch(f"serve-{label}")
            procs.stop(proc)

    def baseline(self) -> tuple[procs.Proc, str]:
        """The minimal FastAPI + asyncpg app (bench/harness/baseline_app.py)."""
        if self._baseline is None:
            port = procs.free_port()
            env = {k: v for k, v in os.environ.items() if k not in _PRODUCT_VARS}
            env.update(BENCH_DATABASE_URL=self.postgres(), BENCH_POOL_MAX=str(POOL_MAX))
            argv = [
                sys.executable, "-m", "uvicorn", "harness.baseline_app:app",
                "--app-dir", str(BENCH), "--host", "127.0.0.1", "--port", str(port),
                "--log-level", self.config.log_level,
            ]  # fmt: skip
            if self.config.processes > 1:
                argv += ["--workers", str(self.config.processes)]
            proc = self.start("baseline", argv, env)
            base = f"http://127.0.0.1:{port}"
            procs.wait_http(proc, f"{base}/health")
            self.rss.watch("baseline", proc.pid)
            self._baseline = (proc, base)
        return self._baseline

    def ensure_workers(self, count: int) -> list[procs.Proc]:
        """``balance-manager worker`` processes on the main database."""
        while len(self.workers) < count:
            n = len(self.workers) + 1
            proc = self.start(f"worker-{n}", [*_cli_argv(), "worker"], self.env(self.postgres()))
            procs.wait_line(proc, "worker started")
            self.rss.watch(f"worker-{n}", proc.pid)
            self.workers.append(proc)
        return self.workers[:count]

    def stop_workers(self) -> None:
        for n, proc in enumerate(self.workers, 1):
            self.rss.unwatch(f"worker-{n}")
            procs.stop(proc)
        self.workers = []

    def sandbox_customers(self, count: int) -> list[tuple[str, str]]:
        """``count`` sandbox customers, each with an attached Visa test card."""
        return asyncio.run(_customers(self.sandbox(), count))

    def close(self, *, keep_work: bool) -> list[str]:
        self.rss.stop()
        procs.stop_all()
        failed = db.drop_all()
        if not keep_work:
            shutil.rmtree(self.work, ignore_errors=True)
        return failed


async def _customers(base: str, count: int) -> list[tuple[str, str]]:
    auth = {"Authorization": f"Bearer {STRIPE_KEY}"}
    limit = asyncio.Semaphore(16)
    run = secrets.token_hex(3)

    async with httpx.AsyncClient(base_url=base, headers=auth, timeout=30) as client:

        async def one(n: int) -> tuple[str, str]:
            async with limit:
                created = await client.post(
                    "/v1/customers",
                    data={
                        "email": f"bench-{run}-{n}@bench.invalid",
                        "payment_method": "pm_card_visa",
                    },
                )
                created.raise_for_status()
                customer = created.json()["id"]
                cards = await client.get(
                    "/v1/payment_methods", params={"customer": customer, "type": "card"}
                )
                cards.raise_for_status()
                return customer, cards.json()["data"][0]["id"]

        return list(await asyncio.gather(*(one(n) for n in range(count))))


def describe_processes(stack: Stack) -> dict[str, Any]:
    """Peak RSS (MiB) of every process the stack watched."""
    return {label: round(rss / 2**20, 1) for label, rss in sorted(stack.rss.peaks.items())}
