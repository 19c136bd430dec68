"""Stripe API versions: which one a request speaks, and where the versions the sandbox knows
behave differently.

A version is ``YYYY-MM-DD`` with an optional release name (``2026-10-28.endive``,
``2026-08-26.preview``). A request speaks its ``Stripe-Version`` header, else the account's
default version (``SandboxState.api_version``, the version the pinned stripe-python sends).
Objects are rendered in one (the newest) shape whatever the version; only the parameters a
version accepts or refuses follow it, so that code tested here cannot lean on a parameter its
pinned version refuses.
"""

from __future__ import annotations

import re

from .wire import invalid_request

# The version stripe-python 16 pins (``stripe.api_version``): the sandbox account's default.
LATEST = "2026-10-28.endive"

# docs.stripe.com/changelog/2023-08-16/automatic-payment-methods: an intent created without
# payment method types takes the Dashboard's payment methods, redirects allowed.
AUTOMATIC_PAYMENT_METHODS_BY_DEFAULT_SINCE = "2023-08-16"
# docs.stripe.com/changelog/dahlia/2026-07-29/allowed-payment-method-types-parameter
ALLOWED_PAYMENT_METHOD_TYPES_SINCE = "2026-07-29"
# docs.stripe.com/changelog/endive/2026-09-30/removes-the-payment-method-types-parameter-…
# (first shipped in the 2026-08-26 preview version)
PAYMENT_METHOD_TYPES_REMOVED_SINCE = "2026-09-30"
PAYMENT_METHOD_TYPES_REMOVED_PREVIEW_SINCE = "2026-08-26"

_VERSION = re.compile(r"(\d{4}-\d{2}-\d{2})(?:\.([a-z]+))?\Z")


def check(version: str, *, param: str | None = None) -> str:
    """``version`` if it is well formed, else Stripe's 400 for a bad version."""
    if _VERSION.match(version) is None:
        if param is not None:
            raise invalid_request(f"Invalid {param}: {version}", param=param)
        raise invalid_request(f"Invalid Stripe API version: {version}")
    return version


def _parts(version: str) -> tuple[str, str]:
    m = _VERSION.match(version)
    if m is None:  # checked on the way in; compare as the oldest version rather than fail
        return "0000-00-00", ""
    return m.group(1), m.group(2) or ""


def automatic_payment_methods_by_default(version: str) -> bool:
    return _parts(version)[0] >= AUTOMATIC_PAYMENT_METHODS_BY_DEFAULT_SINCE


def accepts_allowed_payment_method_types(version: str) -> bool:
    return _parts(version)[0] >= ALLOWED_PAYMENT_METHOD_TYPES_SINCE


def refuses_payment_method_types(version: str) -> bool:
    date, name = _parts(version)
    if name == "preview":
        return date >= PAYMENT_METHOD_TYPES_REMOVED_PREVIEW_SINCE
    return date >= PAYMENT_METHOD_TYPES_REMOVED_SINCE
