"""The original's balance API (status, config, history) plus usage, adjustments, ledger."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from balance_manager import money
from balance_manager.accounts import service as accounts
from balance_manager.amounts import parse_amount
from balance_manager.api import presenters, schemas
from balance_manager.api.auth import Context, Operator, OperatorUserId, UserId
from balance_manager.api.jsonbody import DecimalJSONRoute
from balance_manager.errors import ServiceError
from balance_manager.ledger import service as ledger
from balance_manager.recharge import status as recharge_status
from balance_manager.recharge import triggers
from balance_manager.recharge.service import rules_from_settings
from balance_manager.recharge.worker import notify
from balance_manager.store.models import LedgerKind, User, utcnow

router = APIRouter(prefix="/api/balance", tags=["balance"], route_class=DecimalJSONRoute)

PageNumber = Annotated[int, Query(ge=1, le=1_000_000)]
Limit = Annotated[int, Query(ge=1, le=100)]
# One transaction per chunk keeps lock hold times short and a failure's blast radius small;
# idempotency keys make re-sending a whole batch safe.
BATCH_CHUNK = 250


@router.get("/status/{userId}", response_model=schemas.StatusOut)
async def get_status(user_id: UserId, ctx: Context) -> schemas.StatusOut:
    async with ctx.sessions.begin() as session:
        st = await recharge_status.balance_status(session, user_id, fee_rule=ctx.settings.fee_rule)
    cur = st.currency
    calc = st.calculation
    return schemas.StatusOut(
        needs_recharge=st.needs_recharge,
        current_balance=money.to_major(st.user.balance, cur),
        minimum_balance=money.to_major(st.config.minimum_balance, cur),
        target_balance=money.to_major(st.config.target_balance, cur),
        calculation=None
        if calc is None
        else schemas.CalculationOut(
            recharge_amount=money.to_major(calc.recharge_amount, cur),
            fee=money.to_major(calc.fee, cur),
            total_charge=money.to_major(calc.total_charge, cur),
            new_balance=money.to_major(calc.new_balance, cur),
            capped=calc.capped,
        ),
        can_recharge=st.can_recharge,
        recharge_blocked_reason=None if st.blocked_reason is None else str(st.blocked_reason),
        currency=cur.code,
        auto_recharge_enabled=st.config.auto_recharge_enabled,
        pending_recharge_id=None if st.in_flight is None else st.in_flight.id,
    )


@router.get("/config/{userId}", response_model=schemas.ConfigOut)
async def get_config(user_id: UserId, ctx: Context) -> schemas.ConfigOut:
    async with ctx.sessions.begin() as session:
        user, config = await accounts.get_config(session, user_id)
        return presenters.config(config, money.currency(user.currency))


async def _update_config(user_id: str, body: schemas.ConfigIn, ctx: Context) -> schemas.ConfigOut:
    sent = body.model_fields_set
    changes = accounts.ConfigChanges(
        minimum_balance=body.minimum_balance,
        target_balance=body.target_balance,
        auto_recharge_enabled=body.auto_recharge_enabled,
        max_daily_recharges=body.max_daily_recharges,
        max_recharge_amount=body.max_recharge_amount,
        balance_floor=body.balance_floor,
        clear_balance_floor="balance_floor" in sent and body.balance_floor is None,
    )
    async with ctx.sessions.begin() as session:
        result = await accounts.update_config(session, user_id, changes)
        return presenters.config(result.config, result.currency, result.warnings)


@router.put("/config/{userId}", response_model=schemas.ConfigOut)
async def put_config(user_id: UserId, body: schemas.ConfigIn, ctx: Context) -> schemas.ConfigOut:
    """Partial update, as in the original: only the fields sent change. Every rule is checked
    on the merged result; a rejected update changes nothing. ``warnings`` says when
    maxRechargeAmount makes a full top-up impossible."""
    return await _update_config(user_id, body, ctx)


@router.patch("/config/{userId}", response_model=schemas.ConfigOut)
async def patch_config(user_id: UserId, body: schemas.ConfigIn, ctx: Context) -> schemas.ConfigOut:
    """Same as PUT."""
    return await _update_config(user_id, body, ctx)


@router.get("/history/{userId}", response_model=schemas.HistoryOut)
async def get_history(
    user_id: UserId, ctx: Context, page: PageNumber = 1, limit: Limit = 20
) -> schemas.HistoryOut:
    """Recharge records, newest first."""
    async with ctx.sessions.begin() as session:
        cur, records = await recharge_status.recharge_history(
            session, user_id, page=page, limit=limit
        )
    return schemas.HistoryOut(
        records=[presenters.recharge_record(r, cur) for r in records.items],
        pagination=presenters.pagination(records),
    )


@router.post("/usage/{userId}", response_model=schemas.UsageOut)
async def record_usage(
    user_id: OperatorUserId, body: schemas.UsageIn, ctx: Context
) -> schemas.UsageOut:
    """Debit usage. Idempotent by ``idempotencyKey``: the same key and amount return the first
    result (``replayed: true``); the same key with another amount is a 409. Operator only."""
    async with ctx.sessions.begin() as session:
        user = await accounts.get_user(session, user_id)
        cur = money.currency(user.currency)
        amount = parse_amount(body.amount, cur, field="amount", allow_zero=False)
        result = await ledger.post_one(session, _usage_posting(user_id, amount, body))
        await _open_recharges(session, ctx, [result])
    _wake(ctx)
    return _posting_out(user_id, amount, cur, result)


def _usage_posting(user_id: str, amount: int, event: schemas.UsageIn) -> ledger.Posting:
    """A usage debit of ``amount`` minor units, idempotent by the event's key."""
    return ledger.Posting(
        user_id=user_id,
        kind=LedgerKind.USAGE,
        amount=-amount,
        reference=event.idempotency_key,
        description=event.description,
        metadata=event.metadata,
        enforce_floor=True,
    )


def _posting_out(
    user_id: str, amount: int, cur: money.Currency, result: ledger.PostingResult
) -> schemas.UsageOut:
    assert result.entry is not None
    return schemas.UsageOut(
        user_id=user_id,
        entry_id=result.entry.id,
        amount=money.to_major(amount, cur),
        balance=money.to_major(result.entry.balance_after, cur),
        currency=cur.code,
        replayed=result.replayed,
        created_at=result.entry.created_at,
    )


async def _open_recharges(
    session: AsyncSession, ctx: Context, results: list[ledger.PostingResult]
) -> None:
    """Trigger (1): usage that leaves a balance below the minimum opens the recharge in the
    same transaction. Without Stripe configured there is nothing to charge with."""
    if ctx.gateway is None:
        return
    opened = await triggers.after_usage(
        session, results, rules=rules_from_settings(ctx.settings), now=utcnow()
    )
    if opened:
        await notify(session)


def _wake(ctx: Context) -> None:
    if ctx.wakeup is not None:
        ctx.wakeup.set()


def _error_body(error: ServiceError) -> schemas.ErrorBody:
    return schemas.ErrorBody(code=error.code, message=error.message, field=error.field)


@router.post("/usage", response_model=schemas.BatchUsageOut)
async def record_usage_batch(
    body: schemas.BatchUsageIn, ctx: Context, _: Operator
) -> schemas.BatchUsageOut:
    """Up to 1,000 usage events for many users; one result per event, in order. Events are
    applied in chunks of 250 per transaction, locking users in id order. Operator only."""
    results: list[schemas.BatchResult] = []
    for start in range(0, len(body.events), BATCH_CHUNK):
        chunk = body.events[start : start + BATCH_CHUNK]
        async with ctx.sessions.begin() as session:
            results.extend(await _apply_chunk(session, ctx, chunk, start))
    _wake(ctx)
    return schemas.BatchUsageOut(
        results=results,
        applied=sum(r.status == "applied" for r in results),
        replayed=sum(r.status == "replayed" for r in results),
        failed=sum(r.status == "error" for r in results),
    )


async def _apply_chunk(
    session: AsyncSession, ctx: Context, chunk: list[schemas.BatchUsageEvent], offset: int
) -> list[schemas.BatchResult]:
    rows = await session.execute(
        select(User.id, User.currency).where(User.id.in_({e.user_id for e in chunk}))
    )
    currencies = {user_id: code for user_id, code in rows.all()}
    postings: list[tuple[int, ledger.Posting]] = []
    results: dict[int, schemas.BatchResult] = {}
    for i, event in enumerate(chunk, start=offset):
        base = {"index": i, "user_id": event.user_id, "idempotency_key": event.idempotency_key}
        code = currencies.get(event.user_id)
        if code is None:
            error = ServiceError(
                f"user {event.user_id} not found", code="user_not_found", field="userId"
            )
            results[i] = schemas.BatchResult(**base, status="error", error=_error_body(error))
            continue
        try:
            amount = parse_amount(
                event.amount, money.currency(code), field="amount", allow_zero=False
            )
        except ServiceError as error:
            results[i] = schemas.BatchResult(**base, status="error", error=_error_body(error))
            continue
        postings.append((i, _usage_posting(event.user_id, amount, event)))
    posted = await ledger.post_batch(session, [p for _, p in postings]) if postings else []
    await _open_recharges(session, ctx, posted)
    for (i, posting), outcome in zip(postings, posted, strict=True):
        base = {"index": i, "user_id": posting.user_id, "idempotency_key": posting.reference}
        if outcome.error is not None:
            results[i] = schemas.BatchResult(
                **base, status="error", error=_error_body(outcome.error)
            )
        else:
            assert outcome.entry is not None
            cur = money.currency(currencies[posting.user_id])
            results[i] = schemas.BatchResult(
                **base,
                status="replayed" if outcome.replayed else "applied",
                entry_id=outcome.entry.id,
                balance=money.to_major(outcome.entry.balance_after, cur),
            )
    return [results[i] for i in sorted(results)]


@router.post("/adjust/{userId}", response_model=schemas.UsageOut)
async def adjust(user_id: OperatorUserId, body: schemas.AdjustIn, ctx: Context) -> schemas.UsageOut:
    """Grant (positive) or remove (negative) credit with a reason; idempotent like usage.
    Operator only."""
    async with ctx.sessions.begin() as session:
        user = await accounts.get_user(session, user_id)
        cur = money.currency(user.currency)
        amount = parse_amount(
            body.amount, cur, field="amount", allow_negative=True, allow_zero=False
        )
        result = await ledger.post_one(
            session,
            ledger.Posting(
                user_id=user_id,
                kind=LedgerKind.ADJUSTMENT,
                amount=amount,
                reference=body.idempotency_key,
                description=body.reason,
                metadata=body.metadata,
            ),
        )
    return _posting_out(user_id, amount, cur, result)


@router.get("/ledger/{userId}", response_model=schemas.LedgerOut)
async def get_ledger(
    user_id: UserId, ctx: Context, page: PageNumber = 1, limit: Limit = 20
) -> schemas.LedgerOut:
    """Ledger entries, newest first."""
    async with ctx.sessions.begin() as session:
        user = await accounts.get_user(session, user_id)
        entries = await ledger.list_entries(session, user_id, page=page, limit=limit)
    cur = money.currency(user.currency)
    return schemas.LedgerOut(
        entries=[presenters.ledger_entry(e, cur) for e in entries.items],
        currency=cur.code,
        pagination=presenters.pagination(entries),
    )
