"""The command line's help, token lifetimes and start-up checks."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import httpx
import pytest

from balance_manager.auth.tokens import TTL_RULE
from tests.cli.test_cli import CLI, last_line, run
from tests.conftest import UserMaker

COMMANDS = [
    [],
    ["serve"],
    ["worker"],
    ["migrate"],
    ["keys"],
    ["keys", "create"],
    ["keys", "list"],
    ["keys", "revoke"],
    ["users"],
    ["users", "create"],
    ["users", "show"],
    ["token"],
    ["demo"],
    ["sandbox"],
    ["recharges"],
    ["recharges", "list"],
    ["recharges", "show"],
    ["recharges", "cancel"],
    ["report"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "top")
def test_help_has_no_type_noise(command: list[str], tmp_path: Path) -> None:
    shown = run(f"sqlite:///{tmp_path}/h.db", *command, "--help", COLUMNS="100").stdout
    assert shown.startswith("Usage: ")
    for noise in ("<bool>", "``", "╭"):  # type labels, rST, boxes
        assert noise not in shown, (noise, shown)
    commands = shown.partition("Commands:")[2].splitlines()
    assert not [line for line in commands if line.endswith("...")], shown  # cut-off help
    assert "--help  " in shown or "--help\n" in shown


@pytest.mark.usefixtures("engine")
async def test_token_ttl_bounds_and_message_equal_the_api(
    database_url: str,
    client: httpx.AsyncClient,
    make_user: UserMaker,
    operator: dict[str, str],
) -> None:
    user = await make_user()
    for ttl in (59, 30 * 86400 + 1, 0):
        cli = run(database_url, "token", user, "--ttl", str(ttl), check=False)
        assert cli.returncode == 2
        assert f"Invalid value for '--ttl': {TTL_RULE}" in cli.stderr
        api = await client.post(
            f"/api/users/{user}/tokens", json={"ttlSeconds": ttl}, headers=operator
        )
        assert api.status_code == 400
        assert api.json()["error"] == {
            "code": "invalid_input",
            "message": f"ttlSeconds: {TTL_RULE}",
            "field": "ttlSeconds",
        }
    for ttl in (60, 30 * 86400):
        token = last_line(run(database_url, "token", user, "--ttl", str(ttl)))
        api = await client.post(
            f"/api/users/{user}/tokens", json={"ttlSeconds": ttl}, headers=operator
        )
        assert api.status_code == 201
        ok = await client.get(
            f"/api/balance/config/{user}", headers={"Authorization": f"Bearer {token}"}
        )
        assert ok.status_code == 200


def test_serve_checks_its_settings_before_touching_the_database(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    env = {k: v for k, v in os.environ.items() if k != "TOKEN_SIGNING_SECRET"}
    result = subprocess.run(
        [*CLI, "serve", "--port", "0"],
        capture_output=True,
        text=True,
        env={**env, "DATABASE_URL": f"sqlite:///{db}"},
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "TOKEN_SIGNING_SECRET is not set" in result.stderr
    if db.exists():  # nothing was migrated
        with sqlite3.connect(db) as conn:
            tables = conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
        assert tables == []


def test_report_rejects_a_bad_period(tmp_path: Path) -> None:
    result = run(
        f"sqlite:///{tmp_path}/r.db",
        "report",
        "--from",
        "2026-11-02",
        "--to",
        "2026-11-01",
        check=False,
    )
    assert result.returncode == 2
    assert "Invalid value for --to: to must be after from" in result.stderr
    bad = run(
        f"sqlite:///{tmp_path}/r.db",
        "report",
        "--from",
        "soon",
        "--to",
        "2026-11-01",
        check=False,
    )
    assert bad.returncode == 2 and "--from" in bad.stderr
    fmt = run(
        f"sqlite:///{tmp_path}/r.db",
        "report",
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-02",
        "--format",
        "xlsx",
        check=False,
    )
    assert fmt.returncode == 2 and "--format" in fmt.stderr
