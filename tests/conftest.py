"""Shared fixtures: real databases (SQLite files and a PostgreSQL database made for the run),
the app over ASGI, and credentials.

``backend`` parametrizes every integration test over SQLite and PostgreSQL. PostgreSQL comes
from TEST_POSTGRES_URL (default: the local server's ``test`` database; any form DATABASE_URL
accepts); when it cannot be reached the PostgreSQL cases skip locally and fail in CI. The
databases the suite creates are named ``<TEST_DB_PREFIX>bm_<kind>_<random>``.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import make_url, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from balance_manager.auth import api_keys
from balance_manager.runtime import logs
from balance_manager.runtime.compose import create_app
from balance_manager.settings import Settings, load_settings
from balance_manager.store import migrate
from balance_manager.store.db import SessionFactory, create_engine, session_factory
from balance_manager.store.models import Base
from balance_manager.usecases import accounts
from tests._support import (
    database_name,
    database_of,
    postgres_admin_url,
    unavailable,
    with_database,
)

# The service's own log set-up, as serve and worker have it: without it structlog renders an
# exception with rich's traceback and every frame's locals, which takes seconds per line.
logs.configure("info", "console")

POSTGRES_ADMIN_URL = postgres_admin_url()
TOKEN_SECRET = "test-signing-secret-" + "x" * 32
# Encrypts operator webhook secrets at rest (a Fernet key: 32 url-safe base64 bytes).
SECRETS_KEY = "dGVzdC1zZWNyZXRzLWtleS1vZi0zMi1ieXRlcy0hISE="
# The tests' webhook receivers listen on 127.0.0.1: allowed explicitly, as for development.
ALLOWED_NETWORKS = "127.0.0.0/8"


async def _pg_admin(statement: str) -> None:
    """Run a statement that cannot run in a transaction (CREATE/DROP DATABASE)."""
    admin = create_engine(POSTGRES_ADMIN_URL)
    try:
        async with admin.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(statement))
    finally:
        await admin.dispose()


async def _pg_create_database() -> str:
    name = database_name("test")
    await _pg_admin(f'CREATE DATABASE "{name}"')
    url = with_database(POSTGRES_ADMIN_URL, name)
    await migrate.upgrade_database(url)
    return url


async def _pg_drop_database(url: str) -> None:
    name = database_of(url)
    await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated PostgreSQL database of this run's own, dropped at the end."""
    try:
        url = asyncio.run(_pg_create_database())
    except (OSError, SQLAlchemyError) as exc:  # the server is down or refuses us
        # Name the URL (without a password) and the reason; pytest repeats this outcome for
        # every test that needs the database.
        where = make_url(POSTGRES_ADMIN_URL).render_as_string(hide_password=True)
        reason = (str(exc).strip() or repr(exc)).splitlines()[0]
        unavailable(f"PostgreSQL not reachable at {where} (TEST_POSTGRES_URL): {reason}")
        raise  # unreachable: unavailable() skips or fails
    yield url
    asyncio.run(_pg_drop_database(url))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file; each test gets a copy (much faster than migrating each time)."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"

    # Disposing the engine closes the last connection, which folds the WAL into the file.
    asyncio.run(migrate.upgrade_database(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest,
    sqlite_template: Path,
    tmp_path: Path,
) -> str:
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def backend(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return load_settings(
        database_url=database_url,
        token_signing_secret=TOKEN_SECRET,
        db_pool_size=20,
        db_max_overflow=40,
        secrets_key=SECRETS_KEY,
        webhook_allowed_networks=ALLOWED_NETWORKS,
        _env_file=None,
    )


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    db = create_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )
    if db.dialect.name == "postgresql":
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        async with db.begin() as conn:
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield db
    await db.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> SessionFactory:
    return session_factory(engine)


@pytest.fixture
async def client(settings: Settings, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, engine=engine)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def operator_key(sessions: SessionFactory) -> str:
    async with sessions.begin() as session:
        created = await api_keys.create_key(session, name="tests")
    return created.secret


@pytest.fixture
def operator(operator_key: str) -> dict[str, str]:
    """Headers of an operator request."""
    return {"Authorization": f"Bearer {operator_key}"}


@dataclass
class UserMaker:
    sessions: SessionFactory
    settings: Settings
    counter: int = 0

    async def __call__(self, **fields: Any) -> str:
        self.counter += 1
        fields.setdefault("email", f"user{self.counter}-{secrets.token_hex(3)}@example.com")
        async with self.sessions.begin() as session:
            user, _ = await accounts.create_user_in(
                session, self.settings, accounts.NewUser(**fields)
            )
        return user.id


@pytest.fixture
def make_user(sessions: SessionFactory, settings: Settings) -> UserMaker:
    return UserMaker(sessions, settings)


@pytest.fixture
def customer_headers(client: httpx.AsyncClient, settings: Settings) -> Any:
    """customer_headers(user_id) → headers with a fresh customer token for that user."""
    from datetime import timedelta

    from balance_manager.auth.tokens import TokenSigner

    signer = TokenSigner(settings.signing_secret(), ttl=timedelta(minutes=5))

    def make(user_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {signer.mint(user_id).token}"}

    return make


# --- Stripe sandbox and a live (real-port) service ----------------------------------------


@pytest.fixture(scope="session")
def _stripe_sandbox_server() -> Iterator[Any]:
    from stripe_sandbox import start_background

    with start_background() as running:
        yield running


@pytest.fixture
def stripe_sandbox(_stripe_sandbox_server: Any) -> Iterator[Any]:
    """The offline Stripe on a real port, with empty state for this test."""
    from stripe_sandbox.webhooks import WebhookConfig

    _stripe_sandbox_server.reset()
    _stripe_sandbox_server.webhooks.config = WebhookConfig(
        retry_base_seconds=0.05,
        max_attempts=4,
        timeout_seconds=5.0,
        delay_seconds=0.0,
        duplicate=False,
        reorder_window=0,
    )
    yield _stripe_sandbox_server
    _stripe_sandbox_server.state.faults.clear()


@pytest.fixture
def stripe_settings(settings: Settings, stripe_sandbox: Any) -> Settings:
    """Settings pointing the service at the sandbox (webhook secret set by the test if needed)."""
    return settings.model_copy(
        update={
            "stripe_secret_key": SecretStr(stripe_sandbox.secret_key),
            "stripe_publishable_key": stripe_sandbox.publishable_key,
            "stripe_api_base": stripe_sandbox.base_url,
            "stripe_max_retries": 2,
            "stripe_timeout_seconds": 5.0,
        }
    )


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """The service on a real TCP port in a background thread (webhooks need one)."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        import threading

        import uvicorn

        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
            )
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        import time

        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("live server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
