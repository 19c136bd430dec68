"""JSON request bodies parsed with exact decimals, and only strings the databases can store.

Python's ``json`` turns ``18.85`` into a binary float and accepts ``NaN``/``Infinity``; in a
money API both are wrong. This route class parses numbers with a fraction as ``Decimal`` and
rejects the non-standard constants, before any validation runs.

It is also the one place where every string from outside meets the service before any
validation or statement: path parameters and every string in a JSON body (values and object
keys, however deep: metadata included) must be storable (:mod:`balance_manager.domain.text`), else
400 ``invalid_characters`` naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Mapping
from decimal import Decimal
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from balance_manager.domain import text


def _reject_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not a number", name, 0)


def loads(body: bytes | str) -> Any:
    try:
        return json.loads(body, parse_float=Decimal, parse_constant=_reject_constant)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as exc:
        # Not UTF-8, an integer of thousands of digits, thousands of nested brackets:
        # malformed JSON for us (FastAPI would answer a generic 400 without our code).
        raise json.JSONDecodeError(type(exc).__name__, "", 0) from None


class UnstorableInput(HTTPException):
    """A string that cannot be stored. An HTTPException because FastAPI turns any other error
    raised while it parses the body into a generic 400 without the field."""

    code = "invalid_characters"

    def __init__(self, field: str | None, reason: str, *, in_key: bool = False) -> None:
        where = field or "the request body"
        message = f"{where}: a key {reason}" if in_key else f"{where} {reason}"
        super().__init__(400, message)
        self.field = field
        self.message = message


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


def parse(body: bytes) -> Any:
    """A request body: exact decimals (``loads``), and no string a database cannot store."""
    document = loads(body)
    found = text.find(document)
    if found is not None:
        raise UnstorableInput(text.dotted(found.path), found.reason, in_key=found.in_key)
    return document


class DecimalJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse(await self.body())
        return self._json


def check_path_params(params: Mapping[str, Any]) -> None:
    """Path and query parameters (``userId``, ``rechargeId``, ``q``, …) are strings too."""
    for name, value in params.items():
        reason = text.problem(value) if isinstance(value, str) else None
        if reason is not None:
            raise UnstorableInput(name, reason)


class DecimalJSONRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def decimal_json_handler(request: Request) -> Response:
            check_path_params(request.path_params)
            if request.scope["query_string"]:
                check_path_params(request.query_params)
            return await handler(DecimalJSONRequest(request.scope, request.receive))

        return decimal_json_handler
