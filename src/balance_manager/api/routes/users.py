"""Users (operator) and customer tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from balance_manager.api import presenters, schemas
from balance_manager.api import schemas_admin as admin_schemas
from balance_manager.api.auth import Context, Operator, OperatorUserId, Svc, UserId
from balance_manager.api.jsonbody import DecimalJSONRoute
from balance_manager.usecases import accounts, admin
from balance_manager.web import links

router = APIRouter(prefix="/api/users", tags=["users"], route_class=DecimalJSONRoute)


@router.post("", status_code=201, response_model=schemas.UserOut, operation_id="createUser")
async def create_user(body: schemas.CreateUserIn, svc: Svc, _: Operator) -> schemas.UserOut:
    """Create a user with a balance config. Operator only."""
    user, _config = await accounts.create_user(
        svc,
        accounts.NewUser(
            email=body.email,
            user_id=body.id,
            currency=body.currency,
            minimum_balance=body.minimum_balance,
            target_balance=body.target_balance,
            initial_balance=body.initial_balance,
            auto_recharge_enabled=body.auto_recharge_enabled,
            max_daily_recharges=body.max_daily_recharges,
            max_recharge_amount=body.max_recharge_amount,
            balance_floor=body.balance_floor,
        ),
    )
    return presenters.user(user)


@router.get("", response_model=admin_schemas.UserListOut, operation_id="listUsers")
async def list_users(
    svc: Svc,
    _: Operator,
    q: Annotated[str | None, Query(max_length=320, description="id (prefix) or email part")] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> admin_schemas.UserListOut:
    """Users, newest first; ``q`` matches an id exactly or by prefix, or any part of an
    email. Operator only."""
    found = await admin.list_users(svc, query=q, page=page, limit=limit)
    return admin_schemas.UserListOut(
        users=[presenters.user_summary(user, config) for user, config in found.items],
        pagination=presenters.pagination(found),
    )


@router.patch("/{userId}", response_model=schemas.UserOut, operation_id="updateUser")
async def patch_user(
    user_id: OperatorUserId, body: admin_schemas.UserPatchIn, svc: Svc
) -> schemas.UserOut:
    """Change a user's email (validated; another user's address is a 409). Operator only."""
    return presenters.user(await accounts.change_email(svc, user_id, body.email))


@router.get("/{userId}", response_model=schemas.UserOut, operation_id="getUser")
async def get_user(user_id: UserId, svc: Svc) -> schemas.UserOut:
    return presenters.user(await accounts.user(svc, user_id))


@router.post(
    "/{userId}/tokens",
    status_code=201,
    response_model=schemas.TokenOut,
    operation_id="createUserToken",
)
async def mint_token(
    user_id: OperatorUserId, ctx: Context, body: schemas.TokenIn | None = None
) -> schemas.TokenOut:
    """Mint a short-lived customer token scoped to this user (for the pages or the
    customer's own client). Operator only."""
    await accounts.user(ctx.services, user_id)
    ttl = timedelta(seconds=body.ttl_seconds) if body and body.ttl_seconds else None
    token = ctx.tokens.mint(user_id, ttl=ttl)
    return schemas.TokenOut(
        token=token.token,
        expires_at=token.expires_at,
        user_id=user_id,
        dashboard_url=links.dashboard_url(ctx.settings.public_base_url, token.token),
    )
