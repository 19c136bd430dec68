"""How many PaymentIntent creations per second the Stripe sandbox serves on one core.

The sandbox runs in its own process pinned to CPU 0 (uvicorn, one worker); the load comes from
client processes pinned to the other CPUs, each with many concurrent keep-alive connections.
Every request is the recharge path: ``POST /v1/payment_intents`` with ``confirm=true``,
``off_session=true``, a customer, a saved card and a fresh ``Idempotency-Key`` — a succeeded
PaymentIntent, a Charge, a balance transaction and three events each.

    .venv/bin/python bench/sandbox_throughput.py [--seconds 10] [--concurrency 32] [--json]

``bench/run_all.py`` runs it as its ``sandbox`` scenario (``--json``: one JSON line).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from urllib.parse import urlencode

import httpx

KEY = "sk_test_bench"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(port: int) -> subprocess.Popen[bytes]:
    code = (
        "import os; os.sched_setaffinity(0, {0}); "
        "from stripe_sandbox.server import run; "
        f"run(port={port})"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/_sandbox/health", timeout=0.5)
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("sandbox did not start")


def _setup(base: str) -> tuple[str, str]:
    h = {"Authorization": f"Bearer {KEY}"}
    cus = httpx.post(f"{base}/v1/customers", headers=h).json()["id"]
    si = httpx.post(
        f"{base}/v1/setup_intents",
        headers=h,
        data={
            "customer": cus,
            "payment_method": "pm_card_visa",
            "confirm": "true",
            # as the gateway: no redirect-based methods, so no return_url is needed
            "automatic_payment_methods[enabled]": "true",
            "automatic_payment_methods[allow_redirects]": "never",
        },
    ).json()
    return cus, si["payment_method"]


def _request(base: str, customer: str, pm: str) -> Callable[[], bytes]:
    host = base.removeprefix("http://")
    body = urlencode(
        {
            "amount": "66885",
            "currency": "usd",
            "customer": customer,
            "payment_method": pm,
            "confirm": "true",
            "off_session": "true",
            "metadata[recharge]": "bench",
        }
    ).encode()
    head = (
        f"POST /v1/payment_intents HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {KEY}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\nIdempotency-Key: "
    ).encode()

    def build() -> bytes:
        return head + uuid.uuid4().hex.encode() + b"\r\n\r\n" + body

    return build


async def _load(base: str, customer: str, pm: str, seconds: float, concurrency: int) -> int:
    """A minimal keep-alive HTTP/1.1 client: the load generator must not be the bottleneck
    (httpx tops out around 300 requests/s on one core)."""
    build = _request(base, customer, pm)
    host, port = base.removeprefix("http://").split(":")
    done = 0
    stop = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.monotonic() < stop:
                writer.write(build())
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                payload = await reader.readexactly(length)
                if not head.startswith(b"HTTP/1.1 200") or b'"status":"succeeded"' not in payload:
                    raise RuntimeError(payload.decode())
                done += 1
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _client(args: tuple[str, str, str, float, int, int], queue: multiprocessing.Queue[int]) -> None:
    base, customer, pm, seconds, concurrency, cpu = args
    os.sched_setaffinity(0, {cpu})
    queue.put(asyncio.run(_load(base, customer, pm, seconds, concurrency)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--clients", type=int, default=0, help="client processes (default: CPUs-1)")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    load_cpus = [c for c in cpus if c != 0] or [0]
    n_clients = args.clients or max(1, min(len(load_cpus), 3))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = _start_server(port)
    try:
        customer, pm = _setup(base)
        asyncio.run(_load(base, customer, pm, 1.0, 8))  # warm up
        queue: multiprocessing.Queue[int] = multiprocessing.Queue()
        procs = [
            multiprocessing.Process(
                target=_client,
                args=(
                    (
                        base,
                        customer,
                        pm,
                        args.seconds,
                        args.concurrency,
                        load_cpus[i % len(load_cpus)],
                    ),
                    queue,
                ),
            )
            for i in range(n_clients)
        ]
        started = time.monotonic()
        cpu_before = _cpu_seconds(server.pid)
        for p in procs:
            p.start()
        total = sum(queue.get() for _ in procs)
        for p in procs:
            p.join()
        elapsed = time.monotonic() - started
        cpu = _cpu_seconds(server.pid) - cpu_before
    finally:
        server.terminate()
        server.wait(10)
    if args.json:
        figures = {
            "cpus": len(cpus),
            "client_processes": n_clients,
            "connections_per_client": args.concurrency,
            "seconds": round(elapsed, 2),
            "creations": total,
            "per_second": round(total / elapsed, 1),
            "sandbox_cpu_share": round(cpu / elapsed, 2),
            "per_cpu_second": round(total / cpu, 1) if cpu else None,
        }
        print(json.dumps(figures))
        return
    print(
        f"sandbox on CPU 0 ({len(cpus)} CPUs visible), {n_clients} client process(es) x "
        f"{args.concurrency} connections, {args.seconds:.0f} s"
    )
    print(
        f"PaymentIntent creations (confirm + off_session, succeeded): {total} "
        f"in {elapsed:.1f} s = {total / elapsed:.0f}/s"
    )
    print(
        f"sandbox CPU time used: {cpu:.1f} s ({100 * cpu / elapsed:.0f} % of one core) "
        f"= {total / cpu:.0f} creations per CPU-second"
    )


if __name__ == "__main__":
    main()
