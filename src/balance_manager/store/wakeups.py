"""How a committed recharge wakes the workers that charge it.

- In one process (``serve`` with its embedded worker): :class:`Wakeup`, an asyncio signal.
- Across processes on PostgreSQL: ``NOTIFY`` in the opening transaction (delivered at
  commit) and a :class:`Listener` on a dedicated connection. A killed ``LISTEN`` connection
  would silently lose every later wake-up, so the listener notices (a periodic ping) and
  listens again; ``connected`` says whether it currently listens (shown by health).

A short poll remains the fallback either way.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = structlog.get_logger(__name__)

CHANNEL = "balance_manager_recharge"


class Wakeup:
    """An in-process "there is work" signal shared by the API and the embedded worker."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        """A wake-up is pending (the worker has not consumed it yet)."""
        return self._event.is_set()

    async def wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._event.wait()
        self._event.clear()


async def notify(conn: AsyncConnection) -> None:
    """Tell workers in other processes (PostgreSQL only; delivered when the caller commits)."""
    if conn.dialect.name == "postgresql":
        await conn.exec_driver_sql(f"NOTIFY {CHANNEL}")


class Listener:
    """``LISTEN`` on a connection of its own, re-established when it dies."""

    def __init__(self, engine: AsyncEngine, wakeup: Wakeup, *, check_seconds: float = 2.0) -> None:
        self.engine = engine
        self.wakeup = wakeup
        self.check_seconds = check_seconds
        self.connected = False
        self.listens = 0  # how many times LISTEN was (re-)established
        # The PostgreSQL backend that listens now (None: not listening): what an operator
        # finds in pg_stat_activity, and what health may show next to ``connected``.
        self.backend_pid: int | None = None
        self._conn: AsyncConnection | None = None

    @property
    def applies(self) -> bool:
        """LISTEN/NOTIFY exists on PostgreSQL only."""
        return self.engine.dialect.name == "postgresql"

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until ``stop``; on a lost connection, listen again (and wake the worker,
        since notifications may have been missed meanwhile)."""
        if not self.applies:
            return
        while not stop.is_set():
            try:
                await self._listen()
                while not stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.check_seconds):
                            await stop.wait()
                    if not stop.is_set():
                        await self._ping()
            except Exception as exc:  # the connection died: listen again after a pause
                self.connected = False
                log.warning("listen_connection_lost", error=type(exc).__name__)
                await self._close()
                self.wakeup.set()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(self.check_seconds, 1.0)):
                        await stop.wait()
        await self._close()

    async def _listen(self) -> None:
        conn = await self.engine.connect()
        self._conn = conn
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection
        await driver.add_listener(CHANNEL, lambda *_args: self.wakeup.set())
        self.backend_pid = int(driver.get_server_pid())
        if self.listens:  # listening again: a wake-up may have been missed meanwhile
            self.wakeup.set()
        self.connected = True
        self.listens += 1

    async def _ping(self) -> None:
        assert self._conn is not None
        raw = await self._conn.get_raw_connection()
        driver: Any = raw.driver_connection
        if driver.is_closed():
            raise ConnectionError("LISTEN connection closed")
        await driver.fetchval("SELECT 1")

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        self.connected = False
        self.backend_pid = None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.invalidate()
            with contextlib.suppress(Exception):
                await conn.close()
