"""structlog set-up: console lines for people, JSON lines for log pipelines.

Every line — structlog's and the standard library's (uvicorn, SQLAlchemy, the Stripe SDK) —
goes to one stream with the same processors: the context bound for the request or the
worker pass (``request_id``, ``worker_id``, ``job_id``), the level, the logger's name, a UTC
timestamp, the rendered exception, then :mod:`telemetry.redact`, which masks secrets, card
numbers and emails, last before rendering. structlog's own lines are written directly (the
access log runs for every request: no stdlib ``LogRecord`` on that path); the standard
library's go through a handler on the root logger that renders them the same way.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

from balance_manager.telemetry import redact


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
