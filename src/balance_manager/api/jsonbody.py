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
from fastapi.routing import APIRoute


def _reject_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not a number", name, 0)


def loads(body: bytes | str) -> Any:
    return json.loads(body, parse_float=Decimal, parse_constant=_reject_constant)


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
