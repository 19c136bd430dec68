"""The operator's statistics, reports and cross-user lists (operator key only).

Each route parses, calls one use case, presents. Reports stream (``StreamingResponse``):
the body leaves in pieces as the rows are read, so a report of a million rows never sits
in memory, and its totals come last.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from balance_manager.api import presenters
from balance_manager.api import schemas_admin as out
from balance_manager.api.auth import Operator, Svc
from balance_manager.api.jsonbody import DecimalJSONRoute
from balance_manager.domain import money
from balance_manager.domain.periods import Period, parse_period
from balance_manager.domain.report_formats import ReportFormat, ReportKind
from balance_manager.usecases import admin, reports

router = APIRouter(prefix="/api/admin", tags=["admin"], route_class=DecimalJSONRoute)

From = Annotated[
    str | None,
    Query(
        alias="from",
        max_length=40,
        description="ISO date (whole UTC day) or datetime; inclusive",
    ),
]
To = Annotated[
    str | None,
    Query(
        alias="to",
        max_length=40,
        description="ISO date (that day included) or datetime (exclusive)",
    ),
]
Window = Annotated[
    str | None, Query(max_length=10, description="instead of from/to: 30m, 24h, 7d… ending now")
]
PageNumber = Annotated[int, Query(ge=1, le=1_000_000)]
Limit = Annotated[int, Query(ge=1, le=100)]
DEFAULT_WINDOW = timedelta(hours=24)


def _outcomes(o: admin.Outcomes) -> out.OutcomesOut:
    return out.OutcomesOut(
        total=o.total, by_status=o.by_status, finished=o.finished, success_rate=o.success_rate
    )


@router.get(
    "/stats/recharges", response_model=out.RechargeStatsOut, operation_id="getRechargeStats"
)
async def recharge_stats(
    svc: Svc,
    _: Operator,
    start: From = None,
    end: To = None,
    window: Window = None,
) -> out.RechargeStatsOut:
    """Recharges opened in the period (``from``/``to``, or ``window``; default the last
    24 hours): counts by status, the success rate (succeeded ÷ finished), by trigger, and
    the money of the succeeded ones per currency."""
    period = parse_period(
        start=start, end=end, window=window, now=svc.clock(), default_window=DEFAULT_WINDOW
    )
    found = await admin.recharge_stats(svc, period)
    return out.RechargeStatsOut(
        from_=period.start,
        to=period.end,
        outcomes=_outcomes(found.outcomes),
        by_trigger={t: _outcomes(o) for t, o in found.by_trigger.items()},
        volumes=[
            out.VolumeOut(
                currency=v.currency.code,
                succeeded=v.succeeded,
                charged=money.to_major(v.charged, v.currency),
                fees=money.to_major(v.fees, v.currency),
                credited=money.to_major(v.credited, v.currency),
            )
            for v in found.volumes
        ],
    )


@router.get("/stats/balances", response_model=out.BalanceStatsOut, operation_id="getBalanceStats")
async def balance_stats(svc: Svc, _: Operator) -> out.BalanceStatsOut:
    """Users per balance bucket (negative, zero, 0–10, 10–100, … in major units) and the
    sum of balances, per currency."""

    def major(minor: int | None, cur: money.Currency) -> Decimal | None:
        return None if minor is None else money.to_major(minor, cur)

    return out.BalanceStatsOut(
        currencies=[
            out.CurrencyBalancesOut(
                currency=c.currency.code,
                users=c.users,
                total=money.to_major(c.total, c.currency),
                buckets=[
                    out.BucketOut(
                        label=b.label,
                        min=major(b.lower, c.currency),
                        max=major(b.upper, c.currency),
                        users=b.users,
                        total=money.to_major(b.total, c.currency),
                    )
                    for b in c.buckets
                ],
            )
            for c in await admin.balance_stats(svc)
        ]
    )


@router.get("/stats/users", response_model=out.UserStatsOut, operation_id="getUserStats")
async def user_stats(svc: Svc, _: Operator) -> out.UserStatsOut:
    """Users below their minimum, with a negative balance, paused, waiting for 3-D Secure…"""
    c = await admin.user_stats(svc)
    return out.UserStatsOut(
        total=c.total,
        below_minimum=c.below_minimum,
        negative_balance=c.negative_balance,
        auto_recharge_off=c.auto_recharge_off,
        paused=c.paused,
        requires_action=c.requires_action,
        recharge_in_flight=c.recharge_in_flight,
    )


@router.get(
    "/stats/payment-methods",
    response_model=out.PaymentMethodStatsOut,
    operation_id="getPaymentMethodStats",
)
async def payment_method_stats(svc: Svc, _: Operator) -> out.PaymentMethodStatsOut:
    """Users with and without a default card. (No breakdown by brand here: the
    ``balance_manager_default_card_brands`` metric has one.)"""
    c = await admin.user_stats(svc)
    return out.PaymentMethodStatsOut(
        users=c.total, with_card=c.with_card, without_card=c.total - c.with_card
    )


@router.get("/recharges", response_model=out.RechargeListOut, operation_id="listAllRecharges")
async def list_recharges(
    svc: Svc,
    _: Operator,
    user_id: Annotated[str | None, Query(alias="userId", max_length=64)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    page: PageNumber = 1,
    limit: Limit = 20,
) -> out.RechargeListOut:
    """Recharge records of every user (or ``userId``), newest first; ``status`` filters."""
    found = await admin.list_recharges(
        svc, user_id=user_id, status=admin.parse_status(status), page=page, limit=limit
    )
    return out.RechargeListOut(
        records=[presenters.recharge_record(r, money.currency(r.currency)) for r in found.items],
        pagination=presenters.pagination(found),
    )


def _report(svc: Svc, kind: ReportKind, period: Period, fmt: ReportFormat) -> StreamingResponse:
    request = reports.ReportRequest(kind, period, fmt)
    return StreamingResponse(
        reports.generate(svc, request),
        media_type=fmt.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{request.filename}"',
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # a proxy should pass the stream on, not buffer it
        },
    )


Format = Annotated[ReportFormat, Query(alias="format", description="csv or json")]


@router.get(
    "/reports/recharges", response_class=StreamingResponse, operation_id="getRechargeReport"
)
async def recharge_report(
    svc: Svc,
    _: Operator,
    start: From = None,
    end: To = None,
    window: Window = None,
    fmt: Format = ReportFormat.CSV,
) -> StreamingResponse:
    """Recharge records opened in the period, streamed as CSV or JSON, with totals per
    currency (counts by status; charged, fees and credited over succeeded records). Money
    is exact decimal strings in major units. Columns: see docs/concepts/reports.md."""
    period = parse_period(start=start, end=end, window=window, now=svc.clock())
    return _report(svc, ReportKind.RECHARGES, period, fmt)


@router.get("/reports/ledger", response_class=StreamingResponse, operation_id="getLedgerReport")
async def ledger_report(
    svc: Svc,
    _: Operator,
    start: From = None,
    end: To = None,
    window: Window = None,
    fmt: Format = ReportFormat.CSV,
) -> StreamingResponse:
    """Ledger entries written in the period, streamed as CSV or JSON, with counts and sums
    per kind and the net change per currency."""
    period = parse_period(start=start, end=end, window=window, now=svc.clock())
    return _report(svc, ReportKind.LEDGER, period, fmt)
