"""Who is calling, and may they touch this user?

- Operator: ``Authorization: Bearer bmk_…`` (an API key from ``balance-manager keys create``).
- Customer: ``Authorization: Bearer <token>`` minted by ``POST /api/users/{userId}/tokens``,
  valid for that one user.
- ``x-user-id`` (the original's header) is never a credential on its own; when sent it must
  match the path's user and, for a customer, the token's user.

Order of checks: no or bad credential → 401; wrong user or operator-only route → 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Header, Path
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from balance_manager.api.context import AppContext, get_context, get_services
from balance_manager.api.errors import ApiError
from balance_manager.auth.api_keys import looks_like_api_key
from balance_manager.auth.tokens import InvalidToken
from balance_manager.usecases.services import Services

_bearer = HTTPBearer(auto_error=False, description="Operator API key or customer token")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True, slots=True)
class Principal:
    kind: Literal["operator", "customer"]
    user_id: str | None = None  # the customer's own user
    key_id: str | None = None  # the operator's key


def _unauthenticated(message: str) -> ApiError:
    return ApiError(401, "unauthenticated", message, headers=_CHALLENGE)


async def get_principal(
    ctx: Annotated[AppContext, Depends(get_context)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    x_user_id: Annotated[str | None, Header(alias="x-user-id")] = None,
) -> Principal:
    return await authenticate(
        ctx, None if credentials is None else credentials.credentials, x_user_id
    )


def bearer_credential(authorization: str | None) -> str | None:
    """The credential of an ``Authorization: Bearer …`` header (as ``HTTPBearer`` reads it)."""
    if not authorization:
        return None
    scheme, _, credential = authorization.partition(" ")
    return credential if scheme.lower() == "bearer" else None


async def authenticate(ctx: AppContext, credential: str | None, x_user_id: str | None) -> Principal:
    """Who is calling: the rules, without FastAPI's dependency machinery (which the usage
    route skips: on the hot path it costs more than the debit)."""
    credential = (credential or "").strip()
    if not credential:
        raise _unauthenticated(
            "missing credential: send Authorization: Bearer <operator API key or customer token>"
        )
    if looks_like_api_key(credential):
        key_id = await ctx.keys.verify(credential)
        if key_id is None:
            raise _unauthenticated("invalid or revoked API key")
        principal = Principal("operator", key_id=key_id)
    else:
        try:
            user_id = ctx.tokens.verify(credential)
        except InvalidToken:
            raise _unauthenticated("invalid or expired customer token") from None
        principal = Principal("customer", user_id=user_id)
    if x_user_id is not None and principal.kind == "customer" and x_user_id != principal.user_id:
        raise ApiError(403, "forbidden", "x-user-id does not match the token's user")
    return principal


async def require_operator(
    principal: Annotated[Principal, Depends(get_principal)],
) -> Principal:
    if principal.kind != "operator":
        raise ApiError(403, "forbidden", "this operation needs an operator API key")
    return principal


def check_user(principal: Principal, user_id: str, x_user_id: str | None) -> str:
    if x_user_id is not None and x_user_id != user_id:
        raise ApiError(403, "forbidden", "x-user-id does not match the user in the path")
    if principal.kind == "customer" and principal.user_id != user_id:
        raise ApiError(403, "forbidden", "this token is not valid for that user")
    return user_id


async def user_access(
    principal: Annotated[Principal, Depends(get_principal)],
    user_id: Annotated[str, Path(alias="userId", max_length=200)],
    x_user_id: Annotated[str | None, Header(alias="x-user-id")] = None,
) -> str:
    """The path's user id, once the caller is allowed to act for that user."""
    return check_user(principal, user_id, x_user_id)


async def operator_user_access(
    principal: Annotated[Principal, Depends(require_operator)],
    user_id: Annotated[str, Path(alias="userId", max_length=200)],
    x_user_id: Annotated[str | None, Header(alias="x-user-id")] = None,
) -> str:
    return check_user(principal, user_id, x_user_id)


UserId = Annotated[str, Depends(user_access)]
OperatorUserId = Annotated[str, Depends(operator_user_access)]
Operator = Annotated[Principal, Depends(require_operator)]
Caller = Annotated[Principal, Depends(get_principal)]  # anyone authenticated: who is it?
Context = Annotated[AppContext, Depends(get_context)]
Svc = Annotated[Services, Depends(get_services)]
