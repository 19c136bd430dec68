"""JSON request bodies parsed with exact decimals.

Python's ``json`` turns ``18.85`` into a binary float and accepts ``NaN``/``Infinity``; in a
money API both are wrong. This route class parses numbers with a fraction as ``Decimal`` and
rejects the non-standard constants, before any validation runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import ValidationError


def _reject_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not a number", name, 0)


def loads(body: bytes | str) -> Any:
    return json.loads(body, parse_float=Decimal, parse_constant=_reject_constant)


def as_validation_error(exc: ValueError) -> RequestValidationError:
    """A body that is not JSON, or breaks the model, as the error FastAPI itself raises for
    a route that declares its body (so the one error handler words it the same way)."""
    if isinstance(exc, ValidationError):
        return RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        )
    if isinstance(exc, json.JSONDecodeError):
        if not exc.doc:
            return RequestValidationError(
                [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
            )
        return RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", exc.pos),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": exc.msg},
                }
            ]
        )
    return RequestValidationError([{"type": "value_error", "loc": ("body",), "msg": str(exc)}])


class DecimalJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads(await self.body())
        return self._json


class DecimalJSONRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def decimal_json_handler(request: Request) -> Response:
            return await handler(DecimalJSONRequest(request.scope, request.receive))

        return decimal_json_handler
