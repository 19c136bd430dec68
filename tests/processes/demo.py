"""Running ``balance-manager demo`` as a newcomer does, and the command line beside it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

CLI = [sys.executable, "-m", "balance_manager"]
DEMO_USER = "cmd19la3k0000d3bvxl8nch31"
# What a newcomer's shell does not have: the demo must not need (or be misled by) any of it.
_SERVICE_VARIABLES = ("DATABASE_URL", "TOKEN_SIGNING_SECRET", "LOG_LEVEL", "LOG_FORMAT", "PORT")


def newcomer_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _SERVICE_VARIABLES and not k.startswith("STRIPE_")
    }
    return {**env, "COLUMNS": "120", **extra}


def run_cli(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``balance-manager ARGS`` in ``cwd``, with a newcomer's environment (plus ``env``)."""
    return subprocess.run(
        [*CLI, *args],
        cwd=cwd,
        env=newcomer_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@dataclass
class Demo:
    process: subprocess.Popen[bytes]
    cwd: Path
    output: Path  # stdout and stderr
    base_url: str
    banner: str

    def printed(self, pattern: str) -> str:
        """The first group of ``pattern`` in the banner."""
        found = re.search(pattern, self.banner)
        assert found, (pattern, self.banner)
        return found.group(1)

    @property
    def env_file(self) -> str:
        """The env file as the banner names it (relative to the demo's directory)."""
        return self.printed(r"--env-file (\S+) status")

    @property
    def api_key(self) -> str:
        return self.printed(r"export KEY=(\S+)")

    def log(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace")

    def cli(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """A command run from the demo's directory, as the banner says."""
        return run_cli(self.cwd, *args, **env)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # Ctrl+C, as the banner says
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)


def start_demo(cwd: Path, port: int, *extra: str, wait: float = 90) -> Demo:
    output = cwd / "demo.log"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [*CLI, "demo", "--port", str(port), *extra],
            cwd=cwd,
            env=newcomer_env(),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    demo = Demo(process, cwd, output, f"http://127.0.0.1:{port}", "")
    deadline = time.monotonic() + wait
    while "Press Ctrl+C" not in (text := demo.log()):
        if process.poll() is not None or time.monotonic() > deadline:
            demo.stop()
            raise AssertionError(f"the demo did not start:\n{text}")
        time.sleep(0.2)
    demo.banner = text
    return demo


def wait_for_first_recharge(demo: Demo, seconds: float = 60) -> dict[str, object]:
    """The demo user's status once the worker's first recharge credited the balance."""
    headers = {"Authorization": f"Bearer {demo.api_key}"}
    deadline = time.monotonic() + seconds
    while True:
        status = httpx.get(
            f"{demo.base_url}/api/balance/status/{DEMO_USER}", headers=headers, timeout=10
        ).json()
        if status["currentBalance"] == 600:
            return dict(status)
        assert time.monotonic() < deadline, status
        time.sleep(0.3)
