"""Payment methods (the original's ``/api/payment/*`` shapes): list, save (SetupIntent),
Customer Portal, remove, choose the default.

Customers with a token for themselves, or the operator. Stripe is called outside any
database transaction; our default card changes only through ``accounts``
(``set_default_payment_method``), which also resumes an auto-recharge paused by failures.

Errors: no Stripe configured → 503 ``payments_not_configured``; Stripe down → 502
``stripe_unavailable``; Stripe refused → 502 ``stripe_error``; a card or SetupIntent that
is not this user's → 404 (another customer's card is never touched).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Path, Request, Response
from pydantic import Field

from balance_manager.accounts import service as accounts
from balance_manager.api.auth import Context, UserId
from balance_manager.api.context import AppContext
from balance_manager.api.errors import ApiError, error_response
from balance_manager.api.jsonbody import DecimalJSONRoute
from balance_manager.api.schemas import InputModel, OutputModel
from balance_manager.payments import customers
from balance_manager.payments.gateway import (
    CardSummary,
    GatewayError,
    StripeGateway,
    StripeNotFound,
    StripeUnavailable,
)


class StripeErrorsRoute(DecimalJSONRoute):
    """Gateway errors become JSON errors: 502 (Stripe unavailable or refusing), 404."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def stripe_errors_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except GatewayError as exc:
                return gateway_error_response(exc)

        return stripe_errors_handler


def gateway_error_response(exc: GatewayError) -> Response:
    if isinstance(exc, StripeNotFound):
        return error_response(404, "stripe_not_found", exc.message)
    if isinstance(exc, StripeUnavailable):
        return error_response(502, "stripe_unavailable", "Stripe is unavailable; try again")
    return error_response(502, "stripe_error", exc.message)


def require_gateway(ctx: AppContext) -> StripeGateway:
    if ctx.gateway is None:
        raise ApiError(
            503, "payments_not_configured", "payments are not configured (STRIPE_SECRET_KEY)"
        )
    return ctx.gateway


router = APIRouter(prefix="/api/payment", tags=["payment"], route_class=StripeErrorsRoute)

PaymentMethodId = Path(alias="paymentMethodId", min_length=1, max_length=255)


class MethodOut(OutputModel):
    id: str
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None
    is_default: bool


class MethodsOut(OutputModel):
    methods: list[MethodOut]
    customer_id: str | None
    default_payment_method_id: str | None


class SetupIntentOut(OutputModel):
    success: bool = True
    client_secret: str
    setup_intent_id: str


class SetupCompleteIn(InputModel):
    setup_intent_id: str = Field(min_length=1, max_length=255)


class DefaultOut(OutputModel):
    success: bool = True
    payment_method_id: str | None = None
    default_payment_method_id: str | None


class PortalIn(InputModel):
    return_url: str | None = Field(default=None, max_length=2048)


class PortalOut(OutputModel):
    success: bool = True
    portal_url: str


def _methods(cards: list[CardSummary], default: str | None) -> list[MethodOut]:
    return [
        MethodOut(
            id=c.id,
            brand=c.brand,
            last4=c.last4,
            exp_month=c.exp_month,
            exp_year=c.exp_year,
            is_default=c.id == default,
        )
        for c in cards
    ]


async def _customer_id(ctx: AppContext, user_id: str) -> str | None:
    async with ctx.sessions.begin() as session:
        return (await accounts.get_user(session, user_id)).stripe_customer_id


def _no_such_card(payment_method_id: str) -> ApiError:
    return ApiError(
        404,
        "payment_method_not_found",
        f"payment method {payment_method_id} is not one of this user's cards",
        field="paymentMethodId",
    )


async def _owned_card(gateway: StripeGateway, customer_id: str | None, pm_id: str) -> CardSummary:
    """The card, if attached to this user's customer; else 404 (whoever else owns it)."""
    if customer_id is None:
        raise _no_such_card(pm_id)
    try:
        card, owner = await gateway.retrieve_card(pm_id)
    except StripeNotFound:
        raise _no_such_card(pm_id) from None
    if owner != customer_id:
        raise _no_such_card(pm_id)
    return card


@router.get("/methods/{userId}", response_model=MethodsOut)
async def list_methods(user_id: UserId, ctx: Context) -> MethodsOut:
    """The user's saved cards, read from Stripe. Reading also repairs our default: if the
    default card is gone (removed in the Customer Portal) or the user has none while cards
    exist, the default becomes Stripe's default card, else the newest card, else none."""
    gateway = require_gateway(ctx)
    customer_id = await _customer_id(ctx, user_id)
    if customer_id is None:
        async with ctx.sessions.begin() as session:
            _user, config = await accounts.get_config(session, user_id)
            return MethodsOut(
                methods=[],
                customer_id=None,
                default_payment_method_id=config.default_payment_method_id,
            )
    try:
        cards, stripe_default = await gateway.list_cards(customer_id)
    except StripeNotFound:  # the customer was deleted in Stripe
        async with ctx.sessions.begin() as session:
            user = await accounts.get_user(session, user_id)
            if user.stripe_customer_id == customer_id:
                await customers.forget_customer(session, user)
        return MethodsOut(methods=[], customer_id=None, default_payment_method_id=None)
    async with ctx.sessions.begin() as session:
        refreshed = await customers.apply_default(session, user_id, cards, stripe_default)
    default = refreshed.default_payment_method_id
    return MethodsOut(
        methods=_methods(cards, default), customer_id=customer_id, default_payment_method_id=default
    )


@router.post("/setup-intent/{userId}", response_model=SetupIntentOut)
async def create_setup_intent(user_id: UserId, ctx: Context) -> SetupIntentOut:
    """A SetupIntent to save a card for off-session recharges (the Payment Element confirms
    it in the browser). The user's Stripe customer is created on first use."""
    gateway = require_gateway(ctx)
    customer_id = await customers.ensure_customer_id(ctx.sessions, gateway, user_id)
    setup_intent_id, client_secret = await gateway.create_setup_intent(customer_id=customer_id)
    return SetupIntentOut(client_secret=client_secret, setup_intent_id=setup_intent_id)


@router.post("/setup-intent/{userId}/complete", response_model=DefaultOut)
async def complete_setup_intent(user_id: UserId, body: SetupCompleteIn, ctx: Context) -> DefaultOut:
    """What the success page reports. Verified against Stripe: the SetupIntent must belong
    to this user's customer (else 404) and have succeeded (else 409); then its card becomes
    the default if the user has none (the same also happens on ``setup_intent.succeeded``)."""
    gateway = require_gateway(ctx)
    customer_id = await _customer_id(ctx, user_id)
    not_found = ApiError(
        404,
        "setup_intent_not_found",
        f"setup intent {body.setup_intent_id} is not this user's",
        field="setupIntentId",
    )
    if customer_id is None:
        raise not_found
    try:
        info = await gateway.retrieve_setup_intent(body.setup_intent_id)
    except StripeNotFound:
        raise not_found from None
    if info.customer_id != customer_id:
        raise not_found
    if info.status != "succeeded" or info.payment_method_id is None:
        raise ApiError(
            409,
            "setup_intent_not_succeeded",
            f"setup intent {info.id} has status {info.status}",
            field="setupIntentId",
        )
    cards, stripe_default = await gateway.list_cards(customer_id)
    async with ctx.sessions.begin() as session:
        refreshed = await customers.apply_default(
            session, user_id, cards, stripe_default, preferred=info.payment_method_id
        )
    return DefaultOut(
        payment_method_id=info.payment_method_id,
        default_payment_method_id=refreshed.default_payment_method_id,
    )


@router.post("/portal/{userId}", response_model=PortalOut)
async def create_portal(user_id: UserId, ctx: Context, body: PortalIn | None = None) -> PortalOut:
    """A Stripe Customer Portal link. ``returnUrl`` must be on an allowed origin
    (``PUBLIC_BASE_URL``'s, plus ``ALLOWED_RETURN_ORIGINS``); it defaults to the service's
    own page."""
    gateway = require_gateway(ctx)
    return_url = body.return_url if body and body.return_url else ctx.settings.public_base_url
    _check_return_url(return_url, ctx.settings.return_origins)
    customer_id = await customers.ensure_customer_id(ctx.sessions, gateway, user_id)
    url = await gateway.create_portal_session(customer_id=customer_id, return_url=return_url)
    return PortalOut(portal_url=url)


def _check_return_url(url: str, allowed: frozenset[str]) -> None:
    parts = urlsplit(url.strip())
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    if parts.scheme not in {"http", "https"} or not parts.netloc or origin not in allowed:
        raise ApiError(
            400,
            "invalid_return_url",
            "returnUrl must be an http(s) URL on an allowed origin: " + ", ".join(sorted(allowed)),
            field="returnUrl",
        )


@router.delete("/methods/{userId}/{paymentMethodId}", response_model=DefaultOut)
async def delete_method(
    user_id: UserId, ctx: Context, payment_method_id: str = PaymentMethodId
) -> DefaultOut:
    """Detach a card from the user's customer. Deleting the default card does not leave
    auto-recharge without a card when another exists: the default becomes Stripe's default
    card if one remains, else the newest remaining card, else none."""
    gateway = require_gateway(ctx)
    customer_id = await _customer_id(ctx, user_id)
    await _owned_card(gateway, customer_id, payment_method_id)
    assert customer_id is not None
    await gateway.detach_card(payment_method_id)
    cards, stripe_default = await gateway.list_cards(customer_id)
    async with ctx.sessions.begin() as session:
        refreshed = await customers.apply_default(session, user_id, cards, stripe_default)
    new_default = refreshed.default_payment_method_id
    if refreshed.changed and new_default is not None and new_default != stripe_default:
        await gateway.set_customer_default(customer_id=customer_id, payment_method_id=new_default)
    return DefaultOut(payment_method_id=payment_method_id, default_payment_method_id=new_default)


@router.post("/methods/{userId}/{paymentMethodId}/default", response_model=DefaultOut)
async def set_default_method(
    user_id: UserId, ctx: Context, payment_method_id: str = PaymentMethodId
) -> DefaultOut:
    """Make this card the one recharges use (and the customer's default in Stripe, so the
    Customer Portal agrees). A new card resumes an auto-recharge paused by failures."""
    gateway = require_gateway(ctx)
    customer_id = await _customer_id(ctx, user_id)
    await _owned_card(gateway, customer_id, payment_method_id)
    assert customer_id is not None
    await gateway.set_customer_default(customer_id=customer_id, payment_method_id=payment_method_id)
    async with ctx.sessions.begin() as session:
        await accounts.set_default_payment_method(session, user_id, payment_method_id)
    return DefaultOut(
        payment_method_id=payment_method_id, default_payment_method_id=payment_method_id
    )
