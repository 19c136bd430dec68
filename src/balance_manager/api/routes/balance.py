"""The original's balance API (status, config, history) plus usage, adjustments, ledger.

Each route parses, calls one use case, presents.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import TypeAdapter

from balance_manager.api import jsonbody, presenters, schemas
from balance_manager.api.auth import (
    Caller,
    Operator,
    OperatorUserId,
    Svc,
    UserId,
    authenticate,
    bearer_credential,
    check_user,
)
from balance_manager.api.context import AppContext
from balance_manager.api.errors import ApiError
from balance_manager.api.jsonbody import DecimalJSONRoute
from balance_manager.usecases import accounts, recharges, usage

router = APIRouter(prefix="/api/balance", tags=["balance"], route_class=DecimalJSONRoute)

PageNumber = Annotated[int, Query(ge=1, le=1_000_000)]
Limit = Annotated[int, Query(ge=1, le=100)]


@router.get("/status/{userId}", response_model=schemas.StatusOut, operation_id="getStatus")
async def get_status(user_id: UserId, svc: Svc) -> schemas.StatusOut:
    return presenters.status(await recharges.status(svc, user_id))


@router.get("/config/{userId}", response_model=schemas.ConfigOut, operation_id="getConfig")
async def get_config(user_id: UserId, svc: Svc) -> schemas.ConfigOut:
    found = await accounts.config(svc, user_id)
    return presenters.config(found.config, found.currency)


async def _update_config(
    user_id: str, body: schemas.ConfigIn, svc: Svc, caller: Caller
) -> schemas.ConfigOut:
    changes = accounts.ConfigChanges(
        minimum_balance=body.minimum_balance,
        target_balance=body.target_balance,
        auto_recharge_enabled=body.auto_recharge_enabled,
        max_daily_recharges=body.max_daily_recharges,
        max_recharge_amount=body.max_recharge_amount,
        balance_floor=body.balance_floor,
        clear_balance_floor="balance_floor" in body.model_fields_set and body.balance_floor is None,
        low_balance_threshold=body.low_balance_threshold,
        clear_low_balance_threshold="low_balance_threshold" in body.model_fields_set
        and body.low_balance_threshold is None,
    )
    actor = accounts.Actor.OPERATOR if caller.kind == "operator" else accounts.Actor.CUSTOMER
    result = await accounts.update_config(svc, user_id, changes, actor=actor)
    return presenters.config(result.config, result.currency, result.warnings)


@router.put("/config/{userId}", response_model=schemas.ConfigOut, operation_id="updateConfig")
async def put_config(
    user_id: UserId, body: schemas.ConfigIn, svc: Svc, caller: Caller
) -> schemas.ConfigOut:
    """Partial update, as in the original: only the fields sent change. Every rule is checked
    on the merged result; a rejected update changes nothing. ``warnings`` says when
    maxRechargeAmount makes a full top-up impossible. ``maxDailyRecharges``,
    ``maxRechargeAmount`` and ``balanceFloor`` are the operator's: a customer token that
    would change one gets a 403 naming it, and its minimum and target must stay within one
    recharge of ``maxRechargeAmount``."""
    return await _update_config(user_id, body, svc, caller)


@router.patch("/config/{userId}", response_model=schemas.ConfigOut, operation_id="patchConfig")
async def patch_config(
    user_id: UserId, body: schemas.ConfigIn, svc: Svc, caller: Caller
) -> schemas.ConfigOut:
    """Same as PUT."""
    return await _update_config(user_id, body, svc, caller)


@router.get("/history/{userId}", response_model=schemas.HistoryOut, operation_id="getHistory")
async def get_history(
    user_id: UserId, svc: Svc, page: PageNumber = 1, limit: Limit = 20
) -> schemas.HistoryOut:
    """Recharge records, newest first."""
    cur, records = await recharges.history(svc, user_id, page=page, limit=limit)
    return schemas.HistoryOut(
        records=[presenters.recharge_record(r, cur) for r in records.items],
        pagination=presenters.pagination(records),
    )


_USAGE_IN = TypeAdapter(schemas.UsageIn)


@router.post(
    "/usage/{userId}",
    operation_id="recordUsage",
    response_model=schemas.UsageOut,
    openapi_extra={
        "parameters": [
            {"name": "userId", "in": "path", "required": True, "schema": {"type": "string"}},
            {"name": "x-user-id", "in": "header", "required": False, "schema": {"type": "string"}},
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schemas.UsageIn.model_json_schema()}},
        },
        "security": [{"HTTPBearer": []}],
    },
)
async def record_usage(request: Request) -> Response:
    """Debit usage. Idempotent by ``idempotencyKey``: the same key and amount return the first
    result (``replayed: true``); the same key with another amount is a 409. ``rechargeId`` is
    set when this debit opened a recharge. Operator only.

    The hot path: authentication, parsing and the answer are done here directly rather than
    through FastAPI's dependencies and response validation (same rules, same errors), which
    cost more CPU than the debit itself."""
    ctx: AppContext = request.app.state.ctx
    headers = request.headers
    x_user_id = headers.get("x-user-id")
    principal = await authenticate(ctx, bearer_credential(headers.get("authorization")), x_user_id)
    if principal.kind != "operator":
        raise ApiError(403, "forbidden", "this operation needs an operator API key")
    user_id = check_user(principal, request.path_params["userId"], x_user_id)
    try:
        body = _USAGE_IN.validate_python(jsonbody.parse(await request.body()))
    except ValueError as exc:  # malformed JSON, or the body broke the model
        raise jsonbody.as_validation_error(exc) from None
    recorded = await usage.record_usage(
        ctx.services,
        usage.UsageEvent(
            user_id=user_id,
            amount=body.amount,
            idempotency_key=body.idempotency_key,
            description=body.description,
            metadata=body.metadata,
        ),
    )
    return Response(
        presenters.recorded(recorded).model_dump_json(by_alias=True),
        media_type="application/json",
    )


@router.post("/usage", response_model=schemas.BatchUsageOut, operation_id="recordUsageBatch")
async def record_usage_batch(
    body: schemas.BatchUsageIn, svc: Svc, _: Operator
) -> schemas.BatchUsageOut:
    """Up to 1,000 usage events for many users; one result per event, in order, applied in
    one transaction that locks users in id order. Operator only."""
    items = await usage.record_batch(
        svc,
        [
            usage.UsageEvent(
                user_id=e.user_id,
                amount=e.amount,
                idempotency_key=e.idempotency_key,
                description=e.description,
                metadata=e.metadata,
            )
            for e in body.events
        ],
    )
    results = [presenters.batch_result(item) for item in items]
    return schemas.BatchUsageOut(
        results=results,
        applied=sum(r.status == "applied" for r in results),
        replayed=sum(r.status == "replayed" for r in results),
        failed=sum(r.status == "error" for r in results),
    )


@router.post("/adjust/{userId}", response_model=schemas.UsageOut, operation_id="adjustBalance")
async def adjust(user_id: OperatorUserId, body: schemas.AdjustIn, svc: Svc) -> schemas.UsageOut:
    """Grant (positive) or remove (negative) credit with a reason; idempotent like usage.
    Operator only."""
    recorded = await usage.adjust(
        svc,
        user_id,
        amount=body.amount,
        reason=body.reason,
        idempotency_key=body.idempotency_key,
        metadata=body.metadata,
    )
    return presenters.recorded(recorded)


@router.get("/ledger/{userId}", response_model=schemas.LedgerOut, operation_id="getLedger")
async def get_ledger(
    user_id: UserId, svc: Svc, page: PageNumber = 1, limit: Limit = 20
) -> schemas.LedgerOut:
    """Ledger entries, newest first."""
    cur, entries = await accounts.ledger_page(svc, user_id, page=page, limit=limit)
    return schemas.LedgerOut(
        entries=[presenters.ledger_entry(e, cur) for e in entries.items],
        currency=cur.code,
        pagination=presenters.pagination(entries),
    )
