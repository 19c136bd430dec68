"""The chaos run (see the package docstring): set-up, rounds, settling, figures."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import socket
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import stripe
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from balance_manager.auth import api_keys
from balance_manager.domain import policy
from balance_manager.domain.states import TriggeredBy
from balance_manager.settings import load_settings
from balance_manager.store import migrate
from balance_manager.store import recharges as records
from balance_manager.store.db import create_engine, session_factory
from balance_manager.store.models import BalanceConfig, User, utcnow
from balance_manager.usecases import accounts
from tests._support import database_name, postgres_admin_url, with_database
from tests.chaos import invariants
from tests.chaos.processes import Process

POSTGRES_ADMIN_URL = postgres_admin_url()
TOKEN_SECRET = "chaos-signing-secret-" + "x" * 32
SANDBOX_KEY = "sk_test_sandbox"
DRIVER = "bm-chaos-driver"
FAULT_KINDS = ("error", "rate_limit", "timeout", "lost_response")


@dataclass(frozen=True)
class Size:
    rounds: int = 4
    users: int = 6
    debits_per_round: int = 50
    manual_per_round: int = 2
    servers: int = 2
    workers: int = 2
    fault_fraction: float = 0.2  # of Stripe requests, in rounds with a fault
    db_sweeps_per_round: int = 2  # pg_terminate_backend of ~40 % of the run's connections
    declining_share: float = 0.15  # users whose card declines
    limited_share: float = 0.2  # users with maxDailyRecharges 3
    seed: int = 20261130


SIZES = {
    "ci": Size(),
    "full": Size(rounds=40, users=40, debits_per_round=200, manual_per_round=6),
}


@dataclass
class Figures:
    rounds: int = 0
    users: int = 0
    debits_sent: int = 0  # requests, retries and deliberate replays included
    debits_confirmed: int = 0  # distinct idempotency keys the API confirmed
    replays_sent: int = 0
    manual_requests: int = 0
    worker_kills: int = 0
    server_kills: int = 0
    db_connections_killed: int = 0
    fault_rounds: int = 0
    faults_fired: dict[str, int] = field(default_factory=dict)
    api_5xx: dict[str, int] = field(default_factory=dict)  # by status: 502/503 are Stripe's
    transport_errors: int = 0  # a killed server's connections
    payment_intents: int = 0
    recharges_succeeded: int = 0
    recharges_failed: int = 0
    settle_seconds: float = 0.0
    seconds: float = 0.0
    mismatches: dict[str, list[str]] = field(default_factory=dict)

    @property
    def mismatch_count(self) -> int:
        return sum(len(v) for v in self.mismatches.values())

    def summary(self) -> dict[str, Any]:
        out = asdict(self)
        out["mismatch_count"] = self.mismatch_count
        return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _admin(statement: str) -> None:
    admin = create_engine(POSTGRES_ADMIN_URL)
    try:
        async with admin.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(statement))
    finally:
        await admin.dispose()


class Chaos:
    def __init__(self, size: Size, *, log_dir: Path | None = None) -> None:
        self.size = size
        self.rng = random.Random(size.seed)
        self.figures = Figures(users=size.users)
        self.db_name = database_name("chaos")
        self.db_url = with_database(POSTGRES_ADMIN_URL, self.db_name)
        self.logs = log_dir or Path(tempfile.mkdtemp(prefix="bm-chaos-"))
        self.sandbox_port = _free_port()
        self.sandbox_url = f"http://127.0.0.1:{self.sandbox_port}"
        self.server_ports = [_free_port() for _ in range(size.servers)]
        self.servers: list[Process] = []
        self.workers: list[Process] = []
        self.sandbox: Process | None = None
        self.engine: AsyncEngine | None = None
        self.sdk = stripe.StripeClient(SANDBOX_KEY, base_addresses={"api": self.sandbox_url})
        self.operator_key = ""
        self.users: list[str] = []
        self.confirmed: dict[tuple[str, str], int] = {}  # (user, key) → amount (minor units)
        self.sent_keys: list[tuple[str, str, int]] = []
        self._restarts: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ set-up

    def _env(self, webhook_secret: str) -> dict[str, str]:
        return {
            **os.environ,
            "DATABASE_URL": self.db_url,
            "TOKEN_SIGNING_SECRET": TOKEN_SECRET,
            "STRIPE_SECRET_KEY": SANDBOX_KEY,
            "STRIPE_API_BASE": self.sandbox_url,
            "STRIPE_WEBHOOK_SECRET": webhook_secret,
            "STRIPE_TIMEOUT_SECONDS": "2",
            "STRIPE_MAX_RETRIES": "3",
            "EMBEDDED_WORKER": "false",
            "RECHARGE_CHECK_INTERVAL": "2",
            "RECHARGE_PROCESSING_TIMEOUT_SECONDS": "5",
            "RECHARGE_RETRY_BACKOFF_SECONDS": "1",
            "LOG_LEVEL": "warning",
            "LOG_FORMAT": "json",
            "DB_POOL_SIZE": "4",
            "DB_MAX_OVERFLOW": "8",
        }

    async def _wait_http(self, url: str, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(url)).status_code < 500:
                        return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{url} did not come up (logs in {self.logs})")

    async def setup(self) -> None:
        await _admin(f'CREATE DATABASE "{self.db_name}"')
        await migrate.upgrade_database(self.db_url)
        # The run's own connections: fresh each time, and named, so the sweeps spare them.
        self.engine = create_async_engine(
            self.db_url,
            poolclass=NullPool,
            connect_args={"server_settings": {"application_name": DRIVER}},
        )
        self.sandbox = Process(
            "sandbox", ["sandbox", "--port", str(self.sandbox_port)], dict(os.environ), self.logs
        )
        self.sandbox.start()
        await self._wait_http(f"{self.sandbox_url}/_sandbox/health")
        async with httpx.AsyncClient(base_url=self.sandbox_url) as client:
            config = {"retry_base_seconds": 0.2, "max_attempts": 8, "timeout_seconds": 5}
            (await client.post("/_sandbox/webhooks/config", json=config)).raise_for_status()
        endpoint = await asyncio.to_thread(
            self.sdk.v1.webhook_endpoints.create,
            params={
                "url": f"http://127.0.0.1:{self.server_ports[0]}/api/webhooks/stripe",
                "enabled_events": ["*"],
            },
        )
        env = self._env(str(endpoint.secret))
        await self._create_users()
        self.servers = [
            Process(f"serve-{i}", ["serve", "--port", str(port)], env, self.logs)
            for i, port in enumerate(self.server_ports)
        ]
        self.workers = [
            Process(f"worker-{i}", ["worker"], env, self.logs) for i in range(self.size.workers)
        ]
        for process in [*self.servers, *self.workers]:
            process.start()
        for port in self.server_ports:
            await self._wait_http(f"http://127.0.0.1:{port}/health")

    async def _create_users(self) -> None:
        assert self.engine is not None
        settings = load_settings(database_url=self.db_url, _env_file=None)
        sessions = session_factory(self.engine)
        async with sessions.begin() as session:
            self.operator_key = (await api_keys.create_key(session, name="chaos")).secret
        for i in range(self.size.users):
            declining = i < round(self.size.users * self.size.declining_share)
            limited = not declining and self.rng.random() < self.size.limited_share
            async with sessions.begin() as session:
                user, _ = await accounts.create_user_in(
                    session,
                    settings,
                    accounts.NewUser(
                        email=f"chaos{i}@example.com",
                        minimum_balance=150,
                        target_balance=600,
                        initial_balance=600,
                        max_daily_recharges=3 if limited else 100,
                    ),
                )
                user_id = user.id
            customer = await asyncio.to_thread(
                self.sdk.v1.customers.create, params={"email": f"chaos{i}@example.com"}
            )
            card = await asyncio.to_thread(
                self.sdk.v1.payment_methods.attach,
                "pm_card_chargeCustomerFail" if declining else "pm_card_visa",
                params={"customer": customer.id},
            )
            async with sessions.begin() as session:
                found = await session.get(User, user_id)
                config = await session.get(BalanceConfig, user_id)
                assert found is not None and config is not None
                found.stripe_customer_id = customer.id
                config.default_payment_method_id = card.id
            self.users.append(user_id)

    # ------------------------------------------------------------------ the storm

    async def _api(self, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        """Send to a random API server; on a dead one (or a 5xx other than Stripe's), try
        another with the same request, as an operator's client would. None: gave up."""
        headers = {"Authorization": f"Bearer {self.operator_key}"}
        for _attempt in range(200):
            port = self.rng.choice(self.server_ports)
            try:
                async with httpx.AsyncClient(timeout=30) as client:
                    response = await client.request(
                        method, f"http://127.0.0.1:{port}{path}", headers=headers, **kwargs
                    )
            except httpx.TransportError:
                self.figures.transport_errors += 1
                await asyncio.sleep(0.1)
                continue
            if response.status_code >= 500:
                status = str(response.status_code)
                self.figures.api_5xx[status] = self.figures.api_5xx.get(status, 0) + 1
                if response.status_code not in {502, 503}:
                    # Never a 500: a dead database connection is retried, a dead Stripe is
                    # a 502. The client retries (as a client would), and the run reports it.
                    self.figures.mismatches.setdefault("api", []).append(
                        f"{method} {path}: {response.status_code} {response.text[:200]}"
                    )
                    await asyncio.sleep(0.1)
                    continue
            return response
        return None

    async def _debit(self, user: str, key: str, amount: int) -> None:
        self.figures.debits_sent += 1
        response = await self._api(
            "POST",
            f"/api/balance/usage/{user}",
            json={"amount": f"{amount // 100}.{amount % 100:02d}", "idempotencyKey": key},
        )
        if response is not None and response.status_code == 200:
            self.confirmed[(user, key)] = amount
        elif response is not None:
            self.figures.mismatches.setdefault("api", []).append(
                f"usage {user}/{key}: {response.status_code} {response.text[:200]}"
            )

    async def _storm(self, round_no: int) -> None:
        jobs = []
        for i in range(self.size.debits_per_round):
            if self.sent_keys and self.rng.random() < 0.1:  # the client repeats itself
                user, key, amount = self.rng.choice(self.sent_keys)
                self.figures.replays_sent += 1
            else:
                user = self.rng.choice(self.users)
                key, amount = f"r{round_no}-d{i}", self.rng.randint(500, 9000)
                self.sent_keys.append((user, key, amount))
            jobs.append(self._debit(user, key, amount))
        for _ in range(self.size.manual_per_round):
            jobs.append(self._manual(self.rng.choice(self.users)))
        self.rng.shuffle(jobs)
        limit = asyncio.Semaphore(16)

        async def bounded(job: Any) -> None:
            async with limit:
                await job

        await asyncio.gather(*(bounded(j) for j in jobs))

    async def _manual(self, user: str) -> None:
        self.figures.manual_requests += 1
        response = await self._api("POST", f"/api/balance/recharge/{user}")
        if response is not None and response.status_code not in {200, 409, 422, 502}:
            self.figures.mismatches.setdefault("api", []).append(
                f"manual {user}: {response.status_code} {response.text[:200]}"
            )

    # ------------------------------------------------------------------ the chaos

    def _restart_later(self, process: Process) -> None:
        async def restart() -> None:
            await asyncio.sleep(self.rng.uniform(0.0, 1.5))
            process.start()

        task = asyncio.create_task(restart())
        self._restarts.add(task)
        task.add_done_callback(self._restarts.discard)

    async def _kill_one(self, group: list[Process]) -> None:
        alive = [p for p in group if p.alive]
        if len(alive) < 1 or (group is self.servers and len(alive) < 2):
            return  # keep one API server up, or the storm cannot go on
        victim = self.rng.choice(alive)
        victim.kill()  # counted by the process
        self._restart_later(victim)

    async def _kill_connections(self) -> None:
        assert self.engine is not None
        async with self.engine.connect() as conn:
            killed = await conn.scalar(
                text(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = :db AND application_name <> :driver AND random() < 0.4"
                ),
                {"db": self.db_name, "driver": DRIVER},
            )
            await conn.commit()
        self.figures.db_connections_killed += int(killed or 0)

    async def _havoc(self, round_no: int) -> None:
        """This round's kills, each at a random moment of its storm: a worker every round, an
        API server every other round, ``db_connections_per_round`` sweeps of connections."""

        async def later(action: Any) -> None:
            await asyncio.sleep(self.rng.uniform(0.0, 2.0))
            await action()

        actions = [lambda: self._kill_one(self.workers)]
        if round_no % 2 == 0:
            actions.append(lambda: self._kill_one(self.servers))
        actions += [self._kill_connections] * self.size.db_sweeps_per_round
        await asyncio.gather(*(later(a) for a in actions))

    async def _fault(self) -> str | None:
        if self.rng.random() >= 0.7:
            return None
        kind = self.rng.choice(FAULT_KINDS)
        spec: dict[str, Any] = {
            "kind": kind,
            "method": "*",
            "path": self.rng.choice(["/v1/*", "/v1/payment_intents*"]),
            "fraction": self.size.fault_fraction,
            "count": None,
            "seconds": {"timeout": 3.0, "rate_limit": 0.2}.get(kind, 1.0),
            "drop": self.rng.random() < 0.5,
        }
        async with httpx.AsyncClient(base_url=self.sandbox_url) as client:
            fault = (await client.post("/_sandbox/faults", json=spec)).json()
        self.figures.fault_rounds += 1
        return str(fault["id"])

    async def _clear_faults(self) -> None:
        async with httpx.AsyncClient(base_url=self.sandbox_url) as client:
            rules = (await client.get("/_sandbox/faults")).json()["data"]
            for rule in rules:
                fired = self.figures.faults_fired
                fired[rule["kind"]] = fired.get(rule["kind"], 0) + int(rule["fired"])
            await client.delete("/_sandbox/faults")

    async def round(self, round_no: int) -> None:
        await self._fault()
        try:
            await asyncio.gather(self._storm(round_no), self._havoc(round_no))
        finally:
            await self._clear_faults()
        self.figures.rounds += 1

    # ------------------------------------------------------------------ settle and check

    async def _due(self) -> list[str]:
        """Users still owed something: a recharge in flight, or one the policy would open."""
        assert self.engine is not None
        rules = load_settings(database_url=self.db_url, _env_file=None).recharge_rules
        now = utcnow()
        async with self.engine.connect() as conn:
            found = await records.accounts(conn, self.users, now=now)
        due = []
        for user, account in found.items():
            decision = policy.decide(
                account.state,
                policy.RechargeRequest(TriggeredBy.AUTO),
                now=now,
                fee_rule=rules.fee_rule,
            )
            if account.state.in_flight or decision.opens:
                due.append(user)
        return due

    async def settle(self, seconds: float = 240) -> list[str]:
        """Every process back up, no faults; wait until nothing is owed, twice in a row."""
        await asyncio.gather(*self._restarts)
        for process in [*self.servers, *self.workers]:
            if not process.alive:
                process.start()
        started = time.monotonic()
        quiet = 0
        due: list[str] = []
        while time.monotonic() - started < seconds:
            due = await self._due()
            quiet = quiet + 1 if not due else 0
            if quiet >= 3:
                break
            await asyncio.sleep(1.0)
        async with httpx.AsyncClient(base_url=self.sandbox_url, timeout=60) as client:
            await client.post("/_sandbox/webhooks/flush")
        self.figures.settle_seconds = round(time.monotonic() - started, 1)
        return due

    async def check(self) -> None:
        assert self.engine is not None
        found = await invariants.check(self.engine, self.sdk, self.confirmed)
        for name, problems in found.items():
            self.figures.mismatches.setdefault(name, []).extend(problems)
        self.figures.mismatches.setdefault("api", [])
        self.figures.debits_confirmed = len(self.confirmed)
        async with self.engine.connect() as conn:
            counts = dict(
                (
                    await conn.execute(
                        text("SELECT status, count(*) FROM recharge_records GROUP BY status")
                    )
                ).all()
            )
        self.figures.recharges_succeeded = int(counts.get("succeeded", 0))
        self.figures.recharges_failed = int(counts.get("failed", 0))
        intents = 0
        async with self.engine.connect() as conn:
            customers = (await conn.scalars(text("SELECT stripe_customer_id FROM users"))).all()
        for customer in customers:
            intents += len(await asyncio.to_thread(invariants._intents, self.sdk, customer))
        self.figures.payment_intents = intents

    async def teardown(self) -> None:
        for task in list(self._restarts):
            task.cancel()
        for process in [*self.servers, *self.workers]:
            process.stop()
        if self.sandbox is not None:
            self.sandbox.stop()
        if self.engine is not None:
            await self.engine.dispose()
        await _admin(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')

    async def run(self) -> Figures:
        started = time.monotonic()
        try:
            await self.setup()
            for round_no in range(self.size.rounds):
                await self.round(round_no)
            due = await self.settle()
            if due:
                self.figures.mismatches.setdefault("settle", []).append(
                    f"still owed after settling: {due[:10]}"
                )
            self.figures.mismatches.setdefault("settle", [])
            await self.check()
        finally:
            self.figures.worker_kills = sum(p.kills for p in self.workers)
            self.figures.server_kills = sum(p.kills for p in self.servers)
            await self.teardown()
            self.figures.seconds = round(time.monotonic() - started, 1)
        if self.figures.mismatch_count == 0:
            shutil.rmtree(self.logs, ignore_errors=True)
        return self.figures
