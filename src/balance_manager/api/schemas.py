"""Request and response bodies. JSON is camelCase like the original; money goes out as JSON
numbers in major units (``18.85``) and comes in as exact decimals (see ``jsonbody``)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel

from balance_manager.auth import tokens
from balance_manager.domain import money


def _no_bool_or_float(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    if isinstance(value, float):  # only reachable when a caller bypasses the Decimal parser
        raise ValueError("must be an exact decimal number")
    return value


def _money_input(value: object) -> object:
    value = _no_bool_or_float(value)
    if not isinstance(value, Decimal | int | str):
        raise ValueError("must be a decimal number such as 18.85")
    return value


# A decimal number (or numeric string) in major units; the service converts it to minor
# units, because only it knows the user's currency and so the allowed decimal places.
MoneyIn = Annotated[
    object,
    BeforeValidator(_money_input),
    WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "string"}], "examples": [18.85]}),
]
MoneyOut = Annotated[Decimal, PlainSerializer(money.json_number, return_type=int | float)]
StrictInt = Annotated[int, BeforeValidator(_no_bool_or_float), Field(strict=True)]
IdempotencyKey = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$")
]
Description = Annotated[str, StringConstraints(max_length=500)]
# Stripe's metadata limits (50 keys, keys up to 40 characters, values up to 500), so that one
# ledger entry stays small and a page of entries cannot weigh megabytes. Integers stay within
# what a JSON client reading doubles gets back exactly.
MetadataKey = Annotated[str, StringConstraints(min_length=1, max_length=40)]
MetadataValue = (
    Annotated[str, StringConstraints(max_length=500)]
    | Annotated[int, Field(strict=True, ge=-(2**53 - 1), le=2**53 - 1)]
    | bool
    | None
)
Metadata = Annotated[dict[MetadataKey, MetadataValue], Field(max_length=50)]


class InputModel(BaseModel):
    """Unknown fields are an error, so a typo never silently does nothing."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class OutputModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


# --- users -------------------------------------------------------------------------------


class CreateUserIn(InputModel):
    email: Annotated[str, StringConstraints(min_length=3, max_length=320)]
    id: str | None = Field(default=None, description="Your own user id (optional).")
    currency: str | None = None
    minimum_balance: MoneyIn | None = None
    target_balance: MoneyIn | None = None
    initial_balance: MoneyIn | None = Field(
        default=None, description="Opening balance, posted to the ledger as an adjustment."
    )
    auto_recharge_enabled: bool = True
    max_daily_recharges: StrictInt | None = None
    max_recharge_amount: MoneyIn | None = None
    balance_floor: MoneyIn | None = None


class UserOut(OutputModel):
    id: str
    email: str
    currency: str
    balance: MoneyOut
    stripe_customer_id: str | None
    created_at: datetime


def _token_ttl(seconds: int) -> int:
    problem = tokens.ttl_problem(seconds)
    if problem is not None:
        raise ValueError(problem)  # the CLI's --ttl says the same (tokens.TTL_RULE)
    return seconds


class TokenIn(InputModel):
    ttl_seconds: Annotated[int, Field(strict=True), AfterValidator(_token_ttl)] | None = None


class TokenOut(OutputModel):
    token: str
    expires_at: datetime
    user_id: str
    dashboard_url: str = Field(
        description="The customer's dashboard link; the token rides in the URL fragment."
    )


# --- balance -----------------------------------------------------------------------------


class CalculationOut(OutputModel):
    recharge_amount: MoneyOut
    fee: MoneyOut
    total_charge: MoneyOut
    new_balance: MoneyOut
    capped: bool


class StatusOut(OutputModel):
    needs_recharge: bool
    current_balance: MoneyOut
    minimum_balance: MoneyOut
    target_balance: MoneyOut
    calculation: CalculationOut | None
    can_recharge: bool
    recharge_blocked_reason: str | None
    recharge_blocked_until: datetime | None = Field(
        default=None,
        description="When ``rechargeBlockedReason`` ends by itself: the end of the wait after "
        "a declined charge (a new default card ends it at once).",
    )
    currency: str
    auto_recharge_enabled: bool
    pending_recharge_id: str | None


class ConfigOut(OutputModel):
    id: str
    user_id: str
    minimum_balance: MoneyOut
    target_balance: MoneyOut
    auto_recharge_enabled: bool
    default_payment_method_id: str | None
    max_daily_recharges: int
    max_recharge_amount: MoneyOut
    balance_floor: MoneyOut | None
    low_balance_threshold: MoneyOut | None
    paused_reason: str | None
    paused_at: datetime | None
    currency: str
    updated_at: datetime
    warnings: list[str] = Field(default_factory=list)


class ConfigIn(InputModel):
    """Partial update: only the fields present change."""

    minimum_balance: MoneyIn | None = None
    target_balance: MoneyIn | None = None
    auto_recharge_enabled: bool | None = None
    max_daily_recharges: StrictInt | None = None
    max_recharge_amount: MoneyIn | None = None
    balance_floor: MoneyIn | None = Field(
        default=None, description="Usage may not take the balance below this; null removes it."
    )
    low_balance_threshold: MoneyIn | None = Field(
        default=None,
        description="A debit that takes the balance below this sends a balance.low webhook; "
        "null removes it (the minimum balance is then the threshold).",
    )


class Pagination(OutputModel):
    total: int
    page: int
    limit: int
    total_pages: int


class RechargeRecordOut(OutputModel):
    id: str
    amount: MoneyOut
    fee: MoneyOut
    total_charge: MoneyOut
    currency: str
    status: str
    triggered_by: str
    trigger_detail: str | None
    capped: bool
    payment_intent_id: str | None
    failure_code: str | None
    failure_message: str | None
    created_at: datetime
    completed_at: datetime | None
    amount_refunded: MoneyOut = Field(
        default=Decimal(0), description="Of the total charge, given back to the card by refunds."
    )
    amount_disputed: MoneyOut = Field(
        default=Decimal(0), description="Of the total charge, held by a dispute (open or lost)."
    )
    credit_reversed: MoneyOut = Field(
        default=Decimal(0),
        description="Credit taken back from the balance by those refunds and disputes.",
    )
    dispute_status: str | None = None


class HistoryOut(OutputModel):
    records: list[RechargeRecordOut]
    pagination: Pagination


class UsageIn(InputModel):
    amount: MoneyIn
    idempotency_key: IdempotencyKey
    description: Description | None = None
    metadata: Metadata | None = None


class UsageOut(OutputModel):
    user_id: str
    entry_id: int
    amount: MoneyOut
    balance: MoneyOut
    currency: str
    replayed: bool
    created_at: datetime
    recharge_id: str | None = Field(
        default=None, description="The recharge this debit opened, if it opened one."
    )


class BatchUsageEvent(UsageIn):
    user_id: str


class BatchUsageIn(InputModel):
    events: Annotated[list[BatchUsageEvent], Field(min_length=1, max_length=1000)]


class ErrorBody(OutputModel):
    code: str = Field(description="Stable, machine-readable: what went wrong.")
    message: str = Field(description="English, for people; its wording may change.")
    field: str | None = Field(default=None, description="The input field at fault, if any.")
    params: dict[str, str] | None = Field(
        default=None,
        description="The values ``message`` quotes (amounts as exact decimal strings in major "
        'units, currency codes, …), e.g. ``{"minimum": "0.50", "currency": "USD"}``, so a '
        "client can word the error in its own language from ``code`` and ``params``.",
    )


class ErrorOut(OutputModel):
    """Every error answer: ``{"error": {"code", "message", "field"?, "params"?}}``."""

    error: ErrorBody


# The error statuses any operation may answer, declared once for the whole API (routes may
# declare their own for a status, which wins, as /health does for 503).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": description}
    for status, description in [
        (400, "Bad input; ``field`` names it."),
        (401, "No credential, or a bad, expired or revoked one."),
        (403, "Another user's data, or an operator-only operation."),
        (404, "No such user, recharge or card."),
        (
            409,
            "Conflict: idempotency key reused, limit reached, recharge in flight, balance bound.",
        ),
        (413, "Request body too large."),
        (422, "Not possible now (e.g. auto-recharge paused, no card)."),
        (502, "Stripe failed or refused."),
        (
            503,
            "Payments or webhooks are not configured, or the database is out of reach "
            "(``database_unavailable``, with ``Retry-After``: nothing was applied).",
        ),
    ]
}


class BatchResult(OutputModel):
    index: int
    user_id: str
    idempotency_key: str
    status: Literal["applied", "replayed", "error"]
    entry_id: int | None = None
    balance: MoneyOut | None = None
    error: ErrorBody | None = None


class BatchUsageOut(OutputModel):
    results: list[BatchResult]
    applied: int
    replayed: int
    failed: int


class AdjustIn(InputModel):
    amount: MoneyIn = Field(description="Signed: positive grants credit, negative removes it.")
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    idempotency_key: IdempotencyKey
    metadata: Metadata | None = None


class LedgerEntryOut(OutputModel):
    id: int
    kind: str
    amount: MoneyOut
    balance_after: MoneyOut
    reference: str
    description: str | None
    metadata: dict[str, Any] | None
    created_at: datetime


class LedgerOut(OutputModel):
    entries: list[LedgerEntryOut]
    currency: str
    pagination: Pagination


class HealthOut(OutputModel):
    status: Literal["ok"]
    version: str


class ReadyOut(OutputModel):
    """Readiness; each check (``database``, ``workers``, ``sweep``, ``queue``, ``outbox``,
    ``listen``, ``stripe``, ``stripeEvents``) has ``ok`` and its figures; a check that could
    not run is null. ``stripeEvents`` compares the newest Stripe event's API version with the
    one the service is written against (a mismatch is the warning
    ``stripe_event_api_version``)."""

    status: Literal["ready", "not_ready"]
    version: str
    reasons: list[str]
    warnings: list[str]
    database: dict[str, Any]
    workers: dict[str, Any] | None
    sweep: dict[str, Any] | None
    queue: dict[str, Any] | None
    outbox: dict[str, Any] | None
    listen: dict[str, Any] | None
    stripe: dict[str, Any]
    stripe_events: dict[str, Any] | None


# --- recharges ---------------------------------------------------------------------------


class RechargeIn(InputModel):
    amount: MoneyIn | None = Field(
        default=None, description="Top up by this much; omitted: up to the target balance."
    )
    override_holds: bool | None = Field(
        default=None,
        description="Operator only: charge even while auto-recharge is paused or backing off "
        "after a decline.",
    )


class RechargeOut(OutputModel):
    """The original's shape plus the record: ``success`` is true only once credited."""

    success: bool
    amount: MoneyOut
    fee: MoneyOut
    total_charge: MoneyOut
    payment_intent_id: str | None
    new_balance: MoneyOut
    recharge_id: str
    status: str
    failure_code: str | None
    failure_message: str | None


class RefundIn(InputModel):
    amount: MoneyIn | None = Field(
        default=None,
        description="Money back to the card, in major units (at most what is neither refunded "
        "nor disputed yet); omitted: all of it.",
    )
    reason: Literal["duplicate", "fraudulent", "requested_by_customer"] | None = None


class RefundOut(OutputModel):
    refund_id: str
    status: str
    amount: MoneyOut = Field(description="Money back to the card.")
    balance_debited: MoneyOut = Field(
        description="Credit this refund took from the balance (the credit's share of amount)."
    )
    balance: MoneyOut
    currency: str
    recharge: RechargeRecordOut


class RechargeActionOut(OutputModel):
    """What a page needs to let the customer authenticate a charge on-session."""

    recharge: RechargeRecordOut
    requires_action: bool
    payment_intent_id: str | None
    client_secret: str | None
    publishable_key: str | None


# --- operator webhooks -------------------------------------------------------------------

WebhookUrl = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
EventTypeName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
EventTypes = Annotated[list[EventTypeName], Field(min_length=1, max_length=50)]
EndpointDescription = Annotated[str, StringConstraints(max_length=255)]


class WebhookEndpointIn(InputModel):
    url: WebhookUrl = Field(description="Your receiver: an http(s) URL.")
    event_types: EventTypes | None = Field(
        default=None,
        description='The event types to send (e.g. ["balance.low"]); null or absent: all.',
    )
    description: EndpointDescription | None = None
    enabled: bool = True


class WebhookEndpointPatchIn(InputModel):
    """Partial update: only the fields sent change; ``eventTypes: null`` means every type."""

    url: WebhookUrl | None = None
    event_types: EventTypes | None = None
    description: EndpointDescription | None = None
    enabled: bool | None = Field(
        default=None,
        description="false stops deliveries (pending ones fail); true resumes and forgets "
        "past failures.",
    )


class WebhookEndpointOut(OutputModel):
    id: str
    url: str
    description: str | None
    event_types: list[str] | None
    enabled: bool
    failing_since: datetime | None
    disabled_at: datetime | None
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime


class CreatedWebhookEndpointOut(WebhookEndpointOut):
    secret: str = Field(
        description="whsec_…: verifies the webhook-signature header. Shown only now."
    )


class WebhookEndpointsOut(OutputModel):
    endpoints: list[WebhookEndpointOut]
    pagination: Pagination


class WebhookAttemptOut(OutputModel):
    attempt: int
    started_at: datetime
    status_code: int | None
    latency_ms: float
    error: str | None


class WebhookDeliveryOut(OutputModel):
    id: int
    event_id: str
    event_type: str
    endpoint_id: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime


class WebhookDeliveryLogOut(WebhookDeliveryOut):
    log: list[WebhookAttemptOut]


class WebhookDeliveriesOut(OutputModel):
    deliveries: list[WebhookDeliveryOut]
    pagination: Pagination


class ResendIn(InputModel):
    event_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class ResendOut(OutputModel):
    event_id: str
    endpoint_ids: list[str]


class RecoverIn(InputModel):
    since: AwareDatetime = Field(description="Resend what failed or was missed since then.")


class RecoverOut(OutputModel):
    queued: int
