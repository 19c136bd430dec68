"""The migrations build exactly the schema the models describe, and reverse cleanly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from balance_manager.domain.ids import new_id
from balance_manager.store import migrate
from balance_manager.store.db import session_factory
from balance_manager.store.models import Base, RechargeRecord
from tests.conftest import UserMaker


async def test_models_and_migrations_agree(engine: AsyncEngine) -> None:
    def diff(connection):  # type: ignore[no-untyped-def]
        return compare_metadata(MigrationContext.configure(connection), Base.metadata)

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_downgrade_and_upgrade_again(engine: AsyncEngine) -> None:
    def tables(connection):  # type: ignore[no-untyped-def]
        return set(inspect(connection).get_table_names()) - {"alembic_version"}

    await migrate.downgrade(engine, "base")
    async with engine.connect() as conn:
        assert await conn.run_sync(tables) == set()
    await migrate.upgrade(engine)
    async with engine.connect() as conn:
        assert await conn.run_sync(tables) == set(Base.metadata.tables)


async def test_one_in_flight_recharge_per_user_is_enforced_by_the_database(
    engine: AsyncEngine, make_user: UserMaker
) -> None:
    user = await make_user()
    sessions = session_factory(engine)

    def record(status: str) -> RechargeRecord:
        return RechargeRecord(
            id=new_id(),
            user_id=user,
            amount=100,
            fee=3,
            total_charge=103,
            currency="usd",
            status=status,
            triggered_by="auto",
            trigger_detail="usage",
        )

    async with sessions.begin() as session:
        session.add_all([record("succeeded"), record("failed"), record("pending")])
    for status in ("pending", "processing", "requires_action"):
        try:
            async with sessions.begin() as session:
                session.add(record(status))
        except IntegrityError:
            continue
        raise AssertionError(f"a second in-flight record ({status}) was accepted")
