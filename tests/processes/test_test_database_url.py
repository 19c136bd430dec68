"""``TEST_POSTGRES_URL`` in each form the documentation and ``DATABASE_URL`` accept works, and
the databases the suite creates carry ``TEST_DB_PREFIX``."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.exc import SQLAlchemyError

import tests.conftest as suite
from balance_manager.store.db import create_engine
from balance_manager.store.migrate import head_revision
from tests._support import database_of, database_prefix, postgres_admin_url, unavailable

REPO = Path(__file__).resolve().parents[2]


def _forms() -> dict[str, str]:
    """The server this run uses, written each way a person may write it."""
    url = make_url(postgres_admin_url())
    plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
    rest = plain.removeprefix("postgresql://")
    return {
        "postgresql": plain,  # the README's form
        "postgres": "postgres://" + rest,  # as Heroku-like platforms hand it out
        "asyncpg": "postgresql+asyncpg://" + rest,
        "psycopg": "postgresql+psycopg://" + rest,
        "sslmode": plain + ("&" if "?" in plain else "?") + "sslmode=disable",
    }


@pytest.fixture
def reachable() -> None:
    async def ping() -> None:
        engine = create_engine(postgres_admin_url())
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        finally:
            await engine.dispose()

    try:
        asyncio.run(ping())
    except (OSError, SQLAlchemyError) as exc:
        unavailable(f"PostgreSQL not reachable (TEST_POSTGRES_URL): {exc}")


@pytest.mark.usefixtures("reachable")
@pytest.mark.parametrize("form", list(_forms()))
async def test_each_form_creates_migrates_and_drops_a_prefixed_database(
    form: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_POSTGRES_URL", _forms()[form])
    monkeypatch.setenv("TEST_DB_PREFIX", f"{database_prefix()}urlform_")
    monkeypatch.setattr(suite, "POSTGRES_ADMIN_URL", postgres_admin_url())
    url = await suite._pg_create_database()  # what the `postgres_url` fixture does
    name = database_of(url)
    assert name.startswith(f"{database_prefix()}bm_test_")
    try:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                revision = await conn.scalar(text("SELECT version_num FROM alembic_version"))
        finally:
            await engine.dispose()
        assert revision == head_revision()
    finally:
        await suite._pg_drop_database(url)
    admin = create_engine(postgres_admin_url())
    try:
        async with admin.connect() as conn:
            left = await conn.scalar(
                text("SELECT count(*) FROM pg_database WHERE datname = :name"), {"name": name}
            )
    finally:
        await admin.dispose()
    assert left == 0


def test_a_bad_prefix_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_DB_PREFIX", 'x"; DROP DATABASE test; --')
    with pytest.raises(ValueError, match="TEST_DB_PREFIX"):
        database_prefix()


@pytest.mark.usefixtures("reachable")
def test_the_documented_form_runs_the_postgresql_tests() -> None:
    """The whole suite's set-up, in a pytest of its own, with the README's URL."""
    env = {
        **os.environ,
        "TEST_POSTGRES_URL": _forms()["postgresql"],
        "TEST_DB_PREFIX": "docform_",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/integration/test_migrations.py::test_models_and_migrations_agree",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout  # SQLite and PostgreSQL, nothing skipped
