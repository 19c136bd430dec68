"""Stripe's wire format: bracket-notation form bodies in, JSON and Stripe error bodies out.

Errors::

    StripeError            an error response in Stripe's shape (status + ``{"error": {...}}``)
    ├── invalid_request(…) 400 invalid_request_error (parameter_unknown, parameter_missing, …)
    ├── not_found(…)       404 resource_missing
    └── card_error(…)      402 card_error (declines, authentication_required)
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

JSON = dict[str, Any]

DOCS = "https://docs.stripe.com/error-codes/"


class StripeError(Exception):
    """An API error rendered exactly as Stripe renders it."""

    def __init__(self, status: int, error: JSON, headers: dict[str, str] | None = None) -> None:
        super().__init__(error.get("message", ""))
        self.status = status
        self.error = error
        self.headers = headers or {}

    def body(self) -> JSON:
        return {"error": self.error}


def _error(
    type_: str,
    message: str,
    *,
    code: str | None = None,
    param: str | None = None,
    decline_code: str | None = None,
) -> JSON:
    err: JSON = {"message": message, "type": type_}
    if code:
        err["code"] = code
        err["doc_url"] = DOCS + code.replace("_", "-")
    if param is not None:
        err["param"] = param
    if decline_code:
        err["decline_code"] = decline_code
    return err


def invalid_request(
    message: str, *, param: str | None = None, code: str | None = None, status: int = 400
) -> StripeError:
    return StripeError(status, _error("invalid_request_error", message, code=code, param=param))


def not_found(kind: str, id_: str, *, param: str = "id") -> StripeError:
    return invalid_request(
        f"No such {kind}: '{id_}'", param=param, code="resource_missing", status=404
    )


def unexpected_state(message: str, *, param: str | None = None, code: str) -> StripeError:
    return invalid_request(message, param=param, code=code)


def card_error(
    message: str, *, code: str, decline_code: str | None = None, param: str | None = None
) -> StripeError:
    return StripeError(
        402, _error("card_error", message, code=code, decline_code=decline_code, param=param)
    )


def api_error(message: str = "An unknown error occurred", status: int = 500) -> StripeError:
    return StripeError(status, {"message": message, "type": "api_error"})


def unknown_parameter(param: str) -> StripeError:
    return invalid_request(
        f"Received unknown parameter: {param}", param=param, code="parameter_unknown"
    )


def missing_parameter(param: str) -> StripeError:
    return invalid_request(
        f"Missing required param: {param}.", param=param, code="parameter_missing"
    )


# --------------------------------------------------------------------------- form parsing


def parse_form(body: str) -> JSON:
    """Parse ``a[b][c]=v&l[]=x&l[]=y&i[0]=z`` into nested dicts.

    Lists stay dicts keyed by their index (``"0"``, ``"1"``; ``[]`` appends with the next free
    index): the parameter schema turns them into lists where Stripe expects a list, so that
    ``metadata[0]=x`` stays a metadata key.
    """
    out: JSON = {}
    for raw_key, value in parse_qsl(body, keep_blank_values=True):
        parts = split_key(raw_key)
        if parts is None:
            raise invalid_request(f"Invalid parameter name: {raw_key}", param=raw_key)
        node = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":
                part = str(len(node))
            if last:
                node[part] = value
            else:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = {}
                    node[part] = child
                node = child
    return out


def split_key(key: str) -> list[str] | None:
    """``"a[b][]"`` → ``["a", "b", ""]``; ``None`` when the brackets are malformed."""
    head, sep, rest = key.partition("[")
    if not head:
        return None
    parts = [head]
    if not sep:
        return parts
    rest = "[" + rest
    while rest:
        if not rest.startswith("["):
            return None
        end = rest.find("]")
        if end < 0:
            return None
        parts.append(rest[1:end])
        rest = rest[end + 1 :]
    return parts


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def flat_form(body: bytes) -> dict[str, str]:
    """A plain HTML form body (no brackets) as a dict; last value wins."""
    return dict(parse_qsl(body.decode(), keep_blank_values=True))
