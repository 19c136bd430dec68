"""The operator's views across users: lists, statistics, and recharges found by id.

Reads only (``svc.reads``: never SQLite's write lock), except :func:`cancel_recharge`, which
is the customer-facing cancel (:func:`recharges.cancel`) reached by the record's id alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from balance_manager.domain import money
from balance_manager.domain.errors import InvalidInput, NotFound
from balance_manager.domain.periods import Period
from balance_manager.domain.states import RechargeStatus, TriggeredBy
from balance_manager.store import aggregates, listings
from balance_manager.store.models import BalanceConfig, RechargeRecord, User
from balance_manager.store.paging import Page
from balance_manager.usecases import recharges
from balance_manager.usecases.accounts import check_user_id
from balance_manager.usecases.services import Services

MAX_QUERY_LENGTH = 320


async def list_users(
    svc: Services, *, query: str | None, page: int, limit: int
) -> Page[tuple[User, BalanceConfig | None]]:
    """Users, newest first; ``query`` matches an id (exactly or by prefix) or part of an
    email."""
    query = (query or "").strip() or None
    if query is not None and len(query) > MAX_QUERY_LENGTH:
        raise InvalidInput(
            f"q must be at most {MAX_QUERY_LENGTH} characters", code="query_too_long", field="q"
        )
    async with svc.reads.begin() as session:
        return await listings.users_page(session, query=query, page=page, limit=limit)


def parse_status(value: str | None) -> RechargeStatus | None:
    if value is None:
        return None
    try:
        return RechargeStatus(value.strip().lower())
    except ValueError:
        known = ", ".join(s.value for s in RechargeStatus)
        raise InvalidInput(
            f"status must be one of {known}", code="invalid_status", field="status"
        ) from None


async def list_recharges(
    svc: Services,
    *,
    user_id: str | None,
    status: RechargeStatus | None,
    page: int,
    limit: int,
) -> Page[RechargeRecord]:
    """Recharge records of every user (or one), newest first."""
    if user_id is not None:
        check_user_id(user_id)
    async with svc.reads.begin() as session:
        return await listings.recharges_page(
            session, user_id=user_id, status=status, page=page, limit=limit
        )


async def recharge(svc: Services, recharge_id: str) -> RechargeRecord:
    """A recharge record by its id alone (the operator knows no user yet)."""
    async with svc.reads.begin() as session:
        found = await session.get(RechargeRecord, recharge_id)
    if found is None:
        raise NotFound(
            f"recharge {recharge_id} not found", code="recharge_not_found", field="rechargeId"
        )
    return found


async def cancel_recharge(svc: Services, recharge_id: str) -> recharges.RechargeView:
    """``POST /api/balance/recharge/{userId}/{rechargeId}/cancel`` for the operator who has
    only the recharge's id: the same use case, for the record's own user."""
    found = await recharge(svc, recharge_id)
    return await recharges.cancel(svc, found.user_id, found.id)


# ------------------------------------------------------------------ statistics


def rate(part: int, whole: int) -> Decimal | None:
    """``part / whole`` to four places (half up), or None when there is nothing to divide."""
    if whole == 0:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


# Finished attempts: what a success rate is a rate of. In-flight records are left out.
FINISHED = (RechargeStatus.SUCCEEDED, RechargeStatus.FAILED, RechargeStatus.CANCELED)


@dataclass(frozen=True, slots=True)
class Outcomes:
    """Records by status, and the success rate over finished ones."""

    by_status: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def finished(self) -> int:
        return sum(self.by_status[s] for s in FINISHED)

    @property
    def success_rate(self) -> Decimal | None:
        return rate(self.by_status[RechargeStatus.SUCCEEDED], self.finished)


@dataclass(frozen=True, slots=True)
class CurrencyVolume:
    """Succeeded recharges of one currency: gross charged, card fees, credited."""

    currency: money.Currency
    succeeded: int
    charged: int
    fees: int
    credited: int


@dataclass(frozen=True, slots=True)
class RechargeStats:
    period: Period
    outcomes: Outcomes
    by_trigger: dict[str, Outcomes]
    volumes: list[CurrencyVolume]


def _zero() -> dict[str, int]:
    return {s.value: 0 for s in RechargeStatus}


async def recharge_stats(svc: Services, period: Period) -> RechargeStats:
    """Outcomes of the recharges opened in ``period``, overall and by trigger, and the
    money of the succeeded ones per currency."""
    async with svc.reads.begin() as session:
        groups = await aggregates.recharge_groups(
            await session.connection(), start=period.start, end=period.end
        )
    overall = _zero()
    by_trigger = {t.value: _zero() for t in TriggeredBy}
    volumes: dict[str, list[int]] = {}
    for g in groups:
        overall[g.status] += g.count
        by_trigger[g.triggered_by][g.status] += g.count
        if g.status == RechargeStatus.SUCCEEDED:
            v = volumes.setdefault(g.currency, [0, 0, 0, 0])
            v[0] += g.count
            v[1] += g.total_charge
            v[2] += g.fee
            v[3] += g.amount
    return RechargeStats(
        period=period,
        outcomes=Outcomes(overall),
        by_trigger={t: Outcomes(counts) for t, counts in by_trigger.items()},
        volumes=[CurrencyVolume(money.currency(code), *v) for code, v in sorted(volumes.items())],
    )


# Bucket edges in major units: below zero, exactly zero, then by powers of ten.
_EDGES_MAJOR = (Decimal(0), None, Decimal(10), Decimal(100), Decimal(1000), Decimal(10000))
BUCKET_LABELS = ("negative", "zero", "0-10", "10-100", "100-1000", "1000-10000", "10000+")


@dataclass(frozen=True, slots=True)
class Bucket:
    label: str
    lower: int | None  # minor units, inclusive; None: unbounded
    upper: int | None  # minor units, exclusive; None: unbounded
    users: int
    total: int


@dataclass(frozen=True, slots=True)
class CurrencyBalances:
    currency: money.Currency
    users: int
    total: int  # what the service owes its customers in this currency (prepaid balances)
    buckets: list[Bucket]


def bucket_edges(cur: money.Currency) -> list[int]:
    """Ascending minor-unit edges: ``< 0``, ``0`` (below one minor unit), then decades."""
    edges = []
    for edge in _EDGES_MAJOR:
        edges.append(1 if edge is None else money.to_minor(edge, cur))
    return edges


async def balance_stats(svc: Services) -> list[CurrencyBalances]:
    """How balances are spread, per currency."""
    async with svc.reads.begin() as session:
        conn = await session.connection()
        codes = await aggregates.currencies(conn)
        edges = {code: bucket_edges(money.currency(code)) for code in codes}
        found = await aggregates.balance_buckets(conn, edges)
    out = []
    for code in codes:
        cur = money.currency(code)
        bounds = [None, *edges[code], None]
        counted = {b.bucket: b for b in found if b.currency == code}
        buckets = [
            Bucket(
                label,
                bounds[i],
                bounds[i + 1],
                counted[i].count if i in counted else 0,
                counted[i].total if i in counted else 0,
            )
            for i, label in enumerate(BUCKET_LABELS)
        ]
        out.append(
            CurrencyBalances(
                cur, sum(b.users for b in buckets), sum(b.total for b in buckets), buckets
            )
        )
    return out


async def user_stats(svc: Services) -> aggregates.UserCounts:
    """Users below their minimum, paused, waiting for authentication, and so on."""
    async with svc.reads.begin() as session:
        return await aggregates.user_counts(await session.connection())
