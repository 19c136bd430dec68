"""What every request to Stripe records: its latency and, when it fails, the error type
(``balance_manager_stripe_request_duration_seconds``, ``balance_manager_stripe_errors_total``)
and a client span. The gateway's funnel wraps each attempt in :func:`stripe_request`; this
module imports only the leaf ``telemetry`` package, nothing above ``payments``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import stripe
from opentelemetry.trace import SpanKind

from balance_manager.telemetry import metrics, tracing

# Most specific first: CardError is a decline, not a fault of ours or Stripe's.
_ERROR_TYPES: tuple[tuple[type[stripe.StripeError], str], ...] = (
    (stripe.CardError, "card_error"),
    (stripe.RateLimitError, "rate_limit"),
    (stripe.APIConnectionError, "connection"),
    (stripe.AuthenticationError, "authentication"),
    (stripe.PermissionError, "permission"),
    (stripe.IdempotencyError, "idempotency"),
    (stripe.InvalidRequestError, "invalid_request"),
    (stripe.APIError, "api_error"),
)


def error_type(error: BaseException) -> str:
    for cls, name in _ERROR_TYPES:
        if isinstance(error, cls):
            return name
    return "other"


@contextmanager
def stripe_request(operation: str, attempt: int) -> Iterator[None]:
    """Time one attempt of ``operation`` (``payment_intents.create``, …)."""
    started = time.perf_counter()
    with tracing.span(
        f"stripe {operation}",
        kind=SpanKind.CLIENT,
        attributes={"stripe.operation": operation, "stripe.attempt": attempt},
    ) as span:
        try:
            yield
        except stripe.StripeError as error:
            kind = error_type(error)
            metrics.STRIPE_ERRORS.labels(operation, kind).inc()
            metrics.STRIPE_REQUEST_DURATION.labels(operation, "error").observe(
                time.perf_counter() - started
            )
            if span is not None:
                span.set_attribute("stripe.error_type", kind)
                if error.http_status is not None:
                    span.set_attribute("http.response.status_code", error.http_status)
            tracing.mark_error(span, error)
            raise
        metrics.STRIPE_REQUEST_DURATION.labels(operation, "ok").observe(
            time.perf_counter() - started
        )
