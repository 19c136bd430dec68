"""Is a signed webhook payload an event the handlers can rely on? Pure.

A payload whose signature verifies was sent by someone holding the endpoint's secret — but
that does not make its fields well-typed: an array body, an integer ``recharge_id``, a null
or 300-character id would otherwise reach SQL (and a 500, which Stripe retries for three
days). :func:`problem` names the first thing wrong, as a short reason that the service
records with the event (``malformed:<reason>``) before answering 200 so the retries stop.

The rules are Stripe's own shapes, loosely: ids are non-empty strings of at most 255
characters (our columns' width), ``metadata`` is Stripe's (string keys of at most 40
characters, string values of at most 500), amounts are non-negative integers a JSON double
holds exactly, codes fit their columns, and no string holds a character no database can
store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from balance_manager.domain import text

MAX_ID = 255
MAX_TYPE = 100  # stripe_events.type
MAX_CODE = 64  # recharge_records.failure_code
MAX_AMOUNT = 2**53 - 1

# Object families whose handlers look objects up by id: the id must be there.
_NEEDS_OBJECT_ID = (
    "payment_intent.",
    "setup_intent.",
    "payment_method.",
    "customer.",
    "charge.",
    "refund.",
)
# Fields holding another object's id (or, expanded, the object).
_REFERENCES = (
    "customer",
    "payment_method",
    "payment_intent",
    "charge",
    "latest_charge",
    "setup_intent",
)
_AMOUNTS = ("amount", "amount_received", "amount_refunded", "amount_capturable")
_CODES = ("code", "decline_code")


def _is_id(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_ID


def _reference_ok(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, Mapping):
        return _is_id(value.get("id"))
    return _is_id(value)


def _metadata_ok(value: object) -> bool:
    if value is None:
        return True
    if not isinstance(value, Mapping) or len(value) > 50:
        return False
    return all(
        isinstance(k, str) and 0 < len(k) <= 40 and isinstance(v, str) and len(v) <= 500
        for k, v in value.items()
    )


def _object_problem(obj: Mapping[str, Any], *, needs_id: bool) -> str | None:
    if ("id" in obj or needs_id) and not _is_id(obj.get("id")):
        return "invalid_object_id"
    for field in _REFERENCES:
        if not _reference_ok(obj.get(field)):
            return f"invalid_reference:{field}"
    if not _metadata_ok(obj.get("metadata")):
        return "invalid_metadata"
    for field in _AMOUNTS:
        amount = obj.get(field)
        if amount is not None and (
            not isinstance(amount, int) or isinstance(amount, bool) or not 0 <= amount <= MAX_AMOUNT
        ):
            return f"invalid_amount:{field}"
    currency = obj.get("currency")
    if currency is not None and not (isinstance(currency, str) and len(currency) == 3):
        return "invalid_currency"
    status = obj.get("status")
    if status is not None and not (isinstance(status, str) and len(status) <= MAX_CODE):
        return "invalid_status"
    error = obj.get("last_payment_error")
    if error is not None:
        if not isinstance(error, Mapping):
            return "invalid_last_payment_error"
        for field in _CODES:
            code = error.get(field)
            if code is not None and not (isinstance(code, str) and len(code) <= MAX_CODE):
                return f"invalid_last_payment_error:{field}"
        if not _reference_ok(error.get("payment_method")):
            return "invalid_last_payment_error:payment_method"
        message = error.get("message")
        if message is not None and not isinstance(message, str):
            return "invalid_last_payment_error:message"
    return None


def problem(payload: object) -> str | None:
    """Why a parsed, signature-verified payload is not a usable Stripe event; None if it is."""
    if not isinstance(payload, Mapping):
        return "not_an_object"
    if text.find(payload) is not None:
        return "unstorable_text"
    if not _is_id(payload.get("id")):
        return "invalid_id"
    kind = payload.get("type")
    if not (isinstance(kind, str) and 0 < len(kind) <= MAX_TYPE):
        return "invalid_type"
    data = payload.get("data")
    if not isinstance(data, Mapping) or not isinstance(data.get("object"), Mapping):
        return "invalid_data"
    found = _object_problem(data["object"], needs_id=kind.startswith(_NEEDS_OBJECT_ID))
    if found is not None:
        return found
    previous = data.get("previous_attributes")
    if previous is not None:
        if not isinstance(previous, Mapping):
            return "invalid_previous_attributes"
        for field in _REFERENCES:
            if not _reference_ok(previous.get(field)):
                return f"invalid_previous_attributes:{field}"
    return None


def usable_id(payload: object) -> str | None:
    """The payload's event id when it can key the ``stripe_events`` row, else None."""
    if isinstance(payload, Mapping) and _is_id(payload.get("id")):
        event_id = payload["id"]
        if text.problem(event_id) is None:
            return str(event_id)
    return None


def usable_type(payload: object) -> str:
    """The payload's event type when it fits the ``stripe_events`` row, else ``"unknown"``."""
    kind = payload.get("type") if isinstance(payload, Mapping) else None
    if isinstance(kind, str) and 0 < len(kind) <= MAX_TYPE and text.problem(kind) is None:
        return kind
    return "unknown"
