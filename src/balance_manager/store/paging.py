"""Offset pagination shared by the list views (ledger, recharge history)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    limit: int

    @property
    def total_pages(self) -> int:
        return math.ceil(self.total / self.limit) if self.total else 0


async def paginate(
    session: AsyncSession, query: Select[Any], *, page: int, limit: int
) -> Page[Any]:
    """One page of ``query`` (already filtered and ordered) and the total row count."""
    total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    items = (await session.scalars(query.offset((page - 1) * limit).limit(limit))).all()
    return Page(list(items), int(total or 0), page, limit)
