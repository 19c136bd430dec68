"""Slow clients with real sockets: a connection that does not finish its headers, or its body,
within the configured time gets a 408 and is closed — a hundred of each at once, through the
server ``serve`` runs (and once through a real ``balance-manager serve`` process)."""

from __future__ import annotations

import concurrent.futures
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from balance_manager.runtime.compose import create_app
from balance_manager.runtime.serving import uvicorn_config
from balance_manager.settings import Settings
from tests.conftest import TOKEN_SECRET, free_port

HEADER_SECONDS = 0.5
BODY_SECONDS = 1.0
PATIENCE = 60.0  # how long a client waits for the server to act: generous, never a threshold


@pytest.fixture
def server(settings: Settings) -> Iterator[tuple[str, int]]:
    """The app on a real port, configured by the same function as ``serve``."""
    tight = settings.model_copy(
        update={
            "request_header_timeout_seconds": HEADER_SECONDS,
            "request_body_timeout_seconds": BODY_SECONDS,
        }
    )
    port = free_port()
    app = create_app(tight, embedded_worker=False)
    running = uvicorn.Server(
        uvicorn_config(app, tight, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + PATIENCE
    while not running.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    yield "127.0.0.1", port
    running.should_exit = True
    thread.join(timeout=PATIENCE)


def _connect(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address, timeout=PATIENCE)
    sock.settimeout(PATIENCE)
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (or PATIENCE runs out,
    which raises socket.timeout: the server held the connection)."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


SLOW_HEADER = b"POST /api/balance/usage/u1 HTTP/1.1\r\nHost: x\r\nContent-Type: app"
# The batch route reads its body before checking the credential (the single-debit route
# refuses a bad key before reading anything, which would not show a slow body).
SLOW_BODY = (
    b"POST /api/balance/usage HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Authorization: Bearer bmk_x_y\r\nContent-Length: 100\r\n\r\n" + b'{"amount": 1, '
)


def _held(address: tuple[str, int], opening: bytes) -> tuple[float, bytes]:
    started = time.monotonic()
    with _connect(address) as sock:
        if opening:
            sock.sendall(opening)
        answer = _read_until_closed(sock)
    return time.monotonic() - started, answer


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("opening", "limit", "message"),
    [
        (b"", HEADER_SECONDS, b"request headers not received"),
        (SLOW_HEADER, HEADER_SECONDS, b"request headers not received"),
        (SLOW_BODY, BODY_SECONDS, b"request body not received"),
    ],
    ids=["silent", "slow_header", "slow_body"],
)
def test_a_slow_client_gets_408_and_is_disconnected(
    server: tuple[str, int], opening: bytes, limit: float, message: bytes
) -> None:
    elapsed, answer = _held(server, opening)
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer
    assert b'"code": "request_timeout"' in answer and message in answer
    assert elapsed >= limit * 0.9  # not before its time (load can only make it later)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_trickling_bytes_does_not_extend_the_header_deadline(server: tuple[str, int]) -> None:
    sent = 0
    answer = b""
    with _connect(server) as sock:
        sock.settimeout(0.2)
        try:
            for byte in SLOW_HEADER:  # one byte every 0.2 s: 12 s for the whole opening
                sock.sendall(bytes([byte]))
                sent += 1
                try:
                    chunk = sock.recv(65536)
                except TimeoutError:
                    continue
                answer += chunk
                if not chunk or answer.startswith(b"HTTP/1.1 408"):
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert sent < len(SLOW_HEADER)  # cut off while still trickling


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_hundred_slow_header_and_a_hundred_slow_body_connections_are_all_closed(
    server: tuple[str, int],
) -> None:
    openings = [SLOW_HEADER] * 100 + [SLOW_BODY] * 100
    with concurrent.futures.ThreadPoolExecutor(max_workers=200) as pool:
        answers = list(pool.map(lambda o: _held(server, o)[1], openings))
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers)
    # …and the server still serves a well-behaved client, on a kept-alive connection too.
    with httpx.Client(base_url=f"http://{server[0]}:{server[1]}", timeout=PATIENCE) as client:
        for _ in range(2):
            assert client.get("/health").status_code == 200


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_normal_request_with_a_body_is_not_cut(server: tuple[str, int]) -> None:
    with _connect(server) as sock:
        sock.sendall(SLOW_BODY[: -len(b'{"amount": 1, ')])
        body = b'{"amount": 1, "idempotencyKey": "k"}'.ljust(100)
        sock.sendall(body)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 401"), answer  # the app answered: bad key, not 408


def test_balance_manager_serve_applies_the_settings(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "TOKEN_SIGNING_SECRET": TOKEN_SECRET,
        "REQUEST_HEADER_TIMEOUT_SECONDS": "1",
        "REQUEST_BODY_TIMEOUT_SECONDS": "1.5",
        "LOG_LEVEL": "warning",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "balance_manager", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + PATIENCE
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.1)
        for opening, limit in [(SLOW_HEADER, 1.0), (SLOW_BODY, 1.5)]:
            elapsed, answer = _held(("127.0.0.1", port), opening)
            assert answer.startswith(b"HTTP/1.1 408"), answer
            assert elapsed >= limit * 0.9
    finally:
        process.terminate()
        process.wait(timeout=PATIENCE)
