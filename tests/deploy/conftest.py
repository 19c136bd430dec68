"""Helpers for the deployment checks: the repository's files, the installed command, and a
fresh (unmigrated) PostgreSQL database."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import make_url
from sqlalchemy.exc import SQLAlchemyError

from tests._support import database_name, unavailable, with_database
from tests.conftest import POSTGRES_ADMIN_URL, TOKEN_SECRET, _pg_admin

REPO = Path(__file__).resolve().parents[2]
# The console script pip installed next to this interpreter: what the image, the Procfile and
# the systemd units run.
BALANCE_MANAGER = Path(sys.executable).parent / "balance-manager"


def cli_env(database_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "TOKEN_SIGNING_SECRET": TOKEN_SECRET,
        "LOG_LEVEL": "info",
        "LOG_FORMAT": "console",
        **extra,
    }


def dockerfile_instructions(path: Path = REPO / "Dockerfile") -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, rest = line.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    return instructions


def image_command(extra: list[str] | None = None) -> list[str]:
    """The image's ENTRYPOINT + CMD (or ENTRYPOINT + ``extra``, as `docker run IMAGE …` does)."""
    found = dict(dockerfile_instructions())
    entrypoint: list[str] = json.loads(found["ENTRYPOINT"])
    command: list[str] = json.loads(found["CMD"]) if extra is None else extra
    return entrypoint + command


def healthcheck_command() -> list[str]:
    arguments = dict(dockerfile_instructions())["HEALTHCHECK"]
    _, _, exec_form = arguments.partition("CMD ")
    command: list[str] = json.loads(exec_form)
    # The image's `python` is its virtualenv's; here, this interpreter.
    return [sys.executable if command[0] == "python" else command[0], *command[1:]]


def local(command: list[str] | str) -> list[str]:
    """A deployment file's command, run with this checkout's installed ``balance-manager``."""
    words = shlex.split(command) if isinstance(command, str) else list(command)
    assert Path(words[0]).name == "balance-manager", words
    return [str(BALANCE_MANAGER), *words[1:]]


async def _create(name: str) -> None:
    await _pg_admin(f'CREATE DATABASE "{name}"')


@pytest.fixture
def fresh_postgres_url() -> Iterator[str]:
    """An empty PostgreSQL database (no schema at all), dropped afterwards."""
    name = database_name("deploy")
    try:
        asyncio.run(_create(name))
    except (OSError, SQLAlchemyError) as exc:
        where = make_url(POSTGRES_ADMIN_URL).render_as_string(hide_password=True)
        unavailable(f"PostgreSQL not reachable at {where} (TEST_POSTGRES_URL): {exc}")
    yield with_database(POSTGRES_ADMIN_URL, name)
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
