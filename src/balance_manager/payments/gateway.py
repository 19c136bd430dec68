"""The one funnel to Stripe. Every Stripe call in the service goes through ``StripeGateway``.

Exception tree (callers catch ``GatewayError``)::

    GatewayError                  message, stripe_code?
     ├── StripeUnavailable        network error / 5xx / 429 still failing after retries
     ├── StripeRejected           Stripe refused the request (invalid params, auth): a bug or
     │                             a configuration problem, not worth retrying
     └── StripeNotFound           the object does not exist (or belongs to no one we know)

A declined or authentication-needing charge is *not* an exception: it is a ``ChargeResult``
value with ``outcome`` DECLINED or REQUIRES_ACTION.

Every answer is returned as one of our values, read by ``stripe_objects`` (``ChargeResult``
for a PaymentIntent, ``RefundInfo`` / ``DisputeInfo``, ``CardSummary``, …); ``ChargeOutcome``
and ``ChargeResult`` are importable from here too. Reconciliation lists PaymentIntents,
refunds and disputes created since a time (``list_*``).
Webhooks raise their own two (the request, not Stripe, is at fault): ``WebhookSignatureError``
(not signed with our secret: refuse) and ``MalformedEvent`` (signed, but not an event the
handlers can rely on: record it and answer 200, see ``webhook_payload``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar, cast

import stripe
import structlog

from balance_manager.domain.charges import ChargeOutcome as ChargeOutcome  # re-export
from balance_manager.domain.charges import ChargeResult as ChargeResult  # re-export
from balance_manager.payments import stripe_objects, webhook_payload
from balance_manager.payments.instruments import stripe_request
from balance_manager.payments.stripe_objects import (
    CardSummary,
    DisputeInfo,
    PaymentReversals,
    RefundInfo,
    SetupIntentInfo,
    WebhookEndpointInfo,
)
from balance_manager.settings import Settings

log = structlog.get_logger(__name__)

# The Stripe API version the service is written against: the one the pinned SDK sends with
# every request (``Stripe-Version``). Webhook events must come in it too, so the webhook
# endpoint is created with it (``balance-manager stripe webhook-setup``).
PINNED_API_VERSION: str = stripe.api_version


class GatewayError(Exception):
    def __init__(self, message: str, *, stripe_code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.stripe_code = stripe_code


class StripeUnavailable(GatewayError):
    pass


class StripeRejected(GatewayError):
    pass


class StripeNotFound(GatewayError):
    pass


class WebhookSignatureError(Exception):
    """A webhook payload whose ``Stripe-Signature`` does not verify (or is missing/garbled).

    Not a ``GatewayError``: Stripe is fine, the *request* is untrusted (HTTP 400)."""


class MalformedEvent(Exception):
    """A payload signed with our secret that is not a usable Stripe event (an array body,
    an integer ``recharge_id``, a null or over-long id, …): ``reason`` says what
    (``webhook_payload.problem``). ``key`` is a digest of the payload — the same for a
    redelivery of it, and never the id of a real event, which it must not shadow;
    ``claimed_id`` is the payload's own id when it has a usable one."""

    def __init__(self, reason: str, *, key: str, claimed_id: str | None, event_type: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.key = key
        self.claimed_id = claimed_id
        self.event_type = event_type


_T = TypeVar("_T")
_RETRYABLE_STATUS = frozenset({409, 429})


class StripeGateway:
    """Async wrapper over ``stripe.StripeClient``: every Stripe call of the service.

    Retries: network errors, 5xx, 409 (idempotency key in use) and 429 are retried up to
    ``max_retries`` times with exponential backoff (``Retry-After`` honoured, capped), always
    with the *same* idempotency key, then ``StripeUnavailable``. The retries live here rather
    than in the SDK because the SDK never retries 429 and its minimum back-off (0.5 s) cannot
    be configured; the SDK's own retries are therefore off. Every POST carries an idempotency
    key: the caller's (charges, customers) or one made per logical call.

    Payment method types: the SDK pins API version ``2026-10-28.endive``, on which
    ``payment_method_types`` is no longer writable on PaymentIntents and SetupIntents (400
    ``payment_method_types_no_longer_supported``) and dynamic payment methods are the default.
    We therefore send ``automatic_payment_methods[enabled]=true`` with
    ``allow_redirects=never``: only methods that need no redirect (cards), and no
    ``return_url`` needed for a server-side off-session confirm. localstripe (written for
    older API versions) refuses that parameter; ``automatic_payment_methods=False`` omits it.
    """

    def __init__(
        self,
        client: stripe.StripeClient,
        *,
        webhook_secret: str | None = None,
        max_retries: int = 3,
        retry_base_delay: float = 0.5,
        retry_max_delay: float = 8.0,
        http_client: stripe.HTTPXClient | None = None,
        automatic_payment_methods: bool = True,
    ) -> None:
        self._client = client
        self.automatic_payment_methods = automatic_payment_methods
        self.webhook_secret = webhook_secret
        self.max_retries = max_retries
        self.retry_base_delay = retry_base_delay
        self.retry_max_delay = retry_max_delay
        self._http_client = http_client

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> StripeGateway:
        if settings.stripe_secret_key is None:
            raise ValueError("STRIPE_SECRET_KEY is not set")
        http_client = stripe.HTTPXClient(timeout=settings.stripe_timeout_seconds)
        base: dict[str, str] = {}
        if settings.stripe_api_base:
            base = {"api": settings.stripe_api_base}
        client = stripe.StripeClient(
            settings.stripe_secret_key.get_secret_value(),
            base_addresses=base,  # type: ignore[arg-type]
            http_client=http_client,
            max_network_retries=0,  # retried in _call, see the class docstring
        )
        secret = settings.stripe_webhook_secret
        options: dict[str, Any] = {
            "webhook_secret": secret.get_secret_value() if secret else None,
            "max_retries": settings.stripe_max_retries,
            "http_client": http_client,
        }
        options.update(overrides)
        return cls(client, **options)

    async def aclose(self) -> None:
        """Close the HTTP connection pool (call from the app's shutdown)."""
        if self._http_client is not None:
            await self._http_client.close_async()  # type: ignore[no-untyped-call]

    # ------------------------------------------------------------------ the funnel

    async def _call(
        self, what: str, request: Callable[[], Awaitable[_T]], *, retries: int | None = None
    ) -> _T:
        """Run one Stripe request with retries (``max_retries`` unless ``retries`` says
        otherwise); map Stripe's errors to ours. Each attempt is timed and counted
        (``instruments``).

        ``request`` must send the same idempotency key on every invocation."""
        attempt = 0
        limit = self.max_retries if retries is None else retries
        while True:
            try:
                with stripe_request(what, attempt + 1):
                    return await request()
            except stripe.CardError:
                raise  # a charge outcome, for the caller to turn into a ChargeResult
            except stripe.StripeError as exc:
                if not _retryable(exc) or attempt >= limit:
                    raise _mapped(what, exc) from exc
                delay = self._delay(attempt, exc)
            attempt += 1
            log.warning("stripe_retry", what=what, attempt=attempt, delay=round(delay, 3))
            await asyncio.sleep(delay)

    def _delay(self, attempt: int, exc: stripe.StripeError) -> float:
        delay = self.retry_base_delay * (2**attempt) * (0.5 + random.random() / 2)
        retry_after = exc.headers.get("retry-after") if exc.headers else None
        if retry_after is not None:
            with contextlib.suppress(ValueError):
                delay = max(delay, float(retry_after))
        return float(min(delay, self.retry_max_delay))

    async def ping(self) -> None:
        """One cheap read (the first customer), without retries: is Stripe reachable and
        does it accept our key? Raises StripeUnavailable or StripeRejected."""
        await self._call(
            "customers.list",
            lambda: self._client.v1.customers.list_async(params={"limit": 1}),
            retries=0,
        )

    # ------------------------------------------------------------------ customers

    async def ensure_customer(self, *, user_id: str, email: str) -> str:
        """The Stripe customer of our user, created at most once.

        The idempotency key is derived from our user id, so a crash between Stripe's answer
        and our commit, or two concurrent requests, yield the same customer. A replayed
        answer naming a customer deleted since is followed by one more create, keyed by the
        deleted id (still deterministic)."""
        key = f"bm-customer-{user_id}"
        for _ in range(3):
            customer = await self._call(
                "customers.create",
                lambda key=key: self._client.v1.customers.create_async(  # type: ignore[misc]
                    params={"email": email, "metadata": {"user_id": user_id}},
                    options={"idempotency_key": key},
                ),
            )
            if not _replayed(customer) or not await self._customer_deleted(customer.id):
                return customer.id
            key = f"bm-customer-{user_id}-after-{customer.id}"
        raise StripeRejected(f"could not create a Stripe customer for user {user_id}")

    async def _customer_deleted(self, customer_id: str) -> bool:
        try:
            customer = await self._call(
                "customers.retrieve",
                lambda: self._client.v1.customers.retrieve_async(customer_id),
            )
        except StripeNotFound:
            return True
        return bool(getattr(customer, "deleted", False))

    # ------------------------------------------------------------------ charges

    async def charge_off_session(
        self,
        *,
        idempotency_key: str,
        customer_id: str,
        payment_method_id: str,
        amount: int,
        currency: str,
        metadata: dict[str, str],
        description: str = "",
    ) -> ChargeResult:
        """Charge a saved card without the customer present (PaymentIntent, confirm=true,
        off_session=true). Declines and authentication requests are values, not errors.

        ``description`` is omitted when empty (localstripe refuses the parameter)."""
        params: stripe.params.PaymentIntentCreateParams = {
            "amount": amount,
            "currency": currency.lower(),
            "customer": customer_id,
            "payment_method": payment_method_id,
            "confirm": True,
            "off_session": True,
            "metadata": dict(metadata),
        }
        if description:
            params["description"] = description
        if self.automatic_payment_methods:
            params["automatic_payment_methods"] = {"enabled": True, "allow_redirects": "never"}
        try:
            intent = await self._call(
                "payment_intents.create",
                lambda: self._client.v1.payment_intents.create_async(
                    params=params, options={"idempotency_key": idempotency_key}
                ),
            )
        except stripe.CardError as exc:
            return stripe_objects.card_error_result(exc, payment_method_id, metadata)
        return stripe_objects.intent_result(intent)

    async def retrieve_payment_intent(self, payment_intent_id: str) -> ChargeResult:
        intent = await self._call(
            "payment_intents.retrieve",
            lambda: self._client.v1.payment_intents.retrieve_async(payment_intent_id),
        )
        return stripe_objects.intent_result(intent)

    async def cancel_payment_intent(self, payment_intent_id: str) -> ChargeResult:
        """Give up on a PaymentIntent that waits for the customer (``requires_action`` /
        ``requires_payment_method``); keyed by the intent so a retry cancels it once."""
        try:
            intent = await self._call(
                "payment_intents.cancel",
                lambda: self._client.v1.payment_intents.cancel_async(
                    payment_intent_id, options={"idempotency_key": f"cancel-{payment_intent_id}"}
                ),
            )
        except StripeRejected:
            # Already succeeded or canceled: report what it is now.
            return await self.retrieve_payment_intent(payment_intent_id)
        return stripe_objects.intent_result(intent)

    async def find_payment_intent(
        self, *, customer_id: str, metadata_key: str, metadata_value: str, max_pages: int = 10
    ) -> ChargeResult | None:
        """The customer's PaymentIntent whose metadata[metadata_key] == metadata_value, newest
        first (reconciliation once our idempotency key may have expired)."""
        seen = 0
        async for intent in self._each(
            "payment_intents.list",
            self._client.v1.payment_intents.list_async,
            {"customer": customer_id, "limit": 100},
        ):
            if stripe_objects.metadata(intent).get(metadata_key) == metadata_value:
                return stripe_objects.intent_result(intent)
            seen += 1
            if seen >= max_pages * 100:
                break
        return None

    # ------------------------------------------------------------------ refunds, disputes

    async def create_refund(
        self,
        *,
        payment_intent_id: str,
        amount: int | None,
        reason: str | None,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> RefundInfo:
        """Refund (part of) a PaymentIntent's charge; ``amount`` None: all that is left.
        Stripe's refusals (already refunded, disputed, too much) are StripeRejected with
        Stripe's code."""
        params: stripe.params.RefundCreateParams = {
            "payment_intent": payment_intent_id,
            "metadata": dict(metadata),
        }
        if amount is not None:
            params["amount"] = amount
        if reason is not None:
            params["reason"] = reason
        refund = await self._call(
            "refunds.create",
            lambda: self._client.v1.refunds.create_async(
                params=params, options={"idempotency_key": idempotency_key}
            ),
        )
        return stripe_objects.refund_info(refund)

    async def retrieve_reversals(self, payment_intent_id: str) -> PaymentReversals:
        """The PaymentIntent with all its refunds and disputes (what a refund or dispute
        event is settled with: Stripe's state now, not the event's story)."""
        intent = await self.retrieve_payment_intent(payment_intent_id)
        query = {"payment_intent": payment_intent_id, "limit": 100}
        refunds = [
            stripe_objects.refund_info(r)
            async for r in self._each("refunds.list", self._client.v1.refunds.list_async, query)
        ]
        disputes = [
            stripe_objects.dispute_info(d)
            async for d in self._each("disputes.list", self._client.v1.disputes.list_async, query)
        ]
        return PaymentReversals(intent, refunds, disputes)

    async def list_payment_intents(self, *, since: datetime) -> AsyncIterator[ChargeResult]:
        """Every PaymentIntent of the account created at or after ``since``, newest first."""
        async for intent in self._each(
            "payment_intents.list",
            self._client.v1.payment_intents.list_async,
            _created_since(since),
        ):
            yield stripe_objects.intent_result(intent)

    async def list_refunds(self, *, since: datetime) -> AsyncIterator[RefundInfo]:
        async for refund in self._each(
            "refunds.list", self._client.v1.refunds.list_async, _created_since(since)
        ):
            yield stripe_objects.refund_info(refund)

    async def list_disputes(self, *, since: datetime) -> AsyncIterator[DisputeInfo]:
        async for dispute in self._each(
            "disputes.list", self._client.v1.disputes.list_async, _created_since(since)
        ):
            yield stripe_objects.dispute_info(dispute)

    async def _each(
        self, what: str, fetch: Callable[..., Awaitable[Any]], params: dict[str, Any]
    ) -> AsyncIterator[Any]:
        """Every item of a Stripe list, page by page, each page through the retrying funnel."""
        while True:
            page = await self._call(what, functools.partial(fetch, params=params))
            for item in page.data:
                yield item
            if not page.has_more or not page.data:
                return
            params = {**params, "starting_after": page.data[-1].id}

    # ------------------------------------------------------------------ cards

    async def list_cards(self, customer_id: str) -> tuple[list[CardSummary], str | None]:
        """The customer's cards (newest first) and Stripe's
        ``invoice_settings.default_payment_method``. A deleted customer → StripeNotFound."""
        customer = await self._call(
            "customers.retrieve",
            lambda: self._client.v1.customers.retrieve_async(customer_id),
        )
        if getattr(customer, "deleted", False):
            raise StripeNotFound(f"customer {customer_id} was deleted", stripe_code="deleted")
        cards = [
            stripe_objects.card_summary(pm)
            async for pm in self._each(
                "payment_methods.list",
                self._client.v1.payment_methods.list_async,
                {"customer": customer_id, "type": "card", "limit": 100},
            )
        ]
        invoice_settings = stripe_objects.stripe_field(customer, "invoice_settings")
        return cards, stripe_objects.stripe_id(
            stripe_objects.stripe_field(invoice_settings, "default_payment_method")
        )

    async def create_setup_intent(self, *, customer_id: str) -> tuple[str, str]:
        """A SetupIntent saving a card for off-session use → (id, client_secret)."""
        key = _fresh_key("setup-intent")
        params: stripe.params.SetupIntentCreateParams = {
            "customer": customer_id,
            "usage": "off_session",
        }
        if self.automatic_payment_methods:
            params["automatic_payment_methods"] = {"enabled": True, "allow_redirects": "never"}
        intent = await self._call(
            "setup_intents.create",
            lambda: self._client.v1.setup_intents.create_async(
                params=params, options={"idempotency_key": key}
            ),
        )
        assert intent.client_secret is not None
        return intent.id, intent.client_secret

    async def retrieve_setup_intent(self, setup_intent_id: str) -> SetupIntentInfo:
        intent = await self._call(
            "setup_intents.retrieve",
            lambda: self._client.v1.setup_intents.retrieve_async(setup_intent_id),
        )
        return stripe_objects.setup_intent_info(intent)

    async def retrieve_card(self, payment_method_id: str) -> tuple[CardSummary, str | None]:
        """The card and the id of the customer it is attached to (None: attached to none)."""
        pm = await self._call(
            "payment_methods.retrieve",
            lambda: self._client.v1.payment_methods.retrieve_async(payment_method_id),
        )
        return stripe_objects.card_summary(pm), stripe_objects.stripe_id(pm.customer)

    async def detach_card(self, payment_method_id: str) -> None:
        key = _fresh_key("detach")
        await self._call(
            "payment_methods.detach",
            lambda: self._client.v1.payment_methods.detach_async(
                payment_method_id, options={"idempotency_key": key}
            ),
        )

    async def set_customer_default(
        self, *, customer_id: str, payment_method_id: str | None
    ) -> None:
        """Set (or, with None, clear) the customer's ``invoice_settings.default_payment_method``
        so that the Customer Portal shows the same default as we use."""
        key = _fresh_key("default")
        await self._call(
            "customers.update",
            lambda: self._client.v1.customers.update_async(
                customer_id,
                params={"invoice_settings": {"default_payment_method": payment_method_id or ""}},
                options={"idempotency_key": key},
            ),
        )

    async def create_portal_session(self, *, customer_id: str, return_url: str) -> str:
        key = _fresh_key("portal")
        session = await self._call(
            "billing_portal.sessions.create",
            lambda: self._client.v1.billing_portal.sessions.create_async(
                params={"customer": customer_id, "return_url": return_url},
                options={"idempotency_key": key},
            ),
        )
        return session.url

    # ------------------------------------------------------------------ webhooks

    async def list_webhook_endpoints(self) -> list[WebhookEndpointInfo]:
        return [
            stripe_objects.webhook_endpoint_info(endpoint)
            async for endpoint in self._each(
                "webhook_endpoints.list",
                self._client.v1.webhook_endpoints.list_async,
                {"limit": 100},
            )
        ]

    async def create_webhook_endpoint(
        self, *, url: str, events: Iterable[str], description: str
    ) -> tuple[WebhookEndpointInfo, str]:
        """A webhook endpoint in :data:`PINNED_API_VERSION` → (endpoint, its signing secret,
        which Stripe shows only now)."""
        key = _fresh_key("webhook-endpoint")
        params: stripe.params.WebhookEndpointCreateParams = {
            "url": url,
            "enabled_events": cast(Any, sorted(events)),
            "api_version": cast(Any, PINNED_API_VERSION),
            "description": description,
        }
        endpoint = await self._call(
            "webhook_endpoints.create",
            lambda: self._client.v1.webhook_endpoints.create_async(
                params=params, options={"idempotency_key": key}
            ),
        )
        secret = endpoint.secret
        assert secret is not None  # a new endpoint always has it
        return stripe_objects.webhook_endpoint_info(endpoint), secret

    async def update_webhook_endpoint(
        self, endpoint_id: str, *, events: Iterable[str]
    ) -> WebhookEndpointInfo:
        """Set the endpoint's event types and enable it (its API version cannot change)."""
        key = _fresh_key("webhook-endpoint")
        params: stripe.params.WebhookEndpointUpdateParams = {
            "enabled_events": cast(Any, sorted(events)),
            "disabled": False,
        }
        endpoint = await self._call(
            "webhook_endpoints.update",
            lambda: self._client.v1.webhook_endpoints.update_async(
                endpoint_id, params=params, options={"idempotency_key": key}
            ),
        )
        return stripe_objects.webhook_endpoint_info(endpoint)

    async def delete_webhook_endpoint(self, endpoint_id: str) -> None:
        await self._call(
            "webhook_endpoints.delete",
            lambda: self._client.v1.webhook_endpoints.delete_async(endpoint_id),
        )

    def construct_event(self, payload: bytes, signature_header: str | None) -> stripe.Event:
        """Verify ``Stripe-Signature`` against the endpoint secret, then parse.

        Raises WebhookSignatureError (bad, missing or stale signature), MalformedEvent (signed,
        but not a usable event) or ValueError when no webhook secret is configured."""
        if not self.webhook_secret:
            raise ValueError("STRIPE_WEBHOOK_SECRET is not set")
        if not signature_header:
            raise WebhookSignatureError("missing Stripe-Signature header")
        try:
            stripe.WebhookSignature.verify_header(
                payload, signature_header, self.webhook_secret, stripe.Webhook.DEFAULT_TOLERANCE
            )
        except stripe.SignatureVerificationError as exc:
            raise WebhookSignatureError(str(exc.user_message or exc)) from None
        try:
            document: object = json.loads(payload)
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or absurdly nested
            document = None
            reason: str | None = "invalid_json"
        else:
            reason = webhook_payload.problem(document)
        if reason is not None:
            raise MalformedEvent(
                reason,
                key="malformed_" + hashlib.sha256(payload).hexdigest()[:40],
                claimed_id=webhook_payload.usable_id(document),
                event_type=webhook_payload.usable_type(document),
            )
        return self._client.construct_event_without_verification(payload)


# ---------------------------------------------------------------------- helpers


def _fresh_key(kind: str) -> str:
    return f"bm-{kind}-{uuid.uuid4().hex}"


def _created_since(since: datetime) -> dict[str, Any]:
    return {"created": {"gte": int(since.timestamp())}, "limit": 100}


def _retryable(exc: stripe.StripeError) -> bool:
    if isinstance(exc, stripe.APIConnectionError):
        return True
    status = exc.http_status
    if isinstance(exc, stripe.RateLimitError) or status in _RETRYABLE_STATUS:
        return True
    if isinstance(exc, stripe.APIError):
        return status is None or status >= 500
    return status is not None and status >= 500


def _mapped(what: str, exc: stripe.StripeError) -> GatewayError:
    code = exc.code
    detail = exc.user_message or str(exc) or type(exc).__name__
    message = f"Stripe {what}: {detail}"
    if _retryable(exc):
        return StripeUnavailable(message, stripe_code=code or "unavailable")
    if exc.http_status == 404 or code == "resource_missing":
        return StripeNotFound(message, stripe_code=code or "resource_missing")
    return StripeRejected(message, stripe_code=code)


def _replayed(obj: stripe.StripeObject) -> bool:
    response = obj.last_response
    if response is None:
        return False
    return str(response.headers.get("idempotent-replayed", "")).lower() == "true"
