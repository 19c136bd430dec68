"""Payment methods (the original's ``/api/payment/*`` shapes): list, save (SetupIntent),
Customer Portal, remove, choose the default.

Customers with a token for themselves, or the operator. Errors: no Stripe configured → 503
``payments_not_configured``; Stripe down → 502 ``stripe_unavailable``; Stripe refused → 502
``stripe_error``; a card or SetupIntent that is not this user's → 404 (another customer's
card is never touched).
"""

from __future__ import annotations

from fastapi import APIRouter, Path
from pydantic import Field

from balance_manager.api.auth import Svc, UserId
from balance_manager.api.jsonbody import DecimalJSONRoute
from balance_manager.api.schemas import InputModel, OutputModel
from balance_manager.usecases import cards

router = APIRouter(prefix="/api/payment", tags=["payment"], route_class=DecimalJSONRoute)

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


def _default_out(change: cards.DefaultChange) -> DefaultOut:
    return DefaultOut(
        payment_method_id=change.payment_method_id,
        default_payment_method_id=change.default_payment_method_id,
    )


@router.get("/methods/{userId}", response_model=MethodsOut, operation_id="listPaymentMethods")
async def list_methods(user_id: UserId, svc: Svc) -> MethodsOut:
    """The user's saved cards, read from Stripe. Reading also repairs our default: if the
    default card is gone (removed in the Customer Portal) or the user has none while cards
    exist, the default becomes Stripe's default card, else the newest card, else none."""
    found = await cards.list_cards(svc, user_id)
    return MethodsOut(
        methods=[
            MethodOut(
                id=c.id,
                brand=c.brand,
                last4=c.last4,
                exp_month=c.exp_month,
                exp_year=c.exp_year,
                is_default=c.id == found.default_payment_method_id,
            )
            for c in found.cards
        ],
        customer_id=found.customer_id,
        default_payment_method_id=found.default_payment_method_id,
    )


@router.post(
    "/setup-intent/{userId}", response_model=SetupIntentOut, operation_id="createSetupIntent"
)
async def create_setup_intent(user_id: UserId, svc: Svc) -> SetupIntentOut:
    """A SetupIntent to save a card for off-session recharges (the Payment Element confirms
    it in the browser). The user's Stripe customer is created on first use."""
    setup_intent_id, client_secret = await cards.create_setup_intent(svc, user_id)
    return SetupIntentOut(client_secret=client_secret, setup_intent_id=setup_intent_id)


@router.post(
    "/setup-intent/{userId}/complete", response_model=DefaultOut, operation_id="completeSetupIntent"
)
async def complete_setup_intent(user_id: UserId, body: SetupCompleteIn, svc: Svc) -> DefaultOut:
    """What the success page reports. Verified against Stripe: the SetupIntent must belong
    to this user's customer (else 404) and have succeeded (else 409); then its card becomes
    the default if the user has none — and, below the minimum, the recharge starts at once."""
    return _default_out(await cards.complete_setup_intent(svc, user_id, body.setup_intent_id))


@router.post("/portal/{userId}", response_model=PortalOut, operation_id="createPortalSession")
async def create_portal(user_id: UserId, svc: Svc, body: PortalIn | None = None) -> PortalOut:
    """A Stripe Customer Portal link. ``returnUrl`` must be on an allowed origin
    (``PUBLIC_BASE_URL``'s, plus ``ALLOWED_RETURN_ORIGINS``); it defaults to the service's
    own page."""
    url = await cards.create_portal(svc, user_id, body.return_url if body else None)
    return PortalOut(portal_url=url)


@router.delete(
    "/methods/{userId}/{paymentMethodId}",
    response_model=DefaultOut,
    operation_id="deletePaymentMethod",
)
async def delete_method(
    user_id: UserId, svc: Svc, payment_method_id: str = PaymentMethodId
) -> DefaultOut:
    """Detach a card from the user's customer. Deleting the default card does not leave
    auto-recharge without a card when another exists: the default becomes Stripe's default
    card if one remains, else the newest remaining card, else none."""
    return _default_out(await cards.remove_card(svc, user_id, payment_method_id))


@router.post(
    "/methods/{userId}/{paymentMethodId}/default",
    response_model=DefaultOut,
    operation_id="setDefaultPaymentMethod",
)
async def set_default_method(
    user_id: UserId, svc: Svc, payment_method_id: str = PaymentMethodId
) -> DefaultOut:
    """Make this card the one recharges use (and the customer's default in Stripe, so the
    Customer Portal agrees). A new card is a new chance: it ends the wait after a declined
    charge, resumes an auto-recharge paused by failures and, below the minimum, starts the
    recharge at once (trigger ``card``)."""
    return _default_out(await cards.make_default(svc, user_id, payment_method_id))
