"""``balance-manager demo`` end to end: within seconds the original's example recharge happens
(-50 → 600, fee 18.85, total 668.85) through the sandbox, the worker and the webhooks."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_demo_recharges_the_original_user(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "TOKEN_SIGNING_SECRET"}}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "balance_manager",
            "demo",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        banner = ""
        deadline = time.monotonic() + 30
        while "Press Ctrl+C" not in banner and time.monotonic() < deadline:
            banner += proc.stdout.readline()
        key = re.search(r"export KEY=(\S+)", banner)
        assert key, banner
        user = "cmd19la3k0000d3bvxl8nch31"
        headers = {"Authorization": f"Bearer {key.group(1)}"}
        base = f"http://127.0.0.1:{port}"
        history: dict[str, object] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                history = httpx.get(f"{base}/api/balance/history/{user}", headers=headers).json()
            except httpx.TransportError:
                history = {}
            if history.get("records") and history["records"][0]["status"] == "succeeded":  # type: ignore[index]
                break
            time.sleep(0.2)
        (record,) = history["records"]  # type: ignore[misc]
        assert (record["amount"], record["fee"], record["totalCharge"], record["status"]) == (
            650,
            18.85,
            668.85,
            "succeeded",
        )
        status = httpx.get(f"{base}/api/balance/status/{user}", headers=headers).json()
        assert status["currentBalance"] == 600
        assert "demo-decline" in banner and "demo-3ds" in banner
    finally:
        proc.terminate()
        proc.wait(timeout=15)
