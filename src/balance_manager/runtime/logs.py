"""structlog set-up: console lines for people, JSON lines for log pipelines.

Every line — structlog's and the standard library's (uvicorn, SQLAlchemy, the Stripe SDK) —
goes to one stream with the same processors: the context bound for the request or the
worker pass (``request_id``, ``worker_id``, ``job_id``), the level, the logger's name, a UTC
timestamp, the rendered exception, then :mod:`telemetry.redact`, which masks secrets, card
numbers and emails, last before rendering. structlog's own lines are written directly (the
access log runs for every request: no stdlib ``LogRecord`` on that path); the standard
library's go through a handler on the root logger that renders them the same way.

Database errors are logged without the values they were about. SQLAlchemy's
``hide_parameters`` (set in ``store.db``) keeps bound parameters out of its messages, but the
database's own message can quote them too (PostgreSQL: ``Key (email)=(…) already exists``,
``invalid input syntax for type integer: "…"``). So a log record whose exception is a
database error carries the error's class, SQLSTATE, statement (placeholders, no values) and
where it was raised — not the messages or the traceback text.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog
from sqlalchemy.exc import StatementError

from balance_manager.telemetry import redact

_DRIVER_MODULES = frozenset({"asyncpg", "sqlite3", "aiosqlite"})
_LIBRARY = re.compile(r"[/\\](site-packages|dist-packages|lib[/\\]python3\.\d+)[/\\]")


class _NamedWriter(structlog.WriteLogger):
    """structlog's line writer, knowing its logger's name (for ``add_logger_name``)."""

    def __init__(self, file: TextIO, name: str) -> None:
        super().__init__(file)
        self.name = name


def configure(level: str = "info", fmt: str = "console", *, stream: TextIO | None = None) -> None:
    numeric = logging.getLevelNamesMapping()[level.upper()]
    out = stream or sys.stdout
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        # Plain tracebacks: with ``rich`` installed the default one prints every frame's
        # local variables, request bodies and keys included.
        else structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    last: list[structlog.typing.Processor] = [
        hide_database_values,
        structlog.processors.format_exc_info,
        redact.processor,
        renderer,
    ]

    def writer(*args: Any) -> _NamedWriter:
        return _NamedWriter(out, str(args[0]) if args else "")

    structlog.configure(
        processors=[*shared, *last],
        logger_factory=writer,
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # Not cached: a later configure() (tests, the demo) must reach loggers already used;
        # caching would save about 5 µs a line.
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *last],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    handler.addFilter(HideDatabaseValues())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    # Per-statement and per-socket chatter stays out even at debug; the Stripe SDK's and
    # httpx's line per request only at debug (the metrics and traces time each request).
    for name in ("aiosqlite", "httpcore"):
        logging.getLogger(name).setLevel(max(numeric, logging.INFO))
    for name in ("stripe", "httpx"):
        logging.getLogger(name).setLevel(
            numeric if numeric <= logging.DEBUG else max(numeric, logging.WARNING)
        )
    # uvicorn's access log is replaced by ours (telemetry.requests), which never prints a
    # query string; its other loggers propagate to the root handler above.
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    # Alembic narrates every step at INFO ("setup plugin …", "Will assume transactional
    # DDL"); store.migrate logs what a migration changed, so keep only its warnings.
    logging.getLogger("alembic").setLevel(max(numeric, logging.WARNING))


def database_error(exc: BaseException | None) -> BaseException | None:
    """The database error in ``exc``'s chain (SQLAlchemy's or a driver's own), if any."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, StatementError) or type(exc).__module__.split(".")[0] in (
            _DRIVER_MODULES
        ):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def describe_database_error(exc: BaseException, db: BaseException) -> dict[str, Any]:
    """What may be logged of a database error: no message, so no values."""
    orig = getattr(db, "orig", None) or db
    described: dict[str, Any] = {
        "error": type(exc).__name__,
        "db_error": type(orig).__name__,
    }
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate:
        described["sqlstate"] = str(sqlstate)
    statement = getattr(db, "statement", None) or getattr(orig, "query", None)
    if isinstance(statement, str):
        described["statement"] = " ".join(statement.split())[:1000]
    frames = traceback.extract_tb(exc.__traceback__)
    # The deepest frame of the application (not a library's, nor the standard library's).
    ours = [f for f in frames if f.filename.endswith(".py") and not _LIBRARY.search(f.filename)]
    ours = ours or frames
    if ours:
        where = ours[-1]
        described["where"] = f"{where.filename}:{where.lineno} in {where.name}"
    return described


def _exception(exc_info: object) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        found = exc_info[1]
        return found if isinstance(found, BaseException) else None
    if exc_info is True:
        return sys.exc_info()[1]
    return None


def hide_database_values(
    _logger: object, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: a database error's description instead of its traceback."""
    exc = _exception(event_dict.get("exc_info"))
    db = database_error(exc)
    if exc is None or db is None:
        return event_dict
    event_dict.pop("exc_info", None)
    event_dict.update(describe_database_error(exc, db))
    return event_dict


class HideDatabaseValues(logging.Filter):
    """The same for standard-library records (uvicorn's "Exception in ASGI application")."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = _exception(record.exc_info)
        db = database_error(exc)
        if exc is not None and db is not None:
            details = " ".join(f"{k}={v}" for k, v in describe_database_error(exc, db).items())
            record.msg = f"{record.getMessage()} [{details}]"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def hide_database_values_in(*loggers: str) -> None:
    """Attach :class:`HideDatabaseValues` to loggers configured by others (uvicorn's)."""
    for name in loggers:
        logging.getLogger(name).addFilter(HideDatabaseValues())
