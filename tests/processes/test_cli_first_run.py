"""The command line in a fresh checkout: no database yet, and ``cp .env.example .env``.

A command other than ``migrate``/``serve``/``worker``/``demo`` never creates a database file or
a schema: it says, in one line, to run ``balance-manager migrate``. The example env file,
copied as it is, changes nothing (its empty values are unset)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.processes.demo import run_cli

REPO = Path(__file__).resolve().parents[2]

# One of each way in: status's own check, with_db (keys, token) and with_services (reports).
READ_ONLY = [
    ["status"],
    ["keys", "list"],
    ["token", "someone"],
    ["report", "--from", "2026-11-01", "--to", "2026-11-30"],
]


@pytest.mark.parametrize("command", [*READ_ONLY, ["keys", "create", "--name", "ops"]], ids=" ".join)
def test_no_database_file_is_made_and_the_fix_is_named(tmp_path: Path, command: list[str]) -> None:
    done = run_cli(tmp_path, *command, TOKEN_SIGNING_SECRET="s" * 40)
    assert done.returncode == 1
    assert done.stderr == (
        "error: no database at balance-manager.db (the default DATABASE_URL): run "
        "`balance-manager migrate` to create one, or point DATABASE_URL (or --env-file, e.g. "
        "the demo's .demo/env) at yours\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_an_empty_database_is_left_empty(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "empty.db").close()  # a file without a schema
    for command in (["status"], ["keys", "create", "--name", "ops"]):
        done = run_cli(tmp_path, *command, DATABASE_URL="sqlite:///empty.db")
        assert done.returncode == 1
        assert done.stderr == (
            "error: the database at sqlite+aiosqlite:///empty.db has no schema: run "
            "`balance-manager migrate`\n"
        )
    with sqlite3.connect(tmp_path / "empty.db") as db:
        assert db.execute("SELECT name FROM sqlite_master").fetchall() == []


def test_an_older_schema_asks_for_migrate(tmp_path: Path) -> None:
    url = "sqlite:///old.db"
    assert run_cli(tmp_path, "migrate", DATABASE_URL=url).returncode == 0
    with sqlite3.connect(tmp_path / "old.db") as db:
        db.execute("UPDATE alembic_version SET version_num = '0001'")
    done = run_cli(tmp_path, "keys", "list", DATABASE_URL=url)
    assert done.returncode == 1
    assert "is at revision 0001 and this version needs" in done.stderr
    assert done.stderr.rstrip().endswith("run `balance-manager migrate`")


def test_the_example_env_file_copied_as_is_breaks_nothing(tmp_path: Path) -> None:
    shutil.copy(REPO / ".env.example", tmp_path / ".env")
    assert "TOKEN_SIGNING_SECRET=\n" in (tmp_path / ".env").read_text()  # empty, as shipped
    migrated = run_cli(tmp_path, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "database is up to date" in migrated.stdout
    status = run_cli(tmp_path, "status")
    assert status.returncode == 0, status.stderr
    assert "users" in status.stdout
    # An empty secret is a missing one (not "at least 32 characters").
    token = run_cli(tmp_path, "token", "someone")
    assert token.returncode == 1
    assert token.stderr.startswith("error: TOKEN_SIGNING_SECRET is not set")
    # And a filled-in value is read.
    with (tmp_path / ".env").open("a") as env:
        env.write("LOG_LEVEL=loud\n")
    bad = run_cli(tmp_path, "status")
    assert bad.returncode == 2 and "invalid setting LOG_LEVEL" in bad.stderr
