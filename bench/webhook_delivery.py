"""Operator webhook delivery on SQLite and PostgreSQL: throughput of one dispatcher, the
latency of one POST (from the delivery log), and how long an event waits from the commit that
wrote it to the receiver, with the dispatcher running as in the worker.

A local receiver (a threaded ``http.server`` answering 200) stands in for the operator's.

    .venv/bin/python bench/webhook_delivery.py [--events 1000]
        [--postgres postgresql://postgres@127.0.0.1:5432/test]

Measured 2026-11-30 on the 2-core machine while other test suites ran (load average 6–7):
SQLite 106 deliveries/s, one POST p50 11.6 ms / p95 54.6 ms, commit → receiver median
543 ms (max 954); PostgreSQL 51/s, p50 39.4 ms / p95 96.3 ms, median 609 ms (max 1061). The
wait is the poll interval (1 s) plus one POST: WEBHOOK_POLL_SECONDS trades it for idle reads.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy import select, text

from balance_manager.auth.secret_box import new_key
from balance_manager.runtime.compose import build_services
from balance_manager.runtime.dispatcher import Dispatcher
from balance_manager.settings import load_settings
from balance_manager.store import migrate, outbox
from balance_manager.store.db import create_engine
from balance_manager.store.models import WebhookAttempt
from balance_manager.usecases import webhooks

arrivals: dict[str, float] = {}


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        arrivals[self.headers["webhook-id"]] = time.monotonic()
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(url: str, events: int, receiver: str) -> None:
    await migrate.upgrade_database(url)
    settings = load_settings(
        database_url=url,
        webhook_allowed_networks="127.0.0.0/8",  # the local receiver
        secrets_key=new_key(),
        _env_file=None,
    )
    svc = build_services(settings, engine=create_engine(url))
    await webhooks.create_endpoint(svc, webhooks.NewEndpoint(url=receiver))

    # Throughput: a backlog of events, one dispatcher draining it.
    async with svc.engine.begin() as conn:
        await outbox.add(
            conn,
            [outbox.Event("balance.low", None, {"n": n}) for n in range(events)],
            now=svc.clock(),
        )
    dispatcher = Dispatcher(svc, concurrency=16, poll_interval=1.0, timeout=10)
    started = time.perf_counter()
    sent = await dispatcher.run_once()
    elapsed = time.perf_counter() - started
    async with svc.reads.begin() as session:
        latencies = list((await session.scalars(select(WebhookAttempt.latency_ms))).all())
    print(
        f"  backlog of {sent}: {sent / elapsed:.0f} deliveries/s; one POST p50"
        f" {statistics.median(latencies):.1f} ms, p95 {_percentile(latencies, 0.95):.1f} ms"
    )

    # Latency: the dispatcher polls as in the worker (WEBHOOK_POLL_SECONDS = 1); events come
    # one at a time.
    stop = asyncio.Event()
    running = asyncio.create_task(dispatcher.run(stop))
    waits = []
    for n in range(20):
        event = outbox.Event("balance.low", None, {"n": n})
        async with svc.engine.begin() as conn:
            await outbox.add(conn, [event], now=svc.clock())
        committed = time.monotonic()
        before = len(arrivals)
        while len(arrivals) == before:  # noqa: ASYNC110  (the receiver is another thread)
            await asyncio.sleep(0.001)
        waits.append((max(arrivals.values()) - committed) * 1000)
        await asyncio.sleep(0.137 * (n % 7))  # arrive at various points of the poll cycle
    stop.set()
    await running
    print(
        "  commit → receiver, one event at a time (poll 1 s):"
        f" median {statistics.median(waits):.0f} ms, max {max(waits):.0f} ms"
    )
    await svc.aclose()


async def main_async(events: int, postgres: str, receiver: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        print("SQLite")
        await run(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}", events, receiver)
    admin_url = load_settings(database_url=postgres, _env_file=None).database_url
    name = f"bm_bench_{secrets.token_hex(4)}"

    async def database(statement: str) -> None:
        admin = create_engine(admin_url)
        try:
            async with admin.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text(statement))
        finally:
            await admin.dispose()

    await database(f'CREATE DATABASE "{name}"')
    try:
        print("PostgreSQL")
        await run(admin_url.rsplit("/", 1)[0] + "/" + name, events, receiver)
    finally:
        await database(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        asyncio.run(
            main_async(args.events, args.postgres, f"http://127.0.0.1:{server.server_address[1]}/h")
        )
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
