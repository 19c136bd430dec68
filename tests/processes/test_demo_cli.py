"""The command line against a running ``balance-manager demo``, with nothing but what the demo
printed: ``status``, ``reconcile``, ``token`` and the JSON commands through the env file the
banner names; the banner again; a busy port stops the demo at once with one line; the demo
stays quiet while the pages poll; its env file goes when it stops."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.processes.demo import (
    DEMO_USER,
    Demo,
    run_cli,
    start_demo,
    wait_for_first_recharge,
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    running = start_demo(tmp_path_factory.mktemp("demo"), free_port())
    try:
        wait_for_first_recharge(running)
        yield running
    finally:
        running.stop()


def _rows(stdout: str) -> dict[str, str]:
    """The summary table of ``status``: first cell → second cell."""
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if len(cells) >= 2:
            rows[cells[0]] = cells[1]
    return rows


def test_the_banner_names_the_env_file_and_the_commands(demo: Demo) -> None:
    assert demo.env_file == ".demo/env"
    assert (demo.cwd / demo.env_file).stat().st_mode & 0o077 == 0  # secrets: owner only
    for command in ("status", "reconcile --json", f"token {DEMO_USER}"):
        assert f"--env-file .demo/env {command}\n" in demo.banner
    assert "demo --banner" in demo.banner


def test_status_with_what_the_demo_printed(demo: Demo) -> None:
    # An exported DATABASE_URL (here one that does not exist) does not redirect it: the file
    # was asked for by name.
    shown = demo.cli("--env-file", demo.env_file, "status", DATABASE_URL="sqlite:///nowhere.db")
    assert shown.returncode == 0, shown.stderr
    rows = _rows(shown.stdout)
    assert rows["users"] == "3"
    assert rows["workers alive"] == "1"
    assert rows["charged (USD)"].startswith("668.85 in 1 recharges")
    assert not (demo.cwd / "nowhere.db").exists()


def test_reconcile_json_is_json_alone_on_stdout(demo: Demo) -> None:
    done = demo.cli("--env-file", demo.env_file, "reconcile", "--json", "--since", "1h")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)  # the whole of stdout
    assert report["differences"] == [] and report["checked"]["paymentIntents"] >= 1
    assert "reconcile_done" in done.stderr  # the log line, where logs go


def test_every_json_output_parses(demo: Demo) -> None:
    swept = demo.cli("--env-file", demo.env_file, "sweep")
    assert swept.returncode == 0, swept.stderr
    assert set(json.loads(swept.stdout)) == {"opened", "candidates", "seconds"}
    today = time.strftime("%Y-%m-%d", time.gmtime())
    report = demo.cli(
        "--env-file", demo.env_file, "report", "--from", today, "--to", today, "--format", "json"
    )
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["rowCount"] == 1


def test_token_from_the_cli_works_on_the_demo(demo: Demo) -> None:
    minted = demo.cli("--env-file", demo.env_file, "token", DEMO_USER)
    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip().splitlines()[-1]
    assert f"dashboard link: {demo.base_url}/#token={token}" in minted.stdout
    status = httpx.get(
        f"{demo.base_url}/api/balance/status/{DEMO_USER}",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert status.status_code == 200 and status.json()["currentBalance"] == 600


def test_the_banner_again_and_a_quiet_demo(demo: Demo) -> None:
    before = demo.log()
    for _ in range(30):  # what the pages' polling looks like
        assert httpx.get(f"{demo.base_url}/health").status_code == 200
    again = demo.cli("demo", "--banner")
    assert again.returncode == 0, again.stderr
    assert f"export KEY={demo.api_key}" in again.stdout
    assert "Press Ctrl+C" not in again.stdout  # it is not the demo
    link = again.stdout.split(f"  {DEMO_USER}: ", 1)[1].split()[0]
    token = link.split("#token=", 1)[1]
    mine = httpx.get(
        f"{demo.base_url}/api/balance/config/{DEMO_USER}",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert mine.status_code == 200
    time.sleep(0.5)
    assert demo.log() == before  # not one line for those 33 requests


def test_a_busy_port_stops_the_demo_at_once_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        for args, name, flag in (
            (["--port", str(port)], "the demo", "PORT"),
            (
                ["--port", str(free_port()), "--sandbox-port", str(port)],
                "the Stripe sandbox",
                "SANDBOX_PORT",
            ),
        ):
            started = time.monotonic()
            done = run_cli(tmp_path, "demo", *args)
            assert time.monotonic() - started < 20  # no sandbox, no database, no banner
            assert done.returncode == 1
            assert done.stdout == ""
            assert done.stderr == (
                f"error: port {port} for {name} is in use: choose another, e.g. "
                f"`make demo {flag}={port + 1}`\n"
            )
    assert not (tmp_path / ".demo").exists()


def test_the_env_file_goes_with_the_demo(tmp_path: Path) -> None:
    demo = start_demo(tmp_path, free_port())
    env_file = tmp_path / demo.env_file
    assert env_file.is_file()
    demo.stop()
    assert not env_file.exists()
    gone = demo.cli("--env-file", demo.env_file, "status")
    assert (gone.returncode, gone.stderr) == (2, "error: env file .demo/env not found\n")
    banner = demo.cli("demo", "--banner")
    assert banner.returncode == 1 and "no demo is running from .demo" in banner.stderr
