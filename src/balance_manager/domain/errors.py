"""Expected failures of the service layer, mapped to HTTP statuses only at the API edge.

ServiceError            code, message, field?, params?
 ├── InvalidInput       a value broke a rule             → 400
 ├── Forbidden          the caller may not do this (a customer, an operator-only field) → 403
 ├── NotFound           no such user / record            → 404
 ├── Conflict           idempotency key reused, email taken, limit reached → 409
 ├── Unprocessable      well-formed, but not possible now → 422
 └── NotConfigured      the service lacks a setting this needs (Stripe) → 503

``message`` is English for people reading logs and API answers; ``params`` carries the values
the message quotes (amounts as exact decimal strings, currency codes, a status), so that a
client can say the same in its own language from ``code`` and ``params`` alone.
"""

from __future__ import annotations

from collections.abc import Mapping


class ServiceError(Exception):
    code = "error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        params: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field
        self.params = dict(params) if params else None


class InvalidInput(ServiceError):
    code = "invalid_input"


class Forbidden(ServiceError):
    code = "forbidden"


class NotFound(ServiceError):
    code = "not_found"


class Conflict(ServiceError):
    code = "conflict"


class Unprocessable(ServiceError):
    code = "unprocessable"


class NotConfigured(ServiceError):
    code = "not_configured"
