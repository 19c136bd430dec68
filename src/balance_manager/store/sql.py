"""Small dialect helpers for Core statements that run on both databases."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ARRAY, ColumnElement, String, any_, literal
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnClause


def is_postgres(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "postgresql"


def one_of(
    conn: AsyncConnection, column: ColumnClause[str] | ColumnElement[str], values: Sequence[str]
) -> ColumnElement[bool]:
    """``column IN values``. On PostgreSQL as ``= ANY($1)`` with one array parameter, so the
    statement text (and its prepared plan) does not change with the number of values."""
    if is_postgres(conn):
        return column == any_(literal(list(values), ARRAY(String)))
    return column.in_(list(values))
