"""Engine and session set-up for PostgreSQL (asyncpg) and SQLite (aiosqlite)."""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import structlog
from asyncpg.exceptions import InterfaceError as DriverInterfaceError
from asyncpg.exceptions import PostgresConnectionError
from sqlalchemy import event, make_url, text
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
P = ParamSpec("P")
R = TypeVar("R")
log = structlog.get_logger(__name__)
READ_ONLY = "balance_manager_read_only"


def database_file(url: str) -> Path | None:
    """The file of an SQLite URL (None for PostgreSQL or an in-memory database): commands that
    only read check that it exists, since opening a missing one creates it."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def create_engine(url: str, *, pool_size: int = 10, max_overflow: int = 20) -> AsyncEngine:
    """An engine for ``url`` (already normalized by settings)."""
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    # No pre-ping per checkout (a round trip on every request): connections are recycled
    # after half an hour, and a use case that meets a dead one is retried (``retrying``).
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_recycle=1800,
        hide_parameters=True,
    )
    event.listen(engine.sync_engine, "handle_error", _dead_connection)
    return engine


def dead_connection_error(exc: BaseException | None) -> bool:
    """An error that means the connection is gone, whatever the driver called it: a
    connection-class SQLSTATE (08…), the server shutting the session down (57P01–57P03), or
    asyncpg's protocol confused by the termination notice arriving while idle
    (``InternalClientError``)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if type(exc).__name__ == "InternalClientError":
            return True
        sqlstate = str(getattr(exc, "sqlstate", None) or "")
        if sqlstate.startswith("08") or sqlstate in {"57P01", "57P02", "57P03"}:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _dead_connection(context: Any) -> None:
    # Marks the error as a disconnect: SQLAlchemy then discards the connection (never hands
    # it out again) and ``retry_on_disconnect`` may run the use case once more.
    if dead_connection_error(context.original_exception):
        context.is_disconnect = True


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


def lost_connection(exc: BaseException) -> bool:
    """The database connection a use case was using, or opening, is gone: SQLAlchemy has
    discarded it, or the driver failed where SQLAlchemy does not wrap its errors — opening a
    connection (refused, or the session killed during SQLAlchemy's own connection set-up,
    which raises asyncpg's bare ``InterfaceError: connection is closed``)."""
    if isinstance(exc, DBAPIError):
        return is_disconnect(exc)
    if isinstance(exc, OSError | PostgresConnectionError):
        return True
    if isinstance(exc, DriverInterfaceError) and "connection is closed" in str(exc):
        return True
    return dead_connection_error(exc)


RETRIES_ON_DISCONNECT = 2


def retry_on_disconnect(use_case: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Run the use case again (twice at most) when it met a dead database connection: the
    pool does not ping connections before use, and one lost session (a failover, a killed
    backend) often comes with others. Only for use cases that are safe to repeat: reads, and
    writes keyed for idempotency or guarded by a constraint. Still lost after that, the error
    propagates (the API answers 503 ``database_unavailable``)."""

    @functools.wraps(use_case)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(RETRIES_ON_DISCONNECT):
            try:
                return await use_case(*args, **kwargs)
            except Exception as exc:
                if not lost_connection(exc):
                    raise
                log.warning(
                    "database_connection_lost_retrying",
                    use_case=use_case.__name__,
                    attempt=attempt + 1,
                    error=type(exc).__name__,
                )
        return await use_case(*args, **kwargs)

    return run


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
