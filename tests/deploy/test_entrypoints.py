"""The container's commands, run outside a container: migrations from several processes at
once, settings checked before the database is touched, and `serve` answering the image's
HEALTHCHECK."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncConnection

from balance_manager.store.db import create_engine
from balance_manager.store.migrate import LOCK_KEY, alembic_config
from balance_manager.store.models import Base
from tests.deploy.conftest import cli_env, healthcheck_command, image_command, local

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()
MIGRATE = local(image_command(["migrate"]))
APPLIED = f"migrated from an empty database to {HEAD}"
UP_TO_DATE = f"database is up to date (revision {HEAD})"
WAITING = "migrations.waiting_for_lock"


def _start(command: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _finish(proc: subprocess.Popen[str]) -> str:
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, output
    return output


async def _schema(url: str) -> tuple[list[str], set[str]]:
    """The alembic_version rows and the tables, as another process sees them."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    return [v for (v,) in versions], tables


async def _waiting_for_migration_lock(conn: AsyncConnection) -> int:
    # A bigint advisory key shows in pg_locks split into classid (high) and objid (low half).
    result = await conn.execute(
        text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND classid = :high AND objid = :low AND objsubid = 1"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ),
        {"high": LOCK_KEY >> 32, "low": LOCK_KEY & 0xFFFFFFFF},
    )
    return int(result.scalar_one())


async def test_two_migrate_processes_on_postgresql_migrate_once(fresh_postgres_url: str) -> None:
    """Both processes start on an empty database while the test holds the migration lock, so
    both must wait; once it is released, one applies the migrations and the other, which had
    also found an empty database, waits for that commit and then has nothing to do. Without
    the lock both would run CREATE TABLE and one would fail."""
    env = cli_env(fresh_postgres_url)
    holder = create_engine(fresh_postgres_url)
    try:
        async with holder.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": LOCK_KEY})
            await conn.commit()
            procs = [_start(MIGRATE, env), _start(MIGRATE, env)]
            try:
                deadline = time.monotonic() + 90
                while await _waiting_for_migration_lock(conn) < 2:
                    for proc in procs:
                        assert proc.poll() is None, proc.communicate()[0]
                    assert time.monotonic() < deadline, "the migrators never queued on the lock"
                    await asyncio.sleep(0.1)
                await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
                await conn.commit()
                outputs = [await asyncio.to_thread(_finish, proc) for proc in procs]
            finally:
                for proc in procs:
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait()
    finally:
        await holder.dispose()

    assert all(WAITING in out and UP_TO_DATE in out for out in outputs), outputs
    assert sorted(APPLIED in out for out in outputs) == [False, True], outputs
    versions, tables = await _schema(fresh_postgres_url)
    assert versions == [HEAD]
    assert set(Base.metadata.tables) <= tables


async def test_two_migrate_processes_on_sqlite_migrate_once(tmp_path: Path) -> None:
    """SQLite needs no advisory lock: every transaction begins IMMEDIATE, so the second
    migrator waits for the first one's commit whichever starts first."""
    url = f"sqlite:///{tmp_path}/race.db"
    env = cli_env(url)
    procs = [_start(MIGRATE, env), _start(MIGRATE, env)]
    outputs = [await asyncio.to_thread(_finish, proc) for proc in procs]

    assert all(UP_TO_DATE in out and WAITING not in out for out in outputs), outputs
    assert sorted(APPLIED in out for out in outputs) == [False, True], outputs
    versions, tables = await _schema(f"sqlite+aiosqlite:///{tmp_path}/race.db")
    assert versions == [HEAD]
    assert set(Base.metadata.tables) <= tables


@pytest.mark.parametrize(
    ("command", "env", "names"),
    [
        (None, {"TOKEN_SIGNING_SECRET": None}, "TOKEN_SIGNING_SECRET"),  # the image's CMD: serve
        (None, {"TOKEN_SIGNING_SECRET": "short"}, "TOKEN_SIGNING_SECRET"),
        (["worker"], {"STRIPE_SECRET_KEY": None}, "STRIPE_SECRET_KEY"),
        (["worker"], {"STRIPE_SECRET_KEY": "pk_test_not_a_secret"}, "STRIPE_SECRET_KEY"),
        (["migrate"], {"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
    ],
    ids=[
        "serve-no-signing-secret",
        "serve-short-signing-secret",
        "worker-no-stripe-key",
        "worker-bad-stripe-key",
        "migrate-bad-log-level",
    ],
)
def test_a_bad_setting_stops_the_command_before_the_database_is_touched(
    tmp_path: Path, command: list[str] | None, env: dict[str, str | None], names: str
) -> None:
    database = tmp_path / "untouched.db"
    environment = cli_env(f"sqlite:///{database}")
    for name, value in env.items():  # None: not set at all
        environment.pop(name, None) if value is None else environment.update({name: value})
    result = subprocess.run(
        local(image_command(command)),
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert result.stderr.startswith("error: ") and names in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not database.exists(), "the command opened the database before failing"


def test_an_unreachable_database_is_one_line_naming_it_without_the_password() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql://bm:s3cret-pw@127.0.0.1:{port}/balances"
    result = subprocess.run(
        MIGRATE, env=cli_env(url), capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        f"error: cannot migrate the database at postgresql+asyncpg://bm:***@127.0.0.1:{port}/balances: "
    )
    assert "s3cret-pw" not in result.stderr


def test_the_image_command_serves_and_answers_its_healthcheck(tmp_path: Path) -> None:
    """`docker run IMAGE` = ENTRYPOINT + CMD (`balance-manager serve --host 0.0.0.0`), with
    the port from PORT as platforms set it; the HEALTHCHECK command passes while it runs and
    fails once it is gone."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = cli_env(f"sqlite:///{tmp_path}/app.db", PORT=str(port), EMBEDDED_WORKER="false")
    healthcheck = healthcheck_command()
    server = _start(local(image_command()), env)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, server.communicate()[0]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve never answered /health"
            time.sleep(0.2)
        healthy = subprocess.run(healthcheck, env=env, capture_output=True, timeout=60)
        assert healthy.returncode == 0, healthy.stderr
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert "migrations.applied" in output  # serve migrated before it listened
    down = subprocess.run(healthcheck, env=env, capture_output=True, timeout=60)
    assert down.returncode != 0
