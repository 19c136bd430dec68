"""The Stripe resources the sandbox emulates; each module exports ``ROUTES``."""

from __future__ import annotations

from ..routing import Route
from . import (
    balance_transactions,
    billing_portal,
    charges,
    customers,
    disputes,
    events,
    payment_intents,
    payment_methods,
    refunds,
    setup_intents,
    webhook_endpoints,
)


def all_routes() -> list[Route]:
    return [
        *customers.ROUTES,
        *payment_methods.ROUTES,
        *setup_intents.ROUTES,
        *payment_intents.ROUTES,
        *charges.ROUTES,
        *refunds.ROUTES,
        *disputes.ROUTES,
        *balance_transactions.ROUTES,
        *events.ROUTES,
        *webhook_endpoints.ROUTES,
        *billing_portal.ROUTES,
    ]
