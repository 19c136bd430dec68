"""Stripe API versions: which one a request speaks, and where the versions the sandbox knows
behave differently.

A version is ``YYYY-MM-DD`` with an optional release name (``2026-10-28.endive``,
``2026-08-26.preview``), and one Stripe has released (``KNOWN``): a malformed or unknown one is
Stripe's 400. A request speaks its ``Stripe-Version`` header, else the account's default
version (``SandboxState.api_version``, the version the pinned stripe-python sends). The
parameters a version accepts or refuses follow it, so that code tested here cannot lean on a
parameter its pinned version refuses; where the sandbox knows an object's shape changed
(``shapes.py``), objects are rendered in the version too.
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

# docs.stripe.com/changelog/2022-11-15/…: a charge's `refunds` list is no longer included
# unless expanded.
CHARGE_REFUNDS_EXPANDABLE_SINCE = "2022-11-15"

# The versions Stripe has released (docs.stripe.com/upgrades, docs.stripe.com/changelog): the
# dated ones before the release trains, then one a month named for its train (acacia from
# 2024-09-30), each also as a public ``.preview``.
_DATED = """
2011-01-01 2011-06-21 2011-06-28 2011-08-01 2011-09-15 2011-11-17 2012-02-23 2012-03-25
2012-06-18 2012-07-09 2012-09-24 2012-10-26 2012-11-07 2013-02-11 2013-02-13 2013-07-05
2013-08-12 2013-08-13 2013-10-29 2013-12-03 2014-01-31 2014-03-13 2014-03-28 2014-05-19
2014-06-13 2014-06-17 2014-07-22 2014-07-26 2014-08-04 2014-08-20 2014-09-08 2014-10-07
2014-11-05 2014-11-20 2014-12-08 2014-12-17 2014-12-22 2015-01-11 2015-01-26 2015-02-10
2015-02-16 2015-02-18 2015-03-24 2015-04-07 2015-06-15 2015-07-07 2015-07-13 2015-07-28
2015-08-07 2015-08-19 2015-09-03 2015-09-08 2015-09-23 2015-10-01 2015-10-12 2015-10-16
2016-02-03 2016-02-19 2016-02-22 2016-02-23 2016-02-29 2016-03-07 2016-06-15 2016-07-06
2016-10-19 2017-01-27 2017-02-14 2017-04-06 2017-05-25 2017-06-05 2017-08-15 2017-12-14
2018-01-23 2018-02-05 2018-02-06 2018-02-28 2018-05-21 2018-07-27 2018-08-23 2018-09-06
2018-09-24 2018-10-31 2018-11-08 2019-02-11 2019-02-19 2019-03-14 2019-05-16 2019-08-14
2019-09-09 2019-10-08 2019-10-17 2019-11-05 2019-12-03 2020-03-02 2020-08-27 2022-08-01
2022-11-15 2023-08-16 2023-10-16 2024-04-10 2024-06-20
""".split()
_TRAINS = """
2024-09-30.acacia 2024-10-28.acacia 2024-11-20.acacia 2024-12-18.acacia 2025-01-27.acacia
2025-02-24.acacia 2025-03-31.basil 2025-04-30.basil 2025-05-28.basil 2025-06-30.basil
2025-07-30.basil 2025-08-27.basil 2025-09-30.clover 2025-10-29.clover 2025-11-17.clover
2025-12-15.clover 2026-01-28.clover 2026-02-25.clover 2026-03-25.dahlia 2026-04-22.dahlia
2026-05-27.dahlia 2026-06-24.dahlia 2026-07-29.dahlia 2026-08-26.dahlia 2026-09-30.endive
2026-10-28.endive 2026-11-18.endive
""".split()
KNOWN = frozenset([*_DATED, *_TRAINS, *(v.split(".")[0] + ".preview" for v in _TRAINS)])

_VERSION = re.compile(r"(\d{4}-\d{2}-\d{2})(?:\.([a-z]+))?\Z")


def check(version: str, *, param: str | None = None) -> str:
    """``version`` if Stripe has released it, else Stripe's 400 for a bad version (malformed,
    or well formed but unknown: ``2019-2-19``, ``2099-01-01``, ``2025-09-30.acacia``)."""
    if version not in KNOWN:
        if param is not None:
            raise invalid_request(f"Invalid {param}: {version}", param=param)
        raise invalid_request(f"Invalid Stripe API version: {version}")
    return version


def includes_charge_refunds(version: str) -> bool:
    """Whether a charge carries its ``refunds`` list without ``expand[]=refunds``."""
    return _parts(version)[0] < CHARGE_REFUNDS_EXPANDABLE_SINCE


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
