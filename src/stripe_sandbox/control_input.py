"""What the ``/_sandbox/`` routes and the 3-D Secure challenge read from a request: a JSON or
form body as a dict, and the numbers and booleans in it.

Bad input is the caller's mistake, never the sandbox's: a body that is not JSON (or not a JSON
object), a number that does not parse or is out of range, raise Stripe's 400
``invalid_request_error`` naming the parameter (``StripeError``), which the app answers as it
answers the API's errors.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.requests import Request

from .wire import flat_form, invalid_request


async def read_body(request: Request, *, query_fallback: bool = True) -> dict[str, Any]:
    """The body as a dict: JSON when the content type says so, else a plain form; with no body,
    the query string (``POST /_sandbox/clock?advance=60``) unless ``query_fallback`` is off."""
    raw = await request.body()
    if not raw:
        return dict(request.query_params) if query_fallback else {}
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or absurdly nested
            raise invalid_request("Invalid JSON body: it could not be parsed.") from None
        if not isinstance(data, dict):
            raise invalid_request("Invalid JSON body: it must be an object.")
        return data
    try:
        return dict(flat_form(raw))
    except UnicodeDecodeError:
        raise invalid_request("Invalid form body: it is not UTF-8.") from None


def number(
    value: Any,
    name: str,
    *,
    integer: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float:
    """``value`` (a JSON number or a numeric string) as a finite number within the bounds."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise invalid_request(f"Invalid {name}: {value!r} is not a number.", param=name)
    try:
        parsed = float(value) if not integer else int(value)
    except (TypeError, ValueError, OverflowError):
        kind = "an integer" if integer else "a number"
        raise invalid_request(f"Invalid {name}: {value!r} is not {kind}.", param=name) from None
    if integer and isinstance(value, float) and value != parsed:
        raise invalid_request(f"Invalid {name}: {value!r} is not an integer.", param=name)
    if not math.isfinite(parsed):
        raise invalid_request(f"Invalid {name}: {value!r} is not a finite number.", param=name)
    if minimum is not None and parsed < minimum:
        raise invalid_request(f"Invalid {name}: must be at least {minimum:g}.", param=name)
    if maximum is not None and parsed > maximum:
        raise invalid_request(f"Invalid {name}: must be at most {maximum:g}.", param=name)
    return parsed


def integer(value: Any, name: str, *, minimum: int | None = None) -> int:
    return int(number(value, name, integer=True, minimum=minimum))


def boolean(value: Any, name: str) -> bool:
    """JSON ``true``/``false`` or the strings a form sends (``true``, ``false``, ``1``, ``0``)."""
    if isinstance(value, bool):
        return value
    if value in ("true", "1", 1):
        return True
    if value in ("false", "0", 0, ""):
        return False
    raise invalid_request(f"Invalid {name}: {value!r} is not a boolean.", param=name)


def text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise invalid_request(f"Invalid {name}: {value!r} is not a string.", param=name)
    return value
