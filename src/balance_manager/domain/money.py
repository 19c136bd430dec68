"""Money rules: integer minor units inside, decimals only at the edge.

Every amount the service stores or computes is an ``int`` of the currency's minor unit
(cents for USD, yen for JPY, fils for KWD). Decimal input from the API is converted once by
:func:`to_minor`; output goes back through :func:`to_major`. :func:`round_half_up` is the only
place a fractional minor amount is rounded. No float ever enters a money path; the one float
this module produces is the JSON rendering in :func:`json_number`, which is exact for the
magnitudes :func:`to_minor` admits.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# Stripe's zero- and three-decimal currencies; every other supported currency has two.
_ZERO_DECIMAL = frozenset("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split())
_THREE_DECIMAL = frozenset("bhd jod kwd omr tnd".split())
_TWO_DECIMAL = frozenset(
    """usd eur gbp cad aud nzd chf sek nok dkk pln czk huf ron bgn cny hkd sgd inr brl
    mxn zar aed sar ils try thb myr php idr twd cop pen ars uah egp ngn kes mad qar""".split()
)

SUPPORTED_CURRENCIES = frozenset(_ZERO_DECIMAL | _THREE_DECIMAL | _TWO_DECIMAL)

# No balance, threshold or charge may reach a trillion major units: far beyond any real
# prepaid balance, and small enough that every amount fits a BIGINT and renders exactly as a
# JSON number (at most 15 significant digits).
MAX_MAJOR_UNITS = Decimal(10) ** 12
# A JSON client that reads numbers as doubles (JavaScript, most others) gets every integer up
# to 2**53 back exactly, and every decimal with that many minor units back digit for digit.
# The largest exponent (3) keeps a trillion major units at 10**15 minor units: below it, with
# room for a balance that a recharge credit carries past the bound (see ``balance_in_range``).
JSON_EXACT_MINOR = 2**53 - 1


def max_minor(cur: Currency) -> int:
    """The exclusive bound on any amount or balance in ``cur``'s minor units."""
    return int(MAX_MAJOR_UNITS.scaleb(cur.exponent))


def balance_in_range(minor: int, cur: Currency) -> bool:
    """Whether a balance may be reached by a posting the service can refuse (usage, an
    adjustment). Money that already moved at Stripe (a recharge credit) is never refused: it
    can carry a balance at most one amount past this bound, still far below 2**53."""
    return -max_minor(cur) < minor < max_minor(cur)


class MoneyError(ValueError):
    """An amount or currency broke a rule; ``rule`` is a short machine-readable reason and
    ``params`` the values the message quotes."""

    def __init__(self, rule: str, message: str, params: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message
        self.params = params


@dataclass(frozen=True, slots=True)
class Currency:
    code: str
    exponent: int


def currency(code: str) -> Currency:
    """The currency for an ISO 4217 code (case-insensitive), or MoneyError."""
    normalized = code.strip().lower() if isinstance(code, str) else ""
    if normalized not in SUPPORTED_CURRENCIES:
        raise MoneyError("unsupported_currency", f"unsupported currency {code!r}")
    if normalized in _ZERO_DECIMAL:
        return Currency(normalized, 0)
    if normalized in _THREE_DECIMAL:
        return Currency(normalized, 3)
    return Currency(normalized, 2)


def _as_decimal(value: object) -> Decimal:
    # bool is an int subclass and float is inexact: neither is an amount.
    if isinstance(value, bool | float):
        raise MoneyError("invalid_amount", "must be a decimal number, not " + type(value).__name__)
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise MoneyError("invalid_amount", "must be a decimal number") from None
    else:
        raise MoneyError("invalid_amount", "must be a decimal number")
    if not result.is_finite():
        raise MoneyError("invalid_amount", "must be a finite number")
    return result


def to_minor(
    value: object,
    cur: Currency,
    *,
    allow_negative: bool = False,
    allow_zero: bool = True,
) -> int:
    """Convert a major-unit decimal (``18.85``) to integer minor units (``1885``).

    Rejects more decimal places than the currency has (no silent rounding of input),
    NaN/Infinity, negatives unless allowed, and magnitudes of a trillion major units or more.
    """
    amount = _as_decimal(value)
    if abs(amount) >= MAX_MAJOR_UNITS:
        raise MoneyError(
            "amount_too_large",
            f"must be less than {MAX_MAJOR_UNITS:,} in magnitude",
            {"maximum": str(MAX_MAJOR_UNITS)},
        )
    minor = amount.scaleb(cur.exponent)
    if minor != minor.to_integral_value():
        places = (
            "no decimal places" if cur.exponent == 0 else f"at most {cur.exponent} decimal places"
        )
        raise MoneyError(
            "too_many_decimals",
            f"{cur.code.upper()} amounts allow {places}",
            {"currency": cur.code.upper(), "places": str(cur.exponent)},
        )
    result = int(minor)
    if result < 0 and not allow_negative:
        raise MoneyError("negative_amount", "must not be negative")
    if result == 0 and not allow_zero:
        raise MoneyError("zero_amount", "must be greater than zero")
    return result


def to_major(minor: int, cur: Currency) -> Decimal:
    """Integer minor units back to an exact major-unit Decimal (``1885`` → ``18.85``)."""
    return Decimal(minor).scaleb(-cur.exponent)


def json_number(amount: Decimal) -> int | float:
    """Render a major-unit Decimal as a JSON number: ``650`` stays an int, ``18.85`` a float.

    The float is only a carrier for the JSON encoder: with at most 15 significant digits
    (guaranteed by MAX_MAJOR_UNITS and the currency exponent) ``repr(float(x))`` prints exactly
    the decimal digits of ``x``.
    """
    if amount == amount.to_integral_value():
        return int(amount)
    return float(amount)


def round_half_up(value: Decimal) -> int:
    """The one rounding rule: a fractional amount of minor units to the nearest, halves up."""
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))


def fee(amount_minor: int, rate: Decimal) -> int:
    """Card fee the customer pays on top: round_half_up(amount × rate), in minor units."""
    if amount_minor < 0:
        raise MoneyError("negative_amount", "fee base must not be negative")
    return round_half_up(Decimal(amount_minor) * rate)


def gross_up(amount_minor: int, rate: Decimal, fixed_minor: int = 0) -> int:
    """Fee such that charging amount + fee leaves exactly ``amount`` after a rate+fixed fee.

    total = (amount + fixed) / (1 − rate), rounded half up; the fee is total − amount.
    """
    if not Decimal(0) <= rate < Decimal(1):
        raise MoneyError("invalid_rate", "fee rate must be in [0, 1)")
    total = round_half_up((Decimal(amount_minor) + fixed_minor) / (Decimal(1) - rate))
    return total - amount_minor
