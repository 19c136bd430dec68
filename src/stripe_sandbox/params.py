"""Declared request parameters per route: unknown ones are refused the way Stripe refuses them.

A schema maps a parameter name to a spec; specs coerce the form's strings to Stripe's types::

    {"amount": Req(INT), "currency": Req(STR), "metadata": META,
     "payment_method_types": ListOf(STR), "card": Obj({"number": STR})}

An empty string means "unset" (``description=`` clears a field; ``metadata=`` clears all keys;
``metadata[k]=`` deletes one key), as in Stripe.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .wire import JSON, StripeError, invalid_request, missing_parameter, unknown_parameter

_INT = re.compile(r"-?\d+\Z")


class Spec:
    def coerce(self, value: Any, name: str) -> Any:
        raise NotImplementedError


class _Str(Spec):
    def coerce(self, value: Any, name: str) -> Any:
        if isinstance(value, dict):
            raise invalid_request(f"Invalid string: {_flat(value)}", param=name)
        return None if value == "" else value


class _Int(Spec):
    def coerce(self, value: Any, name: str) -> Any:
        if value == "":
            return None
        if not isinstance(value, str) or not _INT.match(value):
            raise invalid_request(
                f"Invalid integer: {value}", param=name, code="parameter_invalid_integer"
            )
        return int(value)


class _Bool(Spec):
    def coerce(self, value: Any, name: str) -> Any:
        if value == "":
            return None
        if value not in ("true", "false"):
            raise invalid_request(f"Invalid boolean: {value}", param=name)
        return value == "true"


class _Meta(Spec):
    def coerce(self, value: Any, name: str) -> Any:
        if value == "":
            return None
        if not isinstance(value, dict):
            raise invalid_request("Invalid hash", param=name)
        if len(value) > 50:
            raise invalid_request("Invalid metadata: at most 50 keys are allowed", param=name)
        for k, v in value.items():
            if not isinstance(v, str):
                raise invalid_request(f"Invalid string: {_flat(v)}", param=f"{name}[{k}]")
            if len(k) > 40:
                raise invalid_request(
                    "Invalid metadata: keys can be at most 40 characters", param=f"{name}[{k}]"
                )
            if len(v) > 500:
                raise invalid_request(
                    "Invalid metadata: values can be at most 500 characters",
                    param=f"{name}[{k}]",
                )
        return value


@dataclass(frozen=True)
class Enum(Spec):
    values: tuple[str, ...]

    def coerce(self, value: Any, name: str) -> Any:
        if value == "":
            return None
        if value not in self.values:
            raise invalid_request(
                f"Invalid {name}: must be one of {', '.join(self.values)}", param=name
            )
        return value


@dataclass(frozen=True)
class ListOf(Spec):
    item: Spec

    def coerce(self, value: Any, name: str) -> Any:
        if value == "":
            return []
        if not isinstance(value, dict) or not all(k.isdigit() for k in value):
            raise invalid_request("Invalid array", param=name)
        items = [value[k] for k in sorted(value, key=int)]
        return [self.item.coerce(v, f"{name}[{i}]") for i, v in enumerate(items)]


@dataclass(frozen=True)
class Obj(Spec):
    fields: dict[str, Spec]

    def coerce(self, value: Any, name: str) -> Any:
        if value == "":
            return None
        if not isinstance(value, dict):
            raise invalid_request("Invalid hash", param=name)
        return validate(value, self.fields, prefix=name)


@dataclass(frozen=True)
class Req(Spec):
    """A required parameter."""

    inner: Spec

    def coerce(self, value: Any, name: str) -> Any:
        out = self.inner.coerce(value, name)
        if out is None:
            raise missing_parameter(name)
        return out


STR: Spec = _Str()
INT: Spec = _Int()
BOOL: Spec = _Bool()
META: Spec = _Meta()
EXPAND: Spec = ListOf(STR)

ADDRESS = Obj({k: STR for k in ("city", "country", "line1", "line2", "postal_code", "state")})
BILLING_DETAILS = Obj({"address": ADDRESS, "email": STR, "name": STR, "phone": STR})
CARD_DATA = Obj({"number": STR, "exp_month": INT, "exp_year": INT, "cvc": STR, "token": STR})
ALLOW_REDISPLAY = Enum(("always", "limited", "unspecified"))
# A PaymentMethod made in the call that uses it. Card numbers go only through Stripe.js (a
# publishable key): a secret key's ``payment_method_data`` takes no ``card``, as Stripe's.
PAYMENT_METHOD_DATA = Obj(
    {
        "type": STR,
        "billing_details": BILLING_DETAILS,
        "metadata": META,
        "allow_redisplay": ALLOW_REDISPLAY,
    }
)
STRIPE_JS_PAYMENT_METHOD_DATA = Obj({**PAYMENT_METHOD_DATA.fields, "card": CARD_DATA})
# How the customer accepted a mandate (PaymentIntents and SetupIntents take the same shape).
MANDATE_DATA = Obj(
    {
        "customer_acceptance": Obj(
            {
                "type": STR,
                "accepted_at": STR,
                "online": Obj({"ip_address": STR, "user_agent": STR}),
            }
        )
    }
)
_RANGE = Obj({"gt": INT, "gte": INT, "lt": INT, "lte": INT})


class _Created(Spec):
    """``created=<unix>`` (exactly then) or ``created[gte]=…&created[lt]=…`` (a range)."""

    def coerce(self, value: Any, name: str) -> Any:
        if isinstance(value, dict):
            return _RANGE.coerce(value, name)
        exact = INT.coerce(value, name)
        return None if exact is None else {"gte": exact, "lte": exact}


# What every list takes; most also filter by ``created`` (not all: see ``list_params``).
LIST_PARAMS: dict[str, Spec] = {
    "limit": INT,
    "starting_after": STR,
    "ending_before": STR,
    "expand": EXPAND,
}
CREATED: Spec = _Created()


def validate(params: JSON, schema: dict[str, Spec], *, prefix: str = "") -> JSON:
    """Coerce ``params`` against ``schema``; raise Stripe's error for the first bad one."""
    out: JSON = {}
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else key
        spec = schema.get(key)
        if spec is None:
            if key == "expand" and not prefix:
                spec = EXPAND
            else:
                raise unknown_parameter(name)
        out[key] = spec.coerce(value, name)
    for key, spec in schema.items():
        if isinstance(spec, Req) and key not in params:
            raise missing_parameter(f"{prefix}[{key}]" if prefix else key)
    return out


def _flat(value: Any) -> str:
    return str(value)


def check_limit(params: JSON) -> int:
    limit = params.get("limit")
    if limit is None:
        return 10
    if not 1 <= limit <= 100:
        raise invalid_request("Invalid limit: must be at least 1 and at most 100", param="limit")
    return int(limit)


__all__ = [
    "ADDRESS",
    "ALLOW_REDISPLAY",
    "BILLING_DETAILS",
    "BOOL",
    "CARD_DATA",
    "CREATED",
    "EXPAND",
    "INT",
    "LIST_PARAMS",
    "MANDATE_DATA",
    "META",
    "PAYMENT_METHOD_DATA",
    "STR",
    "STRIPE_JS_PAYMENT_METHOD_DATA",
    "Enum",
    "ListOf",
    "Obj",
    "Req",
    "Spec",
    "StripeError",
    "check_limit",
    "validate",
]
