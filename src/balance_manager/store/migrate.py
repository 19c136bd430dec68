"""Run Alembic migrations programmatically (``balance-manager migrate`` and start-up).

Every migration runs in one transaction that first takes a lock, so replicas that start (or a
pre-deploy step that runs) at the same time migrate once: one process applies the revisions,
the others wait for its commit and then find nothing to do.

- PostgreSQL: a transaction-scoped advisory lock on :data:`LOCK_KEY`, released by the commit or
  the rollback (a crashed migrator cannot leave it held). Advisory locks are per database, so
  other databases on the same server are not held up.
- SQLite: nothing more is needed. The engine opens every transaction with ``BEGIN IMMEDIATE``
  (see ``store.db``), which already makes a second writer wait for the first one's commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from balance_manager.store.db import create_engine, reader

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# The advisory lock every migrator of a database takes: a fixed 64-bit key, b"bm-migr\0" read
# as a big-endian integer, so it cannot collide with a lock the application takes by row id.
LOCK_KEY = 0x626D2D6D69677200

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Migration:
    """What one run did: the revision before and after, and whether it waited for another
    process's migration first."""

    before: str | None
    after: str | None
    waited: bool

    @property
    def applied(self) -> bool:
        return self.before != self.after


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url)
    return config


@dataclass(frozen=True, slots=True)
class Schema:
    """Where a database's schema stands against this version's migrations."""

    current: str | None  # None: no schema at all
    head: str
    known: bool  # ``current`` is one of this version's revisions (False: a newer one's)

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None  # the package ships its migrations
    return head


async def schema(engine: AsyncEngine) -> Schema:
    """Read the database's revision (nothing is written; on SQLite not even the write lock is
    taken, so a running service's writes do not hold it up)."""
    async with reader(engine).connect() as conn:
        current = await conn.run_sync(
            lambda c: MigrationContext.configure(c).get_current_revision()
        )
        await conn.rollback()
    scripts = ScriptDirectory.from_config(alembic_config())
    known = current is None
    if current is not None:
        try:
            known = scripts.get_revision(current) is not None
        except CommandError:
            known = False
    head = scripts.get_current_head()
    assert head is not None
    return Schema(current=current, head=head, known=known)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> Migration:
    """Bring the schema to ``revision`` over the engine's own connection."""
    return await _run(engine, command.upgrade, revision)


async def downgrade(engine: AsyncEngine, revision: str) -> Migration:
    return await _run(engine, command.downgrade, revision)


async def upgrade_database(url: str) -> Migration:
    """Migrate the database at ``url`` with a short-lived engine of its own."""
    engine = create_engine(url)
    try:
        return await upgrade(engine)
    finally:
        await engine.dispose()


def _lock(connection: Connection) -> bool:
    """Take the migration lock for the rest of the transaction; True if it had to wait."""
    if connection.dialect.name != "postgresql":
        return False
    key = {"key": LOCK_KEY}
    if connection.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), key).scalar():
        return False
    # Someone else is migrating: say so before blocking, so a start-up that seems to hang
    # explains itself, then wait for their commit.
    log.info("migrations.waiting_for_lock", lock_key=LOCK_KEY)
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), key)
    return True


async def _run(
    engine: AsyncEngine, step: Callable[[Config, str], None], revision: str
) -> Migration:
    def run(connection: Connection) -> Migration:
        waited = _lock(connection)
        # Read under the lock: a process that waited sees the revision its predecessor
        # committed (READ COMMITTED reads the latest commit at each statement).
        before = MigrationContext.configure(connection).get_current_revision()
        config = alembic_config()
        config.attributes["connection"] = connection
        step(config, revision)
        after = MigrationContext.configure(connection).get_current_revision()
        return Migration(before=before, after=after, waited=waited)

    async with engine.begin() as conn:
        migration = await conn.run_sync(run)
    if migration.applied:
        log.info("migrations.applied", before=migration.before, after=migration.after)
    return migration
