"""One JSON error format everywhere: ``{"error": {"code", "message", "field"?, "params"?}}``.

``params`` holds the values ``message`` quotes (see ``domain.errors``), so that the pages, or
any client, can word the error in their own language from ``code`` and ``params``."""

from __future__ import annotations

from typing import Any

import structlog
from asyncpg.exceptions import InterfaceError as DriverInterfaceError
from asyncpg.exceptions import PostgresConnectionError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from balance_manager.api.jsonbody import UnstorableInput
from balance_manager.domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotConfigured,
    NotFound,
    ServiceError,
    Unprocessable,
)
from balance_manager.payments.gateway import GatewayError, StripeNotFound, StripeUnavailable
from balance_manager.store.db import lost_connection

log = structlog.get_logger(__name__)

_STATUS_BY_CLASS: dict[type[ServiceError], int] = {
    InvalidInput: 400,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    Unprocessable: 422,
    NotConfigured: 503,
}


def gateway_error_response(exc: GatewayError) -> JSONResponse:
    """Stripe failing is not the caller's fault: 502, or 404 for an object Stripe lacks."""
    if isinstance(exc, StripeNotFound):
        return error_response(404, "stripe_not_found", exc.message)
    if isinstance(exc, StripeUnavailable):
        return error_response(502, "stripe_unavailable", "Stripe is unavailable; try again")
    return error_response(502, "stripe_error", exc.message)


class ApiError(Exception):
    """An error raised by the HTTP layer itself (auth, paging) with its status."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.params = params
        self.headers = headers


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    if params:
        body["params"] = params
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _field_path(loc: tuple[int | str, ...]) -> str | None:
    """("body", "events", 3, "amount") → "events[3].amount"; ("query", "limit") → "limit"."""
    parts = [p for p in loc[1:] if p not in {"function-after", "function-before"}]
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + str(part)
    return path or None


# The codes the HTTP layer answers with itself (the use cases' codes are their own): for
# Starlette's errors by status, else ``http_error``; for a body or query that fails
# validation, by pydantic's error type, else ``invalid_input``.
HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}
VALIDATION_CODES = {
    "json_invalid": "malformed_json",
    "extra_forbidden": "unknown_field",
    "missing": "missing_field",
}


def _validation_message(error: dict[str, Any], field: str | None) -> tuple[str, str]:
    kind = str(error.get("type", ""))
    code = VALIDATION_CODES.get(kind, "invalid_input")
    if kind == "json_invalid":
        return code, "request body is not valid JSON"
    if kind == "extra_forbidden":
        return code, f"unknown field {field!r}"
    if kind == "missing":
        return code, f"{field} is required"
    message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
    return code, f"{field}: {message}" if field else message


def install(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        status = next((s for cls, s in _STATUS_BY_CLASS.items() if isinstance(exc, cls)), 400)
        return error_response(status, exc.code, exc.message, field=exc.field, params=exc.params)

    @app.exception_handler(GatewayError)
    async def _gateway_error(_request: Request, exc: GatewayError) -> JSONResponse:
        return gateway_error_response(exc)

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(
            exc.status,
            exc.code,
            exc.message,
            field=exc.field,
            params=exc.params,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = dict(exc.errors()[0]) if exc.errors() else {}
        loc = tuple(first.get("loc", ()))
        field = None if first.get("type") == "json_invalid" else _field_path(loc)
        if loc and loc[0] == "path" and field is None:
            field = str(loc[-1])
        code, message = _validation_message(first, field)
        return error_response(400, code, message, field=field)

    @app.exception_handler(ClientDisconnect)
    async def _gone(_request: Request, _exc: ClientDisconnect) -> JSONResponse:
        # The client left (or was cut off for sending its body too slowly) before its body
        # arrived: nothing was done, and nobody reads this answer.
        return error_response(400, "client_disconnected", "the request body was not received")

    @app.exception_handler(UnstorableInput)
    async def _unstorable(_request: Request, exc: UnstorableInput) -> JSONResponse:
        return error_response(400, exc.code, exc.message, field=exc.field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        return error_response(
            exc.status_code,
            HTTP_CODES.get(exc.status_code, "http_error"),
            message,
            headers=getattr(exc, "headers", None),
        )

    async def _database_unreachable(request: Request, exc: Exception) -> JSONResponse:
        if not lost_connection(exc):
            raise exc  # any other database or OS error: the 500 below, logged
        # The use case was retried already (``retry_on_disconnect``): the database is out of
        # reach, and nothing was applied — the client may repeat the request.
        log.error("database_unavailable", path=request.url.path, error=type(exc).__name__)
        response = error_response(
            503, "database_unavailable", "the database cannot be reached; try again"
        )
        response.headers["Retry-After"] = "1"
        return response

    for kind in (DBAPIError, OSError, PostgresConnectionError, DriverInterfaceError):
        app.add_exception_handler(kind, _database_unreachable)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path)
        return error_response(500, "internal_error", "internal error; it has been logged")
