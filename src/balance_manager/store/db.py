"""Engine and session set-up for PostgreSQL (asyncpg) and SQLite (aiosqlite)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

SessionFactory = async_sessionmaker[AsyncSession]
READ_ONLY = "balance_manager_read_only"


def create_engine(url: str, *, pool_size: int = 10, max_overflow: int = 20) -> AsyncEngine:
    """An engine for ``url`` (already normalized by settings)."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    # No pre-ping per checkout (a round trip on every request): connections are recycled
    # after half an hour, and a use case that meets a dead one is retried (``retrying``).
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_recycle=1800,
        hide_parameters=True,
    )


def _sqlite_engine(url: str) -> AsyncEngine:
    # One connection per process: SQLite has one writer anyway, and queueing for the pool is
    # an asyncio wait, where contending connections would sleep in SQLite's busy handler
    # (up to 100 ms a try) and collapse throughput. Other processes still wait on busy_timeout.
    engine = create_async_engine(
        url,
        connect_args={"timeout": 30},
        pool_size=1,
        max_overflow=0,
        pool_timeout=60,
        hide_parameters=True,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # SQLite has one writer. Taking the write lock up front makes a transaction wait its
        # turn (busy_timeout) instead of failing when it later upgrades from read to write:
        # the SQLite counterpart of PostgreSQL's SELECT … FOR UPDATE on the user row.
        # Read-only work (``reader``) begins deferred and never takes the write lock.
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False)


def reader(engine: AsyncEngine) -> AsyncEngine:
    """The same engine and pool, for transactions that only read: on SQLite they do not take
    the database's write lock (on PostgreSQL nothing changes)."""
    return engine.execution_options(**{READ_ONLY: True})


def is_disconnect(exc: BaseException) -> bool:
    """A statement failed because its connection was dead (the pool has discarded it)."""
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


async def ping(engine: AsyncEngine) -> float:
    """Round-trip a trivial query; returns latency in milliseconds (raises when down)."""
    started = time.perf_counter()
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    return (time.perf_counter() - started) * 1000


async def driver_connection(conn: AsyncConnection) -> Any:
    """The driver's own connection (asyncpg's) under a pooled SQLAlchemy connection, for the
    one hot statement where SQLAlchemy's execution machinery would cost more than the
    statement. Its transaction is the caller's to manage."""
    raw = await conn.get_raw_connection()
    return raw.driver_connection
