"""Decimal input from the API to minor units, with errors that name the field."""

from __future__ import annotations

from balance_manager.domain import money
from balance_manager.domain.errors import InvalidInput


def parse_amount(
    value: object,
    cur: money.Currency,
    *,
    field: str,
    allow_negative: bool = False,
    allow_zero: bool = True,
) -> int:
    try:
        return money.to_minor(value, cur, allow_negative=allow_negative, allow_zero=allow_zero)
    except money.MoneyError as exc:
        raise InvalidInput(
            f"{field} {exc.message}", code=exc.rule, field=field, params=exc.params
        ) from None


def parse_currency(code: str, *, field: str = "currency") -> money.Currency:
    try:
        return money.currency(code)
    except money.MoneyError as exc:
        raise InvalidInput(exc.message, code=exc.rule, field=field, params=exc.params) from None
