"""Stripe webhook handlers for PaymentIntent events (settling recharges).

``HANDLERS`` maps an event type to a handler; the webhook route merges it with
``payments.webhooks.HANDLERS``.
"""

from __future__ import annotations

from typing import Any

HANDLERS: dict[str, Any] = {}
